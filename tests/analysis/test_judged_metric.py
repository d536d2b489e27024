"""The ``judged`` metric kind (PPI with users as the unit) and the offline pairwise tools:
against ppi-python at a fixed λ (tests/reference/judging_reference.py), scipy / statsmodels for
the win-rate intervals and the unpaired test, and simulation for the clustered coverage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from abkit.analysis.results import analyze
from abkit.judging.graded import compare_graded
from abkit.judging.pairwise import win_rates
from abkit.judging.simulation import add_judge_labels, simulate_pointwise
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.metrics import Metric
from abkit.stats.cuped import Moments
from abkit.stats.ppi import label_selection_test, ppi_clustered, ppi_mean

REFERENCE = Path(__file__).parents[1] / "reference"
DATA = pd.read_csv(REFERENCE / "judging_data.csv")
FIXED = pd.read_csv(REFERENCE / "judging_reference_fixed_lambda.csv")
TUNED = pd.read_csv(REFERENCE / "judging_reference.csv").set_index(["dataset", "arm"])


def _singletons(dataset: str, arm: str) -> Moments:
    """One user per item: the per-user components of PPI (abkit.stats.ppi.PPI_COMPONENTS)."""
    part = DATA[(DATA["dataset"] == dataset) & (DATA["arm"] == arm)]
    lab = part["labeled"].to_numpy() == 1
    y_hat, y = part["y_hat"].to_numpy(), part["y"].fillna(0).to_numpy()
    rows = np.column_stack(
        [np.where(lab, 0, y_hat), ~lab, np.where(lab, y, 0), np.where(lab, y_hat, 0), lab]
    )
    return Moments.of(rows.astype(float))


@pytest.mark.parametrize("case", range(len(FIXED)))
def test_clustered_ppi_with_one_dialog_per_user_is_ppi_python_at_a_fixed_lambda(case: int) -> None:
    row = FIXED.iloc[case]
    got = ppi_clustered(_singletons(row["dataset"], row["arm"]), lam=row["lam"])
    assert got.estimate == pytest.approx(row["estimate"], abs=1e-10)
    assert got.ci_low == pytest.approx(row["ci_low"], abs=1e-10)
    assert got.ci_high == pytest.approx(row["ci_high"], abs=1e-10)


@pytest.mark.parametrize(("dataset", "arm"), list(TUNED.index))
def test_clustered_tuning_lands_next_to_ppi_plus_plus(dataset: str, arm: str) -> None:
    """Its λ minimizes the clustered variance; PPI++'s pools Var(Ŷ): they differ by O(1/√n) in λ."""
    got = ppi_clustered(_singletons(dataset, arm))
    expected = TUNED.loc[(dataset, arm)]
    se = (expected["ci_high"] - expected["ci_low"]) / (2 * sps.norm.isf(0.025))
    assert abs(got.estimate - expected["estimate"]) < 0.15 * se
    assert got.ci_high - got.ci_low <= (expected["ci_high"] - expected["ci_low"]) * 1.001


def test_lambda_zero_is_the_human_only_ratio() -> None:
    moments = _singletons("accurate_judge", "control")
    got = ppi_clustered(moments, lam=0.0)
    assert got.estimate == pytest.approx(got.human_estimate, abs=1e-15)
    assert got.se == pytest.approx(got.human_se, abs=1e-15)
    part = DATA[(DATA["dataset"] == "accurate_judge") & (DATA["arm"] == "control")]
    labels = part["y"].dropna().to_numpy()
    assert got.human_estimate == pytest.approx(labels.mean(), abs=1e-12)
    assert got.human_se == pytest.approx(labels.std() / math.sqrt(labels.size), rel=1e-10)


def test_ppi_clustered_refuses_an_arm_without_labels() -> None:
    rows = np.array([[1.0, 1, 0, 0, 0], [0.0, 1, 0, 0, 0], [1.0, 2, 0, 0, 0]])
    with pytest.raises(ValueError, match="0 labeled dialog"):
        ppi_clustered(Moments.of(rows))


