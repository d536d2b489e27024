"""CUPED: regression adjustment with pre-experiment covariates, on sufficient statistics.

Pure functions, no I/O. A metric and its covariates are *values built from per-user
components*: a user mean is mean(y); a ratio metric (completion per dialog) is mean(y)/mean(n)
over users; a pre-period covariate of a ratio is mean(x)/mean(m). Each value is linearized per
user by the delta method (Deng, Knoblich & Lu, KDD 2018), which turns the ratio case into the
user-mean case, and the adjustment is the one of Deng, Xu, Kohavi & Walker (WSDM 2013):

    Ŷ_adj(arm) = Ŷ(arm) − θᵀ (X̂(arm) − X̂(both arms)),      θ = V⁻¹ c,

with V the covariance matrix of the linearized covariates and c their covariance with the
linearized metric, both from the two arms pooled (users of both arms as one sample, as in
tea-tasting's ``RatioOfMeans`` and GrowthBook's ``compute_theta``). Per arm,
Var(Ŷ_adj) = (σ²_Y + θᵀVθ − 2θᵀc) / n with the arm's own moments, so the variance of the
difference shrinks by about ρ² (the squared multiple correlation). Several covariates (e.g. the
pre-period value and an indicator "no history") are one matrix θ.

Everything is computed from :class:`Moments`: n, the sums of the components and the sums of
their pairwise products, per arm. The engine gets those in its one per-user pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from abkit.stats.two_sample import TestResult, _t_or_normal_result, _welch_df

__all__ = [
    "CupedResult",
    "Moments",
    "Theta",
    "Value",
    "cuped_test",
    "cuped_theta",
    "explained_variance",
    "moment_aggregates",
]

Theta = Literal["pooled", "min_variance"]


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of k per-user components over n users: Σv and Σvvᵀ.

    Poolable with ``+`` (the two arms together are one sample).

    Examples:
        >>> m = Moments.of(np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]]))
        >>> m.n, m.mean.tolist(), round(float(m.covariance[0, 1]), 4)
        (3, [2.0, 3.0], 1.5)
    """

    n: int
    sums: tuple[float, ...]
    products: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """From an (n users × k components) array."""
        array = np.asarray(values, dtype=float)
        return cls.from_arrays(array.shape[0], array.sum(axis=0), array.T @ array)

    @classmethod
    def from_arrays(cls, n: int, sums: np.ndarray, products: np.ndarray) -> Moments:
        return cls(
            int(n),
            tuple(float(v) for v in sums),
            tuple(tuple(float(v) for v in row) for row in products),
        )

    def __add__(self, other: Moments) -> Moments:
        return Moments.from_arrays(
            self.n + other.n,
            np.add(self.sums, other.sums),
            np.add(self.products, other.products),
        )

    @classmethod
    def from_aggregates(cls, row: Mapping[str, Any], size: int) -> Moments:
        """From the values of :func:`moment_aggregates` over ``size`` components (NULL or
        absent, as for an arm with no users: 0)."""
        sums = np.array([float(row.get(f"s{i}") or 0.0) for i in range(size)])
        products = np.zeros((size, size))
        for i in range(size):
            for j in range(i, size):
                products[i, j] = products[j, i] = float(row.get(f"p{i}_{j}") or 0.0)
        return cls.from_arrays(int(row.get("n") or 0), sums, products)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.sums) / self.n if self.n else np.full(len(self.sums), math.nan)

    @property
    def covariance(self) -> np.ndarray:
        """Sample covariance matrix (n − 1 denominator) of the components."""
        if self.n < 2:
            return np.full((len(self.sums),) * 2, math.nan)
        s = np.asarray(self.sums)
        return (np.asarray(self.products) - np.outer(s, s) / self.n) / (self.n - 1)

    @property
    def population_covariance(self) -> np.ndarray:
        """Covariance matrix with the n denominator (the delta method's, as PPI++ uses)."""
        if self.n < 1:
            return np.full((len(self.sums),) * 2, math.nan)
        s = np.asarray(self.sums)
        return (np.asarray(self.products) - np.outer(s, s) / self.n) / self.n


