"""Statistical tests on sufficient statistics and arrays. Pure functions: no I/O, no plotting.

Every test returns a :class:`TestResult` (estimate of treatment − control, its CI, p-value,
method). Sources are named in each docstring; ``tests/test_stats.py`` checks each against
published values (``public_cases.md``), R and statsmodels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

Correction = Literal["holm", "bonferroni", "bh", "none"]

__all__ = [
    "Correction",
    "MeanStats",
    "RatioStats",
    "TestResult",
    "adjust_p_values",
    "QuantileOrder",
    "clustered_quantile",
    "clustered_quantile_se",
    "quantile_order_statistics",
    "quantile_orders",
    "delta_method_ratio",
    "fisher_exact_test",
    "mann_whitney_test",
    "non_inferiority_p_value",
    "quantile_difference",
    "ratio_difference_test",
    "relative_lift",
    "two_proportion_z_test",
    "welch_t_test",
    "welch_t_test_from_stats",
]


@dataclass(frozen=True)
class MeanStats:
    """Sufficient statistics of one sample: n, Σx, Σx² (poolable with ``+``)."""

    n: int
    total: float
    total_sq: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> MeanStats:
        array = np.asarray(values, dtype=float)
        return cls(int(array.size), float(array.sum()), float(np.square(array).sum()))

    def __add__(self, other: MeanStats) -> MeanStats:
        return MeanStats(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (n − 1 denominator); NaN below 2 observations."""
        if self.n < 2:
            return math.nan
        return max(self.total_sq - self.total**2 / self.n, 0.0) / (self.n - 1)


@dataclass(frozen=True)
class RatioStats:
    """Per-unit sums of a ratio metric R = ΣY/ΣX over n units: ΣY, ΣX, ΣY², ΣX², ΣXY."""

    n: int
    sum_y: float
    sum_x: float
    sum_yy: float
    sum_xx: float
    sum_xy: float

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(
            *(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True))
        )


@dataclass(frozen=True)
class TestResult:
    """One comparison, treatment minus control.

    Attributes:
        control, treatment: the metric's value in each arm.
        estimate: treatment − control (or the relative lift, for :func:`relative_lift`).
        se: its standard error.
        ci_low, ci_high: two-sided (1 − alpha) confidence interval of ``estimate``.
        p_value: two-sided p-value of "no difference".
        statistic: the test statistic (t, z, U ...), df: degrees of freedom (inf for normal).
        method: what was computed.
    """

    control: float
    treatment: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    df: float
    method: str


def _t_or_normal_result(
    control: float,
    treatment: float,
    estimate: float,
    se: float,
    df: float,
    alpha: float,
    method: str,
) -> TestResult:
    if not se > 0 or not math.isfinite(se):
        return TestResult(
            control, treatment, estimate, se, math.nan, math.nan, math.nan, math.nan, df, method
        )
    distribution = sps.norm if math.isinf(df) else sps.t(df)
    statistic = estimate / se
    half = distribution.ppf(1 - alpha / 2) * se
    p_value = 2 * distribution.sf(abs(statistic))
    return TestResult(
        control,
        treatment,
        estimate,
        se,
        estimate - half,
        estimate + half,
        float(p_value),
        statistic,
        df,
        method,
    )


def _welch_df(var_mean_c: float, var_mean_t: float, n_c: int, n_t: int) -> float:
    """Welch–Satterthwaite: (v_C + v_T)² / (v_C²/(n_C − 1) + v_T²/(n_T − 1)), v = s²/n."""
    denominator = var_mean_c**2 / (n_c - 1) + var_mean_t**2 / (n_t - 1)
    return (var_mean_c + var_mean_t) ** 2 / denominator if denominator > 0 else math.inf


def welch_t_test_from_stats(
    control: MeanStats, treatment: MeanStats, *, alpha: float = 0.05
) -> TestResult:
    """Welch's unequal-variance t-test from sufficient statistics.

    t = (x̄_T − x̄_C)/sqrt(s_C²/n_C + s_T²/n_T), Welch–Satterthwaite df (Welch 1947; R
    ``t.test(var.equal = FALSE)``; GrowthBook's frequentist test, public_cases W1).
    """
    v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    df = _welch_df(v_c, v_t, control.n, treatment.n)
    return _t_or_normal_result(
        control.mean,
        treatment.mean,
        treatment.mean - control.mean,
        math.sqrt(v_c + v_t),
        df,
        alpha,
        "Welch t-test",
    )