def test_label_selection_test_with_singletons_is_the_two_sample_z_test() -> None:
    moments = _singletons("weak_judge", "treatment")
    part = DATA[(DATA["dataset"] == "weak_judge") & (DATA["arm"] == "treatment")]
    lab, unl = (part.loc[part["labeled"] == k, "y_hat"].to_numpy() for k in (1, 0))
    se = math.sqrt(lab.var() / lab.size + unl.var() / unl.size)
    difference, z, p = label_selection_test(moments)
    assert difference == pytest.approx(lab.mean() - unl.mean(), abs=1e-12)
    assert z == pytest.approx(difference / se, rel=1e-10)
    assert p == pytest.approx(2 * sps.norm.sf(abs(difference / se)), rel=1e-9)


# --------------------------------------------------------------------------- the metric kind


def _judged_log(seed: int = 3, **options) -> pd.DataFrame:
    from abkit.teaching.simulate import simulate_dialogs

    dialogs = simulate_dialogs(n_users=3000, days=7, split=0.5, seed=seed)
    columns = ["dialog_id", "user_id", "variant", "timestamp", "experiment", "completed"]
    settings = {
        "helpful_rate": {"control": 0.6, "treatment": 0.65},
        "label_share": 0.1,
        "seed": seed,
        **options,
    }
    return add_judge_labels(dialogs[columns], **settings)


def _per_user_moments(log: pd.DataFrame, arm: str) -> Moments:
    """The PPI components per user, built with pandas (not the engine's SQL)."""
    part = log[log["variant"] == arm]
    lab = part["human_helpful"].notna()
    frame = pd.DataFrame(
        {
            "user": part["user_id"],
            "ju": np.where(lab, 0.0, part["judge_helpful"]),
            "nu": (~lab).astype(float),
            "hl": part["human_helpful"].fillna(0.0),
            "jl": np.where(lab, part["judge_helpful"], 0.0),
            "nl": lab.astype(float),
        }
    )
    return Moments.of(frame.groupby("user").sum().to_numpy())


def test_the_default_helpfulness_row_is_ppi_over_per_user_sums() -> None:
    log = _judged_log()
    result = analyze(log, split=0.5)
    row = result.table.set_index("metric").loc["helpfulness"]
    control, treatment = (
        ppi_clustered(_per_user_moments(log, arm)) for arm in ("control", "treatment")
    )
    assert row["kind"] == "judged" and row["method"] == "PPI++ (users as unit)"
    assert row["control"] == pytest.approx(control.estimate, abs=1e-10)
    assert row["treatment"] == pytest.approx(treatment.estimate, abs=1e-10)
    assert row["se"] == pytest.approx(math.hypot(control.se, treatment.se), rel=1e-9)
    assert row["n_control"] == log.loc[log["variant"] == "control", "user_id"].nunique()
    assert "human labels only" in row["note"] and "as wide" in row["note"]
    gate = result.health.table.set_index("gate").loc["human labels human_helpful"]
    assert gate["status"] == "pass"
    assert not any(result.health.table["gate"].str.startswith("missing human_helpful"))


def test_a_biased_judge_is_corrected_by_the_labels() -> None:
    """The judge calls 20 % of unhelpful treatment dialogs helpful: judged alone treatment is
    far ahead; the PPI interval still covers the true +5 points."""
    log = _judged_log(judge_lift={"treatment": 0.2}, seed=11)
    judge_only = log.groupby("variant")["judge_helpful"].mean()
    assert judge_only["treatment"] - judge_only["control"] > 0.08  # the truth: +0.05
    row = analyze(log, split=0.5).table.set_index("metric").loc["helpfulness"]
    assert row["ci_low"] <= 0.05 <= row["ci_high"]


