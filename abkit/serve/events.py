"""The experiment's logs: their schemas, validation, and the files and databases that hold them.

Two tables, documented column by column in ``data/README.md``:

- the **event log** (:data:`EVENT_SCHEMA`): what the serving wrapper writes, one row per
  event — an ``exposure`` for every response served (variant, model, latency, tokens, status)
  and an ``outcome`` for everything learnt later about a dialog (resolved, escalated, csat,
  like, dislike, returned_7d, turns);
- the **dialog log** (:data:`DIALOG_SCHEMA`): one row per dialog with its outcomes, what the
  analysis reads and the simulator writes; :func:`fold_dialogs` turns events into dialogs.

Logs are read and written here as whole files: Parquet, CSV, or a table of a DuckDB
database file. :func:`check_event` is the event log's validator at the door; the store that
appends events one at a time, with its durability contract, is :mod:`abkit.serve.event_store`.
"""

from __future__ import annotations

import datetime
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from abkit.core.duckdb_session import connect
from abkit.core.params import is_missing_id
from abkit.plan.metrics import DEFAULT_COLUMN_RULES, ColumnRule

__all__ = [
    "Column",
    "DEFAULT_VARIANTS",
    "DIALOG_SCHEMA",
    "EVENT_SCHEMA",
    "EventValidationError",
    "Kind",
    "LogValidationError",
    "OUTCOMES",
    "STATUSES",
    "Schema",
    "check_event",
    "fold_dialogs",
    "validate",
    "write_log",
    "write_log_blocks",
]

Kind = Literal["string", "timestamp", "float", "count", "flag"]
DEFAULT_VARIANTS = ("control", "treatment")
OUTCOMES = ("resolved", "escalated", "csat", "like", "dislike", "returned_7d", "turns")
STATUSES = ("ok", "error", "timeout")


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
            allowed=STATUSES,
            description="exposures: ok; error when the model call failed; timeout when it gave "
            "no answer within the server's timeout",
        ),
        Column("latency_ms", "float", description="exposures: time to the full response, ms"),
        Column("tokens_out", "float", description="exposures: tokens generated"),
        Column("outcome", "string", allowed=OUTCOMES, description="outcomes: which one"),
        Column(
            "value",
            "float",
            description="outcomes: its value (1/0 for resolved, escalated, returned_7d, like, "
            "dislike; CSAT 1-5; turns a whole number)",
        ),
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


class EventValidationError(ValueError):
    """An event was refused at the door: the message names the field, the value and the rule."""


# The valid values of an outcome event, from the dialog-log column it becomes (one place for
# the ranges: abkit.plan.metrics.DEFAULT_COLUMN_RULES). A like or dislike event is one vote, 0 or 1;
# the dialog log counts them.
_OUTCOME_COLUMNS = {
    "resolved": "completed",
    "escalated": "escalated",
    "csat": "csat",
    "returned_7d": "returned_7d",
    "turns": "turns",
    "like": "completed",
    "dislike": "completed",
}
EVENT_VALUE_RULES: dict[str, ColumnRule] = {
    **{outcome: DEFAULT_COLUMN_RULES[column] for outcome, column in _OUTCOME_COLUMNS.items()},
    "latency_ms": DEFAULT_COLUMN_RULES["latency_ms"],
    "tokens_out": DEFAULT_COLUMN_RULES["tokens_out"],
}
# Text that is one line: no line breaks or other control characters, at most 1,000 characters.
_ONE_LINE_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,1000}")
_ANY_NUMBER = ColumnRule()
_EVENT_COLUMNS = {column.name: column for column in EVENT_SCHEMA.columns}
_REQUIRED_EVENT_FIELDS = [column.name for column in EVENT_SCHEMA.columns if column.required]


def _event_text(field: str, value: Any) -> str:
    if type(value) is str and _ONE_LINE_TEXT.fullmatch(value) and not value.isspace():
        return value  # the common case, checked first
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = str(value)  # integer ids are kept as their digits, as validate() does
    if not isinstance(value, str) or not value.strip():
        raise EventValidationError(f"event field {field} == {value!r}, must be non-empty text")
    if not _ONE_LINE_TEXT.fullmatch(value):
        raise EventValidationError(
            f"event field {field} == {value[:60]!r}, must be text of at most 1000 "
            "characters without line breaks or other control characters"
        )
    return value


def _event_number(field: str, value: Any, rule: ColumnRule) -> float:
    if type(value) is float and math.isfinite(value) and rule.low <= value <= rule.high:
        if not rule.integer or value.is_integer():
            return value  # the common case, checked first
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise EventValidationError(f"event field {field} == {value!r}, must be a number")
    number = float(value)
    whole = not rule.integer or number.is_integer()
    if not (math.isfinite(number) and rule.low <= number <= rule.high and whole):
        raise EventValidationError(f"event field {field} == {value!r}, must be {rule.describe()}")
    return number