def welch_t_test(
    control_values: Sequence[float] | np.ndarray,
    treatment_values: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
) -> TestResult:
    """Welch's t-test on two arrays (see :func:`welch_t_test_from_stats`)."""
    return welch_t_test_from_stats(
        MeanStats.of(control_values), MeanStats.of(treatment_values), alpha=alpha
    )


def relative_lift(
    mean_c: float,
    var_mean_c: float,
    mean_t: float,
    var_mean_t: float,
    *,
    df: float = math.inf,
    alpha: float = 0.05,
) -> TestResult:
    """Relative effect L = (x̄_T − x̄_C) / |x̄_C| with a delta-method CI.

    Dividing by |x̄_C| keeps the sign of the difference, so L > 0 always means the treatment's
    value is higher (x̄_T / x̄_C − 1 flips sign when x̄_C < 0); for x̄_C > 0 the two agree.
    Var(L) ≈ v_T / x̄_C² + x̄_T² · v_C / x̄_C⁴ with v the variance of each arm's mean
    (Deng, Knoblich & Lu, KDD 2018, §3; GrowthBook frequentist relative test).

    Examples:
        >>> round(relative_lift(-2.0, 0.01, -1.0, 0.01).estimate, 3)  # -2 -> -1 is higher
        0.5

    Raises:
        ValueError: the control value is 0, where a relative lift is undefined.
    """
    if mean_c == 0:
        raise ValueError(
            "control value == 0: a relative lift is undefined; use the absolute difference"
        )
    lift = (mean_t - mean_c) / abs(mean_c)
    variance = var_mean_t / mean_c**2 + mean_t**2 * var_mean_c / mean_c**4
    return _t_or_normal_result(
        mean_c, mean_t, lift, math.sqrt(variance), df, alpha, "relative lift, delta method"
    )


def two_proportion_z_test(
    successes_c: int, n_c: int, successes_t: int, n_t: int, *, alpha: float = 0.05
) -> TestResult:
    """Two-sample z-test for proportions: pooled SE for the test, unpooled SE for the CI.

    z = (p̂_T − p̂_C) / sqrt(p̄(1 − p̄)(1/n_C + 1/n_T)), p̄ the pooled rate; CI
    (p̂_T − p̂_C) ± z₁₋α/₂·sqrt(p̂_C(1 − p̂_C)/n_C + p̂_T(1 − p̂_T)/n_T). Equivalent to R
    ``prop.test(correct = FALSE)`` (public_cases P2).
    """
    p_c, p_t = successes_c / n_c, successes_t / n_t
    pooled = (successes_c + successes_t) / (n_c + n_t)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    diff = p_t - p_c
    statistic = diff / se_null if se_null > 0 else math.nan
    p_value = float(2 * sps.norm.sf(abs(statistic))) if se_null > 0 else math.nan
    half = sps.norm.ppf(1 - alpha / 2) * se
    return TestResult(
        p_c,
        p_t,
        diff,
        se,
        diff - half,
        diff + half,
        p_value,
        statistic,
        math.inf,
        "two-proportion z-test",
    )


def fisher_exact_test(
    successes_c: int, n_c: int, successes_t: int, n_t: int, *, alpha: float = 0.05
) -> TestResult:
    """Fisher's exact test of the 2×2 table (scipy ``fisher_exact``, two-sided; R ``fisher.test``).

    The CI is the unpooled Wald interval of the difference, as in :func:`two_proportion_z_test`.
    """
    z = two_proportion_z_test(successes_c, n_c, successes_t, n_t, alpha=alpha)
    table = [[successes_t, n_t - successes_t], [successes_c, n_c - successes_c]]
    p_value = float(sps.fisher_exact(table).pvalue)
    return TestResult(
        z.control,
        z.treatment,
        z.estimate,
        z.se,
        z.ci_low,
        z.ci_high,
        p_value,
        math.nan,
        math.nan,
        "Fisher exact test",
    )


def mann_whitney_test(
    control_values: Sequence[float] | np.ndarray, treatment_values: Sequence[float] | np.ndarray
) -> TestResult:
    """Mann–Whitney U test, two-sided, normal approximation with tie correction.

    For ordinal outcomes such as CSAT 1–5 (scipy ``mannwhitneyu``; R ``wilcox.test(exact =
    FALSE, correct = TRUE)``). The estimate is the difference of means, for reading only; the
    p-value tests whether one arm tends to score higher. No CI.
    """
    c = np.asarray(control_values, dtype=float)
    t = np.asarray(treatment_values, dtype=float)
    result = sps.mannwhitneyu(t, c, alternative="two-sided", method="asymptotic")
    return TestResult(
        float(c.mean()),
        float(t.mean()),
        float(t.mean() - c.mean()),
        math.nan,
        math.nan,
        math.nan,
        float(result.pvalue),
        float(result.statistic),
        math.nan,
        "Mann-Whitney U",
    )