def test_labels_that_were_not_drawn_at_random_fail_the_gate_of_a_primary() -> None:
    log = _judged_log()
    # keep the human label mostly where the judge said "not helpful" (complaints get reviewed)
    keep = (log["judge_helpful"] == 0) | (np.arange(len(log)) % 5 == 0)
    log = log.assign(human_helpful=log["human_helpful"].where(keep))
    metric = Metric("helpfulness", "judged", "human_helpful", judge="judge_helpful", role="primary")
    result = analyze(log, plan=ExperimentPlan(split=0.5, metrics=(metric,)))
    gate = result.health.table.set_index("gate").loc["human labels human_helpful"]
    assert gate["status"] == "fail" and "not drawn at random" in gate["detail"]
    assert result.decision.verdict == "invalid"
    secondary = Metric("helpfulness", "judged", "human_helpful", judge="judge_helpful")
    plan = ExperimentPlan(
        split=0.5, metrics=(Metric("c", "ratio", "completed", role="primary"), secondary)
    )
    gate = analyze(log, plan=plan).health.table.set_index("gate").loc["human labels human_helpful"]
    assert gate["status"] == "warn"


def test_a_judged_metric_from_a_plan_file_reads_its_own_columns(tmp_path: Path) -> None:
    log = _judged_log().rename(columns={"judge_helpful": "judge_score", "human_helpful": "label"})
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(
        "split: 0.5\nmetrics:\n"
        "  - {name: task_completion, kind: ratio, column: completed, role: primary}\n"
        "  - {name: helpful, kind: judged, column: label, judge: judge_score,\n"
        "     valid_range: [0, 1]}\n"
    )
    from abkit.plan.experiment_plan import load_plan

    result = analyze(log, plan=load_plan(plan_file))
    assert result.table.set_index("metric").loc["helpful", "method"] == "PPI++ (users as unit)"
    bad = log.assign(judge_score=log["judge_score"] * 5)  # a 0-5 judge against a 0-1 label
    with pytest.raises(Exception, match="judge_score"):
        analyze(bad, plan=load_plan(plan_file))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "judge"),
        ({"judge": "human_helpful"}, "two columns"),
        ({"judge": "j", "covariate": "pre_period"}, "CUPED"),
    ],
)
def test_judged_metric_declarations_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Metric("h", "judged", "human_helpful", **options)
    with pytest.raises(ValueError, match="only a 'judged' metric"):
        Metric("c", "ratio", "completed", judge="judge_helpful")


def test_clustered_ppi_covers_where_the_dialog_level_interval_does_not() -> None:
    """Users with several alike dialogs (user SD 0.25): over simulated arms (fixed seeds) the
    user-clustered PPI interval covers the true rate inside the 99 % binomial interval around
    95 %; the dialog-level PPI++ interval, which treats dialogs as independent, covers less."""
    from abkit.teaching.calibration import binomial_interval

    rng = np.random.default_rng(5)
    n = 1000  # about 4 s: run at full size everywhere
    # the population rate: E[clip(0.6 + 0.25 Z, 0.01, 0.99)] (dialog counts are independent of
    # a user's rate, so the dialog-weighted mean is the user-level mean)
    a, b = ((bound - 0.6) / 0.25 for bound in (0.01, 0.99))
    target = (
        0.01 * sps.norm.cdf(a)
        + 0.99 * sps.norm.sf(b)
        + 0.6 * (sps.norm.cdf(b) - sps.norm.cdf(a))
        - 0.25 * (sps.norm.pdf(b) - sps.norm.pdf(a))
    )
    clustered = naive = 0
    for _ in range(n):
        users = 400
        dialogs = rng.integers(1, 12, users)
        user_of = np.repeat(np.arange(users), dialogs)
        p_user = np.clip(0.6 + rng.normal(0, 0.25, users), 0.01, 0.99)
        truth = rng.random(user_of.size) < p_user[user_of]
        judge = np.where(rng.random(user_of.size) < 0.85, truth, ~truth).astype(float)
        lab = rng.random(user_of.size) < 0.15
        rows = np.column_stack(
            [np.where(lab, 0, judge), ~lab, np.where(lab, truth, 0), np.where(lab, judge, 0), lab]
        ).astype(float)
        per_user = np.zeros((users, 5))
        np.add.at(per_user, user_of, rows)
        got = ppi_clustered(Moments.of(per_user))
        clustered += got.ci_low <= target <= got.ci_high
        flat = ppi_mean(truth[lab].astype(float), judge[lab], judge[~lab])
        naive += flat.ci_low <= target <= flat.ci_high
    low, high = binomial_interval(n, 0.95)
    print(f"\ncoverage over {n}: clustered {clustered}, dialog-level {naive}")
    assert low <= clustered <= high
    assert naive < low


