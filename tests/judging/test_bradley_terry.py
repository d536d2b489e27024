"""Bradley–Terry at scale (abkit.judging.bradley_terry) against independent references:
strengths against choix and a statsmodels binomial GLM, the prompt-clustered sandwich against
R's sandwich::vcovCL (tests/reference/bradley_terry_sandwich.R, output committed), and the
intervals' coverage by simulation (fixed seeds, binomial bounds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import slow_scale

from abkit.judging.bradley_terry import (
    _prompt_types,
    bootstrap_strengths,
    fit_bradley_terry,
    pair_counts,
    sandwich_covariance,
)
from abkit.judging.simulation import simulate_arena
from abkit.teaching.calibration import binomial_interval

REFERENCE = Path(__file__).parents[1] / "reference"


def test_sandwich_covariance_matches_r_vcovcl_clustered_by_prompt() -> None:
    data = pd.read_csv(REFERENCE / "bt_clustered_data.csv")
    expected = pd.read_csv(REFERENCE / "bt_sandwich_reference.csv")
    fit = fit_bradley_terry(data, interval="sandwich")
    assert list(fit.systems) == expected["system"].tolist()
    np.testing.assert_allclose(fit.strength, expected["strength"], atol=1e-10)
    np.testing.assert_allclose(fit.se, expected["se"], rtol=1e-8)
    covariance = sandwich_covariance(pair_counts(data), fit.strength)
    np.testing.assert_allclose(covariance, expected.filter(like="cov_").to_numpy(), atol=1e-10)
    z = 1.959963984540054
    np.testing.assert_allclose(fit.ci_high - fit.strength, z * expected["se"], rtol=1e-8)


def test_strengths_equal_choix_on_a_leaderboard_sized_set() -> None:
    choix = pytest.importorskip("choix")
    theta = np.random.default_rng(3).normal(0, 0.7, 40)
    data = simulate_arena(200_000, theta, seed=4)
    names = sorted(set(data["system_a"]) | set(data["system_b"]))
    index = {s: k for k, s in enumerate(names)}
    a = data["system_a"].map(index).to_numpy()
    b = data["system_b"].map(index).to_numpy()
    won = (data["winner"] == "a").to_numpy()
    games = np.column_stack([np.where(won, a, b), np.where(won, b, a)])
    reference = choix.ilsr_pairwise(len(names), games, alpha=0.0, max_iter=10_000, tol=1e-13)
    fit = fit_bradley_terry(data, resamples=0)
    np.testing.assert_allclose(fit.strength, reference - reference.mean(), atol=1e-8)


def test_strengths_with_ties_equal_a_statsmodels_binomial_glm() -> None:
    import statsmodels.api as sm

    theta = np.random.default_rng(5).normal(0, 0.5, 12)
    data = simulate_arena(20_000, theta, tie_share=0.2, per_prompt=2, seed=6)
    names = sorted(set(data["system_a"]) | set(data["system_b"]))
    design = np.zeros((len(data), len(names)))
    rows = np.arange(len(data))
    design[rows, data["system_a"].map(names.index)] += 1
    design[rows, data["system_b"].map(names.index)] -= 1
    y = data["winner"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
    glm = sm.GLM(y, design[:, 1:], family=sm.families.Binomial()).fit(tol=1e-14)
    beta = np.concatenate([[0.0], glm.params])
    fit = fit_bradley_terry(data, resamples=0)
    np.testing.assert_allclose(fit.strength, beta - beta.mean(), atol=1e-8)


def test_prompt_types_hold_every_prompt_once() -> None:
    data = simulate_arena(5_000, np.linspace(-1, 1, 6), tie_share=0.1, seed=8)
    counts = pair_counts(data)
    types, multiplicity = _prompt_types(counts)
    assert multiplicity.sum() == counts.prompts and types.shape[0] < counts.prompts
    games, wins = counts.totals()
    np.testing.assert_allclose(types.T @ multiplicity, np.concatenate([games, wins]))
    several = simulate_arena(900, np.linspace(-1, 1, 6), per_prompt=3, seed=8)
    _, each = _prompt_types(pair_counts(several))
    assert (each == 1).all() and each.size == 300  # several pairs per prompt: its own type


def test_the_bootstrap_keeps_a_prompts_verdicts_together() -> None:
    """Two verdicts per prompt that always agree (a judge asked twice): resampling prompts
    must give the wider interval that resampling verdicts would hide."""
    data = simulate_arena(1_000, np.array([0.0, 0.4, -0.3]), seed=2)
    twice = pd.concat(
        [
            data,
            data.assign(
                system_a=data["system_b"],
                system_b=data["system_a"],
                winner=data["winner"].map({"a": "b", "b": "a"}),
            ),
        ]
    )
    counts = pair_counts(twice)
    draws, failed = bootstrap_strengths(counts, 400, seed=3)
    single, _ = bootstrap_strengths(pair_counts(data), 400, seed=3)
    assert failed == 0
    np.testing.assert_allclose(draws.std(axis=0), single.std(axis=0), rtol=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("interval", ["bootstrap", "sandwich"])
def test_intervals_cover_at_95_percent_and_rank_intervals_are_simultaneous(interval) -> None:
    """1,000 simulated judge runs (8 systems, 400 prompts with two verdicts each), CI at reduced
    size: each system's 95 % interval covers its true centred strength at 95 % (99 % binomial
    band, pooled over systems with the band of the data sets alone, which is wider); the
    simultaneous intervals, hence every rank interval, hold all systems at >= 95 %. No ties:
    ties drawn at random regardless of strength pull every strength toward zero, so the
    generating θ would not be the estimand (at 10 % ties, by 0.066 at θ = ±0.6)."""
    runs = max(200, int(1000 * slow_scale()))
    truth = np.linspace(-0.6, 0.6, 8)
    truth_centred = truth - truth.mean()
    true_rank = np.empty(8, dtype=int)
    true_rank[(-truth).argsort()] = np.arange(1, 9)
    covered, all_held, ranks_held = 0, 0, 0
    for run in range(runs):
        data = simulate_arena(800, truth, per_prompt=2, seed=1_000 + run)
        fit = fit_bradley_terry(data, resamples=200, seed=run, interval=interval)
        order = [int(s[1:]) for s in fit.systems]
        centred = truth_centred[order]
        covered += int(((fit.ci_low <= centred) & (centred <= fit.ci_high)).sum())
        all_held += bool(((fit.sim_low <= centred) & (centred <= fit.sim_high)).all())
        _, low, high = fit.ranks()
        ranks_held += bool(((low <= true_rank[order]) & (true_rank[order] <= high)).all())
    low_count, high_count = binomial_interval(runs, 0.95)
    rate = covered / (8 * runs)
    assert low_count / runs <= rate <= high_count / runs, rate
    assert all_held >= low_count, (all_held, runs)
    assert ranks_held >= all_held  # a rank interval holds whenever the strengths all do


def test_rank_intervals_follow_from_the_simultaneous_intervals() -> None:
    data = simulate_arena(60_000, np.array([1.0, 0.9, 0.0, -0.05, -1.0]), seed=9)
    table = fit_bradley_terry(data, interval="sandwich").table()
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["rank_low"].tolist()[-1] == 5 and table["rank_high"].tolist()[0] <= 2
    assert (table["rank_low"] <= table["rank"]).all() and (
        table["rank"] <= table["rank_high"]
    ).all()


def test_a_refused_interval_kind_names_the_allowed_ones() -> None:
    data = simulate_arena(100, np.array([0.0, 0.5]), seed=1)
    with pytest.raises(
        ValueError, match=r"interval == 'wald'; allowed: \['bootstrap', 'sandwich'\]"
    ):
        fit_bradley_terry(data, interval="wald")
