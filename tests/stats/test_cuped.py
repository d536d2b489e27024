"""abkit.stats.cuped against GrowthBook's and tea-tasting's published CUPED values and statsmodels
OLS.

- GrowthBook ``packages/stats/tests/frequentist/test_tests.py``,
  ``test_two_sided_ttest_test_runs_ratio_ra``: two ``RegressionAdjustedRatioStatistic`` arms
  (their sums are copied below), relative effect -0.0007, CI (-0.00841, 0.00700),
  p = 0.85771, SD 0.00391 (5 decimals).
- tea-tasting ``tests/metrics/test_mean.py``, ``test_ratio_of_means_analyze_ratio_less_use_norm``:
  ``RatioOfMeans(orders/sessions, covariates orders_covariate/sessions_covariate,
  alternative="less", use_t=False)`` on ``make_users_data(n_users=100, covariates=True,
  rng=42)``, saved as tests/reference/tea_tasting_users.csv by tea_tasting_users.py.
- statsmodels OLS y ~ 1 + treatment + x (ANCOVA) for a user mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from abkit.stats.cuped import Moments, Value, cuped_test, cuped_theta

HERE = Path(__file__).parents[1] / "reference"


def _growthbook_arm(n, m_post, d_post, m_pre, d_pre, products) -> Moments:
    """Components (m_post, d_post, m_pre, d_pre); each stat is (sum, sum_squares)."""
    sums = [m_post[0], d_post[0], m_pre[0], d_pre[0]]
    matrix = np.diag([m_post[1], d_post[1], m_pre[1], d_pre[1]])
    for (i, j), value in products.items():
        matrix[i, j] = matrix[j, i] = value
    return Moments.from_arrays(n, np.array(sums), matrix)


GB_CONTROL = _growthbook_arm(
    100,
    (485.112236689623, 2715.484666118136),
    (679.9093275844917, 4939.424001640236),
    (192.59138069991536, 460.076026390857),
    (290.1398399750233, 920.9461385038898),
    {
        (0, 2): 1113.6215759318352,  # m_post m_pre
        (1, 3): 2130.9404074446747,  # d_post d_pre
        (2, 3): 634.239482353647,  # m_pre d_pre
        (0, 1): 3602.146836776702,  # m_post d_post
        (0, 3): 1559.2878434944676,  # m_post d_pre
        (1, 2): 1460.3181079276983,  # m_pre d_post
    },
)
GB_TREATMENT = _growthbook_arm(
    100,
    (514.7757826608777, 2994.897482705013),
    (705.4090874383759, 5291.36604146392),
    (206.94157227402536, 514.2903702246757),
    (302.54389139107326, 994.4506208125663),
    {
        (0, 2): 1237.0953021125997,
        (1, 3): 2292.081739775257,
        (2, 3): 698.4173425817908,
        (0, 1): 3918.1561431600717,
        (0, 3): 1701.0287270040265,
        (1, 2): 1604.0759503266522,
    },
)


def test_growthbook_regression_adjusted_ratio_relative() -> None:
    # GrowthBook: θ minimizing the variance (equal arms), Welch t, relative to the
    # unadjusted control ratio
    result = cuped_test(
        GB_CONTROL, GB_TREATMENT, Value(0, 1), [Value(2, 3)], theta="min_variance", welch=True
    )
    relative = result.relative
    assert round(relative.estimate, 5) == pytest.approx(-0.0007, abs=1e-12)
    assert (round(relative.ci_low, 5), round(relative.ci_high, 5)) == (-0.00841, 0.00700)
    assert round(relative.p_value, 5) == 0.85771
    assert round(relative.se, 5) == 0.00391


def test_pooled_and_min_variance_theta_agree_closely() -> None:
    pooled = cuped_theta(GB_CONTROL, GB_TREATMENT, Value(0, 1), [Value(2, 3)], "pooled")
    best = cuped_theta(GB_CONTROL, GB_TREATMENT, Value(0, 1), [Value(2, 3)], "min_variance")
    assert pooled[0] == pytest.approx(best[0], rel=1e-3)
    with pytest.raises(ValueError, match="theta == 'ols'"):
        cuped_theta(GB_CONTROL, GB_TREATMENT, Value(0, 1), [Value(2, 3)], "ols")  # type: ignore[arg-type]


TT_COLUMNS = ["orders", "sessions", "orders_covariate", "sessions_covariate"]


def _tea_tasting_arms() -> tuple[Moments, Moments]:
    users = pd.read_csv(HERE / "tea_tasting_users.csv")
    return tuple(  # type: ignore[return-value]
        Moments.of(users.loc[users["variant"] == arm, TT_COLUMNS].to_numpy(float)) for arm in (0, 1)
    )


def test_tea_tasting_ratio_of_means_with_covariates() -> None:
    control, treatment = _tea_tasting_arms()
    result = cuped_test(control, treatment, Value(0, 1), [Value(2, 3)])  # pooled θ, normal
    test = result.test
    assert test.control == pytest.approx(0.25572348175909004, rel=1e-12)
    assert test.treatment == pytest.approx(0.23549786496156158, rel=1e-12)
    assert test.estimate == pytest.approx(-0.020225616797528462, rel=1e-12)
    assert test.statistic == pytest.approx(-0.3573188986307722, rel=1e-12)
    # one-sided "less" at 95 %: upper bound effect + z_0.95 * se, p = Φ(z)
    upper = test.estimate + sps.norm.ppf(0.95) * test.se
    assert upper == pytest.approx(0.07287939184944564, rel=1e-12)
    assert test.p_value / 2 == pytest.approx(0.3604265417728255, rel=1e-12)


def test_tea_tasting_unadjusted_ratio_matches_basic_case() -> None:
    control, treatment = _tea_tasting_arms()
    # test_ratio_of_means_analyze_basic: orders per user, no covariate, Welch t
    result = cuped_test(control, treatment, Value(0), [], welch=True)
    assert result.test.control == pytest.approx(0.5660377358490566)
    assert result.test.estimate == pytest.approx(-0.18305901244480127)
    assert result.test.ci_low == pytest.approx(-0.5004359360326984, rel=1e-9)
    assert result.test.ci_high == pytest.approx(0.13431791114309583, rel=1e-9)
    assert result.test.p_value == pytest.approx(0.2551230546709908, rel=1e-9)
    assert result.variance_reduction == pytest.approx(0.0)


def _ancova_data(seed: int = 7, n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    treated = (rng.random(n) < 0.2).astype(float)
    x = rng.gamma(2.0, 1.5, n)
    y = 1.0 + 0.3 * treated + 0.8 * x + rng.normal(0, 1.5 + 0.5 * treated, n)
    return treated, x, y


def test_user_mean_matches_statsmodels_ancova() -> None:
    treated, x, y = _ancova_data()
    data = np.column_stack([y, x])
    control, treatment = Moments.of(data[treated == 0]), Moments.of(data[treated == 1])
    design = sm.add_constant(np.column_stack([treated, x]))
    ols = sm.OLS(y, design).fit(cov_type="HC2")
    # with OLS's own slope the estimate is OLS's coefficient exactly
    same_slope = cuped_test(
        control, treatment, Value(0), [Value(1)], welch=True, theta=[ols.params[2]]
    )
    assert same_slope.test.estimate == pytest.approx(ols.params[1], rel=1e-10)
    # per-arm variances (Welch-like) against the heteroskedasticity-consistent HC2 SE
    assert same_slope.test.se == pytest.approx(ols.bse[1], rel=1e-3)
    # the default pooled θ differs from the within-arm slope by O(1/n)
    pooled = cuped_test(control, treatment, Value(0), [Value(1)], welch=True)
    assert abs(pooled.test.estimate - ols.params[1]) < 0.01 * ols.bse[1]
    assert pooled.test.se == pytest.approx(ols.bse[1], rel=1e-3)
    assert pooled.theta[0] == pytest.approx(ols.params[2], rel=0.01)


def test_indicator_covariate_makes_imputed_value_irrelevant() -> None:
    """Users with no history: any constant imputation plus an indicator gives one estimate."""
    treated, x, y = _ancova_data(seed=11)
    missing = np.random.default_rng(3).random(x.size) < 0.3
    estimates = []
    for fill in (0.0, float(x[~missing].mean()), 100.0):
        filled = np.where(missing, fill, x)
        data = np.column_stack([y, filled, missing.astype(float)])
        control, treatment = Moments.of(data[treated == 0]), Moments.of(data[treated == 1])
        estimates.append(
            cuped_test(control, treatment, Value(0), [Value(1), Value(2)]).test.estimate
        )
    assert estimates == pytest.approx([estimates[0]] * 3, rel=1e-9)
    # and against OLS with both covariates
    design = sm.add_constant(np.column_stack([treated, np.where(missing, 0.0, x), missing]))
    ols = sm.OLS(y, design).fit(cov_type="HC2")
    assert abs(estimates[0] - ols.params[1]) < 0.01 * ols.bse[1]


def test_covariate_without_variance_gives_the_unadjusted_test() -> None:
    treated, _, y = _ancova_data(seed=5)
    data = np.column_stack([y, np.ones_like(y)])
    control, treatment = Moments.of(data[treated == 0]), Moments.of(data[treated == 1])
    result = cuped_test(control, treatment, Value(0), [Value(1)])
    assert result.theta == (0.0,)
    assert result.test.estimate == pytest.approx(result.unadjusted.estimate)
    assert result.variance_reduction == pytest.approx(0.0, abs=1e-12)


def test_relative_effect_sign_with_negative_control() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2000, 1))
    y = -2.0 + x + rng.normal(size=(2000, 1))
    y[1000:] += 1.0  # treatment is higher: from about -2 to about -1
    data = np.hstack([y, x])
    result = cuped_test(Moments.of(data[:1000]), Moments.of(data[1000:]), Value(0), [Value(1)])
    assert result.relative.estimate > 0
    assert math.isclose(
        result.relative.estimate, result.test.estimate / abs(result.unadjusted.control)
    )
