"""Dunnett's many-to-one adjustment against scipy.stats.dunnett and R's multcomp."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from references import multcomp
from scipy import stats

from abkit.stats.many_to_one import dunnett_adjust, dunnett_critical, max_abs_cdf

REFERENCE = Path(__file__).parents[1] / "reference"


def pooled_inputs(samples: list[np.ndarray]) -> tuple[list[float], list[float], float, int]:
    """Differences from the first sample, their pooled-variance standard errors, the control
    mean's variance and the residual df: the one-way ANOVA's Dunnett."""
    n_total = sum(s.size for s in samples)
    df = n_total - len(samples)
    pooled = sum(((s - s.mean()) ** 2).sum() for s in samples) / df
    control = samples[0]
    estimates = [s.mean() - control.mean() for s in samples[1:]]
    ses = [math.sqrt(pooled * (1 / control.size + 1 / s.size)) for s in samples[1:]]
    return estimates, ses, pooled / control.size, df


@pytest.mark.parametrize("k", [2, 3])
def test_equals_scipy_dunnett_with_a_pooled_variance(k: int) -> None:
    rng = np.random.default_rng(29)
    samples = [rng.normal(0.0, 1.0, 80)] + [
        rng.normal(0.15 * j, 1.0, 80 - 10 * j) for j in range(1, k + 1)
    ]
    reference = stats.dunnett(*samples[1:], control=samples[0], rng=1)
    estimates, ses, var_control, df = pooled_inputs(samples)
    ours = dunnett_adjust(estimates, ses, var_control, df=df)
    # both integrate the multivariate t numerically: agreement to their integration error
    np.testing.assert_allclose(ours.p_adjusted, reference.pvalue, atol=2e-4)
    interval = reference.confidence_interval(0.95)
    np.testing.assert_allclose(ours.ci_low, interval.low, atol=2e-3 * np.max(ses))
    np.testing.assert_allclose(ours.ci_high, interval.high, atol=2e-3 * np.max(ses))


def test_equals_multcomp_on_unequal_arms_with_a_pooled_variance() -> None:
    log = pd.read_csv(REFERENCE / "dunnett_log.csv")
    users = log.groupby(["variant", "user_id"])["tokens"].mean()
    samples = [users[label].to_numpy() for label in ("control", "ft-v1", "ft-v2")]
    estimates, ses, var_control, df = pooled_inputs(samples)
    expected = multcomp("pooled")
    assert df == expected[("", "df")]
    ours = dunnett_adjust(estimates, ses, var_control, df=df)
    assert ours.critical == pytest.approx(expected[("", "critical")], abs=1e-4)
    for j, label in enumerate(("ft-v1", "ft-v2")):
        assert estimates[j] == pytest.approx(expected[(label, "estimate")], rel=1e-12)
        assert ses[j] == pytest.approx(expected[(label, "se")], rel=1e-12)
        assert ours.p_adjusted[j] == pytest.approx(expected[(label, "p_adjusted")], abs=2e-5)
        assert ours.ci_low[j] == pytest.approx(expected[(label, "ci_low")], abs=1e-3)
        assert ours.ci_high[j] == pytest.approx(expected[(label, "ci_high")], abs=1e-3)


def test_one_candidate_is_the_plain_two_sided_test() -> None:
    out = dunnett_adjust([0.2], [0.1], 0.004)
    assert out.p_adjusted[0] == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-12)
    assert out.critical == pytest.approx(stats.norm.isf(0.025), rel=1e-12)


def test_dunnetts_table_value_for_equal_arms() -> None:
    # Dunnett (1955), two-sided 5 % critical values for infinite df: 2.21 (k = 2), 2.35 (k = 3)
    for k, table in ((2, 2.21), (3, 2.35)):
        correlation = np.full((k, k), 0.5)
        np.fill_diagonal(correlation, 1.0)
        assert dunnett_critical(correlation, 0.05) == pytest.approx(table, abs=0.006)


def test_less_conservative_than_bonferroni_more_than_unadjusted() -> None:
    out = dunnett_adjust([0.25, 0.25, 0.25], [0.1, 0.1, 0.1], 0.005)
    raw = 2 * stats.norm.sf(2.5)
    assert raw < out.p_adjusted[0] < 3 * raw


def test_a_candidate_without_a_variance_leaves_the_family() -> None:
    out = dunnett_adjust([0.3, math.nan], [0.1, math.nan], 0.005)
    assert math.isnan(out.p_adjusted[1])
    assert out.p_adjusted[0] == pytest.approx(2 * stats.norm.sf(3.0), rel=1e-9)


def test_refuses_a_control_variance_larger_than_the_difference() -> None:
    with pytest.raises(ValueError, match="var_control"):
        dunnett_adjust([0.3, 0.1], [0.1, 0.1], 0.02)


def test_repeatable() -> None:
    correlation = np.array([[1.0, 0.4, 0.3], [0.4, 1.0, 0.35], [0.3, 0.35, 1.0]])
    assert max_abs_cdf(2.3, correlation, 40.0) == max_abs_cdf(2.3, correlation, 40.0)


def simulated_z(rng: np.random.Generator, p: list[float], n: list[int]) -> tuple:
    """Each candidate's difference from the control in a share of users, its unpooled
    standard error and the control's variance, from Binomial draws (one outcome per user)."""
    k = rng.binomial(n, p)
    rate = k / np.asarray(n)
    var = rate * (1 - rate) / np.asarray(n)
    return rate[1:] - rate[0], np.sqrt(var[0] + var[1:]), var[0]


