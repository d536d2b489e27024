"""The log's validation passes before any metric: the census (labels, experiments, missing ids
and times, complete columns), duplicate dialog ids, values against each column's rule, blank or
placeholder user ids, implausible timestamps. Each refuses with a message naming the column,
the value and the rule, or returns what the health gates report."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from abkit.analysis.health import (
    EARLIEST_PLAUSIBLE,
    HealthCheck,
    label_gate,
    missing_gate,
    time_gate,
    unit_gate,
)
from abkit.analysis.log_source import INTEGER_TYPE, LogSource, sql_text
from abkit.analysis.metric_kinds import quoted
from abkit.analysis.part_schema import AbsentColumn
from abkit.core.params import is_missing_id, odd_id_sql, parse_until, visible_id
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.serve.events import LogValidationError
from abkit.stats.cuped import Moments
from abkit.stats.ppi import PPI_COMPONENTS, check_same_scale
from abkit.stats.two_sample import RatioStats

__all__ = [
    "SORTED_IDS_MAX",
    "Census",
    "arm_conditions",
    "as_utc",
    "census_columns",
    "read_census",
    "check_duplicates",
    "check_ranges",
    "checked_columns",
    "distinct_dialog_ids",
    "implausible_times",
    "judge_ranges",
    "raise_out_of_range",
    "range_condition",
    "refuse_placeholder_ids",
    "settled_by_statistics",
    "take_census",
    "times_plausible",
]


@dataclass(frozen=True)
class Census:
    """Rows per (experiment, label) before any filter; what was left out and why."""

    rows: pd.DataFrame  # experiment, variant, rows
    where: str  # SQL filter of the rows analysed
    ignored_rows: int
    ignored_labels: dict[str, int]
    other_experiment_rows: int
    first: Any
    last: Any
    complete: frozenset[str] = frozenset()  # checked columns with a value in every row analysed
    absent: Mapping[str, AbsentColumn] = field(default_factory=dict)  # checked, lacking in parts


def census_columns(source: LogSource, known: Sequence[tuple[str, str]]) -> str:
    """The census's columns over ``log`` grouped by (experiment, variant): rows, null ids and
    times, first and last time, and the values known in each ``(column, alias)`` of ``known``;
    each adds up over parts of the log (the rollup of :mod:`abkit.analysis.rollup` keeps them
    per part)."""
    experiment = "experiment" if "experiment" in source.columns else "NULL"
    counts = "".join(f", count({quoted(c)}) AS {quoted(alias)}" for c, alias in known)
    return (
        f"{experiment} AS experiment, variant, count(*) AS rows, "
        "count(*) - count(user_id) AS null_users, count(*) - count(dialog_id) AS null_dialogs, "
        "count(*) - count(timestamp) AS null_times, min(timestamp) AS first, "
        f"max(timestamp) AS last{counts}"
    )


def take_census(source: LogSource, plan: ExperimentPlan) -> Census:
    """Rows per (experiment, label), null ids and times, and the values known per checked
    column (a count per group is nearly free beside the grouping), in one light scan."""
    checked = [c for c in checked_columns(plan) if c in source.columns]
    known = [(c, f"known{i}") for i, c in enumerate(checked)]
    rows = source.connection.execute(
        f"SELECT {census_columns(source, known)} FROM log GROUP BY ALL ORDER BY ALL"
    ).df()
    return read_census(rows, source, plan)


def read_census(rows: pd.DataFrame, source: LogSource, plan: ExperimentPlan) -> Census:
    """The :class:`Census` of the rows of :func:`census_columns` (experiment, label), or the
    refusal they call for: no rows, an experiment named two ways or absent, several experiments
    and none chosen, null ids or times, a role's label without rows, unknown labels."""
    has_experiment = "experiment" in source.columns
    checked = [c for c in checked_columns(plan) if c in source.columns]
    if rows.empty:
        raise LogValidationError(f"dialog log {source.label} has no rows")
    where, other = "TRUE", 0
    if has_experiment:
        names = rows.groupby("experiment", dropna=False)["rows"].sum()
        listed = {("(none)" if pd.isna(k) else k): int(v) for k, v in names.items()}
        if plan.experiment:
            wanted = visible_id(plan.experiment).casefold()
            near = {
                name: count
                for name, count in listed.items()
                if name != plan.experiment
                and isinstance(name, str)
                and visible_id(name).casefold() == wanted
            }
            if near:
                raise LogValidationError(
                    f"{sum(near.values()):,} row(s) of {source.label} name experiment(s) "
                    f"{near} (rows each), which differ from experiment == "
                    f"{plan.experiment!r} only in letter case or spaces: they would be left "
                    "out as another experiment's. Write the name one way in the log"
                )
            if plan.experiment not in listed:
                raise ValueError(
                    f"experiment == {plan.experiment!r} not in {source.label}; it has "
                    f"rows of {listed}"
                )
            other = int(rows.loc[rows["experiment"] != plan.experiment, "rows"].sum())
            rows = rows[rows["experiment"] == plan.experiment]
            where = f"experiment = {sql_text(plan.experiment)}"
        elif len(listed) > 1:
            raise LogValidationError(
                f"{source.label} holds {len(listed)} experiments {listed} (rows each); choose "
                "one with experiment (plan, --experiment, or the notebook's parameter)"
            )
    elif plan.experiment:
        raise ValueError(
            f"experiment == {plan.experiment!r}, but {source.label} has no 'experiment' "
            "column; use '' to analyse every row"
        )
    problems = []
    for key, what in (
        ("null_users", "user_id"),
        ("null_dialogs", "dialog_id"),
        ("null_times", "timestamp"),
    ):
        if rows[key].sum():
            problems.append(f"column '{what}' has {int(rows[key].sum()):,} null value(s)")
    if problems:
        raise LogValidationError(f"dialog log {source.label} is invalid: " + "; ".join(problems))
    by_label = rows.groupby("variant", dropna=False)["rows"].sum()
    counts = {(None if pd.isna(k) else k): int(v) for k, v in by_label.items()}
    unknown = {k: v for k, v in counts.items() if k not in plan.labels}
    roles = [("control", plan.control)]
    if len(plan.candidates) == 1:
        roles.append(("treatment", plan.treatment))
    else:
        roles += [(f"treatment[{k}]", label) for k, label in enumerate(plan.candidates)]
    for role, label in roles:
        if not counts.get(label):
            raise ValueError(
                f"{role} == {label!r}: no rows with that variant label; the log has "
                f"{ {k: v for k, v in counts.items()} }"
            )
    shown = {repr(k): v for k, v in unknown.items()}
    if unknown and plan.unknown_variants == "error":
        raise LogValidationError(
            f"{sum(unknown.values()):,} row(s) have a variant that is {_none_of(plan.labels)}: "
            f"{shown} (label: rows; None is a "
            "missing label). Fix the log, or set the plan's unknown_variants to 'ignore' to "
            "leave them out"
        )
    if unknown:
        where += f" AND variant IN ({', '.join(sql_text(label) for label in plan.labels)})"
    analysed = rows[rows["variant"].isin(plan.labels)]
    complete = frozenset(
        c for i, c in enumerate(checked) if analysed[f"known{i}"].sum() == analysed["rows"].sum()
    )
    return Census(
        rows,
        where,
        sum(unknown.values()),
        {str(k): v for k, v in shown.items()},
        other,
        rows["first"].min(),
        rows["last"].max(),
        complete,
        {c: source.absent[c] for c in checked if c in source.absent},
    )


