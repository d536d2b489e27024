"""Pre-experiment covariates for CUPED: where they come from, and what the engine adds to its pass.

A metric's ``covariate`` (see :class:`abkit.plan.metrics.Metric`) is either

- ``"pre_period"``: the same metric over each user's dialogs in the pre-period log, in the
  plan's ``pre_period_days`` before the user's first exposure (their first dialog in the
  experiment). Rows at or after the first exposure are never used: they are post-treatment.
- a column of the users table (``user_id``, ``measured_at``, values): a value measured at or
  after the user's first exposure is refused as post-treatment; so is one whose
  ``measured_at`` is missing, since nothing then shows it predates exposure.

Users with no history (no pre-period dialog with a value, not in the users table, a missing
value) keep their in-experiment data: their covariate is set to a constant and an indicator
"no history" is a second covariate. With the indicator in the adjustment, the constant does
not change the estimate (it is the covariate's mean or 0, same answer).

The engine's per-user pass gains a LEFT JOIN to the per-user pre-period sums and to the users
table, and per arm the sums and cross-products of every CUPED metric's components
(:class:`abkit.stats.cuped.Moments`); still one pass over the log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from abkit.analysis.health import HealthCheck
from abkit.analysis.log_source import NUMERIC_TYPE, LogSource, log_columns, open_pre_period
from abkit.analysis.metric_kinds import KINDS, quoted
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.metrics import PRE_PERIOD, Metric
from abkit.serve.events import LogValidationError
from abkit.stats.cuped import Moments, Value, explained_variance, moment_aggregates
from abkit.stats.two_sample import two_proportion_z_test

__all__ = [
    "CovariateQuery",
    "CupedLayout",
    "check_covariate_sources",
    "covariate_health",
    "covariate_query",
    "estimate_variance_reduction",
]


@dataclass(frozen=True)
class CupedLayout:
    """How a CUPED metric's per-arm sums are read: the metric and covariates as
    :class:`~abkit.stats.cuped.Value` of the components; Welch's t for user means."""

    value: Value
    covariates: tuple[Value, ...]
    welch: bool
    covariate: str


@dataclass(frozen=True)
class CovariateQuery:
    """What the engine adds: CTEs after the per-user one (``u``), joins, per-arm sums."""

    ctes: tuple[str, ...]
    joins: str
    arm_cols: tuple[str, ...]
    layouts: Mapping[str, CupedLayout]


def _users_columns(plan: ExperimentPlan) -> list[str]:
    seen: list[str] = []
    for metric in plan.metrics or ():
        if metric.covariate and metric.covariate != PRE_PERIOD and metric.covariate not in seen:
            seen.append(metric.covariate)
    return seen


def _pre_columns(plan: ExperimentPlan) -> list[str]:
    seen: list[str] = []
    for metric in plan.metrics or ():
        if metric.covariate == PRE_PERIOD:
            seen += [c for c in metric.columns if c not in seen]
    return seen


