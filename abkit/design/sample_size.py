"""Experiment design: sample size, power, minimum detectable effect (MDE) and duration.

One pure power function per method, and :func:`solve_design`, which solves for whichever one of
``n_total``, ``mde`` or ``power`` is left out and returns all of them in a :class:`Design`
(the idea of statsmodels' ``solve_power``, with errors instead of warnings).

Methods for a proportion (task completion, escalation ...):

- ``pooled``: the normal approximation with the pooled variance under the null, the formula R's
  ``power.prop.test`` solves (default ``strict = FALSE``), generalised to unequal allocation
  (Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*, 3rd ed., §4.2).
- ``cohen_h``: Cohen's arcsine effect size h = 2·asin(√p2) − 2·asin(√p1) with statsmodels'
  ``NormalIndPower`` (R ``pwr.2p2n.test``).
- ``seed``: the seed document's shortcut, d = MDE / sqrt(p(1 − p)) fed to statsmodels'
  ``TTestIndPower``; kept for teaching and labelled as the seed's.

Methods for a mean (CSAT, turns, tokens ...):

- ``z``: normal approximation with two variances, n = (z₁₋α/₂ + z₁₋β)²·(σ_C²/r_C + σ_T²/r_T)/δ²
  (both tails counted, as R ``pwr.norm.test``).
- ``t``: Student's t with a common standard deviation, statsmodels ``TTestIndPower``
  (R ``pwr.t2n.test``); only when the two standard deviations are equal.

``split`` is always the treatment's share of the experiment's units: 0.2 means an 80/20 split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

from abkit.core.params import check_choice, check_integer, check_number, check_probability

if TYPE_CHECKING:
    import pandas as pd

# The normal distribution from the standard library and the (noncentral) t from scipy.special,
# imported only when a t power is needed: what scipy.stats / statsmodels compute, without their
# import time (``abkit design`` for a rate starts without scipy). Checked against R pwr and
# statsmodels in tests/test_design.py.
_NORMAL = NormalDist()


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _norm_isf(q: float) -> float:
    """z with P(Z > z) = q."""
    return -_NORMAL.inv_cdf(q)


def _t_power_two_sided(d: float, n_c: float, n_t: float, alpha: float) -> float:
    """Two-sided Student t power, both tails: df = n_C + n_T − 2, noncentrality
    d·sqrt(n_C·n_T/(n_C + n_T)) (statsmodels ``TTestIndPower.power``, R ``pwr.t2n.test``)."""
    from scipy.special import nctdtr, stdtrit

    df = n_c + n_t - 2
    crit = float(stdtrit(df, 1 - alpha / 2))
    nc = d * math.sqrt(n_c * n_t / (n_c + n_t))
    return float(1 - nctdtr(df, nc, crit) + nctdtr(df, nc, -crit))


__all__ = [
    "METHODS",
    "Design",
    "compare_methods",
    "design_effect",
    "duration_days",
    "plan_clustered",
    "solve_design",
]

MetricKind = Literal["proportion", "mean"]
Unknown = Literal["n_total", "mde", "power"]

METHODS: dict[str, tuple[str, ...]] = {
    "proportion": ("pooled", "cohen_h", "seed"),
    "mean": ("z", "t"),
}
METHOD_LABELS: dict[str, str] = {
    "pooled": "two proportions, pooled null (R power.prop.test)",
    "cohen_h": "Cohen's h, normal (statsmodels NormalIndPower)",
    "seed": "seed's shortcut: d = MDE/sqrt(p(1-p)), t-test power",
    "z": "two means, normal, two variances",
    "t": "two means, Student t, common SD (statsmodels TTestIndPower)",
}

# Each arm needs at least this many units for the t-based methods to have degrees of freedom.
_MIN_ARM = 2.0
_MAX_TOTAL = 1e12


@dataclass(frozen=True)
class Design:
    """A solved design: every one of n, MDE and power filled in.

    Attributes:
        metric: ``"proportion"`` or ``"mean"``.
        method: key of :data:`METHODS`.
        solved_for: which quantity was solved: ``"n_total"``, ``"mde"`` or ``"power"``.
        baseline: control rate (proportion) or control mean.
        mde: absolute minimum detectable effect, treatment minus control.
        alpha: two-sided significance level.
        power: probability of a significant result when the true effect is ``mde``.
        split: treatment share of units.
        n_control, n_treatment: units per arm (rounded up when n was solved for).
        n_total_exact: the continuous solution for the total before rounding.
        sd_control, sd_treatment: standard deviations (mean metrics only).
    """

    metric: str
    method: str
    solved_for: str
    baseline: float
    mde: float
    alpha: float
    power: float
    split: float
    n_control: int
    n_treatment: int
    n_total_exact: float
    sd_control: float | None = None
    sd_treatment: float | None = None

    @property
    def n_total(self) -> int:
        return self.n_control + self.n_treatment

    @property
    def relative_mde(self) -> float:
        """MDE as a share of the baseline (NaN when the baseline is 0)."""
        return self.mde / self.baseline if self.baseline != 0 else math.nan

    def to_dict(self) -> dict[str, object]:
        """All fields plus ``n_total`` and ``relative_mde``, for tables and JSON."""
        record = asdict(self)
        record["n_total"] = self.n_total
        record["relative_mde"] = self.relative_mde
        return record


# --------------------------------------------------------------------------- power functions


def _power_pooled(p1: float, p2: float, n_c: float, n_t: float, alpha: float) -> float:
    """Power of the pooled two-proportion z-test, one tail only (R ``power.prop.test``).

    power = Φ((|p2 − p1| − z₁₋α/₂·sqrt(p̄q̄(1/n_C + 1/n_T))) / sqrt(p1q1/n_C + p2q2/n_T)),
    p̄ = (n_C·p1 + n_T·p2)/(n_C + n_T).
    """
    p_bar = (n_c * p1 + n_t * p2) / (n_c + n_t)
    se_null = math.sqrt(p_bar * (1 - p_bar) * (1 / n_c + 1 / n_t))
    se_alt = math.sqrt(p1 * (1 - p1) / n_c + p2 * (1 - p2) / n_t)
    z_crit = _norm_isf(alpha / 2)
    return _norm_cdf((abs(p2 - p1) - z_crit * se_null) / se_alt)


def _power_cohen_h(p1: float, p2: float, n_c: float, n_t: float, alpha: float) -> float:
    """Power from Cohen's h = 2·asin(√p2) − 2·asin(√p1), normal test (Cohen 1988, §6.2)."""
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    # statsmodels NormalIndPower: both tails, λ = |h|·sqrt(n_C·n_T/(n_C + n_T))
    lam = abs(h) * math.sqrt(n_c * n_t / (n_c + n_t))
    z_crit = _norm_isf(alpha / 2)
    return _norm_cdf(lam - z_crit) + _norm_cdf(-lam - z_crit)


