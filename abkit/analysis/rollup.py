"""The rollup of a log that is a folder of Parquet parts: each part's sufficient statistics,
computed once and stored, from which every look reads instead of scanning the dialogs.

Per part (a ``*.parquet`` file of the folder) small tables are kept, each a Parquet file
named by the part's fingerprint: its print (:class:`abkit.analysis.parts.PartPrint`: name,
size, modification time, row count, a hash of the Parquet footer) and a CRC-32 of its bytes. A
look re-reads a part's bytes only when its print differs from the stored one or when it was
modified less than 10 s before it was last read (a write within the clock's tick keeps the
time; git's "racily clean" rule). Not seen: a part replaced by other bytes of the same size,
time, row count and footer (a copy that keeps times); ``cache=False`` scans the folder as it is.

- ``census``: the census's counts per (experiment, label) (:func:`checks.census_columns`),
  with the values known in every numeric column;
- ``ranges``: rows, first and last time, and per numeric column the minimum, maximum,
  non-finite count and largest fractional part, per (UTC day, label);
- ``hashes``: the 64-bit hashes of the analysed rows' dialog ids;
- ``users``: the per-user aggregates of the heavy pass (:func:`user_pass.pass_sql`) per
  (user, UTC day), a column per aggregate named by a hash of its SQL. The set grows with the
  plans analysed (``aggregates.json``): a plan that needs sums not stored (other metrics)
  extends it, and the ``users`` files are rebuilt once for the larger set. So the plans of
  one experiment (the analysis, one metric's effect over time) share one rollup.

Beside them, per-user totals over a set of parts (:mod:`abkit.analysis.rollup_totals`), from
which a look at the whole log combines one row per user with the newer parts' rows.

A look through day *d* adds the census over every part (the census is always of the whole log,
as in the full scan), the ranges and per-user aggregates of days <= *d* (sums add, minima and
maxima take theirs: :func:`abkit.analysis.looks.cumulative_window`), and then runs the same arm
columns and gates as the full scan. Repeated dialog ids are checked across parts once per set
of parts (a set without repeats has none in any of its looks). A part added to the folder is
rolled up at the next look; a changed part is recomputed and a removed one dropped, each with a
:class:`PartsChanged` warning.

A plan with a quantile metric takes the checks from the rollup and the heavy pass from the
log (:func:`reads_the_log`): its per-user counts at the look's Q̂ cannot be summed ahead, and
a latency's values do not compress (one stored row per dialog read back as slowly as the log's
column; measured in ``benchmarks/bench_looks.py``).

Only what is exact is taken from the rollup (fail closed): :func:`rollup_reason` names what
sends a look to the full scan (capping, covariates, the approximate median of a time column no
quantile reads, segments, looks not ending at a UTC midnight, a folder in which Spark reads
files other than its ``*.parquet`` parts), as do repeated dialog-id hashes and implausible
timestamps, whose messages the full scan writes. A new part's census must count the rows of
its Parquet footer, or its tables are dropped and the look scans the log.

On Spark (a folder of parts read with ``spark=``): the same tables and queries, transpiled
(:mod:`abkit.analysis.spark_source`); the new parts' tables are computed in one job per table,
keyed by part (:mod:`abkit.analysis.rollup_tables`), and the repeated-id check counts on the
executors. A Spark rollup is kept apart from a DuckDB one of the same folder (Spark's 64-bit
hash of an id is another function). The executors write its files and the driver moves them
into place: on a cluster, the folder it is kept in must be on a file system both see.

When: from the second look at a folder (:data:`LOOKS_BEFORE_BUILD`); the first is the full
scan, so a one-off analysis pays nothing for a rollup it would not read again.

Where it is stored: ``cache`` given to :func:`abkit.analysis.engine.aggregate` (an experiment's
``.rollup/`` folder), else :func:`abkit.core.paths.cache_directory` ``/rollup/<folder hash>``.
Sums of non-integer values may differ from the full scan's in the last bits (another order of
floating-point additions); counts and integer sums are the same.
"""

from __future__ import annotations