@pytest.mark.slow
def test_family_wise_error_under_the_global_null_with_three_candidates() -> None:
    from conftest import slow_scale

    from abkit.teaching.calibration import binomial_interval

    rng = np.random.default_rng(2029)
    reps = max(1000, int(4000 * slow_scale()))
    n = [2000, 1000, 1000, 1000]
    dunnett_hits = holm_hits = 0
    for _ in range(reps):
        effect, se, var_c = simulated_z(rng, [0.3] * 4, n)
        adjusted = dunnett_adjust(effect, se, var_c, intervals=False).p_adjusted
        raw = 2 * stats.norm.sf(np.abs(effect / se))
        dunnett_hits += bool(np.min(adjusted) < 0.05)
        holm_hits += bool(np.min(raw) < 0.05 / 3)  # Holm's first step decides the FWER
    low, high = binomial_interval(reps, 0.05, 0.99)
    assert low <= dunnett_hits <= high, (dunnett_hits, reps)
    assert holm_hits <= dunnett_hits  # Holm over the pairs ignores the shared control


@pytest.mark.slow
def test_power_at_the_designed_effect_matches_the_design() -> None:
    from conftest import slow_scale

    from abkit.design.sample_size import method_rows
    from abkit.plan.experiment_plan import ExperimentPlan
    from abkit.teaching.calibration import binomial_interval

    plan = ExperimentPlan(
        treatment=("ft-v1", "ft-v2"), split={"control": 0.5, "ft-v1": 0.25, "ft-v2": 0.25}
    )
    _, split, pair = plan.sized_pair
    row = method_rows(
        metric="proportion",
        baseline=0.3,
        alpha=plan.alpha_per_primary,
        split=split,
        relative=False,
        sd_control=None,
        sd_treatment=None,
        mde=0.04,
        power=0.8,
    )[0]
    n_control, n_candidate = row["n_control"], row["n_treatment"]
    rng = np.random.default_rng(2030)
    reps = max(1000, int(3000 * slow_scale()))
    hits = 0
    for _ in range(reps):
        effect, se, var_c = simulated_z(
            rng, [0.3, 0.34, 0.34], [n_control, n_candidate, n_candidate]
        )
        hits += bool(dunnett_adjust(effect, se, var_c, intervals=False).p_adjusted[0] < 0.05)
    low, high = binomial_interval(reps, 0.8, 0.99)
    assert low <= hits <= high, (hits, reps, n_control, n_candidate)