def check_duplicates(source: LogSource, where: str, distinct: int, total: int) -> None:
    """Refuse repeated dialog ids. ``distinct`` counts distinct 64-bit hashes
    (:func:`distinct_dialog_ids`); only when it suggests a repeat is the exact string count
    run."""
    con = source.connection
    if distinct < total:
        distinct = con.execute(
            f"SELECT count(DISTINCT dialog_id) FROM log WHERE {where}"
        ).fetchone()[0]
    if distinct < total:
        example = con.execute(
            f"SELECT dialog_id, count(*) FROM log WHERE {where} GROUP BY dialog_id "
            "HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        raise LogValidationError(
            f"{total - distinct:,} row(s) repeat a dialog_id, e.g. {example[0]!r} "
            f"({example[1]} rows); each dialog must appear once"
        )


def checked_columns(plan: ExperimentPlan) -> list[str]:
    seen: list[str] = []
    for metric in plan.metrics or ():
        for column in metric.columns:
            if column not in seen:
                seen.append(column)
    return seen


def range_condition(name: str, plan: ExperimentPlan, column: str) -> str:
    rule = plan.column_rule(column)
    parts = [f"isfinite({name})"]
    if math.isfinite(rule.low):
        parts.append(f"{name} >= {rule.low!r}")
    if math.isfinite(rule.high):
        parts.append(f"{name} <= {rule.high!r}")
    if rule.integer:
        parts.append(f"{name} = floor({name})")
    return " AND ".join(parts)


