"""Metric kinds: what each kind needs from the log, and its test from those sums.

A kind is one class with four methods, and a new kind is one more class in :data:`KINDS`:

- ``user_sums(metric, ctx, complete)``: SQL aggregates per user over the log's rows (a mapping
  alias -> expression); every column is already a DOUBLE, missing values are NULL, and the
  columns in ``complete`` have none in the rows analysed (the engine counted them), so
  :func:`known_count` and :func:`all_known` can leave out the NULL checks;
- ``arm_sums()``: SQL aggregates per arm over those per-user values, naming them ``{alias}``
  (and ``{is_treatment}``, true for a user of the treatment arm); the per-user pass also
  gives each row :data:`TREATED_ROW`;
- ``estimate(metric, control, treatment, alpha, ctx)``: the :class:`Estimate` from the two
  arms' sums (plain floats), with the test and the variances the relative effect needs;
- ``cuped_parts(names)``: the metric as per-user components for CUPED (:mod:`abkit.stats.cuped`),
  ``None`` for a kind without it. Applied to the per-user sums over the pre-period log, the
  same parts give the covariate ("the same metric before the experiment").

``ctx`` carries what an earlier step computed, e.g. a quantile metric's order statistics.
The engine (:mod:`abkit.analysis.engine`) runs the SQL of every metric in one pass; the tests are
the
pure functions of :mod:`abkit.stats.two_sample`, each checked against an independent reference.

Missing values are missing, never 0: a dialog whose value (or any column of a ratio) is NULL
leaves the numerator and the denominator; a user with no known value leaves user-level metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from scipy.stats import norm

from abkit.plan.metrics import Kind, Metric
from abkit.stats.cuped import Moments, Value, moment_aggregates
from abkit.stats.ppi import PPI_COMPONENTS, ppi_clustered
from abkit.stats.two_sample import (
    MeanStats,
    RatioStats,
    TestResult,
    _t_or_normal_result,
    clustered_quantile_se,
    delta_method_ratio,
    fisher_exact_test,
    quantile_difference,
    ratio_difference_test,
    two_proportion_z_test,
    welch_t_test_from_stats,
)

__all__ = [
    "KINDS",
    "ARM_ROW",
    "TREATED_ROW",
    "Complete",
    "CupedParts",
    "Estimate",
    "MetricKind",
    "all_known",
    "known_count",
    "quoted",
]

# Fisher's exact test replaces the z-test when an expected cell count is below this.
FISHER_BELOW = 5
Sums = Mapping[str, float]
# Columns without a missing value in the rows analysed (an engine count, never an assumption).
Complete = frozenset[str]
# A per-row column the engine's per-user pass provides: 1.0 for a treatment dialog, else 0.0.
TREATED_ROW = '"abkit treated row"'
# With several candidates, a per-row column numbering the arms as ``plan.labels`` does (the
# control 0, the candidates 1..k); the per-user pass provides it.
ARM_ROW = '"abkit arm"'


def quoted(name: str) -> str:
    """A SQL identifier: ``"name"`` with inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def known_count(column: str, complete: Complete) -> str:
    """SQL: the dialogs with a value in ``column``; ``count(*)`` when it has no missing value
    (the same number, and a per-user aggregate fewer).

    >>> known_count("csat", frozenset()), known_count("turns", frozenset({"turns"}))
    ('count("csat")', 'count(*)')
    """
    return "count(*)" if column in complete else f"count({quoted(column)})"


def all_known(columns: tuple[str, ...], complete: Complete) -> str:
    """SQL condition: every one of ``columns`` has a value (``TRUE`` when none can be missing).

    >>> all_known(("likes", "dislikes"), frozenset({"likes"}))
    '"dislikes" IS NOT NULL'
    """
    checks = [f"{quoted(c)} IS NOT NULL" for c in dict.fromkeys(columns) if c not in complete]
    return " AND ".join(checks) or "TRUE"


@dataclass(frozen=True)
class Estimate:
    """One metric's comparison: the test, each arm's variance of its value, users per arm."""

    test: TestResult
    var_control: float
    var_treatment: float
    n_control: int
    n_treatment: int
    note: str = ""


