"""Opening a dialog log: any source as one DuckDB view ``log`` with canonical names and types.

A Parquet file or folder, a CSV file, a DuckDB table, or a pandas DataFrame (which DuckDB reads
in place). The column map is applied, required columns checked, ids and labels read as text,
metric columns as DOUBLE, timestamps normalized (epoch seconds or milliseconds by magnitude).
Paths are always literal: a file named ``events[1].csv`` is that file, never a glob pattern.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from abkit.analysis.log_types import INTEGER_TYPE, NUMERIC_TYPE, timestamp_sql
from abkit.analysis.metric_kinds import quoted
from abkit.analysis.part_schema import AbsentColumn, check_part_schemas, refuse_absent_keys
from abkit.core.duckdb_session import connect, shared_cursor
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.metrics import REQUIRED_COLUMNS
from abkit.serve.events import (
    DEFAULT_VARIANTS,
    DIALOG_SCHEMA,
    EVENT_SCHEMA,
    LogValidationError,
    Schema,
    _check_table,
    _connect_duckdb,
    _store_kind,
    validate,
)

__all__ = [
    "INTEGER_TYPE",
    "NUMERIC_TYPE",
    "LogSource",
    "create_view",
    "duckdb_reason",
    "log_columns",
    "open_log",
    "open_pre_period",
    "sql_text",
    "text_columns",
    "unreadable",
]

_GLOB_CHARACTERS = set("*?[]{}")


def duckdb_reason(error: Exception) -> str:
    """The first line of a DuckDB error (its SQL context lines are noise to a user), with the
    lines of a CSV reading error that name the column, the value and the file.

    >>> message = ["Conversion Error: CSV Error on Line: 2", "Original Line: a,T",
    ...     "Error when converting column x: T", "  file = /tmp/log.csv"]
    >>> duckdb_reason(ValueError(chr(10).join(message)))
    'Conversion Error: CSV Error on Line: 2; Error when converting column x: T; file = /tmp/log.csv'
    """
    lines = [line.strip() for line in str(error).strip().splitlines()]
    if not lines or not lines[0]:
        return type(error).__name__
    named = [line for line in lines[1:] if line.startswith(("Error when converting", "file = "))]
    return "; ".join([lines[0], *named])


def unreadable(name: str, label: str, error: Exception) -> LogValidationError:
    """The error for a file DuckDB cannot read: text that is not UTF-8 is named as such."""
    reason = duckdb_reason(error)
    if "unicode" in str(error).lower() or "not utf-8" in str(error).lower():
        return LogValidationError(
            f"{name} == '{label}' is not UTF-8 text: re-save it as UTF-8 (e.g. from Latin-1)"
        )
    return LogValidationError(f"{name} == '{label}' cannot be read: {reason}")


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------- opening a log

_DATABASE_SUFFIXES = (".duckdb", ".db", ".ddb")


@contextlib.contextmanager
def _connection(*sources: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection for one opening of a log, closed at the end of the block: a cursor
    on the process's shared in-memory database (:func:`abkit.core.duckdb_session.shared_cursor`).
    A DuckDB file is ATTACHed, which every connection of a database would see: with one among
    ``sources``, the connection gets a database of its own.
    """
    if any(
        isinstance(s, str | Path) and Path(s).suffix.lower() in _DATABASE_SUFFIXES for s in sources
    ):
        with connect() as own:
            yield own
        return
    with shared_cursor() as connection:
        yield connection


@dataclass(frozen=True)
class LogSource:
    """An open log: a DuckDB connection with the view ``log`` (canonical names and types).

    Attributes:
        connection: holds the views; closed when the :func:`open_log` block ends.
        columns: the log's canonical column names (after the column map).
        types: DuckDB type of each raw column, by canonical name.
        label: what the user gave (a path or "DataFrame"), for messages.
        pre_period, users: the pre-period log (view ``pre_log``) and the users table (view
            ``users_table``), when given.
        statistics: the raw relation when it is a Parquet read, whose min / max of a column
            DuckDB takes from the files' statistics (exact for integer columns), else "".
        raw_names: the log's own name of each canonical column.
        select: the view's columns over the raw relation (for the rollup's view of one part).
        absent: by canonical name, the columns some parts of a folder log lack.
    """

    connection: duckdb.DuckDBPyConnection
    columns: tuple[str, ...]
    types: Mapping[str, str]
    label: str
    pre_period: LogSource | None = None
    users: LogSource | None = None
    statistics: str = ""
    raw_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    select: str = ""
    absent: Mapping[str, AbsentColumn] = dataclasses.field(default_factory=dict)