def refuse_placeholder_ids(source: LogSource, where: str) -> None:
    """Refuse rows whose user id is missing (:func:`abkit.core.params.is_missing_id`): blank or
    invisible, or a placeholder such as 'N/A' or 'anonymous'."""
    found = source.connection.execute(
        f"SELECT user_id, count(*) FROM log WHERE {where} AND {odd_id_sql('user_id')} "
        "GROUP BY user_id ORDER BY count(*) DESC, user_id"
    ).fetchall()
    bad = {uid: int(rows) for uid, rows in found if is_missing_id(uid)}
    if bad:
        raise LogValidationError(
            f"column 'user_id' has {sum(bad.values()):,} row(s) whose id is blank or a missing "
            f"value written as text: {bad} (id: rows); each would count as one user. Give "
            "these dialogs their users' real ids, or leave them out of the log"
        )


def _none_of(labels: tuple[str, ...]) -> str:
    """ "neither 'a' nor 'b'", or "none of ['a', 'b', 'c']"."""
    if len(labels) == 2:
        return f"neither {labels[0]!r} nor {labels[1]!r}"
    return f"none of {list(labels)}"


def until_condition(until: Any, first: Any) -> str:
    """SQL to add to the rows' condition for a look ``until`` a time ("" for None): text is
    ISO 8601 (:func:`abkit.core.params.parse_until`), a naive time is UTC.

    Raises:
        ValueError: the time is before the log's ``first`` row.
    """
    if until is None:
        return ""
    cut = parse_until("until", until) if isinstance(until, str) else as_utc(until)
    if cut < as_utc(first):
        raise ValueError(
            f"until == '{until}' is before the log's first row ({first}): no rows to analyse yet"
        )
    return f" AND timestamp <= {sql_text(str(cut))}::TIMESTAMPTZ"


def as_utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def times_plausible(first: Any, last: Any) -> bool:
    """Whether every time from ``first`` to ``last`` is plausible for a dialog: not before
    :data:`abkit.analysis.health.EARLIEST_PLAUSIBLE`, not past tomorrow."""
    latest = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    return bool(EARLIEST_PLAUSIBLE <= as_utc(first) and as_utc(last) <= latest)


def implausible_times(
    source: LogSource, plan: ExperimentPlan, where: str, census: Census
) -> HealthCheck | None:
    """The ``timestamps`` gate (:func:`abkit.analysis.health.time_gate`) when the census's first or
    last
    time is implausible; then one query counts such rows per arm. None otherwise."""
    if times_plausible(census.first, census.last):
        return None
    now = pd.Timestamp.now(tz="UTC")
    latest = now + pd.Timedelta(days=1)
    bounds = [sql_text(str(t)) + "::TIMESTAMPTZ" for t in (EARLIEST_PLAUSIBLE, latest)]
    found = source.connection.execute(
        f"SELECT variant <> {sql_text(plan.control)} AS arm, count(*), min(timestamp), "
        f"max(timestamp) FROM log WHERE {where} AND (timestamp < {bounds[0]} OR timestamp > "
        f"{bounds[1]}) GROUP BY arm"
    ).fetchall()
    if not found:  # outside this look (until)
        return None
    counts = {bool(arm): int(rows) for arm, rows, _, _ in found}
    earliest = min(as_utc(first) for _, _, first, _ in found)
    last = max(as_utc(last) for _, _, _, last in found)
    return time_gate(counts.get(False, 0), counts.get(True, 0), earliest, last, now)


def arm_conditions(plan: ExperimentPlan) -> list[str]:
    """SQL conditions picking each arm's rows, in the order of ``plan.labels`` (with two arms
    the control's are the rows that are not the treatment's)."""
    if len(plan.labels) == 2:
        treatment = sql_text(plan.treatment)
        return [f"variant <> {treatment}", f"variant = {treatment}"]
    return [f"variant = {sql_text(label)}" for label in plan.labels]