def _power_seed(p1: float, p2: float, n_c: float, n_t: float, alpha: float) -> float:
    """The seed's t-approximation: d = (p2 − p1)/sqrt(p1(1 − p1)), Student t power."""
    d = abs(p2 - p1) / math.sqrt(p1 * (1 - p1))
    return _t_power_two_sided(d, n_c, n_t, alpha)


def _power_mean_z(
    delta: float, sd_c: float, sd_t: float, n_c: float, n_t: float, alpha: float
) -> float:
    """Two-sided normal power, both tails counted (R ``pwr.norm.test``).

    power = Φ(λ − z₁₋α/₂) + Φ(−λ − z₁₋α/₂), λ = |δ| / sqrt(σ_C²/n_C + σ_T²/n_T).
    """
    lam = abs(delta) / math.sqrt(sd_c**2 / n_c + sd_t**2 / n_t)
    z_crit = _norm_isf(alpha / 2)
    return _norm_cdf(lam - z_crit) + _norm_cdf(-lam - z_crit)


def _power_mean_t(
    delta: float, sd_c: float, sd_t: float, n_c: float, n_t: float, alpha: float
) -> float:
    """Student t power with a common SD σ: d = |δ|/σ, df = n_C + n_T − 2 (R ``pwr.t2n.test``)."""
    d = abs(delta) / sd_c
    return _t_power_two_sided(d, n_c, n_t, alpha)


