"""The heavy pass of the engine: per-user aggregates of every metric and check, then per-arm
sums, as SQL pieces (:func:`pass_sql`) that one look (:func:`per_user_pass`) or the daily looks
of :mod:`abkit.analysis.looks` run.

May import what :mod:`abkit.analysis.engine` imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from abkit.analysis.capping import CAP_KEY, capped_sql
from abkit.analysis.checks import checked_columns, refuse_placeholder_ids
from abkit.analysis.covariates import CupedLayout, covariate_query
from abkit.analysis.log_source import LogSource, sql_text
from abkit.analysis.metric_kinds import ARM_ROW, KINDS, ORDINAL_VALUE, TREATED_ROW, quoted
from abkit.core.params import odd_id_sql
from abkit.plan.experiment_plan import ExperimentPlan

__all__ = [
    "HEAVY_KEY",
    "PassScope",
    "PassSql",
    "UserPass",
    "arm_row_columns",
    "pass_sql",
    "per_user_pass",
    "read_pass",
]

HEAVY_KEY = "heavy_user_threshold"  # in the pass's context: dialogs above which a user is flagged


@dataclass(frozen=True)
class UserPass:
    """Per-arm sums of one look (arm key -> column -> value), the ordinal per-user values and
    the CUPED layouts."""

    arms: dict[int, dict[str, float]]  # by plan.labels' index; len(labels): users of several
    ordinal: dict[str, tuple[np.ndarray, np.ndarray]]
    cuped: dict[str, CupedLayout]


@dataclass(frozen=True)
class PassSql:
    """The per-user pass as SQL pieces: the per-user aggregates (SQL -> alias, each once), the
    arm key and the arm-level columns over those aliases, the rows it reads (``FROM log``, with
    the treated and arm-number columns), and the covariates' CTEs and joins."""

    user_cols: dict[str, str]
    arm_cols: list[str]
    arm_key: str
    rows: str
    covariates: Any


@dataclass(frozen=True)
class PassScope:
    """What one heavy pass reads: the log, the plan, its rows (``where``), what the kinds
    computed before the pass (``ctx``) and the columns the census found complete."""

    source: LogSource
    plan: ExperimentPlan
    where: str
    ctx: Mapping[str, Any]
    complete: frozenset[str] = frozenset()

    def sql(self) -> PassSql:
        """:func:`pass_sql` of this scope."""
        return pass_sql(self.plan, self.ctx, self.complete)

    def read(self, found: list[dict[str, Any]]) -> UserPass:
        """:func:`read_pass` of one look's arm rows."""
        return read_pass(self.source, self.plan, self.where, found, {})


def pass_sql(
    plan: ExperimentPlan,
    ctx: Mapping[str, Any],
    complete: frozenset[str] = frozenset(),
) -> PassSql:
    """The SQL of the heavy pass (:func:`per_user_pass`), for one look or several."""
    user_cols: dict[str, str] = {}  # SQL -> alias, each aggregate once

    def per_user(sql: str, alias: str) -> str:
        return user_cols.setdefault(sql, alias)

    uid = per_user("user_id", "uid")
    dialogs = per_user("count(*)", "dialogs")
    dialogs_t = per_user(f"sum({TREATED_ROW})", "dialogs_t")
    arm_cols = ["count(*) AS users", f"sum({dialogs}) AS dialogs", f"sum({dialogs_t}) AS dialogs_t"]
    arm_cols.append(f"sum({dialogs}*{dialogs}) AS dialogs_sq")
    arm_cols.append(f"count_if({odd_id_sql('uid')}) AS odd_ids")
    heavy = float(ctx.get(HEAVY_KEY, math.inf))
    if math.isfinite(heavy):  # the heavy-user gate (abkit.analysis.health.heavy_user_gate)
        arm_cols += [
            f"count_if({dialogs} > {heavy!r}) AS heavy_users",
            f"max({dialogs}) AS max_dialogs",
            f"arg_max({uid}, {dialogs}) AS heaviest",
        ]
    for index, column in enumerate(checked_columns(plan)):
        if column in complete:
            continue
        known = per_user(f"count({quoted(column)})", f"k{index}")
        miss = f"({dialogs} - {known})"
        arm_cols += [
            f"sum({miss}) AS miss{index}_sy",
            f"sum({miss}*{miss}) AS miss{index}_syy",
            f"sum({miss}*{dialogs}) AS miss{index}_sxy",
        ]
    crossed = len(plan.labels)  # the arm key of users seen in several arms
    if crossed == 2:
        arm_key = f"CASE WHEN {dialogs_t} = 0 THEN 0 WHEN {dialogs_t} = {dialogs} THEN 1 ELSE 2 END"
    else:
        low, high = per_user(f"min({ARM_ROW})", "arm_low"), per_user(f"max({ARM_ROW})", "arm_high")
        arm_key = f"CASE WHEN {low} = {high} THEN {low} ELSE {crossed} END"
    names_by_metric = {}
    for index, metric in enumerate(plan.metrics or ()):
        kind = KINDS[metric.kind]
        names = {
            alias: per_user(sql, f"m{index}_{alias}")
            for alias, sql in kind.user_sums(metric, ctx, complete).items()
        }
        caps = ctx.get(CAP_KEY + metric.name)
        if caps:  # winsorized per-user sums, for the arm sums and CUPED alike
            outside = []
            for alias, bounds in caps.items():
                names[alias], beyond = capped_sql(names[alias], bounds)
                outside.append(beyond)
            arm_cols.append(f"count_if({' OR '.join(outside)}) AS m{index}__capped")
        names_by_metric[index] = dict(names)
        names["is_treatment"] = f"({dialogs_t} > 0)"
        for alias, sql in kind.arm_sums().items():
            arm_cols.append(f"{sql.format_map(names)} AS m{index}__{alias}")
        if metric.ordinal and metric.kind in ORDINAL_VALUE:
            value = ORDINAL_VALUE[metric.kind](names)
            arm_cols.append(f"list({value}) FILTER (WHERE {names['x']} > 0) AS ordinal{index}")
    covariates = covariate_query(plan, names_by_metric, ctx)
    if covariates.layouts:
        per_user("min(timestamp)", "first_seen")
    rows = f"SELECT *, {arm_row_columns(plan)} FROM log"
    return PassSql(user_cols, arm_cols, arm_key, rows, covariates)