def _literal_path(path: Path, stack: contextlib.ExitStack) -> str:
    """``path`` as DuckDB will read it literally: a symlink with a plain name when the real name
    holds glob characters (DuckDB expands ``[`` ``*`` ``?`` ``{`` in file names)."""
    text = str(path)
    if not _GLOB_CHARACTERS & set(text):
        return text
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="abkit-log-"))
    link = Path(folder) / ("log" + "".join(path.suffixes[-1:]) if path.is_file() else "log")
    os.symlink(path.resolve(), link)
    return str(link)


# What pandas calls an object column holding values of several kinds (numbers and text, mostly).
_MIXED_OBJECTS = ("mixed", "mixed-integer", "mixed-integer-float")


def _refuse_mixed_object_columns(frame: pd.DataFrame, name: str) -> None:
    """Refuse an object column of a DataFrame whose values are of several kinds (numbers and
    text): DuckDB types such a column from a sample of its rows, so it would fail on a row past
    the sample, or read every value as text, depending on where the odd value sits."""
    for column in frame.columns[[pd.api.types.is_object_dtype(t) for t in frame.dtypes]]:
        values = frame[column].dropna()
        if pd.api.types.infer_dtype(values, skipna=True) not in _MIXED_OBJECTS:
            continue
        kinds = values.map(lambda v: type(v).__name__)
        counts = kinds.value_counts()
        rarest = kinds == counts.index[-1]
        example = values[rarest].iloc[0]
        example = example.item() if hasattr(example, "item") else example  # np.int64(5) -> 5
        raise LogValidationError(
            f"{name}: DataFrame column {str(column)!r} holds values of several types "
            f"({ {k: int(v) for k, v in counts.items()} }), e.g. {example!r} in "
            f"row {values.index[rarest][0]!r}; give it one type (pd.to_numeric for numbers, "
            ".astype(str) for ids and labels)"
        )


def _raw_relation(
    events: pd.DataFrame | str | Path,
    table: str,
    connection: duckdb.DuckDBPyConnection,
    stack: contextlib.ExitStack,
    text_columns: frozenset[str] = frozenset(),
    view: str = "log",
    name: str = "events",
) -> tuple[str, str, dict[str, AbsentColumn]]:
    """The SQL name of the raw log, a label for messages and, for a folder, the columns some
    parts lack (:func:`~abkit.analysis.part_schema.check_part_schemas`)."""
    if isinstance(events, pd.DataFrame):
        _refuse_mixed_object_columns(events, name)
        connection.register(f"raw_{view}", events)
        return f"raw_{view}", "DataFrame", {}
    if not isinstance(events, str | Path):
        raise TypeError(
            f"{name} == {type(events).__name__}, must be a DataFrame or the path of a .parquet "
            "file or folder, a .csv file or a .duckdb database"
        )
    path = Path(events).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name} == '{path}': no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise LogValidationError(f"{name} == '{path}' is empty (0 bytes)")
    suffix = path.suffix.lower()
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise LogValidationError(f"{name} == '{path}': a folder with no .parquet files")
        glob = sql_text(str(Path(_literal_path(path, stack)) / "*.parquet"))
        absent = check_part_schemas(connection, glob, name, str(path), text_columns)
        # by name: a part without a column gives NULLs there (missing values, counted), and
        # a column is read in the type that holds every part's values (BIGINT and DOUBLE
        # parts: DOUBLE), never cast to the first part's type (0.5 rounded to a BIGINT 1)
        return f"read_parquet({glob}, union_by_name = true)", str(path), absent
    if suffix == ".parquet":
        return f"read_parquet({sql_text(_literal_path(path, stack))})", str(path), {}
    if suffix == ".csv":
        literal = sql_text(_literal_path(path, stack))
        try:
            sniffed = connection.execute(f"DESCRIBE SELECT * FROM read_csv({literal})").fetchall()
        except duckdb.Error as error:
            raise unreadable(name, str(path), error) from None
        # ids and labels stay text: 007 is not 7
        typed = ", ".join(
            f"{sql_text(row[0])}: 'VARCHAR'" for row in sniffed if row[0] in text_columns
        )
        return (
            f"read_csv({literal}, types={{{typed}}})" if typed else (f"read_csv({literal})"),
            str(path),
            {},
        )
    if suffix in _DATABASE_SUFFIXES:
        database = f"source_{view}"
        try:
            connection.execute(f"ATTACH {sql_text(str(path))} AS {database} (READ_ONLY)")
        except duckdb.Error as error:
            raise LogValidationError(
                f"{name} == '{path}' is not a readable DuckDB database ({duckdb_reason(error)})"
            ) from None
        tables = sorted(
            row[0]
            for row in connection.execute(
                f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{database}'"
            ).fetchall()
        )
        if table not in tables:
            raise ValueError(f"table == {table!r} not in {path}; it has {tables}")
        return f"{database}.{quoted(table)}", str(path), {}
    raise ValueError(
        f"{name} == '{path}', must be a .parquet file or folder, a .csv file or a .duckdb database"
    )