_PROPORTION_POWER: dict[str, Callable[[float, float, float, float, float], float]] = {
    "pooled": _power_pooled,
    "cohen_h": _power_cohen_h,
    "seed": _power_seed,
}


@dataclass(frozen=True)
class _Problem:
    """A validated design problem: what every solver needs except the unknown."""

    metric: str
    method: str
    baseline: float
    alpha: float
    split: float
    sd_control: float | None
    sd_treatment: float | None

    def power(self, mde: float, n_c: float, n_t: float) -> float:
        """Power to detect ``mde`` with ``n_c`` control and ``n_t`` treatment units."""
        if self.metric == "proportion":
            p2 = self.baseline + mde
            return _PROPORTION_POWER[self.method](self.baseline, p2, n_c, n_t, self.alpha)
        assert self.sd_control is not None and self.sd_treatment is not None
        power_of = _power_mean_z if self.method == "z" else _power_mean_t
        return power_of(mde, self.sd_control, self.sd_treatment, n_c, n_t, self.alpha)

    def smallest_total(self) -> float:
        return _MIN_ARM / min(self.split, 1 - self.split)

    def largest_mde(self) -> float:
        """Upper end of the MDE search: up to a rate of 1, or 50 SDs for a mean."""
        if self.metric == "proportion":
            return (1 - self.baseline) * (1 - 1e-9)
        assert self.sd_control is not None and self.sd_treatment is not None
        return 50 * max(self.sd_control, self.sd_treatment)


# --------------------------------------------------------------------------- validation


def _check_mde(metric: str, baseline: float, mde: object, relative: bool) -> float:
    """Validate the MDE and return it as an absolute difference."""
    value = check_number("mde", mde)
    if value == 0:
        raise ValueError("mde == 0, must be non-zero (the smallest effect worth detecting)")
    if relative and baseline == 0:
        raise ValueError("relative mde needs a non-zero baseline, got baseline == 0")
    absolute = baseline * value if relative else value
    if metric == "proportion":
        treated = baseline + absolute
        if not 0 < treated < 1:
            kind = "relative " if relative else ""
            raise ValueError(
                f"mde == {value!r} ({kind}MDE) with baseline == {baseline!r} gives a "
                f"treatment rate of {treated:.4g}, must be in (0, 1)"
            )
    return absolute


def _problem(
    metric: str,
    baseline: object,
    alpha: object,
    split: object,
    method: str | None,
    sd_control: object,
    sd_treatment: object,
) -> _Problem:
    metric = check_choice("metric", metric, tuple(METHODS))
    if metric == "proportion":
        base = check_probability("baseline", baseline)
        sd_c = sd_t = None
        if sd_control is not None or sd_treatment is not None:
            raise ValueError("sd_control / sd_treatment apply to metric == 'mean' only")
    else:
        base = check_number("baseline", baseline)
        if sd_control is None:
            raise ValueError("sd_control == None, a mean metric needs its standard deviation (> 0)")
        sd_c = check_number("sd_control", sd_control, low=0.0)
        sd_t = sd_c if sd_treatment is None else check_number("sd_treatment", sd_treatment, low=0.0)
    chosen = (
        METHODS[metric][0] if method is None else check_choice("method", method, METHODS[metric])
    )
    if chosen == "t" and sd_c != sd_t:
        raise ValueError(
            f"method == 't' assumes one common SD, got sd_control == {sd_c!r} and "
            f"sd_treatment == {sd_t!r}; use method == 'z' for two variances"
        )
    return _Problem(
        metric=metric,
        method=chosen,
        baseline=base,
        alpha=check_probability("alpha", alpha),
        split=check_probability("split", split),
        sd_control=sd_c,
        sd_treatment=sd_t,
    )