def _event_timestamp(value: Any) -> pd.Timestamp:
    if type(value) is pd.Timestamp and value.tzinfo is datetime.UTC:
        return value  # the common case: what the serving wrapper logs
    if isinstance(value, int | float | np.number):
        raise EventValidationError(
            f"event field timestamp == {value!r}, must be a date-time (a datetime, pandas "
            "Timestamp or ISO 8601 text), not a number"
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise EventValidationError(
            f"event field timestamp == {value!r}, must be a date-time ({error})"
        ) from None
    if pd.isna(stamp):
        raise EventValidationError(f"event field timestamp == {value!r}, must be a date-time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def check_event(
    event: Mapping[str, Any], variants: Sequence[str] | None = DEFAULT_VARIANTS
) -> dict[str, Any]:
    """Check one event against :data:`EVENT_SCHEMA` and return it with canonical types.

    The rules an event log is read with (:func:`validate`) applied to one event before it is
    stored, so that nothing a store accepted can make a later read fail: known fields only;
    required text present, at most 1,000 characters, no line breaks or control characters
    (every stored row is then one line); ``timestamp`` a timezone-aware or naive (read as UTC)
    date-time; ``event_type``, ``status`` and ``outcome`` from their allowed values; ``variant``
    one of ``variants`` (None: any label); an outcome event carries ``outcome`` and ``value``,
    the value in its range (:data:`EVENT_VALUE_RULES`: 0/1 flags, CSAT 1-5, whole turns);
    latency and tokens finite and >= 0.

    Raises:
        EventValidationError: naming the field, the value and what is allowed.

    Examples:
        >>> event = {"event_id": "e1", "timestamp": "2026-01-05T10:00:00Z", "user_id": "u1",
        ...          "dialog_id": "d1", "variant": "treatment", "event_type": "outcome",
        ...          "outcome": "csat", "value": 7}
        >>> try:
        ...     check_event(event)
        ... except EventValidationError as error:
        ...     print(error)
        event field value (outcome 'csat') == 7, must be numbers in [1, 5]
        >>> check_event({**event, "value": 4})["timestamp"]
        Timestamp('2026-01-05 10:00:00+0000', tz='UTC')
    """
    if not isinstance(event, Mapping):
        raise EventValidationError(f"event == {event!r}, must be a mapping of field to value")
    checked: dict[str, Any] = {}
    for name, value in event.items():
        column = _EVENT_COLUMNS.get(name)
        if column is None:
            unknown = sorted(set(event) - set(_EVENT_COLUMNS))
            raise EventValidationError(
                f"event has unknown field(s) {unknown}; the event log's columns are "
                f"{EVENT_SCHEMA.names}"
            )
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if column.kind == "timestamp":
            checked[name] = _event_timestamp(value)
        elif column.kind == "string":
            checked[name] = _event_text(name, value)
            if name == "user_id" and is_missing_id(checked[name]):
                raise EventValidationError(
                    f"event field user_id == {value!r} is a missing value written as text; "
                    "every event needs its user's real id (the analysis refuses such ids)"
                )
            if column.allowed is not None and value not in column.allowed:
                raise EventValidationError(
                    f"event field {name} == {value!r}, must be one of {list(column.allowed)}"
                )
        else:
            checked[name] = _event_number(name, value, EVENT_VALUE_RULES.get(name, _ANY_NUMBER))
    for name in _REQUIRED_EVENT_FIELDS:
        if name not in checked:
            raise EventValidationError(f"event field {name} is missing, required")
    if variants is not None and checked["variant"] not in variants:
        raise EventValidationError(
            f"event field variant == {checked['variant']!r}, must be one of {list(variants)} "
            "(the store's variants)"
        )
    if checked["event_type"] == "outcome":
        for field in ("outcome", "value"):
            if field not in checked:
                raise EventValidationError(f"event field {field} is missing, required for outcomes")
        outcome = checked["outcome"]
        checked["value"] = _event_number(
            f"value (outcome {outcome!r})", event["value"], EVENT_VALUE_RULES[outcome]
        )
    return checked


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


def _connect_duckdb(path: Path, *, read_only: bool, timeout: float = 30.0):
    """Open a DuckDB file, retrying with backoff while another program holds its lock."""
    deadline, delay = time.monotonic() + timeout, 0.005
    while True:
        try:
            return connect(path, read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


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
        with connect(target) as connection:
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
            connection = connect(partial)
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


# --------------------------------------------------------------------------- events -> dialogs


def fold_dialogs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per dialog from a validated event log (EVENT_SCHEMA -> DIALOG_SCHEMA).

    Exposures give the dialog's start (first timestamp), user, variant, model, turns (number of
    responses, unless a ``turns`` outcome says otherwise), mean latency, total tokens and
    ``error`` (any failed call). Outcomes give completed (= resolved), escalated, csat and
    returned_7d (the last value logged for each), and likes / dislikes (the sum of their 0/1 votes).

    A dialog whose exposures name more than one user or variant is refused; outcomes of a
    dialog with no exposure are left out with a warning that counts them.
    """
    exposures = events[events["event_type"] == "exposure"]
    outcomes = events[events["event_type"] == "outcome"]
    if exposures.empty:
        raise LogValidationError("event log has no exposure events, so no dialogs")
    owners = exposures.groupby("dialog_id")[["user_id", "variant"]].nunique()
    shared = owners[(owners["user_id"] > 1) | (owners["variant"] > 1)]
    if not shared.empty:
        example = exposures[exposures["dialog_id"] == shared.index[0]]
        raise LogValidationError(
            f"{len(shared):,} dialog(s) have exposure events of more than one user or variant, "
            f"e.g. dialog {shared.index[0]!r}: users {sorted(example['user_id'].unique())}, "
            f"variants {sorted(example['variant'].unique())}; a dialog belongs to one user in "
            "one arm (ids reused, or the routing changed mid-dialog)"
        )
    orphans = outcomes[~outcomes["dialog_id"].isin(exposures["dialog_id"])]
    if not orphans.empty:
        warnings.warn(
            f"{len(orphans):,} outcome event(s) of {orphans['dialog_id'].nunique():,} dialog(s) "
            f"with no exposure event, e.g. dialog {orphans['dialog_id'].iloc[0]!r}, are left "
            "out: without an exposure a dialog has no arm (its exposures were lost, or the "
            "outcome's dialog_id is wrong)",
            stacklevel=2,
        )
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
            index="dialog_id", columns="outcome", values="value", aggfunc="sum"
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
