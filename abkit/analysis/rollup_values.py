"""A rollup's quantile columns: each value's count per (user, UTC day, label), from which a
look through a day has the exact order statistics of the full scan and each user's count at or
below the look's Q̂ (Deng, Knoblich & Lu 2018, as :class:`abkit.analysis.metric_kinds.QuantileKind`).

Q̂ is known only once the look's values are counted, so the per-user counts cannot be summed
ahead like the other aggregates: the look reads the stored values (a narrow table: a user's
repeated values are one row), not the log, and skips the log's checks, which the rollup's
census, ranges and hashes answer.

May import what :mod:`abkit.analysis.rollup` imports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from abkit.analysis.log_source import LogSource, sql_text
from abkit.analysis.looks import UTC_DAY
from abkit.analysis.metric_kinds import KINDS, quoted
from abkit.analysis.user_pass import PassSql, arm_row_columns
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.stats.two_sample import QuantileOrder, quantile_orders_from_counts

__all__ = [
    "VALUES",
    "quantile_columns",
    "quantile_orders",
    "threshold_sums",
    "unknown_orders",
    "values_sql",
    "with_thresholds",
]

VALUES = "values"  # the folder of the values tables; a table is named "values:<column>"

Orders = dict[str, tuple[QuantileOrder, ...]]


def quantile_columns(plan: ExperimentPlan) -> tuple[str, ...]:
    """The columns of the plan's quantile metrics: their values are kept per (user, day)."""
    return tuple(sorted({m.column for m in plan.metrics or () if m.kind == "quantile"}))


def values_sql(column: str, where: str) -> str:
    """SQL over one part (the view ``log``): the rows of ``where`` with a value in ``column``,
    counted per (user, UTC day, label, value)."""
    name = quoted(column)
    return (
        f"SELECT user_id AS uid, {UTC_DAY} AS day, variant, {name}, count(*) AS n FROM log "
        f"WHERE {where} AND {name} IS NOT NULL GROUP BY ALL"
    )


def threshold_sums(plan: ExperimentPlan, ctx: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Each quantile metric's per-user count at or below its arm's Q̂, as the pass writes it
    (SQL -> (column, the row condition)): it depends on the look's Q̂, so the look counts it
    from the stored values instead of the stored per-user sums."""
    found = {}
    for metric in plan.metrics or ():
        if metric.kind == "quantile":
            condition = KINDS["quantile"].at_or_below(metric, ctx)  # type: ignore[attr-defined]
            found[f"count_if({condition})"] = (metric.column, condition)
    return found


def unknown_orders(plan: ExperimentPlan) -> Orders:
    """A pass context with a stand-in Q̂ per quantile metric (to list the other aggregates)."""
    unknown = QuantileOrder(math.nan, math.nan, 0, 0.5)
    return {
        m.name: (unknown,) * len(plan.labels) for m in plan.metrics or () if m.kind == "quantile"
    }


def quantile_orders(
    source: LogSource,
    plan: ExperimentPlan,
    valued: Sequence[str],
    files: Callable[[str], str],
    through: str,
    crossed: str = "",
) -> tuple[Orders, dict[str, tuple[float, ...]]]:
    """Each quantile metric's order statistics per arm (in the order of ``plan.labels``), and
    each quantile column's median per arm (the unit gate), from the finite stored values of
    the days ``through`` selects, as the full scan's
    (:func:`abkit.analysis.engine.aggregate`): :func:`quantile_orders_from_counts`.
    ``files``: a table's SQL list of files; ``crossed``: SQL of the users to leave out."""
    orders: Orders = {}
    medians: dict[str, tuple[float, ...]] = {}
    arm = " ".join(f"WHEN {sql_text(label)} THEN {k}" for k, label in enumerate(plan.labels))
    left_out = f" AND uid NOT IN ({crossed})" if crossed else ""
    for column in valued:
        metrics = [m for m in plan.metrics or () if m.kind == "quantile" and m.column == column]
        name = quoted(column)
        found = source.connection.execute(
            f"SELECT CASE variant {arm} END AS arm, CAST({name} AS DOUBLE) AS v, "
            f"CAST(sum(n) AS BIGINT) AS n FROM read_parquet({files(f'{VALUES}:{column}')}) "
            f"WHERE {through} AND isfinite({name}){left_out} GROUP BY ALL"
        ).fetchnumpy()
        levels = [0.5, *(metric.quantile or 0.5 for metric in metrics)]
        per_arm = []
        for k in range(len(plan.labels)):
            mine = found["arm"] == k
            per_arm.append(
                quantile_orders_from_counts(
                    found["v"][mine], found["n"][mine], levels, alpha=plan.alpha
                )
            )
        medians[column] = tuple(of_arm[0].estimate for of_arm in per_arm)
        for k, metric in enumerate(metrics, start=1):
            orders[metric.name] = tuple(of_arm[k] for of_arm in per_arm)
    return orders, medians


def with_thresholds(
    users: str,
    parts: PassSql,
    thresholds: Mapping[str, tuple[str, str]],
    plan: ExperimentPlan,
    valued: Sequence[str],
    files: Callable[[str], str],
    through: str,
) -> str:
    """SQL: ``users`` (one row per user, with ``uid``) and each quantile metric's per-user
    count at or below its arm's Q̂ (``thresholds``: :func:`threshold_sums`; 0 for a user
    without values), counted from the stored values of the days ``through`` selects."""
    joins: list[str] = []
    counts: list[str] = []
    for k, column in enumerate(valued):
        mine = {
            parts.user_cols[sql]: cond for sql, (of, cond) in thresholds.items() if of == column
        }
        sums = [
            f"CAST(sum(n) FILTER (WHERE {cond}) AS BIGINT) AS {alias}"
            for alias, cond in mine.items()
        ]
        values = f"read_parquet({files(f'{VALUES}:{column}')})"
        joins.append(
            f" LEFT JOIN (SELECT uid, {', '.join(sums)} FROM (SELECT *, {arm_row_columns(plan)} "
            f"FROM {values} WHERE {through}) GROUP BY uid) AS q{k} USING (uid)"
        )
        counts += [f"coalesce(q{k}.{alias}, 0) AS {alias}" for alias in mine]
    return f"SELECT u.*, {', '.join(counts)} FROM ({users}) AS u" + "".join(joins)
