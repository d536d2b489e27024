"""Many-to-one comparisons: several candidates, each against one shared control (Dunnett).

With k candidates compared with one control, the k estimated differences
D_j = T̂_j − Ĉ share the control's estimate, so they are correlated:

    Cov(D_j, D_l) = Var(Ĉ)   (j ≠ l),     Var(D_j) = Var(Ĉ) + Var(T̂_j),

and corr(D_j, D_l) = Var(Ĉ) / (se_j · se_l) (Dunnett 1955, JASA 50:1096; Hothorn, Bretz &
Westfall 2008, Biometrical Journal 50:346, for the general form). The test statistics
z_j = D_j / se_j are then jointly normal (multivariate t with ν degrees of freedom when the
variances are estimated from few users), and Dunnett's single-step procedure adjusts each
candidate's p-value with the distribution of the largest of them:

    p_adj,j = P(max_l |Z_l| ≥ |z_j|),           Z ~ N(0, R)   (or MVT_ν(0, R)),

and the simultaneous intervals D_j ± c·se_j use the c with P(max_l |Z_l| ≤ c) = 1 − α.
Together they hold the family-wise error rate at α over the k comparisons, and are less
conservative than Bonferroni or Holm over the k pairs, which ignore the positive correlation.

Only sufficient statistics enter: each estimate, its standard error and the control's
variance, so the same function serves means (Welch variances), proportions, user-clustered
ratios (delta-method variances, Deng et al. 2018), quantiles and CUPED estimates. scipy's
:func:`scipy.stats.dunnett` needs the raw values and a pooled variance; with the pooled
variance's standard errors and ν = N − (k + 1) this function gives its p-values (tested), and
R's ``multcomp::glht(..., mcp(arm = "Dunnett"))`` on unequal arms likewise
(``tests/reference/dunnett_multcomp.R``).

The multivariate probabilities are scipy's :meth:`scipy.stats.multivariate_normal.cdf` and
:meth:`scipy.stats.multivariate_t.cdf` (Genz's quasi-Monte Carlo integration) with a fixed
seed, so results repeat exactly; their integration error is below 1e-5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = [
    "ManyToOne",
    "dunnett_adjust",
    "dunnett_critical",
    "many_to_one_correlation",
    "max_abs_cdf",
    "per_comparison_alpha",
]

# Fixed integration seed: the same inputs give the same adjusted p-values on every run.
_SEED = 20_261_207
_POINTS_PER_DIMENSION = 20_000


def many_to_one_correlation(
    var_control: float | Sequence[float], ses: Sequence[float]
) -> np.ndarray:
    """The correlation matrix of the k differences that share the control's estimate.

    ``var_control`` is Var(Ĉ), the variance of the control's estimate, or one per comparison
    (CUPED adjusts the control with each pair's own coefficient: the shared covariance is then
    taken as √(Var_j · Var_l), exact when the coefficients agree); ``ses`` the standard
    errors of the differences.

    >>> many_to_one_correlation(1.0, [2.0**0.5, 2.0**0.5]).round(3).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    se = np.asarray(ses, dtype=float)
    shared = np.broadcast_to(np.asarray(var_control, dtype=float), se.shape)
    matrix = np.sqrt(np.outer(shared, shared)) / np.outer(se, se)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def max_abs_cdf(c: float, correlation: np.ndarray, df: float = math.inf) -> float:
    """P(max_j |Z_j| ≤ c) for Z ~ N(0, R), or multivariate t with ``df`` degrees of freedom.

    >>> round(max_abs_cdf(1.959964, np.eye(1)), 4)
    0.95
    """
    k = correlation.shape[0]
    if k == 1:
        tail = stats.norm.sf(c) if math.isinf(df) else stats.t.sf(c, df)
        return float(1.0 - 2.0 * tail)
    upper, lower = np.full(k, c), np.full(k, -c)
    points = _POINTS_PER_DIMENSION * k
    if math.isinf(df):
        rng = np.random.default_rng(_SEED)
        value = stats.multivariate_normal.cdf(
            upper,
            np.zeros(k),
            correlation,
            lower_limit=lower,
            maxpts=points,
            abseps=1e-6,
            releps=1e-6,
            rng=rng,
        )
    else:
        dist = stats.multivariate_t(shape=correlation, df=df, seed=_SEED)
        value = dist.cdf(upper, lower_limit=lower, maxpts=points)
    return float(min(max(value, 0.0), 1.0))


@dataclass(frozen=True)
class ManyToOne:
    """Dunnett's single-step adjustment of k many-to-one comparisons.

    Attributes:
        p_adjusted: per candidate, P(max_l |Z_l| ≥ |z_j|).
        ci_low, ci_high: simultaneous (1 − α) intervals D_j ± critical · se_j.
        critical: c with P(max_l |Z_l| ≤ c) = 1 − α (1.96 for one candidate at α = 0.05).
        correlation: the k × k correlation of the statistics.
        df: degrees of freedom (inf: multivariate normal).
    """

    p_adjusted: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    critical: float
    correlation: np.ndarray
    df: float