def check_ranges(
    source: LogSource, plan: ExperimentPlan, where: str, medians_known: Iterable[str] = ()
) -> dict[str, tuple]:
    """Refuse repeated dialog ids and values outside each column's rule; return the medians
    per arm of the unit columns not in ``medians_known``.

    One scan without grouping: min, max, the count of NaN and ±inf in columns whose type can
    hold them, and for whole-number rules on such columns the largest fractional part; then
    the exact count of distinct dialog ids (:func:`distinct_dialog_ids`). Only when a value
    is out of bounds are the offending rows counted and one shown.

    NaN is counted, never left to min / max: DuckDB answers a query of only min / max over
    Parquet from the file's statistics, and writers leave NaN out of those (a NaN in a
    DOUBLE column then reads as in range). For integer columns of a Parquet log those
    statistics are exact, so their bounds are read there first (every row of the file, a
    superset of the rows analysed): a column within its rule there needs no scan.
    """
    columns = checked_columns(plan)
    settled = settled_by_statistics(source, plan, columns)
    arms = arm_conditions(plan)
    parts = ["count(*) AS total_rows"]
    units = []
    for index, column in enumerate(columns):
        name, rule = quoted(column), plan.column_rule(column)
        if column not in settled:
            parts += [f"min({name}) AS lo{index}", f"max({name}) AS hi{index}"]
        if not INTEGER_TYPE.match(source.types[column]):
            parts.append(f"count_if(NOT isfinite({name})) AS nf{index}")
            if rule.integer:
                parts.append(f"max({name} - floor({name})) AS fr{index}")
        if rule.unit in ("ms", "s") and column not in medians_known:
            units.append(column)
            parts += [
                f"approx_quantile({name}, 0.5) FILTER (WHERE {arm}) AS m{k}_{index}"
                for k, arm in enumerate(arms)
            ]
    cursor = source.connection.execute(f"SELECT {', '.join(parts)} FROM log WHERE {where}")
    names = [d[0] for d in cursor.description]
    values = dict(zip(names, cursor.fetchone(), strict=True))  # NULL -> None, NaN stays NaN
    distinct = distinct_dialog_ids(source, where, int(values["total_rows"]))
    check_duplicates(source, where, distinct, values["total_rows"])
    judge_ranges(source, plan, where, values, settled)
    return {
        column: tuple(_median(values, f"m{k}_{columns.index(column)}") for k in range(len(arms)))
        for column in units
    }


def _median(values: Mapping[str, Any], key: str) -> float:
    value = values[key]
    return math.nan if value is None else float(value)


def judge_ranges(
    source: LogSource,
    plan: ExperimentPlan,
    where: str,
    values: Mapping[str, Any],
    settled: Mapping[str, tuple[float, float]],
) -> None:
    """Refuse what the range scan's ``values`` show (per checked column ``i``: ``lo{i}`` /
    ``hi{i}`` unless the column is ``settled`` by the file statistics, ``nf{i}`` the non-finite
    count, ``fr{i}`` the largest fractional part): a judged metric's labels and scores on two
    scales, values outside a column's rule (counted and shown by :func:`raise_out_of_range`)."""
    columns = checked_columns(plan)
    bounds = {c: b for c, b in settled.items() if math.isfinite(b[0])}  # from the statistics
    bounds.update(
        (column, (float(values[f"lo{k}"]), float(values[f"hi{k}"])))
        for k, column in enumerate(columns)
        if values.get(f"lo{k}") is not None and values.get(f"hi{k}") is not None
    )
    for metric in plan.metrics or ():  # a judged metric: labels and judge scores on one scale
        if metric.kind == "judged" and metric.column in bounds and metric.judge in bounds:
            try:
                check_same_scale(np.array(bounds[metric.column]), np.array(bounds[metric.judge]))
            except ValueError as error:
                raise LogValidationError(
                    f"metric {metric.name!r}: column {metric.column!r} (human labels) and "
                    f"{metric.judge!r} (judge scores): {error}"
                ) from None
    suspect = []
    for index, column in enumerate(columns):
        if column in settled:
            continue
        rule, low, high = plan.column_rule(column), values[f"lo{index}"], values[f"hi{index}"]
        if low is None:  # no value at all
            continue
        low, high = float(low), float(high)
        fraction = float(values.get(f"fr{index}") or 0.0)
        if values.get(f"nf{index}") or not (
            math.isfinite(low)
            and math.isfinite(high)
            and rule.low <= low
            and high <= rule.high
            and fraction == 0.0
        ):
            suspect.append(column)
    if suspect:
        raise_out_of_range(source, plan, where, suspect)