import datetime
import hashlib
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abkit.analysis import checks
from abkit.analysis.capping import CAP_KEY
from abkit.analysis.checks import Census, checked_columns, read_census
from abkit.analysis.log_source import INTEGER_TYPE, LogSource, sql_text
from abkit.analysis.looks import cumulative_window, daily_passes, day_numbers
from abkit.analysis.metric_kinds import quoted
from abkit.analysis.parts import RACY_NS, checksum, part_prints, read_json, write_json
from abkit.analysis.rollup_looks import accumulate, increments_sql
from abkit.analysis.rollup_tables import (
    ROLLUP_TABLES,
    build_sql,
    check_rows,
    drop_part,
    is_complete,
    on_spark,
    roll_up,
    table_file,
    users_set,
)
from abkit.analysis.rollup_totals import whole_log_rows
from abkit.analysis.user_pass import PassScope, PassSql, UserPass, pass_sql
from abkit.core.duckdb_session import new_cursor
from abkit.core.paths import cache_directory
from abkit.plan.experiment_plan import ExperimentPlan

__all__ = [
    "LOOKS_BEFORE_BUILD",
    "ROLLUP_TABLES",
    "PartsChanged",
    "Rollup",
    "open_rollup",
    "reads_the_log",
    "rollup_reason",
    "tables_connection",
]

_SHARED = ("census", "ranges", "hashes")  # what every plan reads: in the rollup's signature
_FORMAT = "abkit rollup 2"  # in the signature: a new layout never reads an old one
_GLOB_CHARACTERS = set("*?[]{}'")


def _instant(sql: str) -> str:
    """A stored time read back as an instant: Spark writes timestamps as INT96, which DuckDB
    reads as a TIMESTAMP without a zone, in UTC (the session's zone: the cast keeps it)."""
    return f"CAST({sql} AS TIMESTAMPTZ)"


class PartsChanged(UserWarning):
    """A part of a rolled-up log folder changed or disappeared since its statistics were
    stored: they are recomputed or dropped (the look reads the folder as it is now)."""


def rollup_reason(plan: ExperimentPlan, source: LogSource, events: Any) -> str:
    """Why a look at ``events`` under ``plan`` cannot be read from a rollup ("" when it can):
    the values a look needs must add up over parts and days."""
    if not isinstance(events, str | Path) or not Path(events).expanduser().is_dir():
        return "the log is not a folder of Parquet parts"
    if _GLOB_CHARACTERS & set(str(Path(events).expanduser())):
        return "the folder's path holds glob characters"
    spark = on_spark(source)
    if not source.statistics and not spark:
        return "the log is not read from Parquet"
    if spark:
        parts = sorted(str(p.resolve()) for p in Path(events).expanduser().glob("*.parquet"))
        if source.connection.input_files("raw_log") != parts:
            return (
                "Spark reads other files than the folder's *.parquet parts (files in "
                "subfolders, or of other names)"
            )
    if source.pre_period is not None or source.users is not None:
        return "covariate sources are given"
    for metric in plan.metrics or ():
        if metric.cap is not None:
            return f"metric {metric.name!r} is capped (its bounds come from the look's values)"
        if metric.covariate:
            return f"metric {metric.name!r} has a covariate"
    valued = {m.column for m in plan.metrics or () if m.kind == "quantile"}  # exact medians
    for column in checked_columns(plan):
        if plan.column_rule(column).unit in ("ms", "s") and column not in valued:
            return f"column {column!r} has a time unit (the unit gate reads its medians)"
    return ""


def reads_the_log(plan: ExperimentPlan) -> bool:
    """Whether a look under ``plan`` takes only its checks from the rollup and runs the heavy
    pass over the log: a quantile metric's per-user counts at the look's Q̂ do not add up
    ahead of the look."""
    return any(m.kind == "quantile" for m in plan.metrics or ())


def _stored(sql: str) -> str:
    """The column that holds a per-user aggregate in the ``users`` table."""
    return "a" + hashlib.md5(sql.encode()).hexdigest()[:16]


