"""The experiment's logs: their schemas, validation, and the files and databases that hold them.

Two tables, documented column by column in ``data/README.md``:

- the **event log** (:data:`EVENT_SCHEMA`): what the serving wrapper writes, one row per
  event — an ``exposure`` for every response served (variant, model, latency, tokens, status)
  and an ``outcome`` for everything learnt later about a dialog (resolved, escalated, csat,
  like, dislike, returned_7d, turns);
- the **dialog log** (:data:`DIALOG_SCHEMA`): one row per dialog with its outcomes, what the
  analysis reads and the simulator writes; :func:`fold_dialogs` turns events into dialogs.

Stores: Parquet (a file, or a folder of part files for appends), CSV, and a DuckDB database
file (the embedded default). :class:`EventStore` appends from many threads through one
locked buffer, so nothing is lost or written twice. This is the only module that reads or
writes files and databases.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

__all__ = [
    "DIALOG_SCHEMA",
    "EVENT_SCHEMA",
    "Column",
    "EventStore",
    "LogValidationError",
    "Schema",
    "fold_dialogs",
    "read_log",
    "validate",
    "write_log",
]

Kind = Literal["string", "timestamp", "float", "count", "flag"]
DEFAULT_VARIANTS = ("control", "treatment")
OUTCOMES = ("resolved", "escalated", "csat", "like", "dislike", "returned_7d", "turns")


@dataclass(frozen=True)
class Column:
    """One column of a log: its type, whether it must be present, and allowed values."""

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class Schema:
    """A log's columns and the column whose values must be unique."""

    name: str
    columns: tuple[Column, ...]
    key: str

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


EVENT_SCHEMA = Schema(
    name="event log",
    key="event_id",
    columns=(
        Column("event_id", "string", True, False, description="unique id of the event"),
        Column("timestamp", "timestamp", True, False, description="when it happened, UTC"),
        Column("experiment", "string", description="experiment name"),
        Column("user_id", "string", True, False, description="randomization unit"),
        Column("dialog_id", "string", True, False, description="the dialog it belongs to"),
        Column("variant", "string", True, False, description="arm the user was assigned to"),
        Column("model_version", "string", description="model that served the response"),
        Column(
            "event_type",
            "string",
            True,
            False,
            ("exposure", "outcome"),
            "exposure: a response served; outcome: something learnt about the dialog",
        ),
        Column(
            "status",
            "string",
            allowed=("ok", "error"),
            description="exposures: ok, or error when the model call failed",
        ),
        Column("latency_ms", "float", description="exposures: time to the full response, ms"),
        Column("tokens_out", "float", description="exposures: tokens generated"),
        Column("outcome", "string", allowed=OUTCOMES, description="outcomes: which one"),
        Column("value", "float", description="outcomes: its value (1/0, CSAT 1-5, turns)"),
    ),
)

DIALOG_SCHEMA = Schema(
    name="dialog log",
    key="dialog_id",
    columns=(
        Column("dialog_id", "string", True, False, description="unique id of the dialog"),
        Column("user_id", "string", True, False, description="randomization unit"),
        Column("variant", "string", True, False, description="arm the user was assigned to"),
        Column("timestamp", "timestamp", True, False, description="dialog start, UTC"),
        Column("experiment", "string", description="experiment name"),
        Column("model_version", "string", description="model that served the dialog"),
        Column("turns", "count", description="user messages until the dialog ended"),
        Column("completed", "flag", description="1 if the task was solved without escalation"),
        Column("escalated", "flag", description="1 if handed to a human"),
        Column("csat", "float", description="satisfaction 1-5; empty when not rated"),
        Column("latency_ms", "float", description="mean response latency in the dialog, ms"),
        Column("tokens_out", "float", description="tokens generated in the dialog"),
        Column("likes", "count", description="responses rated thumbs-up"),
        Column("dislikes", "count", description="responses rated thumbs-down"),
        Column("returned_7d", "flag", description="1 if the user came back within 7 days"),
        Column("error", "flag", description="1 if a model call in the dialog failed"),
    ),
)