@dataclass(frozen=True)
class CupedParts:
    """A metric as per-user components for CUPED.

    Attributes:
        sample: SQL condition on the per-user values: the users the metric covers.
        components: SQL per user, the components its value is built from.
        value: the metric as a :class:`~abkit.stats.cuped.Value` of those components.
        missing: SQL, true when the user has no value at all (as a covariate: no history).
    """

    sample: str
    components: tuple[str, ...]
    value: Value
    missing: str


class MetricKind(Protocol):
    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]: ...

    def arm_sums(self) -> dict[str, str]: ...

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate: ...

    def cuped_parts(self, names: Mapping[str, str]) -> CupedParts | None: ...


_RATIO_SUMS = {
    "n": "count(*)",
    "sy": "sum({y})",
    "sx": "sum({x})",
    "syy": "sum({y}*{y})",
    "sxx": "sum({x}*{x})",
    "sxy": "sum({x}*{y})",
}


def ratio_stats(sums: Sums) -> RatioStats:
    return RatioStats(int(sums["n"] or 0), *(float(sums[k] or 0.0) for k in list(_RATIO_SUMS)[1:]))


class RatioKind:
    """Σ numerator / Σ denominator over dialogs, users randomized: the delta method.

    Per user: y = Σ numerator, x = Σ denominator (or the count of dialogs whose value is known)
    over the dialogs where all the metric's columns are known; per arm the six sums of
    :class:`~abkit.stats.two_sample.RatioStats` (Deng, Knoblich & Lu 2018).
    """

    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]:
        column = quoted(metric.column)
        if not metric.denominator:
            return {"y": f"coalesce(sum({column}), 0)", "x": known_count(metric.column, complete)}
        known = all_known(metric.columns, complete)
        denominator = " + ".join(quoted(c) for c in metric.denominator)
        if known == "TRUE":
            return {"y": f"coalesce(sum({column}), 0)", "x": f"coalesce(sum({denominator}), 0)"}
        return {
            "y": f"coalesce(sum(CASE WHEN {known} THEN {column} END), 0)",
            "x": f"coalesce(sum(CASE WHEN {known} THEN {denominator} END), 0)",
        }

    def arm_sums(self) -> dict[str, str]:
        return dict(_RATIO_SUMS)

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate:
        rc, rt = ratio_stats(control), ratio_stats(treatment)
        test = ratio_difference_test(rc, rt, alpha=alpha)
        note = ""
        if rc.sum_x == 0 or rt.sum_x == 0:
            note = f"no data: the denominator of {metric.name} is 0 in an arm (all missing?)"
        return Estimate(
            test, delta_method_ratio(rc)[1], delta_method_ratio(rt)[1], rc.n, rt.n, note
        )

    def cuped_parts(self, names: Mapping[str, str]) -> CupedParts:
        return CupedParts(
            "TRUE", (names["y"], names["x"]), Value(0, 1), f"coalesce({names['x']}, 0) = 0"
        )


class UserProportionKind:
    """Share of users whose value is ever > 0: two-proportion z-test, Fisher for small counts.

    Users with no known value are left out (they are counted as missing in the health table).
    """

    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]:
        return {"p": f"max({quoted(metric.column)})"}

    def arm_sums(self) -> dict[str, str]:
        return {"k": "count_if({p} > 0)", "n": "count({p})"}

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate:
        k_c, n_c = int(control["k"] or 0), int(control["n"] or 0)
        k_t, n_t = int(treatment["k"] or 0), int(treatment["n"] or 0)
        if not (n_c and n_t):
            nan = math.nan
            test = TestResult(nan, nan, nan, nan, nan, nan, nan, nan, nan, "two-proportion z-test")
            return Estimate(test, nan, nan, n_c, n_t, f"no data: no user has {metric.column}")
        pooled = (k_c + k_t) / (n_c + n_t)
        expected_min = min(n_c, n_t) * min(pooled, 1 - pooled)
        chooser = fisher_exact_test if expected_min < FISHER_BELOW else two_proportion_z_test
        test = chooser(k_c, n_c, k_t, n_t, alpha=alpha)
        var_c = test.control * (1 - test.control) / n_c
        var_t = test.treatment * (1 - test.treatment) / n_t
        return Estimate(test, var_c, var_t, n_c, n_t)

    def cuped_parts(self, names: Mapping[str, str]) -> CupedParts:
        p = names["p"]
        return CupedParts(
            f"{p} IS NOT NULL", (f"CAST({p} > 0 AS DOUBLE)",), Value(0), f"{p} IS NULL"
        )