def check_covariate_sources(source: LogSource, plan: ExperimentPlan) -> None:
    """Every declared covariate has its source, its columns, numeric types and valid values.

    Raises:
        ValueError / LogValidationError: naming the metric, the source and the column.
    """
    wanted_pre = [m for m in plan.metrics or () if m.covariate == PRE_PERIOD]
    if wanted_pre and source.pre_period is None:
        raise ValueError(
            f"metric(s) {[m.name for m in wanted_pre]} have covariate 'pre_period' but no "
            "pre-period log was given: set the plan's pre_period_log (or pass pre_period= / "
            "--pre-period)"
        )
    users_cols = _users_columns(plan)
    if users_cols and source.users is None:
        raise ValueError(
            f"covariate column(s) {users_cols} come from a users table, but none was given: "
            "set the plan's users_table (or pass users= / --users), or use covariate "
            "'pre_period'"
        )
    con = source.connection
    if source.pre_period is not None and wanted_pre:
        pre = source.pre_period
        missing = [c for c in _pre_columns(plan) if c not in pre.columns]
        if missing:
            raise LogValidationError(
                f"pre-period log {pre.label} lacks column(s) {missing}, which the metrics "
                f"{[m.name for m in wanted_pre]} read (map yours with column_map)"
            )
        _check_values(con, "pre_log", pre, _pre_columns(plan), plan, "pre-period log")
        if "dialog_id" in pre.columns:
            total, distinct = con.execute(
                "SELECT count(*), count(DISTINCT dialog_id) FROM pre_log"
            ).fetchone()
            if distinct < total:
                raise LogValidationError(
                    f"pre-period log {pre.label}: {total - distinct:,} row(s) repeat a "
                    "dialog_id; each dialog must appear once"
                )
    if source.users is not None and users_cols:
        users = source.users
        missing = [c for c in users_cols if c not in users.columns]
        if missing:
            raise LogValidationError(
                f"users table {users.label} lacks covariate column(s) {missing}; its columns "
                f"are {list(users.columns)}"
            )
        _check_values(con, "users_table", users, users_cols, plan, "users table")
        total, distinct, null_ids = con.execute(
            "SELECT count(*), count(DISTINCT user_id), count(*) - count(user_id) FROM users_table"
        ).fetchone()
        if null_ids:
            raise LogValidationError(
                f"users table {users.label}: {null_ids:,} row(s) have no user_id"
            )
        if distinct < total:
            example = con.execute(
                "SELECT user_id FROM users_table GROUP BY user_id HAVING count(*) > 1 LIMIT 1"
            ).fetchone()[0]
            raise LogValidationError(
                f"users table {users.label}: {total - distinct:,} row(s) repeat a user_id, "
                f"e.g. {example!r}; one row per user (each value would be counted twice)"
            )


def _check_values(
    con: Any,
    view: str,
    source: LogSource,
    columns: Sequence[str],
    plan: ExperimentPlan,
    what: str,
) -> None:
    """Numeric columns with finite values inside each column's rule."""
    for column in columns:
        if not NUMERIC_TYPE.match(source.types[column]):
            raise LogValidationError(
                f"{what} {source.label}: column '{column}' has type {source.types[column]}, "
                "must be numeric"
            )
        rule = plan.column_rule(column) if view == "pre_log" else None
        name = quoted(column)
        bad = f"NOT isfinite({name})"
        if rule is not None:
            if math.isfinite(rule.low):
                bad += f" OR {name} < {rule.low!r}"
            if math.isfinite(rule.high):
                bad += f" OR {name} > {rule.high!r}"
            if rule.integer:
                bad += f" OR {name} <> floor({name})"
        count, value = con.execute(
            f"SELECT count(*), any_value({name}) FROM {view} WHERE {name} IS NOT NULL AND ({bad})"
        ).fetchone()
        if count:
            allowed = rule.describe() if rule is not None else "finite numbers"
            raise LogValidationError(
                f"{what} {source.label}: column '{column}' has {count:,} value(s) outside "
                f"{allowed}, e.g. {value!r}"
            )


def _shifted(value: Value, offset: int) -> Value:
    denominator = None if value.denominator is None else value.denominator + offset
    return Value(value.numerator + offset, denominator)