def _canonical(
    raw_types: Mapping[str, str], mapping: Mapping[str, str], label: str
) -> dict[str, str]:
    """Canonical name -> the log's own column name, after the column map."""
    absent = [c for c in mapping if c not in raw_types]
    if absent:
        raise LogValidationError(
            f"column_map names column(s) {absent} that {label} does not have; its columns "
            f"are {list(raw_types)}"
        )
    clash = [t for s, t in mapping.items() if t in raw_types and t not in mapping and t != s]
    if clash:
        raise LogValidationError(
            f"column_map maps onto {clash}, which {label} already has; map or drop one"
        )
    return {mapping.get(c, c): c for c in raw_types}


def log_columns(
    events: pd.DataFrame | str | Path,
    *,
    table: str = "dialogs",
    column_map: Mapping[str, str] | None = None,
) -> list[str]:
    """The log's column names after the column map (reads the schema only)."""
    with contextlib.ExitStack() as stack:
        connection = stack.enter_context(_connection(events))
        raw, label, _ = _raw_relation(events, table, connection, stack)
        described = connection.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()
        return list(_canonical({r[0]: str(r[1]) for r in described}, column_map or {}, label))


def _create_view(
    connection: duckdb.DuckDBPyConnection,
    stack: contextlib.ExitStack,
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    *,
    table: str,
    view: str,
    required: tuple[str, ...],
    what: str,
    name: str = "events",
) -> LogSource:
    """Create ``view`` over ``events`` with canonical names and types; see :func:`open_log`."""
    text = text_columns(plan)
    raw, label, absent = _raw_relation(events, table, connection, stack, text, view, name)
    try:
        connection.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()
    except duckdb.Error as error:
        raise unreadable(name, label, error) from None
    if raw.startswith("read_csv("):
        raw = _loaded(connection, raw, f"raw_{view}")
    return create_view(
        connection, raw, label, plan, view=view, required=required, what=what, absent=absent
    )


_IDS = ("user_id", "dialog_id", "variant", "experiment")


def text_columns(plan: ExperimentPlan) -> frozenset[str]:
    """The columns read as text whatever a file holds (ids and labels: 007 is not 7), by
    canonical name and by the log's own name under the plan's column map."""
    return frozenset(_IDS) | {c for c, t in plan.column_map.items() if t in _IDS}