class UserMeanKind:
    """Per-user sum of the column, averaged over users with a known value: Welch's t-test."""

    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]:
        return {"v": f"sum({quoted(metric.column)})"}

    def arm_sums(self) -> dict[str, str]:
        return {"n": "count({v})", "s": "sum({v})", "ss": "sum({v}*{v})"}

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate:
        mc, mt = (
            MeanStats(int(arm["n"] or 0), float(arm["s"] or 0.0), float(arm["ss"] or 0.0))
            for arm in (control, treatment)
        )
        test = welch_t_test_from_stats(mc, mt, alpha=alpha)
        variance = [m.variance / m.n if m.n else math.nan for m in (mc, mt)]
        return Estimate(test, variance[0], variance[1], mc.n, mt.n)

    def cuped_parts(self, names: Mapping[str, str]) -> CupedParts:
        v = names["v"]
        return CupedParts(f"{v} IS NOT NULL", (v,), Value(0), f"{v} IS NULL")


class QuantileKind:
    """A quantile of dialog-level values with a user-clustered variance (Deng, Knoblich & Lu).

    ``ctx[metric.name]`` holds the two arms' :class:`~abkit.stats.two_sample.QuantileOrder`
    (control,
    treatment), computed from the values before this pass; per user the pass counts
    I = #{dialogs with value ≤ Q̂ of the user's arm} and m = #{dialogs with a value}. The
    dialog's own arm picks its threshold by arithmetic on :data:`TREATED_ROW` (1 or 0):
    Q̂_t·t + Q̂_c·(1 − t) is exactly Q̂_t or Q̂_c in floating point, and one comparison per
    dialog costs about half of counting against both thresholds (a ``CASE`` costs more).
    Users with dialogs in both arms get a mixed count, but they leave every metric.
    """

    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]:
        column = quoted(metric.column)
        # an arm without values has no Q̂ (NaN); 0 stands in, as NULL would void the other arm
        levels = [
            repr(float(order.estimate)) if math.isfinite(order.estimate) else "0.0"
            for order in ctx[metric.name]
        ]
        if len(levels) == 2:
            c, t = levels
            own = f"({t} * {TREATED_ROW} + {c} * (1 - {TREATED_ROW}))"
        else:  # several candidates: each row's arm picks its Q̂
            cases = " ".join(f"WHEN {k} THEN {level}" for k, level in enumerate(levels[1:], 1))
            own = f"(CASE {ARM_ROW} {cases} ELSE {levels[0]} END)"
        return {"y": f"count_if({column} <= {own})", "x": known_count(metric.column, complete)}

    def arm_sums(self) -> dict[str, str]:
        return dict(_RATIO_SUMS)

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate:
        order_c, order_t = ctx[metric.name]
        ind_c, ind_t = ratio_stats(control), ratio_stats(treatment)
        se_c, se_t = clustered_quantile_se(order_c, ind_c), clustered_quantile_se(order_t, ind_t)
        test = quantile_difference((order_c.estimate, se_c), (order_t.estimate, se_t), alpha=alpha)
        note = ""
        if not (math.isfinite(se_c) and math.isfinite(se_t)):
            level = metric.quantile or 0.5
            note = (
                f"too few values for a P{level * 100:g} variance "
                f"(needs more than {4 * level / (1 - level):.0f})"
            )
        return Estimate(test, se_c**2, se_t**2, ind_c.n, ind_t.n, note)

    def cuped_parts(self, names: Mapping[str, str]) -> None:
        return None  # a quantile is not a mean of per-user values