def covariate_query(
    plan: ExperimentPlan,
    names_by_metric: Mapping[int, Mapping[str, str]],
    ctx: Mapping[str, Any],
) -> CovariateQuery:
    """The SQL the engine adds for the plan's CUPED metrics.

    ``names_by_metric``: metric index -> its per-user aliases (the kind's ``user_sums``), as
    columns of the per-user CTE ``u`` (which has ``uid`` and ``first_seen``).
    """
    metrics = list(plan.metrics or ())
    ctes, joins, arm_cols = [], "", []
    layouts: dict[str, CupedLayout] = {}
    pre_sums: dict[str, str] = {}
    users_cols = _users_columns(plan)
    for index, metric in enumerate(metrics):
        if not metric.covariate:
            continue
        kind = KINDS[metric.kind]
        parts = kind.cuped_parts(names_by_metric[index])
        assert parts is not None  # Metric refuses a covariate on a kind without CUPED
        components = list(parts.components)
        offset = len(components)
        if metric.covariate == PRE_PERIOD:
            pre_names = {}
            for alias, sql in kind.user_sums(metric, ctx).items():
                pre_names[alias] = f"pre{index}_{alias}"
                pre_sums[pre_names[alias]] = sql
            covariate = kind.cuped_parts(pre_names)
            assert covariate is not None
            components += [f"coalesce({c}, 0)" for c in covariate.components]
            components.append(f"CAST({covariate.missing} AS DOUBLE)")
            value = _shifted(covariate.value, offset)
        else:
            column = f"cov{users_cols.index(metric.covariate)}"
            components += [f"coalesce({column}, 0)", f"CAST({column} IS NULL AS DOUBLE)"]
            value = Value(offset)
        layouts[metric.name] = CupedLayout(
            parts.value,
            (value, Value(len(components) - 1)),
            metric.kind == "user_mean",
            metric.covariate,
        )
        for alias, sql in moment_aggregates(components, parts.sample).items():
            arm_cols.append(f"{sql} AS m{index}__cuped_{alias}")
    if pre_sums:
        seconds = float(plan.pre_period_days) * 86_400
        columns = ", ".join(
            f"CASE WHEN in_window THEN l.{quoted(c)} END AS {quoted(c)}" for c in _pre_columns(plan)
        )
        ctes.append(
            "pre_rows AS (SELECT l.user_id, "
            f"{columns}, in_window, late FROM (SELECT l.*, "
            "(l.timestamp < u.first_seen AND l.timestamp >= u.first_seen - "
            f"to_seconds({seconds!r})) AS in_window, l.timestamp >= u.first_seen AS late "
            "FROM pre_log l JOIN u ON l.user_id = u.uid) l)"
        )
        aggregates = ", ".join(f"{sql} AS {alias}" for alias, sql in pre_sums.items())
        ctes.append(
            f"pre AS (SELECT user_id AS pre_uid, {aggregates}, count_if(in_window) AS "
            "pre_window_rows, count_if(late) AS pre_late_rows, count_if(NOT in_window AND NOT "
            "late) AS pre_early_rows FROM pre_rows GROUP BY user_id)"
        )
        joins += " LEFT JOIN pre ON pre.pre_uid = u.uid"
        arm_cols += [
            "count_if(coalesce(pre_window_rows, 0) > 0) AS pre_users",
            "sum(coalesce(pre_window_rows, 0)) AS pre_rows",
            "sum(coalesce(pre_late_rows, 0)) AS pre_late",
            "sum(coalesce(pre_early_rows, 0)) AS pre_early",
        ]
    if users_cols:
        chosen = ", ".join(f"{quoted(c)} AS cov{j}" for j, c in enumerate(users_cols))
        joins += (
            " LEFT JOIN (SELECT user_id AS cov_uid, measured_at AS cov_measured, "
            f"{chosen} FROM users_table) c ON c.cov_uid = u.uid"
        )
        late = "c.cov_measured >= u.first_seen"
        arm_cols += [
            "count(c.cov_uid) AS cov_users",
            f"count_if({late}) AS cov_late",
            f"any_value(u.uid) FILTER (WHERE {late}) AS cov_late_user",
            f"any_value(c.cov_measured) FILTER (WHERE {late}) AS cov_late_measured",
            f"any_value(u.first_seen) FILTER (WHERE {late}) AS cov_late_first",
            "count_if(c.cov_uid IS NOT NULL AND c.cov_measured IS NULL) AS cov_undated",
        ]
    return CovariateQuery(tuple(ctes), joins, tuple(arm_cols), layouts)


