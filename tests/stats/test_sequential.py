"""abkit.stats.sequential: spending against public_cases.md Q1 (expan), boundaries against R rpact
(tests/reference/sequential_reference.R), and the peeking simulation's rates against binomial
intervals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import slow_scale
from references import RPACT  # noqa: E402

from abkit.stats.sequential import (
    alpha_spending,
    boundaries,
    confidence_sequence,
    peeking_simulation,
    sequential_srm_p_values,
)
from abkit.teaching.calibration import binomial_interval


def test_q1_obrien_fleming_spending() -> None:
    # public_cases.md Q1 (expan test_early_stopping.py)
    assert alpha_spending(0.5) == pytest.approx(0.005574596680784305, rel=1e-12)
    assert alpha_spending(0.2) == pytest.approx(1.17264468e-05, rel=1e-8)
    assert alpha_spending(0.8) == pytest.approx(2.84296308e-02, rel=1e-8)
    assert alpha_spending(1.0) == pytest.approx(0.05)


def test_other_spending_functions() -> None:
    assert alpha_spending(0.5, kind="pocock") == pytest.approx(0.05 * np.log(1 + (np.e - 1) / 2))
    assert alpha_spending(0.5, kind="power", rho=2) == pytest.approx(0.0125)
    np.testing.assert_allclose(alpha_spending([0.0, 1.0], kind="power"), [0.0, 0.05])


@pytest.mark.parametrize(
    ("case", "fractions", "kind", "rho"),
    [
        ("pocock_4", [0.25, 0.5, 0.75, 1.0], "pocock", 3.0),
        ("power3_5", [0.2, 0.4, 0.6, 0.8, 1.0], "power", 3.0),
        ("power2_uneven", [0.3, 0.7, 1.0], "power", 2.0),
    ],
)
def test_boundaries_match_rpact(case: str, fractions: list[float], kind: str, rho: float) -> None:
    table = boundaries(fractions, alpha=0.05, kind=kind, rho=rho)  # type: ignore[arg-type]
    np.testing.assert_allclose(table["z_boundary"], RPACT[case], rtol=1e-6)


SPACINGS = {
    "equal_3": [1 / 3, 2 / 3, 1.0],
    "equal_4": [0.25, 0.5, 0.75, 1.0],
    "equal_5": [0.2, 0.4, 0.6, 0.8, 1.0],
    "unequal_3": [0.2, 0.5, 1.0],
    "unequal_4": [0.1, 0.4, 0.7, 1.0],
    "unequal_5": [0.15, 0.3, 0.55, 0.8, 1.0],
}
CONVENTIONS = {
    "obf_per_side": "obrien_fleming_per_side",
    "obf_two_sided": "obrien_fleming",
    "pocock": "pocock",
}


@pytest.mark.parametrize("spacing", sorted(SPACINGS))
@pytest.mark.parametrize("design", sorted(CONVENTIONS))
def test_both_obrien_fleming_conventions_and_pocock_match_rpact(design: str, spacing: str) -> None:
    """rpact 3.3.4: asOF (per side), the Lan-DeMets two-sided form as asUser, asP; 3-5 looks."""
    table = boundaries(SPACINGS[spacing], alpha=0.05, kind=CONVENTIONS[design])  # type: ignore[arg-type]
    case = f"{design}_{spacing}"
    np.testing.assert_allclose(table["z_boundary"], RPACT[case], rtol=0, atol=1e-6)
    # rpact caps a user spending function just under alpha at t = 1: compare the looks before.
    # Amounts near 1e-12 differ in the 6th digit (rpact computes 1 − Φ, abkit Φ̄): atol 1e-15.
    np.testing.assert_allclose(
        table["cumulative_alpha"].iloc[:-1], RPACT[f"{case}_spent"][:-1], rtol=1e-7, atol=1e-15
    )


def test_the_two_conventions_differ_as_documented() -> None:
    looks = [0.25, 0.5, 0.75, 1.0]
    two_sided = boundaries(looks)["z_boundary"].round(3).tolist()
    per_side = boundaries(looks, kind="obrien_fleming_per_side")["z_boundary"].round(3).tolist()
    assert two_sided == [3.920, 2.774, 2.298, 2.043]
    assert per_side == [4.333, 2.963, 2.359, 2.014]


def test_single_look_is_the_fixed_horizon_test() -> None:
    assert boundaries([1.0])["z_boundary"].item() == pytest.approx(1.959963985, rel=1e-8)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"information_fractions == \[0.5, 0.4\], must increase"):
        boundaries([0.5, 0.4])
    with pytest.raises(ValueError, match=r"kind == 'haybittle', must be one of"):
        alpha_spending(0.5, kind="haybittle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"t == 1.5, information fractions must lie in \[0, 1\]"):
        alpha_spending(1.5)


@pytest.mark.slow
def test_peeking_inflates_and_the_sequential_design_holds_alpha() -> None:
    n = max(4000, int(40_000 * slow_scale()))
    rates = peeking_simulation(n, 14, seed=7).set_index("method")["rejections"]
    low, high = binomial_interval(n, 0.05)
    assert low <= rates["fixed horizon (one look)"] <= high
    assert low <= rates["group-sequential obrien-fleming (14 looks)"] <= high
    # daily peeking: far above alpha (about 0.2 with 14 looks)
    assert rates["naive peeking (14 looks)"] / n > 0.15


def _relative_lift_moments(mean_a, var_a, n_a, mean_b, var_b, n_b):
    """GrowthBook's relative uplift B/A − 1 and its delta-method standard error (the inputs its
    sequential tests feed to the confidence sequence)."""
    estimate = mean_b / mean_a - 1
    variance = var_b / (mean_a**2 * n_b) + var_a * mean_b**2 / (mean_a**4 * n_a)
    return estimate, np.sqrt(variance)


def _sample_mean(total, squares, n):
    return total / n, (squares - total**2 / n) / (n - 1)


@pytest.mark.parametrize(
    ("a", "b", "proportion", "tuning", "expected"),
    [
        # growthbook packages/stats/tests/frequentist/test_tests.py, TestSequentialTTest
        (
            (1396.87, 52377.9767, 3000),
            (2422.7, 134698.29, 3461),
            False,
            1000,
            (0.50336, -0.55844, 1.56516, 1.0),
        ),
        ((1396, None, 3000), (2422, None, 3461), True, 5000, (0.50386, 0.40098, 0.60675, 0.0)),
    ],
)
def test_confidence_sequence_matches_growthbook(a, b, proportion, tuning, expected) -> None:
    if proportion:
        (mean_a, n_a), (mean_b, n_b) = (a[0] / a[2], a[2]), (b[0] / b[2], b[2])
        var_a, var_b = mean_a * (1 - mean_a), mean_b * (1 - mean_b)
    else:
        (mean_a, var_a), n_a = _sample_mean(*a), a[2]
        (mean_b, var_b), n_b = _sample_mean(*b), b[2]
    estimate, se = _relative_lift_moments(mean_a, var_a, n_a, mean_b, var_b, n_b)
    cs = confidence_sequence(estimate, se, n_a + n_b, planned_n=tuning, alpha=0.05)
    got = (cs.estimate, cs.ci_low, cs.ci_high, cs.p_value)
    np.testing.assert_allclose(np.round(got, 5), expected, atol=0)


def test_confidence_sequence_is_wider_than_the_fixed_interval_and_one_sided_bounds() -> None:
    cs = confidence_sequence(0.02, 0.01, 10_000, planned_n=10_000)
    assert cs.ci_high - cs.ci_low > 2 * 1.96 * 0.01
    lower = confidence_sequence(0.02, 0.01, 10_000, planned_n=10_000, side="lower")
    assert cs.ci_low < lower.ci_low < 0.02 and lower.ci_high == np.inf
    upper = confidence_sequence(0.02, 0.01, 10_000, planned_n=10_000, side="upper")
    assert upper.ci_low == -np.inf and 0.02 < upper.ci_high < cs.ci_high


# growthbook: back-end/test/... ssrm tests, reference values from gbstats.ssrm (Python)
SSRM_CASES = [
    ([[800, 200]], [0.5, 0.5], 10_000, [8.126155715401769e-08]),
    (
        [[500, 500], [600, 400], [700, 300], [800, 200]],
        [0.5, 0.5],
        10_000,
        [1.0, 0.20685901461423034, 1.099173293697608e-6, 5.115536116778213e-23],
    ),
    ([[600, 200, 200]], [0.34, 0.33, 0.33], 10_000, [1.4343631225400445e-06]),
    ([[800, 200]], [0.5, 0.5], 100, [2.253273013435552e-75]),
    ([[500, 500], [0, 0], [600, 400]], [0.5, 0.5], 10_000, [1.0, 1.0, 0.20685901461423034]),
]


@pytest.mark.parametrize(("counts", "expected", "concentration", "p_values"), SSRM_CASES)
def test_sequential_srm_matches_growthbook(counts, expected, concentration, p_values) -> None:
    got = sequential_srm_p_values(counts, expected, concentration=concentration)
    np.testing.assert_allclose(got, p_values, rtol=1e-6)


def test_sequential_srm_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="must be whole numbers"):
        sequential_srm_p_values([[1.5, 2]], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"must be \(days, 2\)"):
        sequential_srm_p_values([[1, 2, 3]], [0.5, 0.5])
    with pytest.raises(ValueError, match="must be shares > 0 that sum to 1"):
        sequential_srm_p_values([[1, 2]], [0.5, 0.6])


@pytest.mark.slow
def test_monitoring_procedures_on_simulated_logs_looked_at_daily() -> None:
    """14 daily looks of simulated experiments, each look analysed by the kit's engine.

    A/A: the fixed-horizon test and both group-sequential designs hold α (99 % binomial
    interval); the always-valid sequence never exceeds it (it is conservative at 14 looks);
    naive daily peeking is far above it. At an effect of +4.5 points, the power of each is
    reported (printed with -s) and ordered as expected on the same experiments.
    """
    from abkit.teaching.calibration import SEQUENTIAL_METHODS, run_sequential_check

    fixed, naive, obf, obf_side, always = SEQUENTIAL_METHODS
    n = max(40, int(120 * slow_scale()))
    aa = run_sequential_check(n, seed=20_260_000, progress=False).table.set_index("method")
    print("\nA/A, 14 daily looks\n", aa[["rejections", "rate", "interval_low", "interval_high"]])
    for method in (fixed, obf, obf_side):
        assert aa.loc[method, "calibrated"], method
    assert aa.loc[always, "rejections"] <= aa.loc[always, "interval_high"]
    assert aa.loc[naive, "rejections"] > aa.loc[naive, "interval_high"]

    m = max(25, int(60 * slow_scale()))
    power = run_sequential_check(m, completion_effect=0.045, seed=30_260_000, progress=False)
    rates = power.table.set_index("method")["rate"]
    print("power at +4.5 points\n", rates)
    assert rates[fixed] > 0.5
    assert rates[naive] >= rates[fixed]
    assert rates[obf] >= rates[fixed] - 0.15 and rates[obf_side] >= rates[fixed] - 0.15
    assert rates[always] <= rates[naive]