class LogValidationError(ValueError):
    """A log failed validation; the message lists every problem found."""


# --------------------------------------------------------------------------- validation


def _coerce(series: pd.Series, column: Column, problems: list[str]) -> pd.Series:
    """Convert a column to its kind, recording a problem (not raising) when it cannot be."""
    name = column.name
    present = series.notna()
    if column.kind == "string":
        if pd.api.types.is_float_dtype(series.dtype) and present.any():
            problems.append(
                f"column '{name}' has dtype {series.dtype}, must hold text or "
                "integers (a float id such as 123.0 does not match '123')"
            )
            return series
        converted = series.astype("string")
        if pd.api.types.is_object_dtype(series.dtype):
            odd = series[present].map(lambda v: not isinstance(v, str | int | np.integer))
            if odd.any():
                bad = series[present][odd].iloc[0]
                problems.append(
                    f"column '{name}' holds {type(bad).__name__} values such as "
                    f"{bad!r}, must hold text"
                )
        return converted
    if column.kind == "timestamp":
        try:
            return pd.to_datetime(series, utc=True)
        except (ValueError, TypeError) as error:
            problems.append(f"column '{name}' cannot be read as timestamps ({error})")
            return series
    numeric = (
        pd.to_numeric(series, errors="coerce") if series.dtype != bool else series.astype(float)
    )
    unreadable = present & numeric.isna()
    if unreadable.any():
        row = int(np.flatnonzero(unreadable.to_numpy())[0])
        problems.append(f"column '{name}' must be numeric, found {series.iloc[row]!r} in row {row}")
        return series
    numeric = numeric.astype(float)
    if column.kind in ("count", "flag"):
        values = numeric[present]
        if ((values % 1) != 0).any() or (values < 0).any():
            problems.append(f"column '{name}' must hold whole numbers >= 0")
        elif column.kind == "flag" and (values > 1).any():
            problems.append(f"column '{name}' is a 0/1 flag, found {values.max():g}")
        if not present.all():
            return numeric  # keep NaN for missing counts
        return numeric.astype("int64")
    return numeric


def validate(
    frame: pd.DataFrame,
    schema: Schema = DIALOG_SCHEMA,
    *,
    variants: Sequence[str] | None = DEFAULT_VARIANTS,
    column_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Check a log against its schema and return a copy with canonical names and types.

    Args:
        frame: the log.
        schema: :data:`DIALOG_SCHEMA` or :data:`EVENT_SCHEMA`.
        variants: the allowed variant labels (None: any).
        column_map: your column name -> the schema's name, for logs with other names.

    Raises:
        LogValidationError: listing every problem: missing columns, unreadable types, nulls
            where none are allowed, unknown labels, duplicate keys. Extra columns are kept.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"log == {type(frame).__name__}, must be a pandas DataFrame")
    problems: list[str] = []
    if column_map:
        absent = [source for source in column_map if source not in frame.columns]
        if absent:
            raise LogValidationError(
                f"{schema.name}: column_map names column(s) {absent} that the log does not "
                f"have; its columns are {list(frame.columns)}"
            )
        unknown_targets = [target for target in column_map.values() if target not in schema.names]
        if unknown_targets:
            raise LogValidationError(
                f"{schema.name}: column_map maps to {unknown_targets}, which are not columns of "
                f"the schema: {schema.names}"
            )
        frame = frame.rename(columns=dict(column_map))
    missing = [c.name for c in schema.columns if c.required and c.name not in frame.columns]
    if missing:
        problems.append(f"missing required column(s) {missing}")
    result = frame.copy()
    for column in schema.columns:
        if column.name not in result.columns:
            continue
        result[column.name] = _coerce(result[column.name], column, problems)
        nulls = result[column.name].isna()
        if not column.nullable and nulls.any():
            rows = np.flatnonzero(nulls.to_numpy())[:5].tolist()
            problems.append(
                f"column '{column.name}' has {int(nulls.sum())} null value(s) "
                f"(rows {rows}), none allowed"
            )
        if column.allowed is not None:
            values = result[column.name][~nulls]
            bad = sorted(set(values.astype(str)) - set(column.allowed))
            if bad:
                problems.append(
                    f"column '{column.name}' has value(s) {bad}, allowed: {list(column.allowed)}"
                )
    if variants is not None and "variant" in result.columns:
        labels = set(result["variant"].dropna().astype(str))
        unknown = sorted(labels - set(variants))
        if unknown:
            counts = result["variant"].astype(str).isin(unknown).sum()
            problems.append(
                f"unknown variant label(s) {unknown} in {counts} row(s), allowed: {list(variants)}"
            )
    if schema.key in result.columns:
        duplicated = result[schema.key].duplicated(keep=False) & result[schema.key].notna()
        if duplicated.any():
            examples = result.loc[duplicated, schema.key].astype(str).unique()[:3].tolist()
            problems.append(
                f"{int(duplicated.sum())} rows share a duplicate {schema.key} "
                f"(e.g. {examples}); each must be unique"
            )
    if len(result) == 0:
        problems.append("the log has no rows")
    if problems:
        raise LogValidationError(f"{schema.name} is invalid: " + "; ".join(problems))
    return result