# Below this share of users with a covariate value, CUPED can remove little variance and the
# ids of the covariate source and the log probably disagree: a warning; none at all fails.
MIN_MATCHED_SHARE = 0.2


def covariate_health(
    plan: ExperimentPlan,
    arms: Mapping[int, Mapping[str, Any]],
    labels: tuple[str, str],
    pre_label: str = "",
    users_label: str = "",
    layouts: Mapping[str, CupedLayout] | None = None,
) -> list[HealthCheck]:
    """Health rows of the covariate sources; post-treatment values are an error.

    "With history" counts the users whose covariate has a value, read from the same per-user
    no-history indicator the CUPED estimate uses (a user in the users table or pre-period
    window whose value is missing counts as without history, as in the estimate). Over several
    metrics on one source, the fewest. None matched fails (the source's ids do not match the
    log's: nothing would be adjusted); fewer than :data:`MIN_MATCHED_SHARE` warns.

    Raises:
        LogValidationError: a users-table value measured at or after the user's first
            exposure, or with no ``measured_at``.
    """
    control, treatment = arms.get(0, {}), arms.get(1, {})
    every = [arms[k] for k in sorted(arms)]
    checks = []
    if "cov_users" in control or "cov_users" in treatment:
        late = sum(int(arm.get("cov_late", 0) or 0) for arm in every)
        if late:
            example = next(arm for arm in every if arm.get("cov_late"))
            raise LogValidationError(
                f"users table {users_label}: post-treatment covariate: {late:,} user(s) have "
                f"values measured at or after their first exposure, e.g. user "
                f"{example['cov_late_user']!r} measured {example['cov_late_measured']} but "
                f"first exposed {example['cov_late_first']}; a covariate must be measured "
                "before exposure (use values from before the experiment started)"
            )
        undated = sum(int(arm.get("cov_undated", 0) or 0) for arm in every)
        if undated:
            raise LogValidationError(
                f"users table {users_label}: {undated:,} user(s) have no measured_at, so "
                "nothing shows their covariate predates exposure; fill in measured_at"
            )
        in_table = sum(int(arm.get("cov_users", 0) or 0) for arm in (control, treatment))
        known, users, per_metric = _with_value(plan, arms, layouts or {}, PRE_PERIOD, False)
        detail = f"{in_table:,} user(s) of the log found in the users table"
        checks.append(
            _history_check("covariates: users table", known, users, labels, detail, per_metric)
        )
    if "pre_users" in control or "pre_users" in treatment:
        known, users, per_metric = _with_value(plan, arms, layouts or {}, PRE_PERIOD, True)
        late = sum(int(arm.get("pre_late", 0) or 0) for arm in every)
        early = sum(int(arm.get("pre_early", 0) or 0) for arm in every)
        rows = sum(int(arm.get("pre_rows", 0) or 0) for arm in every)
        left_out = (
            f"; left out: {late:,} pre-period row(s) at or after a user's first exposure "
            f"(post-treatment) and {early:,} before the window"
        )
        detail = (
            f"{rows:,} pre-period dialog(s) in the {plan.pre_period_days:g} days before each "
            f"user's first exposure{left_out if late or early else ''}"
        )
        checks.append(
            _history_check("covariates: pre-period", known, users, labels, detail, per_metric)
        )
    return checks