def _arms_for_total(n_total: int, split: float) -> tuple[int, int]:
    """Split a given total into whole arms, treatment = round(n_total·split)."""
    n_t = round(n_total * split)
    n_c = n_total - n_t
    if min(n_c, n_t) < _MIN_ARM:
        raise ValueError(
            f"n_total == {n_total} with split == {split!r} leaves {n_c} control and {n_t} "
            f"treatment units, each arm needs at least {int(_MIN_ARM)}"
        )
    return n_c, n_t


def _ceil(x: float) -> int:
    """Round up, forgiving floating-point noise just above a whole number."""
    return math.ceil(x - 1e-9)


# --------------------------------------------------------------------------- solvers


def _root_of_increasing(gap: Callable[[float], float], start: float, limit: float) -> float | None:
    """Root of an increasing function on [start, limit], or None when it stays below zero.

    The upper bracket doubles from ``start``: staying near the root avoids evaluating power
    far out where it is ~1 and statsmodels' noncentral t returns NaN.
    """
    if gap(start) >= 0:
        return start
    low, high = start, min(2 * start, limit)
    while not gap(high) >= 0:  # also steps over a NaN
        if high >= limit:
            return None
        low, high = high, min(2 * high, limit)
    return _bisect(gap, low, high)


def _bisect(gap: Callable[[float], float], low: float, high: float) -> float:
    """The root of ``gap`` in [low, high] (gap(low) < 0 <= gap(high)) by bisection, to a
    relative 1e-13 of the bracket's width: about 45 steps from a doubling bracket."""
    for _ in range(200):
        middle = (low + high) / 2
        if high - low <= 1e-13 * max(abs(high), 1.0):
            return middle
        if gap(middle) >= 0:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def _solve_n(problem: _Problem, mde: float, power: float) -> tuple[float, int, int]:
    share = problem.split
    n_exact = _root_of_increasing(
        lambda n: problem.power(mde, n * (1 - share), n * share) - power,
        problem.smallest_total(),
        _MAX_TOTAL,
    )
    if n_exact is None:
        raise ValueError(f"power == {power!r} cannot be reached with mde == {mde!r}")
    return n_exact, _ceil(n_exact * (1 - problem.split)), _ceil(n_exact * problem.split)


def _solve_mde(problem: _Problem, n_c: int, n_t: int, power: float) -> float:
    top = problem.largest_mde()
    mde = _root_of_increasing(lambda m: problem.power(m, n_c, n_t) - power, top * 2.0**-30, top)
    if mde is None:
        raise ValueError(
            f"power == {power!r} cannot be reached with n_total == {n_c + n_t}: even an effect of "
            f"{top:.4g} gives power {problem.power(top, n_c, n_t):.3f}"
        )
    return mde