def delta_method_ratio(stats: RatioStats) -> tuple[float, float]:
    """R̂ = ΣY/ΣX and Var(R̂) by the delta method over n independent units.

    Var(R̂) ≈ [s_Y² − 2R̂·s_XY + R̂²·s_X²] / (n·X̄²) with sample (co)variances of the per-unit
    sums (Deng, Knoblich & Lu, "Applying the delta method in metric analytics", KDD 2018).
    """
    n = stats.n
    if n < 2 or stats.sum_x == 0:
        return (math.nan if stats.sum_x == 0 else stats.sum_y / stats.sum_x), math.nan
    ratio = stats.sum_y / stats.sum_x
    mean_x = stats.sum_x / n
    var_y = (stats.sum_yy - stats.sum_y**2 / n) / (n - 1)
    var_x = (stats.sum_xx - stats.sum_x**2 / n) / (n - 1)
    cov_xy = (stats.sum_xy - stats.sum_x * stats.sum_y / n) / (n - 1)
    variance = (var_y - 2 * ratio * cov_xy + ratio**2 * var_x) / (n * mean_x**2)
    return ratio, max(variance, 0.0)


def ratio_difference_test(
    control: RatioStats, treatment: RatioStats, *, alpha: float = 0.05
) -> TestResult:
    """Difference of two ratio metrics (per dialog, per rated dialog ...) with users randomized.

    Each arm's R̂ and variance from :func:`delta_method_ratio`; z = (R̂_T − R̂_C)/sqrt(V_C + V_T),
    normal reference (large-sample delta method).
    """
    r_c, v_c = delta_method_ratio(control)
    r_t, v_t = delta_method_ratio(treatment)
    return _t_or_normal_result(
        r_c,
        r_t,
        r_t - r_c,
        math.sqrt(v_c + v_t),
        math.inf,
        alpha,
        "delta method (user-clustered ratio)",
    )


@dataclass(frozen=True)
class QuantileOrder:
    """A quantile estimate and what its cluster-adjusted variance needs from the ordered values.

    Attributes:
        estimate: Q̂, the ⌈n·ν⌉-th smallest value (inverted-CDF quantile).
        sigma_iid: (Y_(U) − Y_(L)) / (2·z), order statistics at ranks ⌈n·(ν ∓ z·sqrt(ν(1−ν)/n))⌉;
            NaN when n ≤ 4ν/(1 − ν), too few values to bracket ν.
        n: number of values.
        q: the level ν.
    """

    estimate: float
    sigma_iid: float
    n: int
    q: float


def _order_ranks(n: int, q: float, alpha: float) -> tuple[int, int | None, int | None]:
    """0-based ranks of Q̂ and of the two order statistics bracketing it (None if too few)."""
    rank = max(math.ceil(n * q) - 1, 0)
    if n <= 4 * q / (1 - q):
        return rank, None, None
    half = sps.norm.ppf(1 - alpha / 2) * math.sqrt(q * (1 - q) / n)
    return rank, max(math.ceil(n * (q - half)) - 1, 0), min(math.ceil(n * (q + half)) - 1, n - 1)


def quantile_orders(
    values: np.ndarray, levels: Sequence[float], *, alpha: float = 0.05
) -> list[QuantileOrder]:
    """:func:`quantile_order_statistics` for several levels with one ``np.partition``."""
    y = np.asarray(values, dtype=float)
    n = y.size
    if n == 0:
        return [QuantileOrder(math.nan, math.nan, 0, q) for q in levels]
    ranks = [_order_ranks(n, q, alpha) for q in levels]
    ordered = np.partition(y, sorted({r for triple in ranks for r in triple if r is not None}))
    z = sps.norm.ppf(1 - alpha / 2)
    return [
        QuantileOrder(
            float(ordered[rank]),
            math.nan if lower is None else (ordered[upper] - ordered[lower]) / (2 * z),
            n,
            q,
        )
        for q, (rank, lower, upper) in zip(levels, ranks, strict=True)
    ]


def quantile_order_statistics(
    values: np.ndarray, q: float, *, alpha: float = 0.05
) -> QuantileOrder:
    """Q̂ and the order-statistic scale σ_iid of a sample (Deng, Knoblich & Lu, KDD 2018, §4).

    Q̂ is the ⌈n·ν⌉-th smallest value; σ_iid = (Y_(U) − Y_(L)) / (2·z) with ranks
    ⌈n·(ν ∓ z·sqrt(ν(1−ν)/n))⌉, NaN when n ≤ 4ν/(1 − ν). Uses ``np.partition`` (linear time)
    rather than a full sort.
    """
    return quantile_orders(values, [q], alpha=alpha)[0]