def _with_value(
    plan: ExperimentPlan,
    arms: Mapping[int, Mapping[str, Any]],
    layouts: Mapping[str, CupedLayout],
    pre_period: str,
    on_pre_period: bool,
) -> tuple[list[int], list[int], dict[str, list[int]]]:
    """Users with a covariate value and users in the CUPED sample, per arm, over the metrics
    whose covariate comes from the pre-period (``on_pre_period``) or the users table: from
    each metric's no-history indicator (the last covariate of its layout)."""
    per_metric: dict[str, list[int]] = {}
    sizes: dict[str, list[int]] = {}
    for index, metric in enumerate(plan.metrics or ()):
        layout = layouts.get(metric.name)
        if layout is None or (metric.covariate == pre_period) != on_pre_period:
            continue
        flag = layout.covariates[-1].numerator
        prefix = f"m{index}__cuped_"
        counts, totals = [], []
        for arm in (arms.get(0, {}), arms.get(1, {})):
            n = int(arm.get(prefix + "n", 0) or 0)
            without = int(round(float(arm.get(f"{prefix}s{flag}", 0) or 0)))
            counts.append(n - without)
            totals.append(n)
        per_metric[metric.name], sizes[metric.name] = counts, totals
    if not per_metric:
        return [0, 0], [0, 0], {}
    fewest = min(per_metric, key=lambda name: sum(per_metric[name]))
    return per_metric[fewest], sizes[fewest], per_metric


def _history_check(
    gate: str,
    known: list[int],
    users: list[int],
    labels: tuple[str, str],
    detail: str,
    per_metric: Mapping[str, list[int]] | None = None,
) -> HealthCheck:
    """Share of users with a covariate value per arm: none fails, fewer than
    :data:`MIN_MATCHED_SHARE` warns, and so does a difference between arms (the covariate is
    pre-treatment, so its coverage should not depend on the arm)."""
    shares = [k / n if n else math.nan for k, n in zip(known, users, strict=True)]
    status = "pass"
    note = ""
    total = sum(users)
    matched = sum(known) / total if total else math.nan
    if total and not sum(known):
        status = "fail"
        note = (
            "; no user of the log has a covariate value: the source's user ids do not match "
            "the log's, so CUPED would adjust nothing"
        )
    elif total and matched < MIN_MATCHED_SHARE:
        status = "warn"
        note = (
            f"; only {matched:.1%} of users have a value (below {MIN_MATCHED_SHARE:.0%}): "
            "CUPED removes little variance; do the source's user ids match the log's?"
        )
    elif all(users) and 0 < sum(known) < total:
        test = two_proportion_z_test(known[0], users[0], known[1], users[1])
        if test.p_value < 0.001:
            status = "warn"
            note = (
                f"; the share with history differs between arms (p = {test.p_value:.2g}): "
                "are user ids the same in both?"
            )
    if not total:
        status = "fail"
        note = "; no user to check: cannot check the covariate's coverage"
    without = [n - k for k, n in zip(known, users, strict=True)]
    text = (
        f"users with a covariate value: {labels[0]} {known[0]:,} of {users[0]:,}, {labels[1]} "
        f"{known[1]:,} of {users[1]:,}; {sum(without):,} without history kept with an "
        f"indicator covariate{note}"
    )
    if per_metric and len({tuple(v) for v in per_metric.values()}) > 1:
        text += "; by metric: " + ", ".join(f"{name} {sum(v):,}" for name, v in per_metric.items())
    return HealthCheck(
        gate, status, shares[0], shares[1], "; ".join(x for x in (detail, text) if x)
    )