def _user_aggregates(plan: ExperimentPlan) -> dict[str, str] | None:
    """Per-user aggregate SQL -> its stored column, for every set of complete columns a look
    may have (each aggregate depends on whether its own columns are complete); None when one
    does not add up over days."""
    every = frozenset(checked_columns(plan))
    found: dict[str, str] = {}
    for complete in (frozenset(), every):
        for sql, alias in pass_sql(plan, {}, complete).user_cols.items():
            if alias == "uid":
                continue
            if cumulative_window(sql) is None:
                return None
            found[sql] = _stored(sql)
    return found


@dataclass(frozen=True)
class Rollup:
    """A log folder's rollup under one plan, up to date with the folder's parts.

    Attributes:
        folder: where its tables are stored.
        keys: the fingerprint key of each part, in the order of the parts' names.
        aggregates: per-user aggregate SQL -> stored column.
        said: the lines about parts changed or removed since the last look.
        built: the parts rolled up (or recomputed) by this look.
        connection: where the stored tables are queried (:func:`tables_connection`).
    """

    folder: Path
    keys: tuple[str, ...]
    aggregates: Mapping[str, str]
    said: tuple[str, ...] = ()
    built: int = 0
    connection: Any = None

    @property
    def summary(self) -> str:
        """What a look read, for the memo: ``rollup of 14 parts (1 rolled up by this look)``."""
        new = f" ({self.built} rolled up by this look)" if self.built else ""
        return f"rollup of {len(self.keys)} part(s){new}"

    def files(self, table: str, keys: Sequence[str] | None = None) -> str:
        """SQL list of ``table``'s files of every part (or of the parts ``keys``)."""
        chosen = self.keys if keys is None else keys
        paths = [sql_text(str(table_file(self.folder, table, k, self.aggregates))) for k in chosen]
        return f"[{', '.join(paths)}]"

    def _read(self, table: str, keys: Sequence[str]) -> str:
        return f"read_parquet({self.files(table, keys)})"

    def census(self, source: LogSource, plan: ExperimentPlan) -> Census:
        """The census of the whole log (:func:`checks.read_census`), from every part's counts."""
        checked = [c for c in checked_columns(plan) if c in source.columns]
        known = "".join(
            f", CAST(sum({quoted('known:' + c)}) AS BIGINT) AS known{i}"
            for i, c in enumerate(checked)
        )
        counts = ", ".join(
            f"CAST(sum({name}) AS BIGINT) AS {name}"
            for name in ("rows", "null_users", "null_dialogs", "null_times")
        )
        rows = self.connection.execute(
            f"SELECT experiment, variant, {counts}, {_instant('min(first)')} AS first, "
            f"{_instant('max(last)')} AS last"
            f"{known} FROM read_parquet({self.files('census')}) GROUP BY ALL ORDER BY ALL"
        ).df()
        return read_census(rows, source, plan)

    def range_values(
        self, source: LogSource, plan: ExperimentPlan, settled: Mapping[str, Any], day: int | None
    ) -> dict[str, Any]:
        """The range scan's values (:func:`checks.judge_ranges`) of the rows through ``day``,
        with the keys the full scan computes for this log."""
        parts = ["CAST(sum(total_rows) AS BIGINT) AS total_rows"]
        for index, column in enumerate(checked_columns(plan)):

            def stored(key: str, column: str = column) -> str:
                return quoted(f"{key}:{column}")

            if column not in settled:
                parts += [f"min({stored('lo')}) AS lo{index}", f"max({stored('hi')}) AS hi{index}"]
            if not INTEGER_TYPE.match(source.types[column]):
                parts.append(f"CAST(sum({stored('nf')}) AS BIGINT) AS nf{index}")
                if plan.column_rule(column).integer:
                    parts.append(f"max({stored('fr')}) AS fr{index}")
        cursor = self.connection.execute(
            f"SELECT {', '.join(parts)} FROM read_parquet({self.files('ranges')}) "
            f"WHERE {_through(day)}"
        )
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))

    def look_rows(self, source: LogSource, day: int | None) -> tuple[int, Any, Any]:
        """Rows analysed through ``day``, and their first and last time."""
        rows, first, last = self.connection.execute(
            f"SELECT CAST(sum(total_rows) AS BIGINT), {_instant('min(first)')}, "
            f"{_instant('max(last)')} FROM "
            f"read_parquet({self.files('ranges')}) WHERE {_through(day)}"
        ).fetchone()
        return int(rows or 0), first, last

    def unique(self, source: LogSource) -> bool:
        """Whether the analysed rows of all parts together repeat no dialog-id hash. Checked
        once per set of parts: a set found without repeats is stored, and a look at a subset
        (a removed part), or at the same set, is answered from it. The new parts' hashes are
        sorted in numpy (a tenth of the time of SQL ``count(DISTINCT)`` on 10M hashes; beyond
        :data:`abkit.analysis.checks.SORTED_IDS_MAX`, counted in SQL) and looked up among the
        stored set's (a semi-join)."""
        checked_path = self.folder / "unique.json"
        checked = set(read_json(checked_path) or [])
        current = set(self.keys)
        if current <= checked:
            return True
        new = sorted(current - checked)
        old = sorted(current & checked)

        def files(keys: Sequence[str]) -> str:
            paths = [sql_text(str(table_file(self.folder, "hashes", k, {}))) for k in keys]
            return f"read_parquet([{', '.join(paths)}])"

        con = self.connection
        count = int(con.execute(f"SELECT count(*) FROM {files(new)}").fetchone()[0])
        if count > checks.SORTED_IDS_MAX:  # DuckDB's hash table, which can spill to disk
            sql = f"SELECT count(*) - count(DISTINCT h) FROM {files(new)}"
            if con.execute(sql).fetchone()[0]:
                return False
        else:
            fresh = np.sort(con.execute(f"SELECT h FROM {files(new)}").fetchnumpy()["h"])
            if fresh.size > 1 and bool((fresh[1:] == fresh[:-1]).any()):
                return False
        if old:
            repeated = con.execute(
                f"SELECT count(*) FROM {files(new)} WHERE h IN (SELECT h FROM {files(old)})"
            ).fetchone()[0]
            if repeated:
                return False
        write_json(checked_path, sorted(current))
        return True

    def user_pass(
        self, scope: PassScope, day: int | None, new_users: bool
    ) -> tuple[UserPass, np.ndarray | None] | None:
        """The heavy pass of the look through ``day`` from the per-user aggregates, and, with
        ``new_users``, the users first seen each day per arm (the sequential SRM test's
        counts); None when a per-user aggregate of this look is not stored."""
        parts, plan = scope.sql(), scope.plan
        if self._per_user(parts) is None:
            return None
        rows, single = f"read_parquet({self.files('users')}) WHERE {_through(day)}", False
        if day is None:  # kept per-user totals and the newer parts' rows (rollup_totals)
            rows, single = whole_log_rows(self.connection, self.folder, self.aggregates, self.keys)
        per_user = self._per_user(parts, combine=not single)
        u = (
            f"SELECT uid, day AS first_day, {per_user} FROM {rows}"
            if single  # one row per user already
            else f"SELECT uid, min(day) AS first_day, {per_user} FROM {rows} GROUP BY uid"
        )
        con = self.connection
        cursor = con.execute(
            f"SELECT {parts.arm_key} AS arm, {', '.join(parts.arm_cols)} FROM ({u}) GROUP BY arm"
        )
        columns = [d[0] for d in cursor.description]
        result = scope.read([dict(zip(columns, v, strict=True)) for v in cursor.fetchall()])
        if not new_users:
            return result, None
        n_arms = len(plan.labels)
        counts = ", ".join(f"count_if(arm = {k})" for k in range(n_arms))
        rows = con.execute(
            f"SELECT first_day, {counts} FROM (SELECT first_day, {parts.arm_key} AS arm "
            f"FROM ({u})) WHERE arm < {n_arms} GROUP BY first_day ORDER BY first_day"
        ).fetchall()
        return result, np.asarray([row[1:] for row in rows], dtype=float).reshape(-1, n_arms)

    def daily(
        self, scope: PassScope, days: Sequence[datetime.date]
    ) -> dict[datetime.date, UserPass] | None:
        """The heavy pass at the end of each of ``days`` (:func:`looks.daily_passes`), from
        the per-user aggregates by day."""
        numbers = day_numbers(days)
        looks = self.look_passes(scope, list(numbers))
        if looks is not None and len(looks) == len(numbers):
            return {numbers[number]: found for number, found in looks.items()}
        user_days = self._user_days(scope.sql())
        if user_days is None:
            return None
        return daily_passes(scope, days, user_days=user_days)

    def look_passes(
        self, scope: PassScope, days: Sequence[int], kept_only: bool = False
    ) -> dict[int, UserPass] | None:
        """The heavy pass of each look through one of ``days`` from the arm increments of
        every day (:mod:`abkit.analysis.rollup_looks`), kept in the rollup for later looks;
        None when an arm column has no increment (or, ``kept_only``, when they are not kept:
        for one look the pass over users costs less), and a look is left out when it needs
        the pass over users.

        The increments of a set of parts are one query over the per-user aggregates; when the
        increments of a subset of the parts are kept and the other parts hold only later days
        (the day's new part), only those days' increments are computed
        (:meth:`_later_days`)."""
        parts = scope.sql()
        window_of = {
            alias: cumulative_window(sql) or ""
            for sql, alias in parts.user_cols.items()
            if alias != "uid"
        }
        template = increments_sql(parts, "USER_DAYS", window_of)
        if template is None:
            return None
        kinds, above = template[1], template[2]
        name = _digest(template[0])
        stored = self.folder / "looks" / f"{name}-{_digest(' '.join(sorted(self.keys)))}.json"
        kept = read_json(stored)
        if kept is None and kept_only:
            return None
        rows = kept["rows"] if kept is not None else self._later_days(parts, name, window_of)
        if rows is None:
            user_days = self._user_days(parts)
            if user_days is None:
                return None
            rows = self._increments(parts, user_days, window_of)
        if kept is None:
            stored.parent.mkdir(exist_ok=True)
            write_json(stored, {"keys": sorted(self.keys), "rows": rows})
        looks = accumulate(rows, kinds, len(scope.plan.labels), days, above)
        if looks is None:
            return None
        return {day: scope.read(found) for day, found in looks.items()}

    def _increments(
        self, parts: PassSql, user_days: str, window_of: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        sql = increments_sql(parts, user_days, window_of)[0]  # type: ignore[index]
        cursor = self.connection.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def _later_days(
        self, parts: PassSql, name: str, window_of: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        """The increments of every day from those kept for a subset of the parts, when each
        other part's rows all come after the kept ones' last day: the kept rows, and the new
        days' from the new parts' per-user rows, each user's state before them (their sums,
        minima and maxima over the kept parts' rows) standing as one row of the day before.
        The same sums as the query over every part (integer sums exactly, others up to the
        order of additions); None when no such subset is kept."""
        current = set(self.keys)
        best: dict[str, Any] | None = None
        for path in (self.folder / "looks").glob(f"{name}-*.json"):
            found = read_json(path)
            if found and set(found["keys"]) < current:
                if best is None or len(found["keys"]) > len(best["keys"]):
                    best = found
        if best is None:
            return None
        new = sorted(current - set(best["keys"]))
        first = self.connection.execute(
            f"SELECT min(day) FROM {self._read('ranges', new)}"
        ).fetchone()[0]
        last = max((int(row["day"]) for row in best["rows"]), default=None)
        if first is None or (last is not None and int(first) <= last):
            return None  # no new rows, or a new part holds a day already looked at
        per_user = self._per_user(parts)
        if per_user is None:
            return None
        old, added = self._read("users", best["keys"]), self._read("users", new)
        before = int(first) - 1
        user_days = (
            f"SELECT uid, {before} AS day, {per_user} FROM {old} "
            f"WHERE uid IN (SELECT uid FROM {added}) GROUP BY uid "
            f"UNION ALL SELECT uid, day, {per_user} FROM {added} GROUP BY uid, day"
        )
        rows = self._increments(parts, user_days, window_of)
        return best["rows"] + [row for row in rows if int(row["day"]) > before]

    def _per_user(self, parts: PassSql, combine: bool = True) -> str | None:
        """Each per-user aggregate of ``parts`` from the stored rows under its alias, combined
        over rows (sum, min or max: for a GROUP BY) or, ``combine`` false, as stored."""
        columns = []
        for sql, alias in parts.user_cols.items():
            if alias == "uid":
                continue
            stored, window = self.aggregates.get(sql), cumulative_window(sql)
            if stored is None or window is None:
                return None
            columns.append(f"{window}({stored}) AS {alias}" if combine else f"{stored} AS {alias}")
        return ", ".join(columns)

    def _user_days(self, parts: PassSql) -> str | None:
        """SQL of the per-(user, day) aggregates of ``parts`` (``uid``, ``day``, each alias):
        the stored rows as they are when no day is in two parts (a part's rows are one per
        user and day), else combined by user and day."""
        files = f"read_parquet({self.files('ranges')}, filename = 'abkit_part')"
        shared = self.connection.execute(
            f"SELECT count(*) FROM (SELECT day FROM {files} GROUP BY day "
            "HAVING count(DISTINCT abkit_part) > 1)"
        ).fetchone()[0]
        per_user = self._per_user(parts, combine=bool(shared))
        if per_user is None:
            return None
        users = f"read_parquet({self.files('users')})"
        if shared:
            return f"SELECT uid, day, {per_user} FROM {users} GROUP BY uid, day"
        return f"SELECT uid, day, {per_user} FROM {users}"


def tables_connection(source: LogSource) -> Any:
    """Where a rollup's stored tables are queried: the log's DuckDB connection; on Spark, a
    DuckDB connection too (the tables are small local Parquet files, written by Spark, that a
    Spark query would cost a job per look to read; the sums are the same)."""
    return new_cursor() if on_spark(source) else source.connection


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()[:24]


def _through(day: int | None) -> str:
    return "TRUE" if day is None else f"day <= {int(day)}"


def _rollup_folder(events: str | Path, cache: Any, signature: str) -> Path:
    if isinstance(cache, str | Path):
        return Path(cache).expanduser() / signature
    folder = str(Path(events).expanduser().resolve())
    named = hashlib.md5(folder.encode()).hexdigest()[:16]
    return cache_directory() / "rollup" / named / signature


def open_rollup(
    events: str | Path, source: LogSource, plan: ExperimentPlan, cache: Any = True
) -> Rollup | None:
    """The rollup of the folder ``events`` under ``plan``, brought up to date (the parts
    added since the last look rolled up, changed ones recomputed, removed ones dropped:
    :class:`PartsChanged` says so); None when :func:`rollup_reason` gives one, a per-user
    aggregate does not add up over days, or this is the first look at the folder (a one-off
    analysis scans it: :data:`LOOKS_BEFORE_BUILD`).

    ``cache``: the folder to keep it in, or True for the default
    (:func:`abkit.core.paths.cache_directory`)."""
    if rollup_reason(plan, source, events):
        return None
    needed = None if reads_the_log(plan) else _user_aggregates(plan)
    if needed is not None and any(CAP_KEY in key for key in needed):
        return None
    shared = build_sql(source, plan, {})  # all but the per-user aggregates: any metrics
    log_folder = str(Path(events).expanduser().resolve())  # two logs never share a rollup
    tables = [sql for table, sql in shared.items() if table in _SHARED]
    engine = "spark" if on_spark(source) else "duckdb"  # Spark's hash is another function
    text = "\n".join([_FORMAT, engine, log_folder, source.select, shared["users"], *tables])
    signature = hashlib.md5(text.encode()).hexdigest()[:16]
    folder = _rollup_folder(events, cache, signature)
    try:
        if not _looked_before(folder):
            return None  # a one-off look scans the log: the rollup is built from the next one
        return _refresh(events, source, plan, folder, needed)
    except OSError as error:  # a folder that cannot be written: the look scans the log
        warnings.warn(
            f"the rollup in {folder} cannot be kept ({error}): the log is scanned whole "
            "(set ABKIT_CACHE_DIR, or cache=False / --no-cache)",
            PartsChanged,
            stacklevel=3,
        )
        return None


LOOKS_BEFORE_BUILD = 1  # looks at a folder that scan it before its rollup is built


def _looked_before(folder: Path) -> bool:
    """Whether the folder's rollup is kept (built, or :data:`LOOKS_BEFORE_BUILD` looks were
    taken): a one-off analysis of a folder costs a full scan and nothing stored but a note
    of the look (``scans.json``), the next look builds the rollup."""
    if (folder / "parts.json").is_file():
        return True
    noted = folder / "scans.json"
    taken = int(read_json(noted) or 0)
    if taken >= LOOKS_BEFORE_BUILD:
        return True
    folder.mkdir(parents=True, exist_ok=True)
    write_json(noted, taken + 1)
    return False


def _refresh(
    events: str | Path,
    source: LogSource,
    plan: ExperimentPlan,
    folder: Path,
    needed: Mapping[str, str] | None,
) -> Rollup:
    """Bring the rollup in ``folder`` up to date with the parts of ``events`` (see
    :func:`open_rollup`); ``needed``: the per-user aggregates of ``plan``, None when its heavy
    pass reads the log (only the tables of the checks are then kept up to date)."""
    for table in ROLLUP_TABLES:
        (folder / table).mkdir(parents=True, exist_ok=True)
    aggregates = read_json(folder / "aggregates.json") or {}
    if needed is not None and not needed.keys() <= aggregates.keys():  # other metrics: theirs
        aggregates = dict(sorted((aggregates | needed).items()))
        write_json(folder / "aggregates.json", aggregates)
        for stale in (folder / "users").glob("*.parquet"):
            if not stale.name.endswith(f"-{users_set(aggregates)}.parquet"):
                stale.unlink(missing_ok=True)
    build = build_sql(source, plan, aggregates, keyed=on_spark(source))
    if needed is None:
        build = {table: build[table] for table in _SHARED}
    parts_folder = Path(events).expanduser()
    connection = tables_connection(source)
    keys, said, missing, changed = {}, [], [], False
    manifest = read_json(folder / "parts.json") or {}
    for part in part_prints(parts_folder):
        entry = manifest.get(part.name) or {}
        if entry.get("print") == part.text and part.modified_ns < entry.get("seen", 0) - RACY_NS:
            keys[part.name] = entry["key"]  # unchanged since well before it was read
            continue
        seen = time.time_ns()  # before its bytes are read: a later write shows as racy
        content = f"{part.text}|{checksum(parts_folder / part.name)}"
        key = hashlib.md5(content.encode()).hexdigest()[:24]
        keys[part.name], changed = key, True
        if entry.get("key") == key:  # the same bytes: trusted from now on
            manifest[part.name] = entry | {"print": part.text, "seen": seen}
            continue
        if entry:
            said.append(
                f"part {part.name} changed since it was rolled up (size {entry['size']:,} -> "
                f"{part.size:,} bytes, rows {entry['rows']:,} -> {part.rows:,}): its "
                "statistics are recomputed"
            )
            drop_part(folder, entry["key"])
        manifest[part.name] = {
            "key": key,
            "print": part.text,
            "seen": seen,
            "size": part.size,
            "rows": part.rows,
        }
    for name in sorted(set(manifest) - set(keys)):
        said.append(f"part {name} is no longer in the folder: its statistics are dropped")
        drop_part(folder, manifest.pop(name)["key"])
        changed = True
    missing = [
        name for name, key in keys.items() if not is_complete(folder, key, aggregates, build)
    ]
    if missing:
        parts = {name: keys[name] for name in missing}
        rows = sum(int(manifest[name]["rows"]) for name in missing)
        roll_up(events, source, build, folder, parts, aggregates, rows)
        check_rows(connection, folder, {keys[n]: int(manifest[n]["rows"]) for n in missing})
    if changed or missing:
        write_json(folder / "parts.json", manifest)
    label = str(parts_folder)
    for line in said:
        warnings.warn(f"log folder {label}: {line}", PartsChanged, stacklevel=4)
    return Rollup(folder, tuple(keys.values()), aggregates, tuple(said), len(missing), connection)