def settled_by_statistics(
    source: LogSource, plan: ExperimentPlan, columns: list[str]
) -> dict[str, tuple[float, float]]:
    """The integer columns whose min and max over the whole Parquet log (from its statistics:
    one query of min / max only) lie within their rules, with those bounds."""
    integers = [c for c in columns if INTEGER_TYPE.match(source.types[c])]
    if not (source.statistics and integers):
        return {}
    names = [quoted(source.raw_names[c]) for c in integers]
    bounds = source.connection.execute(
        f"SELECT {', '.join(f'min({n}), max({n})' for n in names)} FROM {source.statistics}"
    ).fetchone()
    settled = {}
    for k, column in enumerate(integers):
        low, high, rule = bounds[2 * k], bounds[2 * k + 1], plan.column_rule(column)
        if low is None:
            settled[column] = (math.nan, math.nan)
        elif rule.low <= float(low) and float(high) <= rule.high:
            settled[column] = (float(low), float(high))
    return settled


# Dialog ids per part of the exact distinct count. The ids' 64-bit hashes are written once to a
# temporary table (8 bytes per dialog), then counted part by part: a hash table of about this
# many ids stays small, so the parts together take less time than one count over every id, at
# about half its memory (10M ids on 2 cores: 0.94 s and 0.30 GiB in 4 parts, against 0.88 s
# and 0.55 GiB in one and 1.08 s and 0.37 GiB in 2 parts re-hashing the log each time). Parts
# are ranges of hash value: counting 4 of them took 0.43-0.48 s against 0.49-0.57 s for parts
# by h % 4.
_IDS_PER_PART = 2_500_000
SORTED_IDS_MAX = 50_000_000  # dialog-id hashes sorted in memory up to here (400 MB)


def distinct_dialog_ids(source: LogSource, where: str, rows: int) -> int:
    """Distinct dialog ids (64-bit hashes). Up to :data:`SORTED_IDS_MAX` rows on DuckDB the
    hashes are sorted in numpy and their changes counted (0.6 s for 10M against 0.9–1.4 s for
    SQL ``count(DISTINCT)`` on 2 cores); beyond, or on Spark, counted in parts split by hash
    value, the number of parts capped by the connection's ``distinct_parts_max`` (Spark: 1,
    it shuffles)."""
    limit = int(getattr(source.connection, "distinct_parts_max", 8))
    parts = max(1, min(limit, math.ceil(rows / _IDS_PER_PART)))
    hashed = f"SELECT hash(dialog_id) AS h FROM log WHERE {where}"
    if limit > 1 and rows <= SORTED_IDS_MAX:
        found = np.sort(source.connection.execute(hashed).fetchnumpy()["h"])
        return int(np.count_nonzero(found[1:] != found[:-1])) + int(found.size > 0)
    if parts == 1:
        return int(
            source.connection.execute(f"SELECT count(DISTINCT h) FROM ({hashed})").fetchone()[0]
        )
    con = source.connection
    con.execute(f"CREATE OR REPLACE TEMP TABLE abkit_dialog_hashes AS {hashed}")
    step = 2**64 // parts  # parts by range of hash value (cheaper to test than h % parts)
    bounds = [f"h >= {part * step}::UBIGINT" for part in range(parts)]
    ranges = [f"{low} AND h < {(part + 1) * step}::UBIGINT" for part, low in enumerate(bounds)]
    ranges[-1] = bounds[-1]
    try:
        return sum(
            int(
                con.execute(
                    f"SELECT count(DISTINCT h) FROM abkit_dialog_hashes WHERE {part_range}"
                ).fetchone()[0]
            )
            for part_range in ranges
        )
    finally:
        con.execute("DROP TABLE abkit_dialog_hashes")