def estimate_variance_reduction(
    pre_period: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    metric_name: str = "",
    *,
    table: str = "dialogs",
) -> VarianceReductionEstimate:
    """The variance CUPED would remove for a metric, estimated from a pre-period log alone.

    The log's time span is cut in two halves: the later half plays the experiment, the earlier
    half its pre-period covariate (the same metric, with a no-history indicator). Over the users
    active in the later half, R² of the linearized metric on those covariates
    (:func:`abkit.stats.cuped.explained_variance`) is the expected reduction; ρ = √R². It assumes
    users change as little between the pre-period and the experiment as between two halves of
    the pre-period; where behaviour drifts (a new product, a season) the real gain is smaller:
    size with a lower ρ when in doubt.

    Args:
        pre_period: a dialog log from before the experiment (``user_id``, ``timestamp`` and the
            metric's columns).
        plan: the plan whose metric is sized (its primary, or ``metric_name``).
    """
    resolved = plan.resolve(log_columns(pre_period, table=table, column_map=plan.column_map))
    metric = _sized_metric(resolved, metric_name)
    kind = KINDS[metric.kind]
    with open_pre_period(pre_period, plan, table=table) as source:
        missing = [c for c in metric.columns if c not in source.columns]
        if missing:
            raise LogValidationError(
                f"pre-period log {source.label} lacks column(s) {missing}, which metric "
                f"{metric.name!r} reads"
            )
        _check_values(
            source.connection, "pre_log", source, metric.columns, resolved, "pre-period log"
        )
        first, last = source.connection.execute(
            "SELECT min(timestamp), max(timestamp) FROM pre_log"
        ).fetchone()
        if first is None or first == last:
            raise LogValidationError(
                f"pre-period log {source.label} spans no time (from {first} to {last}); it needs "
                "dialogs on at least two days"
            )
        middle = first + (last - first) / 2
        sums = kind.user_sums(metric, {})
        halves = []
        for label, condition in (
            ("late", "timestamp >= $middle"),
            ("early", "timestamp < $middle"),
        ):
            nulled = ", ".join(
                f"CASE WHEN {condition} THEN {quoted(c)} END AS {quoted(c)}" for c in metric.columns
            )
            aggregates = ", ".join(f"{sql} AS {label}_{alias}" for alias, sql in sums.items())
            halves.append(
                f"{label} AS (SELECT user_id, {aggregates}, count_if({condition}) AS {label}_rows "
                f"FROM (SELECT user_id, timestamp, {nulled} FROM pre_log) GROUP BY user_id)"
            )
        post = kind.cuped_parts({a: f"late_{a}" for a in sums})
        before = kind.cuped_parts({a: f"early_{a}" for a in sums})
        assert post is not None and before is not None
        components = [
            *post.components,
            *(f"coalesce({c}, 0)" for c in before.components),
            f"CAST({before.missing} AS DOUBLE)",
        ]
        aggregates = moment_aggregates(components)
        row = source.connection.execute(
            f"WITH {', '.join(halves)} SELECT {', '.join(aggregates.values())} FROM late JOIN "
            f"early USING (user_id) WHERE late_rows > 0 AND {post.sample}",
            {"middle": middle},
        ).fetchone()
    size = len(components)
    moments = Moments.from_aggregates(dict(zip(aggregates, row, strict=True)), size)
    offset = len(post.components)
    covariate = Value(
        before.value.numerator + offset,
        None if before.value.denominator is None else before.value.denominator + offset,
    )
    share = explained_variance(moments, post.value, [covariate, Value(size - 1)])
    with_history = int(moments.n - moments.sums[-1]) if moments.n else 0
    return VarianceReductionEstimate(metric.name, share, math.sqrt(share), moments.n, with_history)


@dataclass(frozen=True)
class VarianceReductionEstimate:
    """What CUPED would remove for ``metric``: ``reduction`` = R², ``rho`` = √R², from ``users``
    users of the later half, ``with_history`` of them active in the earlier half."""

    metric: str
    reduction: float
    rho: float
    users: int
    with_history: int


def _sized_metric(plan: ExperimentPlan, metric_name: str) -> Metric:
    metrics = list(plan.metrics or ())
    if metric_name:
        chosen = [m for m in metrics if m.name == metric_name]
        if not chosen:
            raise ValueError(
                f"metric == {metric_name!r}, not in the plan: {[m.name for m in metrics]}"
            )
    else:
        chosen = [m for m in metrics if m.role == "primary"]
    metric = chosen[0]
    if KINDS[metric.kind].cuped_parts({"y": "y", "x": "x", "v": "v", "p": "p"}) is None:
        raise ValueError(f"metric {metric.name!r} is a {metric.kind}: CUPED does not apply")
    return metric
