"""The event store's files: the locks, the appends that a crash cannot tear (CSV lines cut
back, Parquet parts renamed into place, DuckDB transactions) and the readers that skip and count
what a crash left. :class:`abkit.serve.event_store.EventStore` is the one user."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from abkit.serve.events import (
    EVENT_SCHEMA,
    _connect_duckdb,
)

__all__ = [
    "ARROW_EVENT_SCHEMA",
    "EventStoreError",
]


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def _locked(path: Path, *, exclusive: bool, timeout: float = 60.0) -> Iterator[None]:
    """Hold ``flock`` on ``<path>.lock``: exclusive for a writer, shared for a reader.

    A reader in a folder where the lock file cannot be created (read-only) reads unlocked:
    no writer of the kit can be writing there either.
    """
    try:
        descriptor = os.open(_lock_file(path), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if exclusive:
            raise
        yield
        return
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline, delay = time.monotonic() + timeout, 0.001
        while True:
            try:
                fcntl.flock(descriptor, mode)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EventStoreError(
                        f"{path}: could not lock {_lock_file(path).name} within {timeout:g} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_part(folder: Path, table: pa.Table, *, fsync: bool) -> None:
    """One Parquet part, written under a dot-name (never read) and renamed when complete."""
    name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
    temporary = folder / f".{name}.tmp"
    try:
        pq.write_table(table, temporary)
        if fsync:
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_folder(folder)


def _last_line_end(descriptor: int, size: int) -> int:
    """Offset just after the file's last newline (0 if it has none)."""
    position = size
    while position > 0:
        start = max(0, position - 65_536)
        chunk = os.pread(descriptor, position - start, start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _append_csv(path: Path, table: pa.Table, *, fsync: bool) -> None:
    """Append rows under the exclusive lock; one header; a failed write is cut back off.

    A torn last line (a crash mid-write) is moved to ``<file>.torn`` first, so new rows never
    merge into it; readers count those lines.
    """
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    rows = buffer.getvalue()
    with _locked(path, exclusive=True):
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            size = os.fstat(descriptor).st_size
            end = _last_line_end(descriptor, size)
            if end < size:
                torn = os.pread(descriptor, size - end, end)
                with open(path.with_name(path.name + ".torn"), "ab") as aside:
                    aside.write(torn + b"\n")
                os.ftruncate(descriptor, end)
                size = end
            data = rows if size else (_CSV_HEADER + "\n").encode() + rows
            try:
                os.lseek(descriptor, size, os.SEEK_SET)
                _write_all(descriptor, data)
                if fsync:
                    os.fsync(descriptor)
            except BaseException:
                os.ftruncate(descriptor, size)
                raise
        finally:
            os.close(descriptor)


def _duckdb_table_ddl(table: str) -> str:
    columns = ", ".join(
        f'"{column.name}" {_DUCKDB_TYPES.get(column.kind, "DOUBLE")}'
        for column in EVENT_SCHEMA.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


def _insert_duckdb(path: Path, table: str, rows: pa.Table) -> None:
    """One transaction under the exclusive lock; the connection is closed right after."""
    with _locked(path, exclusive=True):
        connection = _connect_duckdb(path, read_only=False)
        try:
            connection.execute(_duckdb_table_ddl(table))
            connection.register("incoming", rows)
            connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
        finally:
            connection.close()


def _read_parts(folder: Path) -> tuple[pa.Table | None, tuple[str, ...], int]:
    tables, unreadable = [], []
    for part in sorted(folder.glob("part-*.parquet")):
        try:
            tables.append(pq.read_table(part))
        except FileNotFoundError:
            continue
        except (OSError, pa.ArrowException):
            unreadable.append(part.name)
    unfinished = len(list(folder.glob(".part-*.tmp")))
    if not tables:
        return None, tuple(unreadable), unfinished
    return pa.concat_tables(tables, promote_options="default"), tuple(unreadable), unfinished


def _read_csv(path: Path) -> tuple[pd.DataFrame | None, int]:
    aside = path.with_name(path.name + ".torn")
    with _locked(path, exclusive=False):
        data = path.read_bytes() if path.exists() else b""
        torn = aside.read_bytes().count(b"\n") if aside.exists() else 0
    end = data.rfind(b"\n") + 1
    torn += end < len(data)
    data = data[:end]
    if not data:
        return None, torn
    header = data[: data.index(b"\n")].decode("utf-8", errors="replace")
    if header != _CSV_HEADER:
        raise EventStoreError(
            f"{path}: first line is {header[:200]!r}, an event store's header is {_CSV_HEADER!r}"
        )
    frame = pd.read_csv(io.BytesIO(data), dtype=dict.fromkeys(_TEXT_COLUMNS, str))
    return frame, torn


def _read_duckdb(path: Path, table: str) -> pd.DataFrame | None:
    if not path.exists():
        return None
    with _locked(path, exclusive=False):
        connection = _connect_duckdb(path, read_only=True)
        try:
            tables = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
            if table not in tables:
                return None
            return connection.sql(f"SELECT * FROM {table}").to_arrow_table().to_pandas()
        finally:
            connection.close()


_ARROW_TYPES = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "float": pa.float64(),
    "count": pa.float64(),
    "flag": pa.float64(),
}


_DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMPTZ"}


ARROW_EVENT_SCHEMA = pa.schema(
    [pa.field(column.name, _ARROW_TYPES[column.kind]) for column in EVENT_SCHEMA.columns]
)


_TEXT_COLUMNS = [column.name for column in EVENT_SCHEMA.columns if column.kind == "string"]


_CSV_HEADER = ",".join(EVENT_SCHEMA.names)


class EventStoreError(RuntimeError):
    """Events could not be written (they are kept and retried) or a store cannot be used."""
