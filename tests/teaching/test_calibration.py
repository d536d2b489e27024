"""A/A calibration with fixed seeds: every method's false-positive rate at alpha = 0.05 lies in
the 99 % binomial interval; the naive dialog-level t-test's does not.

Full size: 1,000 experiments of 2,000 users (3 dialogs each on average, intra-user correlation
0.3). CI runs the same test at ABKIT_SLOW_SCALE of the experiments (the interval is recomputed
for that count, so the check stays exact at the smaller size).
"""

from __future__ import annotations

import pytest
from conftest import slow_scale

from abkit.teaching.calibration import (
    NAIVE,
    binomial_interval,
    run_aa_calibration,
    run_cuped_check,
    run_power_check,
)


def test_binomial_interval_matches_scipy_quantiles() -> None:
    # R 4.2: qbinom(c(0.005, 0.995), 1000, 0.05) -> 33 69
    assert binomial_interval(1000, 0.05) == (33, 69)


@pytest.mark.slow
def test_aa_false_positive_rates() -> None:
    n_experiments = max(200, int(1000 * slow_scale()))
    calibration = run_aa_calibration(n_experiments, seed=1000, progress=False)
    table = calibration.table.set_index("method")
    print("\n" + calibration.table.to_string())
    methods = table.drop(index=NAIVE)
    assert len(methods) == 8
    assert methods["calibrated"].all(), methods[~methods["calibrated"]]
    assert table.loc[NAIVE, "false_positives"] > table.loc[NAIVE, "interval_high"]


@pytest.mark.slow
def test_ship_rate_at_the_designed_effect_is_the_planned_power() -> None:
    # notebook 01's design (71.3 % completion, +5 points, 50/50, 80 % power), the
    # experiments simulated at exactly that effect and analysed with the same plan
    n_experiments = max(200, int(1000 * slow_scale()))
    check = run_power_check(n_experiments, seed=5000, progress=False)
    print(
        f"\nship rate {check.ship_rate:.3f} over {check.n_experiments} experiments of "
        f"{check.users} users; 99 % interval [{check.interval_low}, {check.interval_high}]"
    )
    assert check.as_planned, check


@pytest.mark.slow
def test_cuped_variance_bias_coverage_and_aa_rate() -> None:
    # ρ = 0.7: the user mean's variance falls to 1 − ρ² = 0.51 of the unadjusted one
    n_experiments = max(250, int(1000 * slow_scale()))
    check = run_cuped_check(n_experiments, rho=0.7, seed=7000, progress=False)
    table = check.table.set_index("method")
    print("\n" + check.table.to_string())
    mean = table.loc["user mean (Welch), CUPED"]
    assert mean["variance_ratio"] == pytest.approx(0.51, abs=0.02)
    assert mean["empirical_ratio"] == pytest.approx(0.51, abs=0.06)  # across experiments
    # bias below 0.1 SE (the mean of z has sampling error 1/sqrt(n): looser when scaled down)
    bound = max(0.1, 3 / n_experiments**0.5)
    assert (table["bias_se"].abs() < bound).all(), table["bias_se"]
    low, high = binomial_interval(n_experiments, 0.95)
    covered = (table["coverage"] * n_experiments).round()
    assert covered.between(low, high).all(), table["coverage"]
    assert table["calibrated"].all(), table[["false_positives", "interval_low", "interval_high"]]
    assert (table["variance_ratio"] < 0.95).all()  # every method gains something here