def dunnett_critical(correlation: np.ndarray, alpha: float, df: float = math.inf) -> float:
    """The two-sided critical value c of the k comparisons: P(max |Z| ≤ c) = 1 − α.

    >>> round(dunnett_critical(np.array([[1.0, 0.5], [0.5, 1.0]]), 0.05), 3)
    2.212
    """
    single = stats.norm.isf(alpha / 2) if math.isinf(df) else stats.t.isf(alpha / 2, df)
    k = correlation.shape[0]
    if k == 1:
        return float(single)
    bonferroni = (
        stats.norm.isf(alpha / (2 * k)) if math.isinf(df) else stats.t.isf(alpha / (2 * k), df)
    )
    return float(
        optimize.brentq(
            lambda c: max_abs_cdf(c, correlation, df) - (1 - alpha),
            single - 1e-9,
            bonferroni + 1e-6,
            xtol=1e-7,
        )
    )


def dunnett_adjust(
    estimates: Sequence[float],
    ses: Sequence[float],
    var_control: float | Sequence[float],
    *,
    alpha: float = 0.05,
    df: float = math.inf,
    intervals: bool = True,
) -> ManyToOne:
    """Adjust k candidate-minus-control differences for the family of k comparisons.

    Args:
        estimates: D_j, each candidate's difference from the control.
        ses: their standard errors, √(Var(Ĉ) + Var(T̂_j)).
        var_control: Var(Ĉ), the control estimate's variance (the shared part); or one per
            candidate (:func:`many_to_one_correlation`).
        alpha: the family-wise level of the simultaneous intervals.
        df: degrees of freedom of the variances (inf for large samples: normal).
        intervals: compute the critical value and the simultaneous intervals (False: the
            p-values only, NaN intervals; a simulation's inner loop).

    A candidate without a finite estimate or standard error gets NaN and leaves the family
    (the others are adjusted over those that remain).

    Examples:
        Two candidates with equal arms: correlation 1/2, as in Dunnett's tables
        (critical value 2.21 at α = 0.05 for large samples).

        >>> out = dunnett_adjust([0.3, 0.1], [0.1, 0.1], 0.005)
        >>> round(out.critical, 3), out.p_adjusted.round(4).tolist()
        (2.212, [0.0052, 0.502])
    """
    d = np.asarray(estimates, dtype=float)
    se = np.asarray(ses, dtype=float)
    if d.shape != se.shape or d.ndim != 1 or d.size == 0:
        raise ValueError(f"estimates ({d.size}) and ses ({se.size}) need one entry per candidate")
    shared = np.broadcast_to(np.asarray(var_control, dtype=float), d.shape).copy()
    ok = np.isfinite(d) & np.isfinite(se) & (se > 0) & np.isfinite(shared) & (shared >= 0)
    p_adjusted = np.full(d.size, math.nan)
    low, high = np.full(d.size, math.nan), np.full(d.size, math.nan)
    correlation = np.full((d.size, d.size), math.nan)
    if not ok.any():
        return ManyToOne(p_adjusted, low, high, math.nan, correlation, df)
    if np.any(shared[ok] > se[ok] ** 2 * (1 + 1e-12)):
        raise ValueError(
            f"var_control == {shared[ok].tolist()} exceeds a difference's variance "
            f"{(se[ok] ** 2).tolist()}; the control's variance is part of it"
        )
    inner = many_to_one_correlation(shared[ok], se[ok])
    correlation[np.ix_(ok, ok)] = inner
    z = np.abs(d[ok] / se[ok])
    p_adjusted[ok] = [1.0 - max_abs_cdf(float(value), inner, df) for value in z]
    critical = dunnett_critical(inner, alpha, df) if intervals else math.nan
    low[ok], high[ok] = d[ok] - critical * se[ok], d[ok] + critical * se[ok]
    return ManyToOne(np.clip(p_adjusted, 0.0, 1.0), low, high, critical, correlation, df)


def per_comparison_alpha(shares: Sequence[float], alpha: float) -> float:
    """The two-sided level at which each candidate must be sized so that its test at Dunnett's
    critical value has the power asked: 2·Φ̄(c), c the critical value of the k candidates
    with the planned shares (control first). With equal variances the correlation of two
    comparisons is √(s_j·s_l / ((s_0 + s_j)(s_0 + s_l))) (Dunnett 1955), the arms' sizes
    standing in for their variances.

    >>> round(per_comparison_alpha([0.5, 0.5], 0.05), 6)  # one candidate: α itself
    0.05
    >>> round(per_comparison_alpha([1 / 3, 1 / 3, 1 / 3], 0.05), 4)  # c = 2.212
    0.027
    """
    s = np.asarray(shares, dtype=float)
    if s.size < 2 or np.any(s <= 0):
        raise ValueError(f"shares == {list(shares)}: the control's and each candidate's, all > 0")
    candidates = s[1:]
    pair = s[0] + candidates
    correlation = np.sqrt(np.outer(candidates / pair, candidates / pair))
    np.fill_diagonal(correlation, 1.0)
    critical = dunnett_critical(correlation, alpha)
    return float(2 * stats.norm.sf(critical))
