"""Health gates: checks of the log that come before any metric is read.

Each gate is one row of the health table (gate, status, control, treatment, detail). A gate
that fails makes the decision "invalid": no metric is interpreted. A warning is shown with the
decision but does not block it. Errors that make the log unreadable as an experiment (unknown
variant labels, several experiments and none chosen, values out of range, duplicate dialogs)
are not rows: they stop the analysis with a message
(:class:`abkit.serve.events.LogValidationError`).

Gates (thresholds in :class:`abkit.plan.experiment_plan.ExperimentPlan`):

- ``sample ratio``: χ² of users per arm against the planned split (Fabijan et al. 2019); for a
  plan monitored sequentially, also the always-valid test over the users first seen each day
  (Lindon & Malek 2022, :func:`abkit.stats.sequential.sequential_srm_p_values`): the gate fails when
  either is below ``srm_p``;
- ``users in both arms``: left out of every metric (GrowthBook's practice); fail above
  ``crossover_max_share`` of users;
- ``unknown variant rows``: rows left out because the plan says to ignore them (warn);
- ``rows of other experiments``: rows left out because the plan names one experiment;
- ``missing <column>``: share of dialogs whose value is missing per arm; fail when the shares
  differ between arms (user-clustered delta-method test, p < ``missing_p``): missingness that
  depends on the arm biases every metric built on the column;
- ``human labels <column>``: for a ``judged`` metric's label column, which is missing by
  design on most dialogs: the labeled share per arm instead of a missing row, and whether the
  labeled dialogs look like a random subset (the judge's mean on labeled vs unlabeled dialogs,
  :func:`abkit.stats.ppi.label_selection_test`, p < ``missing_p``): fail when the metric is a
  primary or a guardrail, warn otherwise (PPI is biased when labels were not drawn at random);
- ``unit <column>``: a latency declared in ms whose median looks like seconds, or the reverse
  (warn);
- ``timestamps``: rows dated before :data:`EARLIEST_PLAUSIBLE` (epoch 0 or a 1900 default
  standing in for a missing time) or more than a day after the analysis runs (a clock error)
  (warn, shown only when there are such rows): they still count in every metric, but any
  window over time (a look with ``until``, the CUPED pre-period, the daily sample-ratio
  counts) places them wrongly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from abkit.analysis.part_schema import AbsentColumn
from abkit.serve.routing import SrmResult, srm_check
from abkit.stats.cuped import Moments
from abkit.stats.ppi import label_selection_test
from abkit.stats.sequential import sequential_srm_p_values
from abkit.stats.two_sample import RatioStats, ratio_difference_test

__all__ = [
    "absent_column_gate",
    "HEALTH_COLUMNS",
    "HealthCheck",
    "HealthReport",
    "EARLIEST_PLAUSIBLE",
    "crossover_gate",
    "label_gate",
    "missing_gate",
    "sequential_srm_gate",
    "srm_gate",
    "time_gate",
    "unit_gate",
]

Status = Literal["pass", "warn", "fail"]
HEALTH_COLUMNS = ["gate", "status", "control", "treatment", "detail"]


@dataclass(frozen=True)
class HealthCheck:
    """One gate: its status, a figure per arm (count or share) and what it means."""

    gate: str
    status: Status
    control: float
    treatment: float
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """Every gate, the SRM result and the counts the notebook and memo show."""

    checks: tuple[HealthCheck, ...]
    srm: SrmResult

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([c.__dict__ for c in self.checks], columns=HEALTH_COLUMNS)

    @property
    def failed(self) -> list[HealthCheck]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[HealthCheck]:
        return [c for c in self.checks if c.status == "warn"]


def srm_gate(
    labels: Sequence[str], users: Sequence[int], shares: Sequence[float], threshold: float
) -> tuple[HealthCheck, SrmResult]:
    """Users per arm against the planned shares (χ² over every arm: the routing's
    :func:`abkit.serve.routing.srm_check`). The row's figures are the control's users and the
    candidates' (one candidate: the treatment's).

    >>> srm_gate(("c", "t"), (498, 502), (0.5, 0.5), 0.001)[0].detail
    'treatment share 0.5020 vs planned 0.5 (p = 0.899)'
    >>> srm_gate(("c", "v1", "v2"), (500, 260, 240), (0.5, 0.25, 0.25), 0.001)[0].detail
    'shares c 0.5000, v1 0.2600, v2 0.2400 vs planned 0.5, 0.25, 0.25 (p = 0.67)'
    """
    srm = srm_check(
        dict(zip(labels, users, strict=True)),
        dict(zip(labels, shares, strict=True)),
        threshold=threshold,
    )
    total = sum(users)
    if srm.mismatch:
        detail = srm.verdict
    elif len(labels) == 2:
        share = users[1] / total if total else math.nan
        detail = f"treatment share {share:.4f} vs planned {shares[1]:g} (p = {srm.p_value:.3g})"
    else:
        observed = ", ".join(
            f"{label} {count / total:.4f}" for label, count in zip(labels, users, strict=True)
        )
        detail = (
            f"shares {observed} vs planned {', '.join(f'{s:.4g}' for s in shares)} "
            f"(p = {srm.p_value:.3g})"
        )
    status: Status = "fail" if srm.mismatch else "pass"
    return HealthCheck("sample ratio", status, users[0], sum(users[1:]), detail), srm


def sequential_srm_gate(
    fixed: HealthCheck,
    srm: SrmResult,
    daily_users: np.ndarray,
    shares: Sequence[float],
    threshold: float,
) -> HealthCheck:
    """The sample-ratio gate of a plan monitored sequentially: the always-valid p-value over the
    users first seen each day (false alarms stay at ``threshold`` however often the gate is
    read) beside this look's χ² (``fixed``, ``srm``), which is kept because the sequential test
    is slower to see a mismatch: the gate fails when either is below ``threshold``; a
    mismatch is never passed to keep the false-alarm rate exact."""
    p_value = float(sequential_srm_p_values(daily_users, list(shares))[-1])
    failed = p_value < threshold or fixed.status == "fail"
    detail = f"{fixed.detail}; always-valid p over {len(daily_users)} day(s) = {p_value:.3g}"
    return dataclasses.replace(fixed, status="fail" if failed else "pass", detail=detail)


def absent_column_gate(column: str, where: AbsentColumn) -> HealthCheck:
    """A warning for a metric's column that some parts of a folder log lack: the rows there are
    missing values of it (counted by the missing-values gate), and the parts are named so that
    a column renamed in one part is seen, not averaged away.

    >>> absent_column_gate("csat", AbsentColumn("csat", ("d18.parquet",), 9, 14)).status
    'warn'
    """
    return HealthCheck(
        f"parts without {column}",
        "warn",
        math.nan,
        math.nan,
        f"column '{where.column}' is {where.describe()}: their rows count as missing values "
        f"of {column}",
    )


def crossover_gate(
    crossed: int, users: int, dialogs_c: int, dialogs_t: int, max_share: float
) -> HealthCheck:
    """Users seen in both arms: left out; a share above ``max_share`` invalidates the test."""
    share = crossed / users if users else 0.0
    if crossed == 0:
        return HealthCheck("users in both arms", "pass", 0, 0, "none")
    status: Status = "fail" if share > max_share else "warn"
    detail = (
        f"{crossed:,} of {users:,} users ({share:.2%}) have dialogs in both arms "
        f"({dialogs_c:,} control and {dialogs_t:,} treatment dialogs): left out of every metric"
        + (
            f"; more than {max_share:.0%} of users means the assignment or the user ids are "
            "broken, the comparison is invalid"
            if status == "fail"
            else ""
        )
    )
    return HealthCheck("users in both arms", status, dialogs_c, dialogs_t, detail)


def missing_gate(
    column: str,
    control: RatioStats,
    treatment: RatioStats,
    threshold: float,
    arms: tuple[str, str] = ("control", "treatment"),
) -> HealthCheck:
    """Share of dialogs with ``column`` missing per arm (Y = missing, X = dialogs per user);
    ``arms`` names the two arms in the detail (a candidate's label in an A/B/n experiment).

    A difference between arms is tested with the user-clustered delta method
    (:func:`abkit.stats.two_sample.ratio_difference_test`).
    """
    share_c = control.sum_y / control.sum_x if control.sum_x else math.nan
    share_t = treatment.sum_y / treatment.sum_x if treatment.sum_x else math.nan
    gate = f"missing {column}"
    if control.sum_y == 0 and treatment.sum_y == 0:
        return HealthCheck(gate, "pass", 0.0, 0.0, "no missing values")
    test = ratio_difference_test(control, treatment)
    differs = math.isfinite(test.p_value) and test.p_value < threshold
    counts = f"{int(control.sum_y):,} {arms[0]} and {int(treatment.sum_y):,} {arms[1]} dialogs"
    if not math.isfinite(test.p_value):  # cannot check: never a pass
        if min(control.n, treatment.n) < 2:
            return HealthCheck(
                gate,
                "warn",
                share_c,
                share_t,
                f"{counts} have no value ({share_c:.2%} vs {share_t:.2%}); cannot check yet: "
                f"too few users for a test ({control.n} {arms[0]}, {treatment.n} {arms[1]})",
            )
        if share_c == share_t == 1.0:
            return HealthCheck(
                gate,
                "warn",
                share_c,
                share_t,
                f"{counts}: every dialog lacks a value in both arms; no metric on this "
                "column can be computed",
            )
        return HealthCheck(
            gate,
            "fail",
            share_c,
            share_t,
            f"{counts} have no value ({share_c:.2%} vs {share_t:.2%}): the difference "
            "cannot be tested (no variance within an arm, or an arm without dialogs), so "
            "missingness cannot be shown to be independent of the arm",
        )
    if differs:
        detail = (
            f"{counts} have no value: {share_c:.2%} vs {share_t:.2%} (p = {test.p_value:.2g}); "
            "missingness depends on the arm, so metrics on this column are biased"
        )
    else:
        detail = (
            f"{counts} have no value ({share_c:.2%} vs {share_t:.2%}, p = {test.p_value:.2g}): "
            "left out of the metrics on this column, never counted as 0"
        )
    return HealthCheck(gate, "fail" if differs else "pass", share_c, share_t, detail)


def label_gate(
    column: str,
    control: Moments,
    treatment: Moments,
    threshold: float,
    decisive: bool,
    arms: tuple[str, str] = ("control", "treatment"),
) -> HealthCheck:
    """The labeled share of a judged metric's dialogs per arm (components as
    :data:`abkit.stats.ppi.PPI_COMPONENTS`) and the check that labels were drawn at random:
    ``fail`` (``decisive``: the metric is a primary or guardrail) or ``warn`` when the judge's
    mean differs between labeled and unlabeled dialogs in an arm (p < ``threshold``)."""
    shares, counts, tests = [], [], []
    for arm in (control, treatment):
        labeled, unlabeled = (arm.sums[4], arm.sums[1]) if arm.n else (0.0, 0.0)
        shares.append(labeled / (labeled + unlabeled) if labeled + unlabeled else math.nan)
        counts.append(int(labeled))
        tests.append(label_selection_test(arm))
    gate = f"human labels {column}"
    labels = (
        f"{counts[0]:,} {arms[0]} and {counts[1]:,} {arms[1]} dialogs labeled "
        f"({shares[0]:.1%} vs {shares[1]:.1%})"
    )
    p_values = [p for _, _, p in tests if math.isfinite(p)]
    if p_values and min(p_values) < threshold:
        worst = [p for _, _, p in tests].index(min(p_values))
        arm, difference = arms[worst], tests[worst][0]
        detail = (
            f"{labels}; in {arm} the judge scores labeled dialogs {difference:+.3g} above the "
            f"unlabeled ones (p = {min(p_values):.2g}): labels were not drawn at random, so "
            "the prediction-powered estimate is biased. Label a random sample of dialogs"
        )
        return HealthCheck(gate, "fail" if decisive else "warn", shares[0], shares[1], detail)
    detail = (
        f"{labels}; the judge's mean on labeled and unlabeled dialogs agrees (min p = "
        f"{min(p_values):.2g}), as for labels drawn at random"
        if p_values
        else f"{labels}; too few labeled or unlabeled dialogs to check the labels' selection"
    )
    return HealthCheck(gate, "pass" if p_values else "warn", shares[0], shares[1], detail)


# More dialogs than this per day of the log's span, for one user id, is beyond what a person
# does with an assistant (one dialog every ten minutes for 16 hours, every day): a bot, a load
# test, or an id shared by many people (a default or anonymous id). Flagged, never dropped.
HEAVY_DIALOGS_PER_DAY = 100


def heavy_user_threshold(first: Any, last: Any) -> float:
    """The most dialogs one user may have in a log spanning ``first`` to ``last`` before the
    heavy-user gate flags it: :data:`HEAVY_DIALOGS_PER_DAY` per started day (at least one).

    >>> heavy_user_threshold(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-18 23:00"))
    1400.0
    """
    try:
        days = math.ceil((pd.Timestamp(last) - pd.Timestamp(first)) / pd.Timedelta(days=1))
    except (TypeError, ValueError):
        return math.inf
    return float(HEAVY_DIALOGS_PER_DAY * max(days, 1))


def heavy_user_gate(
    heavy: list[int],
    most: list[int],
    heaviest: list[Any],
    threshold: float,
    labels: Sequence[str],
) -> HealthCheck:
    """Users with more dialogs than one person has (:func:`heavy_user_threshold`), per arm:
    ``warn`` naming the most active id and its count; ``pass`` stating the largest count.

    >>> heavy_user_gate([0, 1], [12, 5000], ["u1", "anonymous"], 1400.0, ("c", "t")).detail[:58]
    "1 user(s) with more than 1,400 dialogs (100 per day): 'ano"
    """
    top = int(np.argmax(most))
    if sum(heavy):
        return HealthCheck(
            "dialogs per user",
            "warn",
            heavy[0],
            sum(heavy[1:]),
            f"{sum(heavy):,} user(s) with more than {threshold:,.0f} dialogs "
            f"({HEAVY_DIALOGS_PER_DAY} per day): {heaviest[top]!r} has {most[top]:,} in "
            f"{labels[top]}; a bot, a test account or an id many people share? Such a user "
            "weighs as one in every metric",
        )
    return HealthCheck(
        "dialogs per user",
        "pass",
        most[0],
        max(most[1:]),
        f"at most {max(most):,} dialogs per user (flagged above {threshold:,.0f})",
    )


# A pre-treatment covariate explaining more of an outcome's variance than this is more likely
# the outcome itself (measured after exposure, or a copy of the column) than a real predictor:
# pre-period versions of engagement metrics reach R² of about 0.3-0.7 (Deng et al. 2013).
LEAK_SHARE = 0.9


def leak_gate(metric: str, covariate: str, reduction: float) -> HealthCheck | None:
    """Warn when a CUPED covariate removes more than :data:`LEAK_SHARE` of a metric's
    variance (None below it).

    >>> leak_gate("csat", "past_csat", 0.9999).status
    'warn'
    >>> leak_gate("csat", "past_csat", 0.4) is None
    True
    """
    if not (math.isfinite(reduction) and reduction > LEAK_SHARE):
        return None
    return HealthCheck(
        f"covariate leak {metric}",
        "warn",
        reduction,
        reduction,
        f"covariate {covariate!r} removes {reduction:.2%} of {metric}'s variance (above "
        f"{LEAK_SHARE:.0%}): a pre-treatment covariate rarely predicts this well; is it measured "
        "after exposure, or the outcome itself? Check before trusting the CUPED estimate",
    )


# A latency's median outside these bounds looks like the other unit: ms below 20, s above 100.
_UNIT_LOOKS_WRONG = {"ms": (lambda m: m < 20, "seconds"), "s": (lambda m: m > 100, "milliseconds")}


def unit_gate(column: str, unit: str, median_c: float, median_t: float) -> HealthCheck | None:
    """Flag a time column whose median looks like the other unit (None when no unit is known).

    Examples:
        >>> unit_gate("latency_ms", "ms", 2.1, 2.3).status
        'warn'
        >>> unit_gate("latency_ms", "ms", 2100.0, 2300.0).status
        'pass'
    """
    if unit not in _UNIT_LOOKS_WRONG:
        return None
    looks_wrong, other = _UNIT_LOOKS_WRONG[unit]
    medians = [m for m in (median_c, median_t) if math.isfinite(m)]
    gate = f"unit {column}"
    if medians and all(looks_wrong(m) for m in medians):
        return HealthCheck(
            gate,
            "warn",
            median_c,
            median_t,
            f"declared in {unit}, but its median ({median_c:.4g} / {median_t:.4g}) looks like "
            f"{other}: check the unit before reading its values",
        )
    return HealthCheck(gate, "pass", median_c, median_t, f"median plausible for {unit}")


# No dialog with a language model is older than this; earlier dates are placeholders.
EARLIEST_PLAUSIBLE = pd.Timestamp("2000-01-01", tz="UTC")


def time_gate(
    rows_c: int, rows_t: int, earliest: pd.Timestamp, latest: pd.Timestamp, now: pd.Timestamp
) -> HealthCheck:
    """Rows dated before :data:`EARLIEST_PLAUSIBLE` or after ``now`` + 1 day (warn).

    ``rows_c`` / ``rows_t`` count such rows per arm; ``earliest`` and ``latest`` are their
    extreme times.

    Examples:
        >>> now = pd.Timestamp("2026-02-01", tz="UTC")
        >>> gate = time_gate(1, 0, pd.Timestamp(0, tz="UTC"), pd.Timestamp(0, tz="UTC"), now)
        >>> gate.status, gate.detail[:52]
        ('warn', '1 row(s) dated before 2000-01-01 or after 2026-02-02')
    """
    day = pd.Timedelta(days=1)
    when = earliest.date() if earliest == latest else f"{earliest.date()} to {latest.date()}"
    return HealthCheck(
        "timestamps",
        "warn",
        rows_c,
        rows_t,
        f"{rows_c + rows_t:,} row(s) dated before {EARLIEST_PLAUSIBLE.date()} or after "
        f"{(now + day).date()} ({when}): a placeholder for a missing time, or a wrong clock? "
        "They count in every metric, but a look (until), the CUPED pre-period and the daily "
        "sample-ratio counts place them by that date",
    )
