"""Does the effect last? A ratio metric's effect by time since each user's first exposure, and
a test for a trend across those periods, with users as the unit.

Each arm has n users and B exposure periods; Y and X (n × B) hold each user's numerator and
denominator sums within each period (0 where the user had no dialog then). Period b's ratio
is R_b = ΣY_b / ΣX_b; its delta-method linearization per user is
l_ub = (y_ub − R_b·x_ub) / X̄_b (X̄_b = ΣX_b / n), so Var(R_b) = var(l_·b) / n (Deng, Knoblich
& Lu 2018, as :func:`abkit.stats.two_sample.delta_method_ratio`).

The trend is the weighted least-squares slope of the per-period effects on the period's index
(weights w_b = 1 / se_b², so the sparse late periods count less), a contrast
c_b = w_b (b − b̄_w) / Σ w_b (b − b̄_w)² of the periods' effects: S = Σ c_b (R_b^T − R_b^C). A
user's dialogs in different periods are correlated, so the periods' estimates are not
independent; the variance is taken per user, Var(Σ_b c_b R_b) = var(Σ_b c_b l_ub) / n in
each arm, which counts that correlation (a user-clustered sandwich). z = S / se, normal.
A decaying effect is a slope against the direction of the effect: the novelty wears off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

__all__ = ["ExposureTrend", "exposure_trend"]


@dataclass(frozen=True)
class ExposureTrend:
    """The effect per exposure period and its trend.

    Attributes:
        effects, ses: treatment − control per period, and their standard errors.
        control, treatment: each arm's ratio per period.
        slope, se, p_value: the effect's change per period (weighted least-squares slope over
            the periods), its user-clustered standard error and two-sided p.
        periods: the periods' indexes used (a period with no denominator in an arm is left
            out).
    """

    effects: np.ndarray
    ses: np.ndarray
    control: np.ndarray
    treatment: np.ndarray
    slope: float
    se: float
    p_value: float
    periods: np.ndarray


def _linearized(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each period's ratio and the users' linearized values (n × B)."""
    n = y.shape[0]
    ratio = y.sum(axis=0) / x.sum(axis=0)
    mean_x = x.sum(axis=0) / n
    return ratio, (y - ratio * x) / mean_x


def exposure_trend(
    y_control: np.ndarray,
    x_control: np.ndarray,
    y_treatment: np.ndarray,
    x_treatment: np.ndarray,
) -> ExposureTrend:
    """The per-period effects of a ratio metric and the test of their trend (module
    docstring); each array is users × periods, the arms' periods aligned.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> xc = rng.integers(0, 3, (400, 3)).astype(float)
        >>> xt = rng.integers(0, 3, (400, 3)).astype(float)
        >>> yc = rng.binomial(xc.astype(int), 0.7).astype(float)
        >>> yt = rng.binomial(xt.astype(int), [0.85, 0.78, 0.72]).astype(float)
        >>> out = exposure_trend(yc, xc, yt, xt)
        >>> round(out.slope, 3), out.p_value < 0.05
        (-0.078, True)
    """
    arrays = [np.asarray(a, dtype=float) for a in (y_control, x_control, y_treatment, x_treatment)]
    if arrays[0].shape != arrays[1].shape or arrays[2].shape != arrays[3].shape:
        raise ValueError("each arm's numerator and denominator need the same users × periods")
    if arrays[0].shape[1] != arrays[2].shape[1]:
        raise ValueError("the arms need the same periods")
    keep = (arrays[1].sum(axis=0) > 0) & (arrays[3].sum(axis=0) > 0)
    periods = np.flatnonzero(keep)
    yc, xc, yt, xt = (a[:, keep] for a in arrays)
    (rc, lc), (rt, lt) = _linearized(yc, xc), _linearized(yt, xt)
    n_c, n_t = yc.shape[0], yt.shape[0]
    nan = math.nan
    if min(n_c, n_t) < 2:  # no variance with fewer than two users in an arm
        effects = rt - rc
        return ExposureTrend(effects, np.full(effects.shape, nan), rc, rt, nan, nan, nan, periods)
    var_c = lc.var(axis=0, ddof=1) / n_c
    var_t = lt.var(axis=0, ddof=1) / n_t
    effects, ses = rt - rc, np.sqrt(var_c + var_t)
    usable = np.isfinite(ses) & (ses > 0)  # a period without variance cannot weigh in
    if usable.sum() < 2:
        return ExposureTrend(effects, ses, rc, rt, nan, nan, nan, periods)
    index = periods[usable].astype(float)
    weights = 1.0 / ses[usable] ** 2  # weighted least squares: precise periods count more
    centred = index - float(weights @ index) / float(weights.sum())
    contrast = weights * centred / float(weights @ centred**2)
    slope = float(contrast @ effects[usable])
    variance = (lc[:, usable] @ contrast).var(ddof=1) / n_c + (lt[:, usable] @ contrast).var(
        ddof=1
    ) / n_t
    se = math.sqrt(variance) if variance > 0 else nan
    p_value = float(2 * norm.sf(abs(slope) / se)) if se > 0 else nan
    return ExposureTrend(effects, ses, rc, rt, slope, se, p_value, periods)