def raise_out_of_range(
    source: LogSource, plan: ExperimentPlan, where: str, columns: list[str]
) -> None:
    messages = []
    for column in columns:
        name = quoted(column)
        condition = f"{name} IS NOT NULL AND NOT ({range_condition(name, plan, column)})"
        count, value, dialog = source.connection.execute(
            f"SELECT count(*), any_value({name}), any_value(dialog_id) FROM "
            f"(SELECT {name}, dialog_id FROM log WHERE {where} AND {condition})"
        ).fetchone()
        if not count:
            continue
        messages.append(
            f"column '{column}': {count:,} value(s) outside {plan.column_rule(column).describe()}"
            f", e.g. {value!r} in dialog {dialog!r}"
        )
    if messages:
        raise LogValidationError(
            "dialog log is invalid: " + "; ".join(messages) + " (fix the log, or declare the "
            "column's range in the plan's columns / the metric's valid_range)"
        )


def pair_gates(
    plan: ExperimentPlan,
    control: Mapping[str, Any],
    treatment: Mapping[str, Any],
    medians: Mapping[str, tuple],
    k: int,
) -> list[HealthCheck]:
    """The gates that compare the control with the candidate of arm ``k``: missing values
    (or, for a judged metric's labels, the labelled share) per checked column, and units. With
    several candidates the details name the candidate; with one, "control" and "treatment"."""
    arms = ("control", "treatment") if len(plan.labels) == 2 else (plan.control, plan.labels[k])
    checks = []
    complete = []
    judged = {m.column: m for m in plan.metrics or () if m.kind == "judged"}
    other_columns = {
        c for m in plan.metrics or () for c in m.columns if m.kind != "judged" or c != m.column
    }
    for index, column in enumerate(checked_columns(plan)):
        if column in judged and column not in other_columns:  # missing by design
            metric = judged[column]
            position = f"m{(plan.metrics or ()).index(metric)}__"
            control_m, treatment_m = (
                Moments.from_aggregates(
                    {k[len(position) :]: v for k, v in arm.items() if k.startswith(position)},
                    len(PPI_COMPONENTS),
                )
                for arm in (control, treatment)
            )
            decisive = metric.role in ("primary", "guardrail")
            checks.append(
                label_gate(column, control_m, treatment_m, plan.missing_p, decisive, arms)
            )
            continue
        if not (control.get(f"miss{index}_sy") or treatment.get(f"miss{index}_sy")):
            complete.append(column)
            continue
        stats = [
            RatioStats(
                int(arm.get("users", 0) or 0),
                float(arm.get(f"miss{index}_sy", 0) or 0),
                float(arm.get("dialogs", 0) or 0),
                float(arm.get(f"miss{index}_syy", 0) or 0),
                float(arm.get("dialogs_sq", 0) or 0),
                float(arm.get(f"miss{index}_sxy", 0) or 0),
            )
            for arm in (control, treatment)
        ]
        checks.append(missing_gate(column, stats[0], stats[1], plan.missing_p, arms))
    if complete:
        checks.append(
            HealthCheck("missing values", "pass", 0.0, 0.0, f"none in {', '.join(complete)}")
        )
    for column, per_arm in medians.items():
        gate = unit_gate(column, plan.column_rule(column).unit, per_arm[0], per_arm[k])
        if gate is not None:
            checks.append(gate)
    return checks


def merged_arms(arms: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Several arms' sums as one (numbers added; other values, such as an example user id,
    the first arm's that has one): the candidates together, for the covariate health rows."""
    out: dict[str, Any] = {}
    for arm in arms:
        for key, value in arm.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = (out.get(key) or 0) + value
            elif out.get(key) is None:
                out[key] = value
    return out


def first_values(column: str, where: str) -> str:
    """SQL: each user's first dialog (by time, then dialog id) with ``column`` as text ``v``."""
    return (
        f"SELECT user_id, CAST({quoted(column)} AS VARCHAR) AS v, row_number() OVER (PARTITION "
        f"BY user_id ORDER BY timestamp, dialog_id) AS r FROM log WHERE {where}"
    )


@dataclass(frozen=True)
class SegmentFilter:
    """The users of one segment: those whose first dialog has ``value`` (text; None: no value)
    in ``column``; ``inside`` false: every other user (the rest, for the interaction test)."""

    column: str
    value: str | None
    inside: bool = True

    def condition(self, where: str) -> str:
        """SQL to add to the rows' condition ``where``."""
        match = "v IS NULL" if self.value is None else f"v = {sql_text(self.value)}"
        users = f"SELECT user_id FROM ({first_values(self.column, where)}) WHERE r = 1 AND {match}"
        return f" AND user_id {'IN' if self.inside else 'NOT IN'} ({users})"