def moment_aggregates(components: Sequence[str], where: str = "") -> dict[str, str]:
    """SQL aggregates whose values make :class:`Moments` of per-user ``components`` (SQL
    expressions): ``n`` users, ``s{i}`` = Σv_i and ``p{i}_{j}`` = Σv_i·v_j for i ≤ j, over the
    users meeting ``where`` (all when empty); read back with :meth:`Moments.from_aggregates`.

    Examples:
        >>> list(moment_aggregates(["a", "b"]).items())[:3]
        [('n', 'count(*)'), ('s0', 'sum(a)'), ('s1', 'sum(b)')]
    """
    only = f" FILTER (WHERE {where})" if where else ""
    out = {"n": f"count(*){only}"}
    out.update({f"s{i}": f"sum({c}){only}" for i, c in enumerate(components)})
    for i, a in enumerate(components):
        for j in range(i, len(components)):
            out[f"p{i}_{j}"] = f"sum(({a}) * ({components[j]})){only}"
    return out


@dataclass(frozen=True)
class Value:
    """A value built from components: mean(numerator) / mean(denominator), or a plain mean.

    ``numerator`` and ``denominator`` are component indices; ``denominator`` None is a user
    mean (or proportion). Its delta-method gradient linearizes it per user:
    (y − R·n) / n̄ for a ratio, y itself for a mean.
    """

    numerator: int
    denominator: int | None = None

    def of(self, mean: np.ndarray) -> float:
        top = float(mean[self.numerator])
        if self.denominator is None:
            return top
        bottom = float(mean[self.denominator])
        return top / bottom if bottom else math.nan

    def gradient(self, mean: np.ndarray) -> np.ndarray:
        grad = np.zeros(len(mean))
        if self.denominator is None:
            grad[self.numerator] = 1.0
            return grad
        bottom = float(mean[self.denominator])
        if not bottom:
            return np.full(len(mean), math.nan)
        grad[self.numerator] = 1 / bottom
        grad[self.denominator] -= float(mean[self.numerator]) / bottom**2
        return grad


@dataclass(frozen=True)
class _Linearized:
    """Per-user variance of the metric, covariances with the covariates, covariates' matrix."""

    var_y: float
    cov: np.ndarray  # (q,)
    var_x: np.ndarray  # (q, q)


def _linearized(moments: Moments, metric: Value, covariates: Sequence[Value]) -> _Linearized:
    mean, sigma = moments.mean, moments.covariance
    g_y = metric.gradient(mean)
    g_x = np.array([c.gradient(mean) for c in covariates]).reshape(len(covariates), len(mean))
    return _Linearized(float(g_y @ sigma @ g_y), g_x @ sigma @ g_y, g_x @ sigma @ g_x.T)