def create_view(
    connection: Any,
    raw: str,
    label: str,
    plan: ExperimentPlan,
    *,
    view: str,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    what: str = "dialog log",
    absent: Mapping[str, AbsentColumn] | None = None,
) -> LogSource:
    """The view ``view`` over the relation ``raw`` with canonical names and types, on any
    connection that runs the engine's SQL (DuckDB, or Spark through
    :class:`abkit.analysis.spark_source.SparkConnection`): the column map, the required columns,
    ids as text, metric columns as DOUBLE, timestamps normalized. ``absent``: the columns some
    parts of a folder lack (a required column or the experiment: refused; others are kept in
    :attr:`LogSource.absent` by canonical name)."""
    described = connection.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()
    raw_types = {row[0]: str(row[1]) for row in described}
    absent = absent or {}
    owned = {canonical: own for own, canonical in plan.column_map.items()}
    keys = {k: owned.get(k, k) for k in (*required, "experiment")}
    refuse_absent_keys(absent, {k: own for k, own in keys.items() if own in raw_types}, what, label)
    canonical = _canonical(raw_types, plan.column_map, label)
    missing = [c for c in required if c not in canonical]
    if missing:
        raise LogValidationError(
            f"{what} {label} is invalid: missing required column(s) {missing}; its "
            f"columns are {list(raw_types)} (map yours with column_map)"
        )
    types = {name: raw_types[source] for name, source in canonical.items()}
    for key in ("user_id", "dialog_id"):
        if key not in types:
            continue
        if types[key] in ("DOUBLE", "FLOAT", "REAL") or types[key].startswith("DECIMAL"):
            raise LogValidationError(
                f"{what} {label}: column '{canonical[key]}' has type {types[key]}, must hold "
                "text or integers (a float id such as 123.0 does not match '123')"
            )
    select = [f"CAST({quoted(canonical[k])} AS VARCHAR) AS {k}" for k in _IDS if k in canonical]
    for key in ("timestamp", "measured_at"):
        if key in canonical:
            ts = timestamp_sql(connection, raw, canonical[key], types[key], plan, key)
            select.append(f"{ts} AS {key}")
    for name, source in canonical.items():
        if name in (*REQUIRED_COLUMNS, "experiment", "measured_at"):
            continue
        if types[name] == "BOOLEAN":  # by way of TINYINT: DuckDB 2.0 pushes a BOOLEAN ->
            # DOUBLE cast into its CSV reader, which then fails on the text "True"
            select.append(f"CAST(CAST({quoted(source)} AS TINYINT) AS DOUBLE) AS {quoted(name)}")
        elif NUMERIC_TYPE.match(types[name]):
            select.append(f"CAST({quoted(source)} AS DOUBLE) AS {quoted(name)}")
        else:
            select.append(f"{quoted(source)} AS {quoted(name)}")
    columns = ", ".join(select)
    connection.execute(f"CREATE TEMP VIEW {view} AS SELECT {columns} FROM {raw}")
    statistics = raw if raw.startswith("read_parquet(") else ""
    return LogSource(
        connection,
        tuple(canonical),
        types,
        label,
        statistics=statistics,
        raw_names=canonical,
        select=columns,
        absent={c: absent[r] for c, r in canonical.items() if r in absent},
    )


def _pre_period_view(
    connection: duckdb.DuckDBPyConnection,
    stack: contextlib.ExitStack,
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    table: str,
) -> LogSource:
    """The view ``pre_log``: ``user_id``, ``timestamp`` and metric columns are enough."""
    return _create_view(
        connection,
        stack,
        events,
        plan,
        table=table,
        view="pre_log",
        required=("user_id", "timestamp"),
        what="pre-period log",
        name="pre_period",
    )


@contextlib.contextmanager
def open_log(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    *,
    table: str = "dialogs",
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
) -> Iterator[LogSource]:
    """Open a log as the DuckDB view ``log`` with canonical names and types.

    The column map is applied, required columns checked, ids and labels read as text, metric
    columns as DOUBLE (booleans as 1/0; text refused), timestamps normalized. A pre-period log
    (``user_id``, ``timestamp`` and metric columns) becomes the view ``pre_log`` and a users
    table (``user_id``, ``measured_at`` and covariate columns) the view ``users_table``, in the
    same connection; their sources are ``LogSource.pre_period`` and ``LogSource.users``.

    Raises:
        FileNotFoundError, ValueError, LogValidationError: a message naming the file, column,
            value and what is allowed.
    """
    with contextlib.ExitStack() as stack:
        connection = stack.enter_context(_connection(events, pre_period, users))
        source = _create_view(
            connection,
            stack,
            events,
            plan,
            table=table,
            view="log",
            required=REQUIRED_COLUMNS,
            what="dialog log",
        )
        extra = {}
        if pre_period is not None:
            extra["pre_period"] = _pre_period_view(connection, stack, pre_period, plan, table)
        if users is not None:
            extra["users"] = _create_view(
                connection,
                stack,
                users,
                plan,
                table="users",
                view="users_table",
                required=("user_id", "measured_at"),
                what="users table",
                name="users",
            )
        try:
            yield dataclasses.replace(source, **extra)
        except (duckdb.ConversionException, duckdb.InvalidInputException) as error:
            if not _is_reading_error(error):
                raise
            raise LogValidationError(f"a value cannot be read: {duckdb_reason(error)}") from None


