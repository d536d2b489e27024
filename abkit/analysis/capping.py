"""Capping (winsorizing) a metric's per-user sums: the bounds from the pooled users' sums, and
the SQL that applies them in the engine's per-user pass (:mod:`abkit.analysis.engine`).

A metric's ``cap`` (:class:`abkit.plan.metrics.Cap`) names quantiles; each bound is that
quantile, linearly interpolated (DuckDB ``quantile_cont``, Spark ``percentile``), of the
per-user sums of every user seen in one arm, all arms pooled (the same bound for every arm), or,
when a pre-period log with the metric's columns is given, of its users' sums (a threshold fixed
before the experiment, which the treatment cannot move); a ratio's numerator and denominator
are capped separately. Capped values feed the arm sums and CUPED alike; the users beyond a bound are
counted per arm (``capped`` in the metric's sums).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abkit.analysis.log_source import LogSource
from abkit.analysis.metric_kinds import KINDS, quoted
from abkit.plan.experiment_plan import ExperimentPlan

__all__ = ["CAP_KEY", "CAP_SOURCE_KEY", "cap_bounds", "capped_sql"]

CAP_SOURCE_KEY = "cap source:"  # + a metric's name: where its bounds came from, in words
CAP_KEY = "cap:"  # in the pass's context, + a metric's name: its per-user sums' (low, high) bounds


def capped_sql(value: str, bounds: tuple[float | None, float | None]) -> tuple[str, str]:
    """SQL: ``value`` limited to ``bounds`` (None: that side open; NULL stays NULL), and the
    condition "the value was beyond a bound"."""
    low, high = (None if b is None else f"CAST({float(b)!r} AS DOUBLE)" for b in bounds)
    cases = [f"WHEN {value} > {high} THEN {high}" for _ in [0] if high is not None]
    cases += [f"WHEN {value} < {low} THEN {low}" for _ in [0] if low is not None]
    beyond = [f"{value} > {high}" for _ in [0] if high is not None]
    beyond += [f"{value} < {low}" for _ in [0] if low is not None]
    return f"(CASE {' '.join(cases)} ELSE {value} END)", " OR ".join(beyond)


def cap_bounds(
    source: LogSource,
    plan: ExperimentPlan,
    where: str,
    ctx: Mapping[str, Any],
    complete: frozenset[str],
) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """Each capped metric's bounds per per-user sum (``CAP_KEY`` + name -> alias -> (low,
    high)) and their source in words (``CAP_SOURCE_KEY`` + name): the cap's quantiles,
    linearly interpolated, of the pre-period log's users' sums when it has the metric's
    columns, else of the sums of the users seen in one arm, every arm pooled."""
    out: dict[str, Any] = {}
    pre = source.pre_period
    for metric in plan.metrics or ():
        if metric.cap is None:
            continue
        from_pre = pre is not None and all(c in pre.columns for c in metric.columns)
        sums = KINDS[metric.kind].user_sums(metric, ctx, frozenset() if from_pre else complete)
        selected = ", ".join(f"{sql} AS {quoted(alias)}" for alias, sql in sums.items())
        levels = {"low": metric.cap.lower, "high": metric.cap.upper}
        parts = [
            f"quantile_cont({quoted(alias)}, {level!r}) AS {quoted(f'{alias} {side}')}"
            for alias in sums
            for side, level in levels.items()
            if level is not None
        ]
        rows = (
            "pre_log GROUP BY user_id"
            if from_pre
            else f"log WHERE {where} GROUP BY user_id HAVING count(DISTINCT variant) = 1"
        )
        cursor = source.connection.execute(
            f"SELECT {', '.join(parts)} FROM (SELECT {selected} FROM {rows})"
        )
        out[CAP_SOURCE_KEY + metric.name] = (
            "the pre-period log's users' sums" if from_pre else "all users' sums"
        )
        found = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        out[CAP_KEY + metric.name] = {
            alias: tuple(  # type: ignore[misc]
                None
                if levels[side] is None or found[f"{alias} {side}"] is None
                else float(found[f"{alias} {side}"])
                for side in ("low", "high")
            )
            for alias in sums
        }
    return out