def _solve(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """θ = V⁻¹c; a covariate with no variance (or a redundant one) gets θ = 0 (least squares
    with the minimum norm, rcond relative to the largest variance)."""
    if not np.all(np.isfinite(matrix)) or not np.all(np.isfinite(vector)):
        return np.zeros(len(vector))
    scale = float(np.max(np.abs(np.diag(matrix)))) if matrix.size else 0.0
    if scale <= 0:
        return np.zeros(len(vector))
    return np.linalg.lstsq(matrix, vector, rcond=1e-10)[0]


def cuped_theta(
    control: Moments,
    treatment: Moments,
    metric: Value,
    covariates: Sequence[Value],
    method: Theta = "pooled",
) -> np.ndarray:
    """The adjustment coefficients θ.

    ``pooled``: V⁻¹c from both arms as one sample (Deng et al. 2013; tea-tasting; GrowthBook's
    ``compute_theta`` for means). ``min_variance``: the θ that minimizes the variance of the
    difference, (Σ V_a/n_a)⁻¹ Σ c_a/n_a over the arms a; with equal arms this is GrowthBook's
    ``compute_theta_regression_adjusted_ratio``. Both are consistent; they differ by O(1/n).
    """
    if method not in get_args(Theta):
        raise ValueError(f"theta == {method!r}, must be one of {list(get_args(Theta))}")
    if method == "pooled":
        both = _linearized(control + treatment, metric, covariates)
        return _solve(both.var_x, both.cov)
    arms = [(_linearized(m, metric, covariates), m.n) for m in (control, treatment)]
    return _solve(sum(a.var_x / n for a, n in arms), sum(a.cov / n for a, n in arms))


@dataclass(frozen=True)
class CupedResult:
    """A CUPED comparison and the unadjusted one it replaces.

    Attributes:
        test: the adjusted difference (``control`` / ``treatment`` hold the adjusted values).
        relative: (T_adj − C_adj) / |C|, C the unadjusted control value, with a delta-method
            CI that counts the covariance of the adjusted difference with C.
        unadjusted: the same comparison without covariates.
        theta: the coefficients, one per covariate.
        var_control, var_treatment: variance of each arm's adjusted value.
        variance_reduction: 1 − Var(adjusted difference) / Var(unadjusted difference).
        covariate_control, covariate_treatment: the covariates' values per arm (the first
            covariate's, for display).
    """

    test: TestResult
    relative: TestResult
    unadjusted: TestResult
    theta: tuple[float, ...]
    var_control: float
    var_treatment: float
    variance_reduction: float
    covariate_control: float
    covariate_treatment: float


def cuped_test(
    control: Moments,
    treatment: Moments,
    metric: Value,
    covariates: Sequence[Value],
    *,
    alpha: float = 0.05,
    welch: bool = False,
    theta: Theta | Sequence[float] = "pooled",
    method: str = "CUPED",
) -> CupedResult:
    """The CUPED-adjusted difference treatment − control of ``metric``.

    Ŷ_adj = Ŷ − θᵀ(X̂ − X̂_pooled) per arm; Var(Ŷ_adj) = (σ²_Y + θᵀVθ − 2θᵀc)/n with the arm's
    linearized moments (Deng et al. 2013; for ratios, the delta-method extension of Deng,
    Knoblich & Lu 2018 as in tea-tasting's ``RatioOfMeans`` with covariates and GrowthBook's
    regression-adjusted ratio statistic). The reference distribution is normal, or Welch's t
    with ``welch`` (Welch–Satterthwaite df on the adjusted variances, as tea-tasting).

    Args:
        control, treatment: each arm's :class:`Moments`.
        metric: the metric as a :class:`Value` of the components.
        covariates: the covariates' values (may be empty: then the unadjusted test).
        theta: "pooled", "min_variance" (:func:`cuped_theta`) or the coefficients themselves.

    Returns:
        :class:`CupedResult`.

    Examples:
        >>> rng = np.random.default_rng(1)
        >>> x = rng.normal(size=(4000, 1)); y = 0.7 * x + 0.71 * rng.normal(size=(4000, 1))
        >>> data = np.hstack([y, x])
        >>> r = cuped_test(Moments.of(data[:2000]), Moments.of(data[2000:]), Value(0), [Value(1)])
        >>> round(r.variance_reduction, 2)  # ≈ ρ² = 0.49
        0.49
    """
    covariates = list(covariates)
    if isinstance(theta, str):
        coef = cuped_theta(control, treatment, metric, covariates, theta)
    else:
        coef = np.asarray(theta, dtype=float).reshape(len(covariates))
    pooled_mean = (control + treatment).mean
    pooled_x = np.array([c.of(pooled_mean) for c in covariates])
    values, variances, raw_values, raw_variances, cov_with_raw, x_first = [], [], [], [], [], []
    for arm in (control, treatment):
        lin = _linearized(arm, metric, covariates)
        x = np.array([c.of(arm.mean) for c in covariates])
        raw = metric.of(arm.mean)
        n = arm.n if arm.n else math.nan
        raw_values.append(raw)
        values.append(raw - float(coef @ (x - pooled_x)) if covariates else raw)
        raw_variances.append(lin.var_y / n)
        adjusted_var = lin.var_y + float(coef @ lin.var_x @ coef) - 2 * float(coef @ lin.cov)
        variances.append(max(adjusted_var, 0.0) / n)
        cov_with_raw.append((lin.var_y - float(coef @ lin.cov)) / n)  # Cov(Ŷ_adj, Ŷ)
        x_first.append(float(x[0]) if covariates else math.nan)
    df = math.inf
    if welch and control.n > 1 and treatment.n > 1:
        df = _welch_df(variances[0], variances[1], control.n, treatment.n)
    raw_df = df
    if welch and control.n > 1 and treatment.n > 1:
        raw_df = _welch_df(raw_variances[0], raw_variances[1], control.n, treatment.n)
    difference = values[1] - values[0]
    test = _t_or_normal_result(
        values[0], values[1], difference, math.sqrt(sum(variances)), df, alpha, method
    )
    unadjusted = _t_or_normal_result(
        raw_values[0],
        raw_values[1],
        raw_values[1] - raw_values[0],
        math.sqrt(sum(raw_variances)),
        raw_df,
        alpha,
        "unadjusted",
    )
    relative = _relative(
        difference, sum(variances), raw_values[0], raw_variances[0], cov_with_raw[0], df, alpha
    )
    total_raw = sum(raw_variances)
    reduction = 1 - sum(variances) / total_raw if total_raw > 0 else math.nan
    return CupedResult(
        test,
        relative,
        unadjusted,
        tuple(float(t) for t in coef),
        variances[0],
        variances[1],
        reduction,
        x_first[0],
        x_first[1],
    )


def _relative(
    difference: float,
    var_difference: float,
    control: float,
    var_control: float,
    cov_adjusted_control: float,
    df: float,
    alpha: float,
) -> TestResult:
    """L = D / |C| with D the adjusted difference and C the unadjusted control value.

    Delta method: Var(L) = Var(D)/C² + D²·Var(C)/C⁴ − 2·D·Cov(D, C)/C³, where
    Cov(D, C) = −Cov(Ĉ_adj, Ĉ) (the treatment arm is independent of C). This is GrowthBook's
    relative CUPED variance without its approximation of the control's derivative.
    """
    if not control or not math.isfinite(control):
        nan = math.nan
        return TestResult(control, nan, nan, nan, nan, nan, nan, nan, df, "relative CUPED")
    lift = difference / abs(control)
    cov_dc = -cov_adjusted_control
    variance = (
        var_difference / control**2
        + difference**2 * var_control / control**4
        - 2 * difference * cov_dc / control**3
    )
    return _t_or_normal_result(
        control,
        control + difference,
        lift,
        math.sqrt(max(variance, 0.0)),
        df,
        alpha,
        "relative CUPED, delta method",
    )


def explained_variance(moments: Moments, metric: Value, covariates: Sequence[Value]) -> float:
    """R² = cᵀV⁻¹c / σ²_Y of the linearized metric on its covariates in one sample: the share
    of the variance CUPED removes (ρ² for one covariate), for sizing an experiment.

    Examples:
        >>> rng = np.random.default_rng(4)
        >>> x = rng.normal(size=20_000); y = 0.7 * x + 0.71 * rng.normal(size=20_000)
        >>> round(explained_variance(Moments.of(np.column_stack([y, x])), Value(0), [Value(1)]), 2)
        0.49
    """
    lin = _linearized(moments, metric, covariates)
    if not lin.var_y > 0:
        return math.nan
    theta = _solve(lin.var_x, lin.cov)
    return float(min(max(theta @ lin.cov / lin.var_y, 0.0), 1.0))
