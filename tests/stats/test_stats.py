"""abkit.stats.two_sample against published values (public_cases.md W1, P1, P2, M1), R and
statsmodels.

R values: tests/reference/stats_reference.R, its output stats_reference.csv and the data it
drew, stats_reference_data.csv.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from abkit.stats.two_sample import (
    MeanStats,
    RatioStats,
    _welch_df,
    adjust_p_values,
    clustered_quantile,
    delta_method_ratio,
    fisher_exact_test,
    mann_whitney_test,
    non_inferiority_p_value,
    relative_lift,
    two_proportion_z_test,
    welch_t_test,
    welch_t_test_from_stats,
)

HERE = Path(__file__).parents[1] / "reference"
R = {
    (row["case"], row["quantity"]): float(row["value"])
    for row in csv.DictReader((HERE / "stats_reference.csv").open())
}
DATA = pd.read_csv(HERE / "stats_reference_data.csv")


def sample(name: str) -> np.ndarray:
    return DATA.loc[DATA["sample"] == name, "value"].to_numpy(float)


# ------------------------------------------------------------------ public reference cases

W1_C = MeanStats(3407, 1396.87, 52377.9767)
W1_T = MeanStats(3461, 2422.7, 134698.29)


def test_w1_welch_absolute() -> None:
    result = welch_t_test_from_stats(W1_C, W1_T)
    assert result.estimate == pytest.approx(0.29)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.04538, 0.53462), abs=1e-5)
    assert result.p_value == pytest.approx(0.02016, abs=1e-5)


def test_w1_relative_lift_delta_method() -> None:
    v_c, v_t = W1_C.variance / W1_C.n, W1_T.variance / W1_T.n
    lift = relative_lift(W1_C.mean, v_c, W1_T.mean, v_t, df=_welch_df(v_c, v_t, W1_C.n, W1_T.n))
    assert lift.estimate == pytest.approx(0.70732, abs=1e-5)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((-0.03526, 1.44989), abs=1e-5)
    assert lift.p_value == pytest.approx(0.06191, abs=1e-5)


def test_p1_relative_lift_of_proportions() -> None:
    p_c, p_t = 14 / 28, 16 / 30
    v_c, v_t = p_c * (1 - p_c) / 28, p_t * (1 - p_t) / 30
    lift = relative_lift(p_c, v_c, p_t, v_t, df=_welch_df(v_c, v_t, 28, 30))
    assert lift.estimate == pytest.approx(0.06667, abs=1e-5)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((-0.47767, 0.61101), abs=1e-5)
    assert lift.p_value == pytest.approx(0.80707, abs=1e-5)


def test_p2_z_and_fisher() -> None:
    assert two_proportion_z_test(19, 53, 13, 47).p_value == pytest.approx(
        0.3809096823118986, rel=1e-12
    )
    assert fisher_exact_test(19, 53, 13, 47).p_value == pytest.approx(0.3999948918153569, rel=1e-12)
    assert two_proportion_z_test(19, 53, 13, 47).p_value == pytest.approx(
        R[("prop_p2", "p_value")], rel=1e-9
    )


def test_m1_holm_and_bh() -> None:
    p_values = [0.005, 0.06, 0.007, 0.04, 0.01, 0.03]
    assert adjust_p_values(p_values, "bh") == pytest.approx([0.02, 0.06, 0.02, 0.048, 0.02, 0.045])
    assert adjust_p_values(p_values, "holm") == pytest.approx([0.03, 0.09, 0.035, 0.09, 0.04, 0.09])
    for k in range(6):
        assert adjust_p_values(p_values, "holm")[k] == pytest.approx(R[("holm", f"p{k + 1}")])
        assert adjust_p_values(p_values, "bh")[k] == pytest.approx(R[("bh", f"p{k + 1}")])
    with_nan = adjust_p_values([0.01, math.nan, 0.04], "holm")
    assert with_nan[0] == pytest.approx(0.02) and math.isnan(with_nan[1])


# ------------------------------------------------------------------ R cross-checks


def test_welch_matches_r_t_test() -> None:
    result = welch_t_test(sample("a"), sample("b"))
    assert result.statistic == pytest.approx(R[("welch", "statistic")], rel=1e-9)
    assert result.df == pytest.approx(R[("welch", "df")], rel=1e-9)
    assert result.p_value == pytest.approx(R[("welch", "p_value")], rel=1e-9)
    assert result.ci_low == pytest.approx(R[("welch", "ci_low")], rel=1e-9)
    assert result.ci_high == pytest.approx(R[("welch", "ci_high")], rel=1e-9)


def test_fisher_matches_r() -> None:
    assert fisher_exact_test(3, 11, 7, 9).p_value == pytest.approx(
        R[("fisher_small", "p_value")], rel=1e-9
    )


def test_mann_whitney_matches_r_wilcox_test() -> None:
    result = mann_whitney_test(sample("csat_a"), sample("csat_b"))
    assert result.p_value == pytest.approx(R[("mann_whitney", "p_value")], rel=1e-9)


def test_delta_method_matches_cluster_robust_variance() -> None:
    # R sandwich::vcovCL(type = "HC0", cadjust = FALSE) of an intercept-only model is
    # sum_u e_u^2 / N^2; the delta method uses sample (n - 1) variances: ratio n / (n - 1).
    clustered = DATA[DATA["sample"] == "clustered"]
    per_user = clustered.groupby("user")["value"].agg(["sum", "size"])
    y, x = per_user["sum"].to_numpy(), per_user["size"].to_numpy(float)
    stats = RatioStats(len(y), y.sum(), x.sum(), y @ y, x @ x, x @ y)
    ratio, variance = delta_method_ratio(stats)
    n = R[("delta_ratio", "n_users")]
    assert ratio == pytest.approx(R[("delta_ratio", "mean")], rel=1e-12)
    assert variance == pytest.approx(R[("delta_ratio", "variance_hc0")] * n / (n - 1), rel=1e-9)
    # and statsmodels' cluster-robust OLS agrees the same way
    fit = sm.OLS(clustered["value"].to_numpy(), np.ones(len(clustered))).fit(
        cov_type="cluster",
        cov_kwds={"groups": clustered["user"].to_numpy(), "use_correction": False},
    )
    assert variance == pytest.approx(fit.cov_params()[0, 0] * n / (n - 1), rel=1e-9)


# ------------------------------------------------------------------ quantiles and the rest


def test_clustered_quantile_se_agrees_with_a_user_bootstrap() -> None:
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(3000), 4)
    values = np.exp(7 + rng.normal(0, 0.6, 3000)[users] + rng.normal(0, 0.6, users.size))
    estimate, se = clustered_quantile(values, users, 0.95)
    assert estimate == np.quantile(values, 0.95, method="inverted_cdf")
    boot = []
    for _ in range(400):
        picked = rng.integers(0, 3000, 3000)
        rows = (picked[:, None] * 4 + np.arange(4)).ravel()
        boot.append(np.quantile(values[rows], 0.95, method="inverted_cdf"))
    # the bootstrap SD of 400 replicates is itself uncertain by ~ 1/sqrt(2*400) = 3.5 %
    assert se == pytest.approx(np.std(boot, ddof=1), rel=0.2)
    # ignoring clustering gives a clearly narrower SE
    _, naive = clustered_quantile(values, np.arange(values.size), 0.95)
    assert naive < 0.8 * se


def test_clustered_quantile_needs_enough_values() -> None:
    estimate, se = clustered_quantile(np.arange(50.0), np.arange(50), 0.99)
    assert estimate == 49.0 and math.isnan(se)


def test_non_inferiority_direction() -> None:
    # lower is better, +3 observed, margin 10, se 4: z = (10 - 3)/4 = 1.75, p = 0.0401
    assert non_inferiority_p_value(3, 4, 10, higher_is_better=False) == pytest.approx(
        0.040059156, rel=1e-6
    )
    assert non_inferiority_p_value(-3, 4, 10, higher_is_better=True) == pytest.approx(
        0.040059156, rel=1e-6
    )


def test_relative_lift_refuses_zero_control() -> None:
    with pytest.raises(ValueError, match=r"control value == 0: a relative lift is undefined"):
        relative_lift(0.0, 0.1, 0.5, 0.1)


def test_zero_variance_gives_nan_not_a_number() -> None:
    result = welch_t_test([1.0, 1.0, 1.0], [1.0, 1.0])
    assert math.isnan(result.p_value) and result.estimate == 0.0