def clustered_quantile_se(order: QuantileOrder, indicator: RatioStats) -> float:
    """Cluster-adjusted SE of Q̂: sqrt(σ²_iid · σ²_I,cluster / σ²_I,iid).

    ``indicator`` holds, per user u, I_u = #{dialogs with Y ≤ Q̂} (as Y) and m_u = #dialogs (as
    X); σ²_I,cluster is the delta-method variance of Σ I_u / Σ m_u and σ²_I,iid = ν(1 − ν)/n
    (Deng, Knoblich & Lu 2018; GrowthBook ``QuantileClusteredStatistic``).
    """
    _, var_cluster = delta_method_ratio(indicator)
    var_iid = order.q * (1 - order.q) / order.n if order.n else math.nan
    if not (var_iid > 0 and math.isfinite(var_cluster) and math.isfinite(order.sigma_iid)):
        return math.nan
    return math.sqrt(order.sigma_iid**2 * var_cluster / var_iid)


def clustered_quantile(
    values: np.ndarray, clusters: np.ndarray, q: float, *, alpha: float = 0.05
) -> tuple[float, float]:
    """Quantile of dialog-level values and its standard error under clustering by user.

    Combines :func:`quantile_order_statistics` and :func:`clustered_quantile_se`.

    Returns:
        (quantile, standard error); the SE is NaN when there are too few values.
    """
    y = np.asarray(values, dtype=float)
    order = quantile_order_statistics(y, q, alpha=alpha)
    if order.n == 0:
        return math.nan, math.nan
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    below = np.bincount(inverse, weights=(y <= order.estimate).astype(float))
    sizes = np.bincount(inverse).astype(float)
    indicator = RatioStats(
        sizes.size,
        float(below.sum()),
        float(sizes.sum()),
        float(below @ below),
        float(sizes @ sizes),
        float(below @ sizes),
    )
    return order.estimate, clustered_quantile_se(order, indicator)


def quantile_difference(
    control: tuple[float, float], treatment: tuple[float, float], *, alpha: float = 0.05
) -> TestResult:
    """Difference of two independent quantile estimates, each given as (quantile, SE)."""
    (q_c, se_c), (q_t, se_t) = control, treatment
    return _t_or_normal_result(
        q_c,
        q_t,
        q_t - q_c,
        math.sqrt(se_c**2 + se_t**2),
        math.inf,
        alpha,
        "clustered quantile (Deng-Knoblich-Lu)",
    )


def non_inferiority_p_value(
    estimate: float, se: float, margin: float, *, higher_is_better: bool
) -> float:
    """One-sided p-value of H0 "treatment is worse than control by more than ``margin``".

    For a metric where higher is better: H0: δ ≤ −margin, z = (δ + margin)/se; where lower is
    better: H0: δ ≥ margin, z = (margin − δ)/se; p = 1 − Φ(z). Reject (non-inferior) at p < α.
    """
    if not se > 0:
        return math.nan
    z = (estimate + margin) / se if higher_is_better else (margin - estimate) / se
    return float(sps.norm.sf(z))


def adjust_p_values(p_values: Sequence[float], method: Correction = "holm") -> np.ndarray:
    """Holm, Bonferroni (family-wise error) or Benjamini–Hochberg (false discovery rate)
    adjusted p-values; NaN p-values are left out of the family and stay NaN.

    With the m p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎: Bonferroni min(1, m·p); Holm (1979)
    max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎); Benjamini & Hochberg (1995) min over j ≥ i of
    min(1, m·p₍ⱼ₎ / j). Checked against statsmodels ``multipletests`` and public_cases M1.

    Examples:
        >>> adjust_p_values([0.01, 0.04, 0.03], "holm").round(4).tolist()
        [0.03, 0.06, 0.06]
        >>> adjust_p_values([0.01, 0.04, 0.03], "bh").round(4).tolist()
        [0.03, 0.04, 0.04]
    """
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    present = ~np.isnan(values)
    p = values[present]
    m = p.size
    if method == "none" or m == 0:
        adjusted[present] = p
        return adjusted
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "bonferroni":
        result = np.minimum(1.0, m * p)
    else:
        if method == "holm":
            steps = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
        else:  # bh
            steps = np.minimum.accumulate(np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[
                ::-1
            ]
        result = np.empty(m)
        result[order] = steps
    adjusted[present] = result
    return adjusted