def arm_row_columns(plan: ExperimentPlan) -> str:
    """SQL of the per-row arm columns the pass reads, from ``variant``: :data:`TREATED_ROW`
    (1.0 for a candidate's row) and, with several candidates, :data:`ARM_ROW` (the arm's
    index in ``plan.labels``)."""
    if len(plan.labels) == 2:
        return f"CAST(variant = {sql_text(plan.treatment)} AS DOUBLE) AS {TREATED_ROW}"
    numbered = " ".join(
        f"WHEN {sql_text(label)} THEN {k}" for k, label in enumerate(plan.candidates, 1)
    )
    return (
        f"CAST(variant <> {sql_text(plan.control)} AS DOUBLE) AS {TREATED_ROW}, "
        f"CASE variant {numbered} ELSE 0 END AS {ARM_ROW}"
    )


def read_pass(
    source: LogSource, plan: ExperimentPlan, where: str, found: list[dict[str, Any]], cuped: Any
) -> UserPass:
    """A :class:`UserPass` from the arm rows of one look (each with its ``arm`` key); user ids
    that look like placeholders stop the analysis (:func:`refuse_placeholder_ids`)."""
    crossed = len(plan.labels)
    arms: dict[int, dict[str, Any]] = {}
    for row in found:
        row = dict(row)
        arms[int(row.pop("arm"))] = row
    if any(arm.get("odd_ids") for arm in arms.values()):
        refuse_placeholder_ids(source, where)
    ordinal = {}
    for index, metric in enumerate(plan.metrics or ()):
        key = f"ordinal{index}"
        if any(key in arm for arm in arms.values()):
            ordinal[metric.name] = tuple(
                np.asarray(arms.get(arm, {}).pop(key, None) or [], dtype=float)
                for arm in range(crossed)
            )
            arms.get(crossed, {}).pop(key, None)
    return UserPass(arms, ordinal, dict(cuped))  # type: ignore[arg-type]


def per_user_pass(
    source: LogSource,
    plan: ExperimentPlan,
    where: str,
    ctx: Mapping[str, Any],
    complete: frozenset[str] = frozenset(),
) -> UserPass:
    """The heavy pass: per-user sums of every metric and check, then per-arm sums.

    Identical per-user aggregates (``count(col)`` for a ratio's denominator, the missing
    count of that column, three quantiles' counts) are computed once. A column the census
    found complete (``complete``) needs no per-user missing count: its known count is the
    dialog count. The per-user values of ordinal metrics come back as lists from the same
    query, so no per-user table is stored.
    """
    parts = pass_sql(plan, ctx, complete)
    selected = ", ".join(f"{sql} AS {alias}" for sql, alias in parts.user_cols.items())
    per_user_sql = f"SELECT {selected} FROM ({parts.rows} WHERE {where}) GROUP BY user_id"
    covariates = parts.covariates
    if not covariates.layouts:  # the fast path: no join
        sql = (
            f"SELECT {parts.arm_key} AS arm, {', '.join(parts.arm_cols)} "
            f"FROM ({per_user_sql}) GROUP BY arm"
        )
    else:
        ctes = ", ".join((f"u AS MATERIALIZED ({per_user_sql})", *covariates.ctes))
        every = ", ".join([*parts.arm_cols, *covariates.arm_cols])
        sql = (
            f"WITH {ctes} SELECT {parts.arm_key} AS arm, {every} FROM u{covariates.joins} "
            "GROUP BY arm"
        )
    cursor = source.connection.execute(sql)
    columns = [d[0] for d in cursor.description]
    found = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    return read_pass(source, plan, where, found, covariates.layouts)