def _loaded(connection: duckdb.DuckDBPyConnection, relation: str, table: str) -> str:
    """``relation`` (a CSV read) parsed once into the TEMP table ``table`` of this connection:
    DuckDB parses a CSV again for each query, and an analysis runs six to ten (the example log:
    1.3 s, loaded once 0.6 s). The values stay in memory while the log is open. A value the
    sniffer's types cannot hold (text past its first 20,480 rows) stops here, with its line."""
    try:
        connection.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}")
    except (duckdb.ConversionException, duckdb.InvalidInputException) as error:
        if not _is_reading_error(error):
            raise
        raise LogValidationError(f"a value cannot be read: {duckdb_reason(error)}") from None
    return table


def _is_reading_error(error: Exception) -> bool:
    """A CSV value or line DuckDB could not read while a query ran (DuckDB reads a CSV file
    again for every query, so this shows only then): the user's data, not the kit's SQL."""
    return isinstance(error, duckdb.ConversionException) or "CSV Error" in str(error)


@contextlib.contextmanager
def open_pre_period(
    events: pd.DataFrame | str | Path, plan: ExperimentPlan, *, table: str = "dialogs"
) -> Iterator[LogSource]:
    """A pre-period log alone (``user_id``, ``timestamp``, metric columns) as the view
    ``pre_log``, to size an experiment from it (``abkit.analysis.covariates``)."""
    with contextlib.ExitStack() as stack:
        connection = stack.enter_context(_connection(events))
        yield _pre_period_view(connection, stack, events, plan, table)


def read_log_frame(
    events: str | Path, *, table: str = "dialogs", column_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A dialog log read by the analysis's own reader (:func:`open_log`: the same CSV dialects,
    decimal commas, epoch numbers, time zone and messages), as a DataFrame with canonical names.
    What :func:`abkit.analysis.log_source.read_log` returns for a dialog log."""
    plan = ExperimentPlan(column_map=dict(column_map or {}))
    with open_log(events, plan, table=table) as source:
        frame = source.connection.execute("SELECT * FROM log").df()
        order = [c for c in source.types if c in frame.columns]  # the file's column order
        return frame[order + [c for c in frame.columns if c not in order]]


def read_log(
    path: str | Path,
    *,
    schema: Schema = DIALOG_SCHEMA,
    table: str = "dialogs",
    variants: Sequence[str] | None = DEFAULT_VARIANTS,
    column_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a log from Parquet (file or folder of parts), CSV or a DuckDB table, and validate it.

    An event log in a CSV file or a folder of Parquet parts (with no ``column_map``) is read as
    :meth:`abkit.serve.event_store.EventStore.read` reads it: under the writers' lock, skipping (and
    counting, in a warning) rows torn by a crash and parts being written, so a read during
    writes never sees half an event. A DuckDB file locked by a writer is retried for 30 s.

    Raises:
        FileNotFoundError: no such file; LogValidationError: see :func:`validate`.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"path == '{source}': no such file or folder")
    kind = _store_kind(source)
    if schema is EVENT_SCHEMA and column_map is None and (kind == "csv" or source.is_dir()):
        from abkit.serve.event_store import EventStore  # the store's reader, which knows torn rows

        return EventStore(source, variants=variants).read()
    if schema is DIALOG_SCHEMA:  # the analysis's reader: one reader, the same messages
        from abkit.analysis.log_source import read_log_frame

        frame = read_log_frame(source, table=table, column_map=column_map)
        return validate(frame, schema, variants=variants)
    if kind == "parquet":
        frame = pq.read_table(source).to_pandas()
    elif kind == "csv":
        frame = pd.read_csv(source, dtype={schema.key: str, "user_id": str})
    else:
        with _connect_duckdb(source, read_only=True) as connection:
            tables = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
            if table not in tables:
                raise ValueError(f"table == {table!r} not in {source}; it has {sorted(tables)}")
            frame = (
                connection.sql(f"SELECT * FROM {_check_table(table)}").to_arrow_table().to_pandas()
            )
    return validate(frame, schema, variants=variants, column_map=column_map)
