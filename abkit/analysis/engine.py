"""The engine: a dialog log and a plan -> health gates and per-arm sufficient statistics.

One path for every source: a Parquet file or folder, a CSV file, a DuckDB table, or a pandas
DataFrame (which DuckDB reads in place). Validation and aggregation run in DuckDB; only
per-arm sums, the health counts and the values a quantile needs come back into Python.

The passes over the log:

1. a census (light: labels, experiments, null ids and times, the time range and the values
   known in each metric column, per label); only when that range reaches before 2000 or past
   tomorrow, a count of such rows per arm (the ``timestamps`` warning);
2. the range check (light, one scan without grouping; integer columns of a Parquet log are
   bounded from its statistics) and the exact count of distinct dialog ids (their hashes);
3. for quantile metrics, the column's values per arm (light: one column);
4. the per-user pass (the heavy one, the same GROUP BY a hand-written query needs): every
   metric's per-user sums, dialogs per arm and, for columns the census found incomplete,
   missing counts, and a count of user ids that look blank or like a placeholder; then
   per-arm sums.

Users seen in both arms are left out of every metric; when there are any and the plan has a
quantile metric, steps 3–4 run once more without them (so the fast path is one heavy pass).
Opening the log (any source as one view) is :mod:`abkit.analysis.log_source`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from abkit.analysis.capping import cap_bounds
from abkit.analysis.checks import (
    Census,
    SegmentFilter,
    arm_conditions,
    as_utc,
    check_ranges,
    checked_columns,
    implausible_times,
    judge_ranges,
    merged_arms,
    pair_gates,
    settled_by_statistics,
    take_census,
    times_plausible,
    until_condition,
)
from abkit.analysis.covariates import (
    CupedLayout,
    check_covariate_sources,
    covariate_health,
)
from abkit.analysis.health import (
    HealthCheck,
    HealthReport,
    absent_column_gate,
    crossover_gate,
    heavy_user_gate,
    heavy_user_threshold,
    sequential_srm_gate,
    srm_gate,
)
from abkit.analysis.log_source import NUMERIC_TYPE, LogSource, open_log, sql_text
from abkit.analysis.looks import day_numbers
from abkit.analysis.metric_kinds import KINDS, quoted
from abkit.analysis.user_pass import HEAVY_KEY, PassScope, UserPass, per_user_pass
from abkit.core.params import parse_until
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.serve.events import LogValidationError
from abkit.stats.two_sample import (
    QuantileOrder,
    quantile_orders,
)

__all__ = [
    "EngineResult",
    "SegmentFilter",
    "open_source",
    "HEAVY_KEY",
    "aggregate",
    "aggregate_daily",
    "check_log",
    "read_columns",
]

# --------------------------------------------------------------------------- the census


# --------------------------------------------------------------------------- the passes


def _quantile_orders(
    source: LogSource, plan: ExperimentPlan, where: str, alpha: float
) -> tuple[dict[str, tuple[QuantileOrder, ...]], dict[str, tuple[float, ...]]]:
    """Order statistics of every quantile metric per arm (in the order of ``plan.labels``),
    one light scan per column and arm; and each such column's median per arm (the unit
    gate)."""
    orders: dict[str, tuple[QuantileOrder, ...]] = {}
    medians: dict[str, tuple[float, ...]] = {}
    by_column: dict[str, list] = {}
    for metric in plan.metrics or ():
        if metric.kind == "quantile":
            by_column.setdefault(metric.column, []).append(metric)
    conditions = arm_conditions(plan)
    for column, metrics in by_column.items():
        name = quoted(column)
        arms = tuple(  # one query per arm: each arm's values come back as one array, no mask
            np.asarray(
                source.connection.execute(
                    f"SELECT {name} AS v FROM log WHERE {where} AND {condition} "
                    f"AND {name} IS NOT NULL AND isfinite({name})"
                ).fetchnumpy()["v"],
                dtype=float,
            )
            for condition in conditions
        )
        levels = [0.5, *(metric.quantile or 0.5 for metric in metrics)]
        per_arm = [quantile_orders(arm, levels, alpha=alpha) for arm in arms]
        medians[column] = tuple(orders_of_arm[0].estimate for orders_of_arm in per_arm)
        for k, metric in enumerate(metrics, start=1):
            orders[metric.name] = tuple(orders_of_arm[k] for orders_of_arm in per_arm)
    return orders, medians


def _daily_new_users(source: LogSource, plan: ExperimentPlan, where: str) -> np.ndarray:
    """Users first seen each day per arm (rows: days in order; columns: the arms in the order
    of ``plan.labels``), users seen in several arms left out: the counts a sequential SRM test
    reads day by day."""
    n_arms = len(plan.labels)
    if n_arms == 2:
        treatment = sql_text(plan.treatment)
        arm = (
            f"CASE WHEN count_if(variant = {treatment}) = 0 THEN 0 WHEN count_if(variant = "
            f"{treatment}) = count(*) THEN 1 ELSE 2 END"
        )
    else:
        numbered = " ".join(
            f"WHEN {sql_text(label)} THEN {k}" for k, label in enumerate(plan.candidates, 1)
        )
        row_arm = f"CASE variant {numbered} ELSE 0 END"
        arm = f"CASE WHEN min({row_arm}) = max({row_arm}) THEN min({row_arm}) ELSE {n_arms} END"
    counts = ", ".join(f"sum(CASE WHEN arm = {k} THEN 1 ELSE 0 END)" for k in range(n_arms))
    sql = (
        f"SELECT day, {counts} FROM (SELECT CAST(timezone('UTC', min(timestamp)) AS DATE) AS "
        f"day, {arm} AS arm FROM log WHERE {where} GROUP BY user_id) "
        f"WHERE arm < {n_arms} GROUP BY day ORDER BY day"
    )
    rows = source.connection.execute(sql).fetchall()
    return np.asarray([row[1:] for row in rows], dtype=float).reshape(-1, n_arms)


# --------------------------------------------------------------------------- segments


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class EngineResult:
    """What the analysis needs: the resolved plan, the health report and per-arm sums.

    Attributes:
        plan: the plan with its metrics fixed for this log (:meth:`ExperimentPlan.resolve`).
        health: every gate, with the SRM result.
        sums: metric name -> each arm's sums (in the order of ``plan.labels``: the control,
            then the candidates), the mapping each kind's ``arm_sums`` declared.
        context: what the kinds computed before the pass (quantile order statistics).
        ordinal: metric name -> per-user means per arm, for the Mann–Whitney cross-check.
        cuped: metric name -> how its CUPED sums (``cuped_n``, ``cuped_s{a}``,
            ``cuped_p{a}_{b}`` in ``sums``) are read, for metrics with a covariate.
        users: users per arm analysed (crossovers left out); dialogs likewise.
        rows: rows read (after the experiment filter), and the period they cover.
        read_from: "" when the log was scanned; else what was read instead (the rollup of its
            parts, :mod:`abkit.analysis.rollup`).

    With several candidates every per-arm field has one entry per arm; :meth:`pair` is the
    two-arm view of the control and one candidate that each metric's test reads.
    """

    plan: ExperimentPlan
    health: HealthReport
    sums: dict[str, tuple[dict[str, float], dict[str, float]]]
    context: Mapping[str, Any]
    ordinal: dict[str, tuple[np.ndarray, np.ndarray]]
    cuped: dict[str, CupedLayout]
    users: tuple[int, int]
    dialogs: tuple[int, int]
    rows: int
    first: Any
    last: Any
    read_from: str = ""

    def pair(self, candidate: str) -> EngineResult:
        """The control and ``candidate`` as a two-arm result (the same objects, no copy of
        the sums); the health report stays the whole experiment's.

        The same result for a plan with one candidate."""
        if len(self.plan.labels) == 2 and candidate == self.plan.treatment:
            return self
        k = self.plan.labels.index(candidate) if candidate in self.plan.candidates else -1
        if k < 1:
            raise ValueError(f"candidate == {candidate!r}, not one of {list(self.plan.candidates)}")

        def two(values: Any) -> Any:
            return (values[0], values[k])

        context = {
            key: two(value)
            if isinstance(value, tuple) and len(value) == len(self.plan.labels)
            else value
            for key, value in self.context.items()
        }
        return dataclasses.replace(
            self,
            plan=self.plan.pair(candidate),
            sums={name: two(arms) for name, arms in self.sums.items()},
            context=context,
            ordinal={name: two(arms) for name, arms in self.ordinal.items()},
            users=two(self.users),
            dialogs=two(self.dialogs),
        )


def open_source(
    events: Any,
    plan: ExperimentPlan,
    table: str,
    spark: Any = None,
    pre_period: Any = None,
    users: Any = None,
) -> contextlib.AbstractContextManager[LogSource]:
    """The log on DuckDB (:func:`abkit.analysis.log_source.open_log`) or on Spark."""
    from abkit.analysis.spark_source import is_spark_dataframe

    if spark is None and not is_spark_dataframe(events):
        return open_log(events, plan, table=table, pre_period=pre_period, users=users)
    from abkit.analysis.spark_source import open_spark_log

    if spark is None:
        spark = events.sparkSession
    return open_spark_log(
        events, plan, spark=spark, table=table, pre_period=pre_period, users=users
    )


def _covariate_sources(plan: ExperimentPlan, pre_period: Any, users: Any) -> tuple[Any, Any]:
    """The covariate sources given, else the plan's ``pre_period_log`` and ``users_table``."""
    return (
        pre_period if pre_period is not None else (plan.pre_period_log or None),
        users if users is not None else (plan.users_table or None),
    )