class JudgedKind:
    """The mean human label per dialog from a judge's score on every dialog and human labels on
    a random subset: prediction-powered inference (PPI++) with users as the unit.

    Per user the five sums of :data:`abkit.stats.ppi.PPI_COMPONENTS` over the dialogs with a
    judge score (a dialog with a label but no judge score is left out, and counted in the
    judge column's missing row); per arm their :class:`~abkit.stats.cuped.Moments` over the users
    with at least one such dialog; each arm estimated by :func:`abkit.stats.ppi.ppi_clustered`
    with its own tuned λ, the difference a z-test of the two independent estimates. The note
    gives the human-only interval beside it, so the gain from the judge is visible.
    """

    def user_sums(
        self, metric: Metric, ctx: Mapping[str, Any], complete: Complete = frozenset()
    ) -> dict[str, str]:
        label, judge = quoted(metric.column), quoted(metric.judge)
        return dict(
            zip(
                ("ju", "nu", "hl", "jl", "nl"),
                (
                    f"coalesce(sum(CASE WHEN {label} IS NULL THEN {judge} END), 0)",
                    f"count_if({label} IS NULL AND {judge} IS NOT NULL)",
                    f"coalesce(sum(CASE WHEN {judge} IS NOT NULL THEN {label} END), 0)",
                    f"coalesce(sum(CASE WHEN {label} IS NOT NULL THEN {judge} END), 0)",
                    f"count_if({label} IS NOT NULL AND {judge} IS NOT NULL)",
                ),
                strict=True,
            )
        )

    def arm_sums(self) -> dict[str, str]:
        return moment_aggregates(["{ju}", "{nu}", "{hl}", "{jl}", "{nl}"], "{nu} + {nl} > 0")

    def estimate(
        self, metric: Metric, control: Sums, treatment: Sums, alpha: float, ctx: Mapping[str, Any]
    ) -> Estimate:
        size = len(PPI_COMPONENTS)
        moments = [Moments.from_aggregates(arm, size) for arm in (control, treatment)]
        try:
            c, t = (ppi_clustered(m, alpha=alpha) for m in moments)
        except ValueError as error:
            nan = math.nan
            test = TestResult(nan, nan, nan, nan, nan, nan, nan, nan, nan, "PPI++ (users)")
            note = f"no estimate: {error} (column {metric.column!r}, in an arm)"
            return Estimate(test, nan, nan, moments[0].n, moments[1].n, note)
        test = _t_or_normal_result(
            c.estimate,
            t.estimate,
            t.estimate - c.estimate,
            math.hypot(c.se, t.se),
            math.inf,
            alpha,
            "PPI++ (users as unit)",
        )
        human = t.human_estimate - c.human_estimate
        z = float(norm.isf(alpha / 2))
        human_se = math.hypot(c.human_se, t.human_se)
        width = math.hypot(c.se, t.se) / human_se if human_se > 0 else math.nan
        note = (
            f"human labels only: {human:+.4f} [{human - z * human_se:+.4f}, "
            f"{human + z * human_se:+.4f}]; PPI interval {width:.2f}x as wide; labels "
            f"{c.n_labeled:,} / {t.n_labeled:,} of {c.n_labeled + c.n_unlabeled:,} / "
            f"{t.n_labeled + t.n_unlabeled:,} dialogs; lambda {c.lam:.2f} / {t.lam:.2f}"
        )
        return Estimate(test, c.se**2, t.se**2, moments[0].n, moments[1].n, note)

    def cuped_parts(self, names: Mapping[str, str]) -> None:
        return None  # the judge already plays the covariate's part


KINDS: dict[Kind, MetricKind] = {
    "ratio": RatioKind(),
    "user_proportion": UserProportionKind(),
    "user_mean": UserMeanKind(),
    "quantile": QuantileKind(),
    "judged": JudgedKind(),
}

# Per-user value for the Mann–Whitney cross-check of an ordinal metric (ratio kind: y / x).
ORDINAL_VALUE: dict[Kind, Callable[[Mapping[str, str]], str]] = {
    "ratio": lambda names: f"{names['y']} / {names['x']}",
}