# --------------------------------------------------------------------------- files


_DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")


def _store_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet" or (path.is_dir() and suffix == ""):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if suffix in _DUCKDB_SUFFIXES:
        return "duckdb"
    raise ValueError(
        f"path == '{path}', must end in .parquet (or be a folder of Parquet parts), .csv, or "
        f"{', '.join(_DUCKDB_SUFFIXES)} for a DuckDB database"
    )


def _check_table(table: str) -> str:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table == {table!r}, must be letters, digits and underscores")
    return table


def write_log(frame: pd.DataFrame, path: str | Path, *, table: str = "dialogs") -> Path:
    """Write a log to a .parquet file, a .csv file, or a table of a DuckDB database file.

    An existing file (or DuckDB table) is replaced.
    """
    target = Path(path)
    kind = _store_kind(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.to_parquet(target, index=False)
    elif kind == "csv":
        frame.to_csv(target, index=False)
    else:
        with duckdb.connect(str(target)) as connection:
            connection.register("incoming", frame)
            connection.execute(
                f"CREATE OR REPLACE TABLE {_check_table(table)} AS SELECT * FROM incoming"
            )
    return target


def write_log_blocks(
    frames: Iterable[pd.DataFrame], path: str | Path, *, table: str = "dialogs"
) -> tuple[Path, int]:
    """Write a log given as successive blocks of rows (a stream), replacing the file.

    Parquet: one row group per block through one writer (the blocks' columns must agree);
    CSV: one header, then each block; DuckDB: a table created from the first block, the others
    inserted. Only one block is in memory at a time. Returns the path and the rows written.
    The file appears under its name only when complete (written to a temporary name first).
    """
    import concurrent.futures

    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    kind = _store_kind(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    rows = 0
    writer = None
    try:
        if kind == "duckdb":
            connection = duckdb.connect(str(partial))
        pending = None  # Parquet: the previous block is written while the next is made
        for index, frame in enumerate(frames):
            rows += len(frame)
            if kind == "parquet":
                batch = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(partial, batch.schema)
                    background = concurrent.futures.ThreadPoolExecutor(1)
                if pending is not None:
                    pending.result()
                pending = background.submit(writer.write_table, batch.cast(writer.schema))
            elif kind == "csv":
                frame.to_csv(partial, index=False, mode="a", header=index == 0)
            else:
                connection.register("incoming", frame)
                verb = (
                    f"CREATE TABLE {_check_table(table)} AS"
                    if index == 0
                    else f"INSERT INTO {_check_table(table)}"
                )
                connection.execute(f"{verb} SELECT * FROM incoming")
                connection.unregister("incoming")
    finally:
        if writer is not None:
            background.shutdown(wait=True)
            writer.close()
        if kind == "duckdb":
            connection.close()
    if pending is not None:
        pending.result()  # a failed write raises here, before the file gets its name
    partial.replace(target)
    return target, rows


def read_log(
    path: str | Path,
    *,
    schema: Schema = DIALOG_SCHEMA,
    table: str = "dialogs",
    variants: Sequence[str] | None = DEFAULT_VARIANTS,
    column_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a log from Parquet (file or folder of parts), CSV or a DuckDB table, and validate it.

    Raises:
        FileNotFoundError: no such file; LogValidationError: see :func:`validate`.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"path == '{source}': no such file or folder")
    kind = _store_kind(source)
    if kind == "parquet":
        frame = pq.read_table(source).to_pandas()
    elif kind == "csv":
        frame = pd.read_csv(source, dtype={schema.key: str, "user_id": str})
    else:
        with duckdb.connect(str(source), read_only=True) as connection:
            tables = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
            if table not in tables:
                raise ValueError(f"table == {table!r} not in {source}; it has {sorted(tables)}")
            frame = (
                connection.sql(f"SELECT * FROM {_check_table(table)}").to_arrow_table().to_pandas()
            )
    return validate(frame, schema, variants=variants, column_map=column_map)


# --------------------------------------------------------------------------- appending store


_PANDAS_TYPES = {"string": "string", "float": "float64", "count": "float64", "flag": "float64"}


def _typed_frame(records: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    """Records as a frame with every schema column, in order and typed, absent fields null.

    Fixed columns and types keep CSV headers, Parquet parts and DuckDB tables consistent
    whatever mix of events a batch holds.
    """
    frame = pd.DataFrame.from_records(records).reindex(columns=schema.names)
    for column in schema.columns:
        if column.kind == "timestamp":
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
        else:
            frame[column.name] = frame[column.name].astype(_PANDAS_TYPES[column.kind])
    return frame


class EventStore:
    """Thread-safe appends of events to a Parquet folder, a CSV file or a DuckDB table.

    Events are buffered under one lock and written in batches of ``batch_size`` (and on
    :meth:`flush` / :meth:`close`), each batch by exactly one thread, so concurrent appends lose
    and duplicate nothing. Use as a context manager to flush on exit.

    Args:
        path: a folder (Parquet parts), ``*.csv`` or a DuckDB file (``*.duckdb``).
        table: the DuckDB table name.
        batch_size: events buffered before a write.
    """

    def __init__(self, path: str | Path, *, table: str = "events", batch_size: int = 5_000):
        self.path = Path(path)
        self.kind = "parquet" if self.path.suffix == "" else _store_kind(self.path)
        self.table = _check_table(table)
        self.batch_size = batch_size
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        if self.kind == "parquet":
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, events: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        """Add one event (a mapping) or several; writes a batch when the buffer is full.

        Raises:
            ValueError: an event has a key that is not a column of :data:`EVENT_SCHEMA`
                (it would otherwise be dropped).
        """
        batch = [dict(events)] if isinstance(events, Mapping) else [dict(e) for e in events]
        allowed = set(EVENT_SCHEMA.names)
        for event in batch:
            unknown = sorted(set(event) - allowed)
            if unknown:
                raise ValueError(
                    f"event has unknown field(s) {unknown}; the event log's "
                    f"columns are {EVENT_SCHEMA.names}"
                )
        full: list[dict[str, Any]] | None = None
        with self._lock:
            self._buffer.extend(batch)
            if len(self._buffer) >= self.batch_size:
                full, self._buffer = self._buffer, []
        if full:
            self._write(full)

    def flush(self) -> None:
        """Write whatever is buffered."""
        with self._lock:
            pending, self._buffer = self._buffer, []
        if pending:
            self._write(pending)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, records: list[dict[str, Any]]) -> None:
        frame = _typed_frame(records, EVENT_SCHEMA)
        with self._write_lock:  # one writer at a time per file
            if self.kind == "parquet":
                frame.to_parquet(self.path / f"part-{uuid.uuid4().hex}.parquet", index=False)
            elif self.kind == "csv":
                header = not self.path.exists() or self.path.stat().st_size == 0
                frame.to_csv(self.path, mode="a", header=header, index=False)
            else:
                with duckdb.connect(str(self.path)) as connection:
                    connection.register("incoming", frame)
                    exists = connection.execute(
                        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                        [self.table],
                    ).fetchone()[0]
                    if exists:
                        connection.execute(
                            f"INSERT INTO {self.table} BY NAME SELECT * FROM incoming"
                        )
                    else:
                        connection.execute(f"CREATE TABLE {self.table} AS SELECT * FROM incoming")

    def read(self, *, variants: Sequence[str] | None = DEFAULT_VARIANTS) -> pd.DataFrame:
        """Everything written so far (flush first), validated against :data:`EVENT_SCHEMA`."""
        self.flush()
        return read_log(self.path, schema=EVENT_SCHEMA, table=self.table, variants=variants)


# --------------------------------------------------------------------------- events -> dialogs


def fold_dialogs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per dialog from a validated event log (EVENT_SCHEMA -> DIALOG_SCHEMA).

    Exposures give the dialog's start (first timestamp), user, variant, model, turns (number of
    responses, unless a ``turns`` outcome says otherwise), mean latency, total tokens and
    ``error`` (any failed call). Outcomes give completed (= resolved), escalated, csat and
    returned_7d (the last value logged for each), and likes / dislikes (how many).
    """
    exposures = events[events["event_type"] == "exposure"]
    outcomes = events[events["event_type"] == "outcome"]
    if exposures.empty:
        raise LogValidationError("event log has no exposure events, so no dialogs")
    status = exposures["status"] if "status" in exposures else pd.Series("ok", exposures.index)
    grouped = exposures.assign(_error=(status == "error").astype(int)).sort_values("timestamp")
    dialogs = grouped.groupby("dialog_id", sort=True).agg(
        user_id=("user_id", "first"),
        variant=("variant", "first"),
        timestamp=("timestamp", "first"),
        **({"experiment": ("experiment", "first")} if "experiment" in grouped else {}),
        **({"model_version": ("model_version", "first")} if "model_version" in grouped else {}),
        turns=("dialog_id", "size"),
        **({"latency_ms": ("latency_ms", "mean")} if "latency_ms" in grouped else {}),
        **({"tokens_out": ("tokens_out", "sum")} if "tokens_out" in grouped else {}),
        error=("_error", "max"),
    )
    if not outcomes.empty:
        ordered = outcomes.sort_values("timestamp")
        last = ordered.pivot_table(
            index="dialog_id", columns="outcome", values="value", aggfunc="last"
        )
        counted = ordered.pivot_table(
            index="dialog_id", columns="outcome", values="value", aggfunc="count"
        )
        for outcome, column in (
            ("resolved", "completed"),
            ("escalated", "escalated"),
            ("csat", "csat"),
            ("returned_7d", "returned_7d"),
        ):
            if outcome in last:
                dialogs[column] = last[outcome].reindex(dialogs.index)
        if "turns" in last:
            explicit = last["turns"].reindex(dialogs.index)
            dialogs["turns"] = explicit.fillna(dialogs["turns"]).astype("int64")
        for outcome, column in (("like", "likes"), ("dislike", "dislikes")):
            if outcome in counted:
                dialogs[column] = counted[outcome].reindex(dialogs.index).fillna(0).astype("int64")
    return dialogs.reset_index()