def aggregate(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    *,
    table: str = "dialogs",
    until: Any = None,
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
    spark: Any = None,
    validated: bool = False,
    segment: SegmentFilter | None = None,
    cache: bool | str | Path = True,
) -> EngineResult:
    """Validate the log, run the health gates and compute every metric's per-arm sums.

    Args:
        events: a DataFrame, or a .parquet file or folder, .csv file or .duckdb database; with
            the Spark engine also a ``pyspark.sql.DataFrame`` or a table name.
        plan: the experiment plan (metrics None: the defaults the log's columns allow).
        table: the table in a DuckDB database.
        until: only rows with timestamp <= this (the cumulative view); text is ISO 8601
            (:func:`abkit.core.params.parse_until`: a date alone means through that day, UTC
            unless a zone is written), a naive time is UTC.
        pre_period, users: the covariate sources of CUPED metrics
        (:mod:`abkit.analysis.covariates`);
            default: the plan's ``pre_period_log`` and ``users_table`` paths.
        spark: a SparkSession: run every pass on Spark (:mod:`abkit.analysis.spark_source`); implied
            when ``events`` is a Spark DataFrame.
        validated: the rows (``until``) are a subset of a log that an aggregate under a plan
            with these metrics' columns has already checked: the value ranges, repeated
            dialog ids and implausible times are not checked again (the views over time of
            :func:`abkit.analysis.results.cumulative_effects`).
        segment: only the users of one segment (or, ``inside`` false, all but them): the
            analysis of one segment value (:mod:`abkit.analysis.segments`).
        cache: for a log that is a folder of Parquet parts, read the look from the rollup of
            per-part statistics (:mod:`abkit.analysis.rollup`), kept in this folder (True: the
            default cache folder); False: scan the log. The same gates and numbers.

    Raises:
        LogValidationError / ValueError / FileNotFoundError: what stops the analysis, named.
    """
    with open_source(
        events, plan, table, spark, *_covariate_sources(plan, pre_period, users)
    ) as source:
        plan = plan.resolve(source.columns)
        check_covariate_sources(source, plan)
        for column in checked_columns(plan):
            kind = source.types[column]
            if not NUMERIC_TYPE.match(kind):
                if source.connection.execute("SELECT 1 FROM log LIMIT 1").fetchone() is None:
                    # a CSV of a header alone reads every column as text
                    raise LogValidationError(f"dialog log {source.label} has no rows")
                example = source.connection.execute(
                    f"SELECT any_value({quoted(column)}) FROM log"
                ).fetchone()[0]
                hint = ""
                if isinstance(example, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", example):
                    hint = (
                        f"; values such as {example!r} use a decimal comma: write decimals with "
                        "a point (4.5), e.g. re-export the CSV with '.' as decimal separator"
                    )
                raise LogValidationError(
                    f"column '{column}' has type {kind}, must be numeric (metrics "
                    f"{[m.name for m in plan.metrics or () if column in m.columns]} read it)"
                    f"{hint}"
                )
        checked = None  # the census of a rollup that passed the checks, and what it read
        if cache is not False and segment is None:
            rolled = _from_rollup(events, source, plan, until, validated, cache)
            if isinstance(rolled, EngineResult):
                return rolled
            checked = rolled
        census = checked[0] if checked else take_census(source, plan)
        where = census.where
        where += until_condition(until, census.first)
        if segment is not None:
            where += segment.condition(where)
        validated = validated or checked is not None
        dated = None if validated else implausible_times(source, plan, where, census)
        quantile_columns = {m.column for m in plan.metrics or () if m.kind == "quantile"}
        medians = {} if validated else check_ranges(source, plan, where, quantile_columns)
        ctx: dict[str, Any] = {HEAVY_KEY: heavy_user_threshold(census.first, census.last)}
        orders, quantile_medians = _quantile_orders(source, plan, where, plan.alpha)
        ctx.update(orders)
        ctx.update(cap_bounds(source, plan, where, ctx, census.complete))
        medians.update(quantile_medians)
        result = per_user_pass(source, plan, where, ctx, census.complete)
        crossed = result.arms.get(len(plan.labels))
        if crossed and any(m.kind == "quantile" for m in plan.metrics or ()):
            exclude = (
                " AND user_id NOT IN (SELECT user_id FROM log WHERE "
                f"{where} GROUP BY user_id HAVING count(DISTINCT variant) > 1)"
            )
            ctx.update(_quantile_orders(source, plan, where + exclude, plan.alpha)[0])
            result = per_user_pass(source, plan, where, ctx, census.complete)
        labels = (
            source.pre_period.label if source.pre_period else "",
            source.users.label if source.users else "",
        )
        daily = None
        if plan.monitoring.kind != "fixed":
            daily = _daily_new_users(source, plan, where)
        assembled = _assemble(plan, census, result, ctx, medians, labels, daily)
        if dated is not None:
            health = assembled.health
            health = dataclasses.replace(health, checks=(*health.checks, dated))
            assembled = dataclasses.replace(assembled, health=health)
        if until is not None:  # the rows and period of this look, not of the whole log
            rows, first, last = source.connection.execute(
                f"SELECT count(*), min(timestamp), max(timestamp) FROM log WHERE {where}"
            ).fetchone()
            assembled = dataclasses.replace(assembled, rows=int(rows), first=first, last=last)
        if checked:
            read_from = f"{checked[1]} for the checks; the log for the per-user pass"
            assembled = dataclasses.replace(assembled, read_from=read_from)
    return assembled


_TICK = pd.Timedelta(microseconds=1)


def _from_rollup(
    events: Any, source: LogSource, plan: ExperimentPlan, until: Any, validated: bool, cache: Any
) -> EngineResult | tuple[Census, str] | None:
    """:func:`aggregate` from the rollup of a folder of parts (:mod:`abkit.analysis.rollup`):
    the same checks in the same order, on the parts' statistics; None when the look needs the
    full scan (what the rollup cannot hold, repeated dialog-id hashes, implausible times); the
    census and what was read when the checks passed but the heavy pass reads the log
    (:func:`abkit.analysis.rollup.reads_the_log`)."""
    from abkit.analysis.looks import look_day
    from abkit.analysis.rollup import open_rollup, reads_the_log

    cut = None
    if until is not None:
        cut = parse_until("until", until) if isinstance(until, str) else as_utc(until)
    day = look_day(cut)
    if day is False:
        return None
    rollup = open_rollup(events, source, plan, cache)
    if rollup is None:
        return None
    census = rollup.census(source, plan)
    where = census.where + until_condition(until, census.first)
    if not validated:
        if not times_plausible(census.first, census.last):
            return None  # the timestamps gate counts rows by their exact time
        if not rollup.unique(source):
            return None  # the full scan counts the repeated ids exactly and shows one
        settled = settled_by_statistics(source, plan, checked_columns(plan))
        judge_ranges(source, plan, where, rollup.range_values(source, plan, settled, day), settled)
    if reads_the_log(plan):
        return census, rollup.summary
    ctx: dict[str, Any] = {HEAVY_KEY: heavy_user_threshold(census.first, census.last)}
    scope = PassScope(source, plan, where, ctx, census.complete)
    sequential = plan.monitoring.kind != "fixed"  # reads the users first seen each day
    last = look_day(as_utc(census.last).floor("D") + pd.Timedelta(days=1) - _TICK)
    whole = day is None or day >= last  # through the log's last day or later: every row
    looks, through = None, last if whole else day  # a look through a day: from every day's
    if not sequential:  # increments, kept for later looks; the whole log: when already kept
        looks = rollup.look_passes(scope, [through], kept_only=whole)
    if looks is not None and through in looks:
        result, daily = looks[through], None
    else:
        found = rollup.user_pass(scope, None if whole else day, sequential)
        if found is None:
            return None
        result, daily = found
    assembled = _assemble(plan, census, result, ctx, {}, ("", ""), daily)
    assembled = dataclasses.replace(assembled, read_from=rollup.summary)
    if until is not None:
        rows, first, last = rollup.look_rows(source, day)
        assembled = dataclasses.replace(assembled, rows=rows, first=first, last=last)
    return assembled


def aggregate_daily(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    days: Sequence[datetime.date],
    *,
    table: str = "dialogs",
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
    cache: bool | str | Path = True,
    share: ExperimentPlan | None = None,
) -> dict[datetime.date, EngineResult] | None:
    """``aggregate(until=<end of day, UTC>, validated=True)`` for each of ``days`` from one
    pass (:func:`abkit.analysis.looks.daily_passes`), for a log an aggregate under this plan
    has already checked whole. None when a look needs context of its own (a quantile metric,
    capping, a covariate) or the log is on Spark: then look day by day.

    The results carry each look's sums, users and dialogs; their health report is the whole
    log's census with each look's counts, not a check of the look. ``share``: a plan with more
    metrics (the analysis's) whose daily increments a rollup may already hold
    (:mod:`abkit.analysis.rollup_looks`): taken when it does, for the same sums.
    """
    from abkit.analysis.looks import daily_passes
    from abkit.analysis.spark_source import is_spark_dataframe

    if is_spark_dataframe(events) or any(
        m.kind == "quantile" or m.cap is not None for m in plan.metrics or ()
    ):
        return None
    with open_source(
        events, plan, table, None, *_covariate_sources(plan, pre_period, users)
    ) as source:
        plan = plan.resolve(source.columns)
        rollup = None
        if cache is not False:  # the per-(user, day) sums stored for a folder of parts
            from abkit.analysis.rollup import open_rollup

            rollup = open_rollup(events, source, plan, cache)
        if rollup and share is not None:
            wide = share.resolve(source.columns)
            found = _shared_looks(rollup, source, wide, days)
            if found is not None:
                return found
        census = rollup.census(source, plan) if rollup else take_census(source, plan)
        ctx: dict[str, Any] = {HEAVY_KEY: heavy_user_threshold(census.first, census.last)}
        scope = PassScope(source, plan, census.where, ctx, census.complete)
        passes = rollup.daily(scope, days) if rollup else daily_passes(scope, days)
        if passes is None:
            return None
        return {day: _assemble(plan, census, result, ctx, {}) for day, result in passes.items()}


def _shared_looks(
    rollup: Any, source: LogSource, plan: ExperimentPlan, days: Sequence[datetime.date]
) -> dict[datetime.date, EngineResult] | None:
    """Every daily look of ``plan`` from a rollup's increments, when it holds them all."""
    if any(m.kind == "quantile" for m in plan.metrics or ()):
        return None  # a quantile's counts depend on each look's Q̂: no increments
    census = rollup.census(source, plan)
    ctx: dict[str, Any] = {HEAVY_KEY: heavy_user_threshold(census.first, census.last)}
    numbers = day_numbers(days)
    scope = PassScope(source, plan, census.where, ctx, census.complete)
    looks = rollup.look_passes(scope, list(numbers))
    if looks is None or len(looks) < len(numbers):
        return None
    return {numbers[n]: _assemble(plan, census, found, ctx, {}) for n, found in looks.items()}


def _assemble(
    plan: ExperimentPlan,
    census: Census,
    result: UserPass,
    ctx: Mapping[str, Any],
    medians: Mapping[str, tuple],
    covariate_labels: tuple[str, str] = ("", ""),
    daily_users: np.ndarray | None = None,
) -> EngineResult:
    empty: dict[str, float] = {}
    n_arms = len(plan.labels)
    arms = [result.arms.get(k, empty) for k in range(n_arms)]
    both = result.arms.get(n_arms, empty)
    users = tuple(int(arm.get("users", 0) or 0) for arm in arms)
    dialogs = tuple(int(arm.get("dialogs", 0) or 0) for arm in arms)
    crossed = int(both.get("users", 0) or 0)
    both_t = int(both.get("dialogs_t", 0) or 0)
    both_c = int(both.get("dialogs", 0) or 0) - both_t
    srm_check, srm = srm_gate(plan.labels, users, plan.shares, plan.srm_p)
    if daily_users is not None and len(daily_users):
        srm_check = sequential_srm_gate(srm_check, srm, daily_users, plan.shares, plan.srm_p)
    checks: list[HealthCheck] = [
        srm_check,
        crossover_gate(crossed, sum(users) + crossed, both_c, both_t, plan.crossover_max_share),
    ]
    if census.ignored_rows:
        checks.append(
            HealthCheck(
                "unknown variant rows",
                "warn",
                math.nan,
                math.nan,
                f"{census.ignored_rows:,} row(s) with labels {census.ignored_labels} left out "
                "(the plan's unknown_variants is 'ignore')",
            )
        )
    checks += [absent_column_gate(column, where) for column, where in census.absent.items()]
    if census.other_experiment_rows:
        checks.append(
            HealthCheck(
                "rows of other experiments",
                "pass",
                math.nan,
                math.nan,
                f"{census.other_experiment_rows:,} row(s) of other experiments left out; "
                f"analysing experiment {plan.experiment!r}",
            )
        )
    for k, candidate in enumerate(plan.candidates, start=1):
        pair_checks = pair_gates(plan, arms[0], arms[k], medians, k)
        if n_arms > 2:  # the gate compares the control with this candidate: say which
            pair_checks = [
                dataclasses.replace(check, gate=f"{check.gate} ({candidate})")
                for check in pair_checks
            ]
        checks += pair_checks
    checks.append(
        heavy_user_gate(
            [int(arm.get("heavy_users", 0) or 0) for arm in arms],
            [int(arm.get("max_dialogs", 0) or 0) for arm in arms],
            [arm.get("heaviest") for arm in arms],
            float(ctx.get(HEAVY_KEY, math.nan)),
            plan.labels,
        )
    )
    merged = result.arms if n_arms == 2 else {0: arms[0], 1: merged_arms(arms[1:]), 2: both}
    shown = plan.labels if n_arms == 2 else (plan.control, " + ".join(plan.candidates))
    checks += covariate_health(plan, merged, shown, *covariate_labels, result.cuped)
    sums = {}
    for index, metric in enumerate(plan.metrics or ()):
        prefix = f"m{index}__"
        declared = dict.fromkeys(KINDS[metric.kind].arm_sums())  # an arm without users: NULLs
        sums[metric.name] = tuple(
            declared | {k[len(prefix) :]: v for k, v in arm.items() if k.startswith(prefix)}
            for arm in arms
        )
    return EngineResult(
        plan=plan,
        health=HealthReport(tuple(checks), srm),
        sums=sums,  # type: ignore[arg-type]
        context=ctx,
        ordinal=result.ordinal,
        cuped=result.cuped,
        users=users,
        dialogs=dialogs,
        rows=int(census.rows["rows"].sum()) - census.ignored_rows,
        first=census.first,
        last=census.last,
    )


def read_columns(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    columns: list[str],
    *,
    table: str = "dialogs",
    spark: Any = None,
) -> pd.DataFrame:
    """The analysed rows' ``variant`` and ``columns`` (canonical names), for a plot.

    Only these columns are read; the rows are those the analysis reads (the plan's
    experiment, known labels).
    """
    with open_source(events, plan, table, spark) as source:
        census = take_census(source, plan.resolve(source.columns))
        unknown = [c for c in columns if c not in source.columns]
        if unknown:
            raise ValueError(f"columns {unknown} not in the log; it has {list(source.columns)}")
        variant = "variant"
        if isinstance(source.connection, duckdb.DuckDBPyConnection):  # the analysed rows hold
            # the plan's two labels only: a categorical reads in a fifth of the time of text
            labels = ", ".join(sql_text(label) for label in plan.labels)
            variant = f"CAST(variant AS ENUM ({labels})) AS variant"
        chosen = ", ".join([variant, *(quoted(c) for c in columns)])
        return source.connection.execute(f"SELECT {chosen} FROM log WHERE {census.where}").df()


def check_log(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    *,
    table: str = "dialogs",
    spark: Any = None,
) -> ExperimentPlan:
    """The cheap checks of a log against a plan, for a notebook's validation cell.

    Columns, types, timestamps, the plan's metrics against the columns, labels, experiments and
    null ids (a light census: no per-user pass). Returns the plan resolved for this log.

    Raises:
        LogValidationError / ValueError / FileNotFoundError: as :func:`aggregate`.
    """
    with open_source(events, plan, table, spark) as source:
        resolved = plan.resolve(source.columns)
        take_census(source, resolved)
    return resolved