def solve_design(
    metric: MetricKind,
    baseline: float,
    *,
    mde: float | None = None,
    n_total: int | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    split: float = 0.5,
    method: str | None = None,
    relative: bool = False,
    sd_control: float | None = None,
    sd_treatment: float | None = None,
) -> Design:
    """Solve for exactly one of ``n_total``, ``mde`` or ``power`` (the one given as ``None``).

    Args:
        metric: ``"proportion"`` or ``"mean"``.
        baseline: control rate in (0, 1), or control mean.
        mde: effect to detect (treatment − control); relative to the baseline if ``relative``.
            When solved for, the positive (improvement) direction is returned.
        n_total: units in both arms together.
        power: target power, in (alpha, 1).
        alpha: two-sided significance level.
        split: treatment share of units, in (0, 1).
        method: one of ``METHODS[metric]``; default ``pooled`` / ``z``.
        relative: read ``mde`` as a share of the baseline (δ = baseline × mde).
        sd_control, sd_treatment: standard deviations of a mean metric (treatment defaults to
            control).

    Returns:
        A :class:`Design` with every quantity filled in.

    Raises:
        ValueError / TypeError: naming the parameter, the value and what is allowed.

    References:
        R ``power.prop.test``; statsmodels ``NormalIndPower``, ``TTestIndPower``;
        Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, §3.2 and §4.2.

    Examples:
        >>> round(solve_design("proportion", 0.03, mde=-0.01, power=0.8).n_total_exact / 2, 2)
        3825.15
    """
    problem = _problem(metric, baseline, alpha, split, method, sd_control, sd_treatment)
    unknowns = [
        name
        for name, value in (("mde", mde), ("n_total", n_total), ("power", power))
        if value is None
    ]
    if len(unknowns) != 1:
        raise ValueError(
            "exactly one of mde, n_total, power must be None (the one to solve for), "
            f"got {len(unknowns)} missing: {unknowns or 'none'}"
        )
    if power is not None:
        power = check_probability("power", power)
        if power <= problem.alpha:
            raise ValueError(f"power == {power!r}, must be greater than alpha == {problem.alpha!r}")
    mde_abs = None if mde is None else _check_mde(problem.metric, problem.baseline, mde, relative)
    common = {
        "metric": problem.metric,
        "method": problem.method,
        "baseline": problem.baseline,
        "alpha": problem.alpha,
        "split": problem.split,
        "sd_control": problem.sd_control,
        "sd_treatment": problem.sd_treatment,
    }
    if n_total is None:
        assert mde_abs is not None and power is not None
        n_exact, n_c, n_t = _solve_n(problem, mde_abs, power)
        return Design(
            **common,
            solved_for="n_total",
            mde=mde_abs,
            power=power,
            n_control=n_c,
            n_treatment=n_t,
            n_total_exact=n_exact,
        )
    total = check_integer("n_total", n_total, minimum=1)
    n_c, n_t = _arms_for_total(total, problem.split)
    if mde_abs is None:
        assert power is not None
        solved_mde = _solve_mde(problem, n_c, n_t, power)
        return Design(
            **common,
            solved_for="mde",
            mde=solved_mde,
            power=power,
            n_control=n_c,
            n_treatment=n_t,
            n_total_exact=float(total),
        )
    achieved = problem.power(mde_abs, n_c, n_t)
    return Design(
        **common,
        solved_for="power",
        mde=mde_abs,
        power=achieved,
        n_control=n_c,
        n_treatment=n_t,
        n_total_exact=float(total),
    )


def _applicable_methods(metric: str, sd_control: object, sd_treatment: object) -> tuple[str, ...]:
    """The metric's methods, less ``t`` when the two SDs differ (it assumes one common SD)."""
    methods = METHODS[check_choice("metric", metric, tuple(METHODS))]
    if sd_treatment is not None and sd_treatment != sd_control:
        return tuple(method for method in methods if method != "t")
    return methods


def compare_methods(metric: MetricKind, baseline: float, **options: Any) -> pd.DataFrame:
    """:func:`solve_design` for every method of the metric, one row each (``options`` as for
    :func:`method_rows`: mde, n_total, power, alpha, split, relative, sd_control,
    sd_treatment).

    Columns: method, label, n_control, n_treatment, n_total, mde, relative_mde, power,
    n_total_exact. For a mean metric with two different SDs the ``t`` method (one common SD) is
    left out rather than computed on a wrong assumption.
    """
    import pandas as pd

    return pd.DataFrame(method_rows(metric, baseline, **options))[list(METHOD_COLUMNS)]


METHOD_COLUMNS = (
    "method",
    "label",
    "n_control",
    "n_treatment",
    "n_total",
    "mde",
    "relative_mde",
    "power",
    "n_total_exact",
)


