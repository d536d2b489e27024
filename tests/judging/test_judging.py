"""abkit.judging.pairwise against independent references: PPI++ against the ppi-python package
(tests/reference/judging_reference.py, values committed), McNemar and the sign test against R
(tests/reference/judging_reference.R)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from abkit.judging.pairwise import sign_test
from abkit.stats.paired import mcnemar_test
from abkit.stats.ppi import ppi_mean, ppi_mean_difference

REFERENCE = Path(__file__).parents[1] / "reference"
DATA = pd.read_csv(REFERENCE / "judging_data.csv")
PPI = pd.read_csv(REFERENCE / "judging_reference.csv").set_index(["dataset", "arm"])
R = {
    row["case"]: float(row["value"])
    for row in csv.DictReader((REFERENCE / "judging_reference_r.csv").open())
}


def _arm(dataset: str, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    part = DATA[(DATA["dataset"] == dataset) & (DATA["arm"] == arm)]
    labeled, unlabeled = part[part["labeled"] == 1], part[part["labeled"] == 0]
    return labeled["y"].to_numpy(), labeled["y_hat"].to_numpy(), unlabeled["y_hat"].to_numpy()


@pytest.mark.parametrize(("dataset", "arm"), list(PPI.index))
def test_ppi_mean_matches_ppi_python(dataset: str, arm: str) -> None:
    got = ppi_mean(*_arm(dataset, arm), alpha=0.05)
    expected = PPI.loc[(dataset, arm)]
    assert got.estimate == pytest.approx(expected["estimate"], abs=1e-10)
    assert got.ci_low == pytest.approx(expected["ci_low"], abs=1e-10)
    assert got.ci_high == pytest.approx(expected["ci_high"], abs=1e-10)
    assert 0 <= got.lam <= 1


@pytest.mark.parametrize("dataset", sorted({d for d, _ in PPI.index}))
def test_ppi_difference_is_the_reference_arms_combined(dataset: str) -> None:
    z = sps.norm.isf(0.025)
    t, c = PPI.loc[(dataset, "treatment")], PPI.loc[(dataset, "control")]
    se = np.hypot((t["ci_high"] - t["ci_low"]) / (2 * z), (c["ci_high"] - c["ci_low"]) / (2 * z))
    got = ppi_mean_difference(_arm(dataset, "treatment"), _arm(dataset, "control"))
    assert got.estimate == pytest.approx(t["estimate"] - c["estimate"], abs=1e-10)
    assert got.ci_low == pytest.approx(t["estimate"] - c["estimate"] - z * se, abs=1e-10)
    assert got.ci_high == pytest.approx(t["estimate"] - c["estimate"] + z * se, abs=1e-10)


def test_an_accurate_judge_narrows_the_interval_and_a_weak_one_does_not_widen_it() -> None:
    accurate = ppi_mean(*_arm("accurate_judge", "control"))
    weak = ppi_mean(*_arm("weak_judge", "control"))
    assert accurate.width_ratio < 0.8
    assert weak.width_ratio <= 1.0 + 1e-12  # λ near 0 falls back to the human-only interval
    assert weak.lam < accurate.lam


def test_lambda_zero_is_the_human_only_mean_and_lambda_one_is_plain_ppi() -> None:
    y, y_hat, y_hat_u = _arm("csat_scale", "treatment")
    assert ppi_mean(y, y_hat, y_hat_u, lam=0).estimate == pytest.approx(y.mean())
    plain = ppi_mean(y, y_hat, y_hat_u, lam=1)
    assert plain.estimate == pytest.approx(y_hat_u.mean() + (y - y_hat).mean())


def test_ppi_refuses_unpaired_or_missing_inputs() -> None:
    with pytest.raises(ValueError, match="labels has 3 values and judged_labeled 2"):
        ppi_mean([1, 0, 1], [1, 0], [1, 1])
    with pytest.raises(ValueError, match="judged_unlabeled holds 1 missing or infinite"):
        ppi_mean([1, 0, 1], [1, 0, 1], [1, float("nan")])


TABLES = {
    "small": (40, 12, 4, 14),
    "harness_like": (150, 25, 9, 36),
    "balanced": (300, 30, 31, 80),
    "lopsided": (5, 7, 0, 3),
}


def _items(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[int], list[int]]:
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    return a, b


@pytest.mark.parametrize("name", sorted(TABLES))
def test_mcnemar_and_sign_tests_match_r(name: str) -> None:
    a, b = _items(*TABLES[name])
    assert mcnemar_test(a, b).p_value == pytest.approx(R[f"mcnemar_corrected_{name}"], rel=1e-12)
    plain = mcnemar_test(a, b, correction=False)
    assert plain.p_value == pytest.approx(R[f"mcnemar_plain_{name}"], rel=1e-12)
    _, a_only, b_only, _ = TABLES[name]
    assert sign_test(a_only, b_only).p_value == pytest.approx(R[f"sign_{name}"], rel=1e-12)


def test_bradley_terry_matches_choix() -> None:
    from abkit.judging.bradley_terry import bradley_terry_strengths

    games = pd.read_csv(REFERENCE / "bt_games.csv")
    wins = np.zeros((4, 4))
    np.add.at(wins, (games["winner"].to_numpy(), games["loser"].to_numpy()), 1)
    expected = pd.read_csv(REFERENCE / "bt_reference.csv")["strength"].to_numpy()
    np.testing.assert_allclose(bradley_terry_strengths(wins), expected, atol=1e-8)


def test_bootstrap_intervals_cover_the_fit_and_ties_count_half() -> None:
    from abkit.judging.bradley_terry import fit_bradley_terry

    games = pd.read_csv(REFERENCE / "bt_games.csv")
    names = np.array(["base", "ft-v1", "ft-v2", "ft-v3"])
    frame = pd.DataFrame(
        {
            "prompt_id": np.arange(len(games)),
            "system_a": names[games["winner"]],
            "system_b": names[games["loser"]],
            "winner": "a",
        }
    )
    fit = fit_bradley_terry(frame, resamples=200, seed=1)
    assert fit.systems == tuple(sorted(names))
    assert (fit.ci_low < fit.strength).all() and (fit.strength < fit.ci_high).all()
    assert fit.table()["system"].iloc[0] == "ft-v3"
    tie = pd.DataFrame(
        {
            "prompt_id": [1, 2],
            "system_a": ["x", "x"],
            "system_b": ["y", "y"],
            "winner": ["tie", "a"],
        }
    )
    assert fit_bradley_terry(tie, resamples=0).win_probability("x", "y") == pytest.approx(0.75)


def test_bradley_terry_refuses_a_system_that_never_loses() -> None:
    from abkit.judging.bradley_terry import fit_bradley_terry

    frame = pd.DataFrame(
        {"prompt_id": [1, 2], "system_a": ["x", "x"], "system_b": ["y", "y"], "winner": ["a", "a"]}
    )
    with pytest.raises(ValueError, match="never win or never lose"):
        fit_bradley_terry(frame, resamples=0)


def test_swap_report_counts_flips_and_the_first_position_share() -> None:
    from abkit.judging.pairwise import swap_report

    rows = []
    for prompt in range(100):
        # a judge that prefers the first-shown response on 30 of 100 prompts, otherwise says a
        flips = prompt < 30
        rows.append((prompt, "a", "a"))
        rows.append((prompt, "b", "b" if flips else "a"))
    frame = pd.DataFrame(rows, columns=["prompt_id", "shown_first", "winner"]).assign(
        system_a="ft", system_b="base"
    )
    report = swap_report(frame)
    assert (report.pairs, report.inconsistent) == (100, 30)
    assert report.inconsistency_rate == pytest.approx(0.30)
    assert report.first_position_share == pytest.approx(130 / 200)
    assert report.position_bias_p == pytest.approx(sps.binomtest(130, 200).pvalue)
    with pytest.raises(
        ValueError,
        match=r"not judged exactly once in each order .*e\.g\. \[0, 'ft', 'base'\] \(prompt_id",
    ):
        swap_report(frame.iloc[1:])


def test_a_system_compared_with_itself_is_refused() -> None:
    """A row judging a system against itself says nothing about either; the tools refuse it
    rather than count it as a win, a loss or a tie."""
    from abkit.judging.bradley_terry import fit_bradley_terry
    from abkit.judging.pairwise import swap_report, win_rates

    frame = pd.DataFrame(
        {"prompt_id": [1, 2], "system_a": ["ft", "ft"], "system_b": ["base", "ft"]}
    ).assign(winner="a", shown_first="a")
    for tool in (win_rates, fit_bradley_terry, swap_report):
        with pytest.raises(
            ValueError,
            match=r"1 comparison\(s\) have system_a == system_b, "
            r"e\.g\. prompt_id 2 with 'ft' against itself",
        ):
            tool(frame)


def test_length_controlled_strengths_match_a_statsmodels_binomial_glm() -> None:
    import statsmodels.api as sm

    from abkit.judging.pairwise import length_controlled_strengths
    from abkit.judging.simulation import simulate_pairwise

    frame = simulate_pairwise(
        400,
        {"base": 0.0, "ft": 0.3},
        accuracy=0.9,
        length_bias=0.2,
        mean_length={"base": 250.0, "ft": 400.0},
        seed=5,
    )
    frame.loc[frame.index[::37], "winner"] = "tie"  # ties count as half a win
    fit = length_controlled_strengths(frame)
    gap = (frame["length_a"] - frame["length_b"]).to_numpy(float)
    x = np.column_stack(
        [
            np.where(frame["system_a"] == "ft", 1.0, -1.0),  # the non-reference system ("ft")
            gap / gap.std(ddof=1),
        ]
    )
    y = frame["winner"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
    reference = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-14)
    theta = np.array([0.0, reference.params[0]])
    np.testing.assert_allclose(fit.strength, theta - theta.mean(), atol=1e-8)
    assert fit.length_coefficient == pytest.approx(reference.params[1], abs=1e-8)


def test_a_length_biased_judge_inflates_the_raw_strength_of_the_longer_system() -> None:
    from abkit.judging.bradley_terry import fit_bradley_terry
    from abkit.judging.pairwise import length_controlled_strengths
    from abkit.judging.simulation import simulate_pairwise

    frame = simulate_pairwise(
        3000,
        {"base": 0.0, "ft": 0.0},
        accuracy=0.8,
        length_bias=0.4,
        mean_length={"base": 250.0, "ft": 450.0},
        seed=9,
    )
    raw = fit_bradley_terry(frame, resamples=0).win_probability("ft", "base")
    controlled = length_controlled_strengths(frame)
    assert raw > 0.6  # the judge's verbosity preference, for two equally good systems
    # the linear length term removes part of it (the simulated bias is a step, not linear in
    # the length gap, and ft is nearly always the longer: the control is partial, as AlpacaEval's)
    assert 0.5 < controlled.win_probability("ft", "base") < raw - 0.05
    assert controlled.length_coefficient > 0


def test_simulated_position_bias_is_what_the_swap_report_measures() -> None:
    from abkit.judging.pairwise import swap_report
    from abkit.judging.simulation import simulate_pairwise

    honest = swap_report(simulate_pairwise(2000, {"x": 0.0, "y": 0.5}, seed=2))
    assert honest.inconsistent == 0 and abs(honest.first_position_share - 0.5) < 0.03
    biased = swap_report(simulate_pairwise(2000, {"x": 0.0, "y": 0.5}, position_bias=0.3, seed=3))
    # a share b of verdicts goes to the first-shown response, the rest splits evenly: 0.5 + b/2
    assert biased.first_position_share == pytest.approx(0.65, abs=0.02)
    assert biased.position_bias_p < 1e-6 and biased.inconsistency_rate > 0.2


@pytest.mark.slow
def test_ppi_coverage_and_width_over_simulated_datasets() -> None:
    """1,000 datasets (fixed seeds): the PPI interval covers the true rate inside the 99 %
    binomial interval around 95 %; with an 85 %-accurate judge, 200 labels and 5,000 judged
    items it is at most 0.8x the human-only width on average; with a 60 %-accurate judge it is
    never more than 5 % wider."""
    from conftest import slow_scale

    from abkit.judging.simulation import simulate_judge_scores
    from abkit.teaching.calibration import binomial_interval

    n = max(250, int(1000 * slow_scale()))
    covered, ratios, weak = 0, [], []
    for k in range(n):
        data = simulate_judge_scores(200, 5000, rate=0.7, accuracy=0.85, seed=10_000 + k)
        estimate = ppi_mean(*data)
        covered += estimate.ci_low <= 0.7 <= estimate.ci_high
        ratios.append(estimate.width_ratio)
        weak.append(
            ppi_mean(
                *simulate_judge_scores(200, 5000, rate=0.7, accuracy=0.6, seed=50_000 + k)
            ).width_ratio
        )
    low, high = binomial_interval(n, 0.95)
    print(
        f"\ncoverage {covered}/{n}, mean width ratio {np.mean(ratios):.3f} (accuracy 0.85), "
        f"max {np.max(weak):.3f} (accuracy 0.6)"
    )
    assert low <= covered <= high
    assert np.mean(ratios) <= 0.8
    assert np.max(weak) <= 1.05