# --------------------------------------------------------------------------- pairwise tools


def test_win_rate_intervals_are_the_paired_t_interval_over_prompts() -> None:
    from abkit.judging.simulation import simulate_pairwise

    pairs = simulate_pairwise(150, {"ft": 0.3, "base": 0.0}, accuracy=0.9, seed=4)
    pairs.loc[pairs.index % 7 == 0, "winner"] = "tie"
    got = win_rates(pairs)
    score = (
        pairs.assign(s=pairs["winner"].map({"a": 1.0, "tie": 0.5, "b": 0.0}))
        .groupby("prompt_id")["s"]
        .mean()
    )
    reference = sps.ttest_1samp(score, 0.5).confidence_interval(0.95)
    assert got.score == pytest.approx(score.mean(), abs=1e-12)
    assert got.score_ci == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert got.win + got.tie + got.loss == pytest.approx(1.0)
    assert list(got.table()["outcome"])[0] == "ft wins"


def test_compare_graded_pairs_the_prompts_and_shows_the_unpaired_test_beside_it() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    grades = simulate_pointwise(220, {"candidate": 0.9, "baseline": 0.4}, difficulty_sd=4.0, seed=2)
    got = compare_graded(grades, "candidate", "baseline")
    k = [int(grades.loc[grades["system"] == s, "passed"].sum()) for s in ("candidate", "baseline")]
    assert got.unpaired_p == pytest.approx(proportions_ztest(k, [220, 220])[1], rel=1e-10)
    assert got.mcnemar.p_value < 0.05 < got.unpaired_p  # the pairing is what finds the gain
    with pytest.raises(ValueError, match="graded for only one"):
        compare_graded(grades.iloc[1:], "candidate", "baseline")
    with pytest.raises(ValueError, match="graded more than once"):
        compare_graded(pd.concat([grades, grades.iloc[:1]]), "candidate", "baseline")
    with pytest.raises(ValueError, match="'gpt' not in grades"):
        compare_graded(grades, "gpt", "baseline")
    unnamed = grades.astype({"prompt_id": float})
    unnamed.loc[unnamed.index[:2], "prompt_id"] = np.nan  # one prompt's two grades
    with pytest.raises(ValueError, match=r"2 grade\(s\) of 'candidate' / 'baseline' have no"):
        compare_graded(unnamed, "candidate", "baseline")


def test_win_rates_read_a_pair_written_either_way_round_and_refuse_missing_values() -> None:
    """Rows with the systems the other way round (system_a = whichever was shown first) give
    the same shares as the same verdicts written one way; a missing prompt id or verdict is
    refused, not dropped by a group-by (or a crash in the bootstrap)."""
    from abkit.judging.bradley_terry import fit_bradley_terry
    from abkit.judging.simulation import simulate_pairwise

    pairs = simulate_pairwise(80, {"ft": 0.3, "base": 0.0}, accuracy=0.9, seed=5)
    turned = pairs.copy()
    flip = turned.index % 2 == 1
    turned.loc[flip, ["system_a", "system_b"]] = turned.loc[flip, ["system_b", "system_a"]].values
    turned.loc[flip, "winner"] = turned.loc[flip, "winner"].map({"a": "b", "b": "a", "tie": "tie"})
    assert win_rates(turned) == win_rates(pairs)
    for column in ("prompt_id", "winner"):
        holed = pairs.astype({column: object})
        holed.loc[3, column] = None
        for tool in (win_rates, fit_bradley_terry):
            with pytest.raises(ValueError, match=rf"column '{column}' has 1 missing value\(s\)"):
                tool(holed)