def method_rows(
    metric: MetricKind,
    baseline: float,
    *,
    mde: float | None = None,
    n_total: int | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    split: float = 0.5,
    relative: bool = False,
    sd_control: float | None = None,
    sd_treatment: float | None = None,
) -> list[dict[str, Any]]:
    """:func:`compare_methods` as plain records (no pandas: the quick CLI path)."""
    rows = []
    for method in _applicable_methods(metric, sd_control, sd_treatment):
        design = solve_design(
            metric,
            baseline,
            mde=mde,
            n_total=n_total,
            power=power,
            alpha=alpha,
            split=split,
            method=method,
            relative=relative,
            sd_control=sd_control,
            sd_treatment=sd_treatment,
        )
        rows.append({"method": method, "label": METHOD_LABELS[method], **design.to_dict()})
    return rows


# --------------------------------------------------------------------------- clustering and time


def design_effect(dialogs_per_user: float, intra_user_correlation: float) -> float:
    """Kish's design effect of clustered observations: DE = 1 + (m̄ − 1)·ρ.

    With m̄ dialogs per user and intra-user correlation ρ, a dialog-level metric analysed with
    the user as the randomization unit has variance DE times what independent dialogs would
    have, so it needs DE times as many dialogs (Kish, *Survey Sampling*, 1965, §5.4; Deng,
    Knoblich & Lu, KDD 2018). Uses the mean cluster size; unequal sizes inflate DE further.
    """
    m = check_number("dialogs_per_user", dialogs_per_user, low=1.0, low_inclusive=True)
    rho = check_number(
        "intra_user_correlation",
        intra_user_correlation,
        low=0.0,
        high=1.0,
        low_inclusive=True,
        high_inclusive=True,
    )
    return 1 + (m - 1) * rho


def duration_days(n_total: float, daily_eligible: float, traffic_share: float = 1.0) -> int:
    """Days to collect ``n_total`` units: ceil(n_total / (daily_eligible × traffic_share)).

    Args:
        n_total: units (dialogs) needed in both arms together.
        daily_eligible: eligible units arriving per day.
        traffic_share: share of eligible traffic that enters the experiment, in (0, 1].
    """
    total = check_number("n_total", n_total, low=0.0)
    daily = check_number("daily_eligible", daily_eligible, low=0.0)
    share = check_number("traffic_share", traffic_share, low=0.0, high=1.0, high_inclusive=True)
    return _ceil(total / (daily * share))


@dataclass(frozen=True)
class ClusteredPlan:
    """What a design asks of clustered traffic.

    Attributes:
        design_effect: DE = 1 + (m̄ − 1)·ρ.
        dialogs_control, dialogs_treatment: dialogs per arm, the independent-unit n times DE.
        users_total: users needed, dialogs / m̄.
        days: days to collect the dialogs at the given daily traffic and share.
    """

    design_effect: float
    dialogs_control: int
    dialogs_treatment: int
    users_total: int
    days: int

    @property
    def dialogs_total(self) -> int:
        return self.dialogs_control + self.dialogs_treatment


def plan_clustered(
    design: Design,
    *,
    dialogs_per_user: float = 1.0,
    intra_user_correlation: float = 0.0,
    daily_dialogs: float,
    traffic_share: float = 1.0,
) -> ClusteredPlan:
    """Inflate a design's n by the design effect and turn it into users and days."""
    de = design_effect(dialogs_per_user, intra_user_correlation)
    d_c, d_t = _ceil(design.n_control * de), _ceil(design.n_treatment * de)
    return ClusteredPlan(
        design_effect=de,
        dialogs_control=d_c,
        dialogs_treatment=d_t,
        users_total=_ceil((d_c + d_t) / dialogs_per_user),
        days=duration_days(d_c + d_t, daily_dialogs, traffic_share),
    )
