"""A/A calibration with fixed seeds: every method's false-positive rate at alpha = 0.05 lies in
the 99 % binomial interval; the naive dialog-level t-test's does not.

Full size: 1,000 experiments of 2,000 users (3 dialogs each on average, intra-user correlation
0.3). CI runs the same test at ABKIT_SLOW_SCALE of the experiments (the interval is recomputed
for that count, so the check stays exact at the smaller size).
"""

from __future__ import annotations

import pytest
from conftest import slow_scale

from abkit.calibration import NAIVE, binomial_interval, run_aa_calibration, run_power_check


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
