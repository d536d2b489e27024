"""An event store that keeps every event it acknowledged: appends, flushes, many writers, reads.

**The durability contract.** An :meth:`EventStore.append` that returned has validated its
events (:func:`abkit.serve.events.check_event`) and put them in the store's in-memory queue; it does
no file I/O, so serving threads are not slowed by the disk. A background thread writes the
queue at least every ``flush_interval`` seconds (default 1 s) and as soon as ``batch_size``
events wait. An acknowledged event is on disk

- when :meth:`EventStore.flush` or :meth:`EventStore.close` returns, or a ``with`` block ends;
- after a normal interpreter exit, even without ``close()`` (an ``atexit`` hook flushes every
  open store, and says on stderr how many events it could not write, if any);
- at most ``flush_interval`` plus one write's duration after it was appended, otherwise.

After ``kill -9`` (or ``os._exit``, or an unhandled ``SIGTERM``) at most the events appended in
the last interval, plus those of the write under way, are lost; never part of one. Each write is
whole or invisible to readers: Parquet parts are written under a temporary name and renamed;
a CSV batch is one append under a file lock, cut back to its old length if the write fails, and
a tail torn by a crash is set aside (``<file>.torn``) before the next append and counted on read;
a DuckDB batch is one transaction.

**Failures.** A write that fails (disk full, read-only folder, a database locked by another
program) keeps its events at the head of the queue; the thread retries with backoff (0.05 s,
doubling, at most 5 s). ``append`` raises :class:`EventStoreFull` only when ``max_pending``
events wait and no room appears within ``append_timeout``: the refused events were not stored
and the caller knows. :meth:`EventStore.close` raises :class:`EventStoreError` while events
remain unwritten, keeping them, so it can be called again once the cause is fixed.

**Many writers** (threads, and processes on one path): a store's threads share one queue and
one writing thread. Processes share nothing: Parquet parts have unique names; CSV appends and
DuckDB transactions take an exclusive ``flock`` on ``<file>.lock``, and DuckDB's own lock (held
by a program outside the kit) is retried with backoff. Readers take the same lock shared, so
reading while others write works for every kind.

**Why this mechanism.** A queue drained by a timed writer is what Statsig's and Optimizely's
event loggers do (flush interval, bounded queue, flush on close, retry with backoff); it keeps
the disk off the request path. An fsync'd write-ahead journal per append would lose nothing on
``kill -9`` but costs a disk sync per event on the serving thread; the issue's contract allows
one interval, so the queue wins. ``os.register_at_fork`` empties a forked child's copy of the
queue: those events belong to the parent, which writes them.
"""

from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from abkit.core.params import check_integer, check_number, shorten
from abkit.serve.events import (
    DEFAULT_VARIANTS,
    EVENT_SCHEMA,
    EventValidationError,
    _check_table,
    _store_kind,
    check_event,
    validate,
)
from abkit.serve.store_files import (
    _CSV_HEADER,
    ARROW_EVENT_SCHEMA,
    EventStoreError,
    _append_csv,
    _insert_duckdb,
    _read_csv,
    _read_duckdb,
    _read_parts,
    _write_part,
)

__all__ = ["EventStore", "EventStoreError", "EventStoreFull", "StoreContents"]

StoreKind = Literal["parquet", "csv", "duckdb"]

_RETRY_FIRST, _RETRY_MAX = 0.05, 5.0


class EventStoreFull(EventStoreError):
    """``max_pending`` events wait to be written: this append was refused, not stored."""


@dataclass(frozen=True)
class StoreContents:
    """What a read of a store found: the events, and what it had to skip (counted, not hidden).

    Attributes:
        events: the events, validated against :data:`abkit.serve.events.EVENT_SCHEMA`.
        torn_rows: CSV rows cut short by a crash or a full disk (the file's unfinished last line
            and those set aside in ``<file>.torn`` by later appends): never acknowledged as
            written, never read as events.
        unreadable_parts: Parquet part files that could not be read (skipped), by name.
        unfinished_parts: Parquet parts still under their temporary name: being written now, or
            left by a write that was interrupted.
    """

    events: pd.DataFrame
    torn_rows: int = 0
    unreadable_parts: tuple[str, ...] = ()
    unfinished_parts: int = 0

    @property
    def notes(self) -> list[str]:
        """One sentence per kind of skipped data; empty when nothing was skipped."""
        notes = []
        if self.torn_rows:
            notes.append(f"{self.torn_rows} torn CSV row(s) skipped (cut short by a crash)")
        if self.unreadable_parts:
            shown = ", ".join(self.unreadable_parts[:3])
            notes.append(
                f"{len(self.unreadable_parts)} unreadable Parquet part(s) skipped: {shown}"
            )
        if self.unfinished_parts:
            notes.append(
                f"{self.unfinished_parts} Parquet part(s) not read: still being written, or left "
                "by an interrupted write"
            )
        return notes


# --------------------------------------------------------------------------- file locks


# --------------------------------------------------------------------------- writers


# --------------------------------------------------------------------------- readers


# --------------------------------------------------------------------------- the store


_OPEN_STORES: set[EventStore] = set()
_OPEN_STORES_LOCK = threading.Lock()


class EventStore:
    """Appends events to a Parquet folder, a CSV file or a DuckDB table, and keeps them.

    See the module docstring for the durability contract. Safe to share between threads;
    several processes may write to the same path.

    Args:
        path: a folder (Parquet parts; ``*.parquet`` or no suffix), ``*.csv``, or a DuckDB
            file (``*.duckdb``, ``*.db``, ``*.ddb``).
        table: the DuckDB table name.
        variants: the variant labels events may carry (None: any label); checked at append
            and at read.
        flush_interval: seconds between timed writes, in (0, 60].
        batch_size: a write starts as soon as this many events wait.
        max_pending: events that may wait to be written before ``append`` refuses more.
        append_timeout: seconds an append waits for room in a full queue before refusing.
        fsync: sync each write to the device (survives a power cut, not only a crash).

    Raises:
        ValueError: a path of another kind, a bad table name or an option out of range.
        EventStoreError: the path holds a CSV whose header is not the event log's.

    Examples:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with EventStore(f"{folder}/events.csv") as store:
        ...     store.append({"event_id": "e1", "timestamp": "2026-01-05T10:00:00Z",
        ...                   "user_id": "u1", "dialog_id": "d1", "variant": "control",
        ...                   "event_type": "exposure", "status": "ok", "latency_ms": 812.0})
        >>> EventStore(f"{folder}/events.csv").read()[["event_id", "variant", "latency_ms"]]
          event_id  variant  latency_ms
        0       e1  control       812.0
    """

    def __init__(
        self,
        path: str | Path,
        *,
        table: str = "events",
        variants: Sequence[str] | None = DEFAULT_VARIANTS,
        flush_interval: float = 1.0,
        batch_size: int = 5_000,
        max_pending: int = 100_000,
        append_timeout: float = 1.0,
        fsync: bool = True,
    ) -> None:
        # the real path: a store reached through a symlink locks the file itself, not the link
        # (two writers through two links would otherwise each hold a lock of their own)
        self.path = Path(path).expanduser().resolve()
        self.kind: StoreKind = (
            "parquet" if self.path.suffix in ("", ".parquet") else _store_kind(self.path)
        )  # type: ignore[assignment]
        self.table = _check_table(table)
        self.variants = None if variants is None else tuple(variants)
        self.flush_interval = check_number(
            "flush_interval", flush_interval, low=0.0, high=60.0, high_inclusive=True
        )
        self.batch_size = check_integer("batch_size", batch_size, minimum=1)
        self.max_pending = check_integer("max_pending", max_pending, minimum=self.batch_size)
        self.append_timeout = check_number("append_timeout", append_timeout, low=0.0)
        self.fsync = bool(fsync)
        if self.kind == "parquet":
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "csv" and self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                first = handle.readline()
            text = first.rstrip(b"\n").decode("utf-8", errors="replace")
            torn = not first.endswith(b"\n")  # a first write cut short: set aside later
            if text != _CSV_HEADER and not (torn and _CSV_HEADER.startswith(text)):
                raise EventStoreError(
                    f"{self.path}: first line is {text[:200]!r}, an event store's header is "
                    f"{_CSV_HEADER!r}; choose another file"
                )
        self._init_state()

    def _init_state(self) -> None:
        # Appenders add to ``_queue`` (deque appends are atomic: no lock on the hot path); the
        # writer moves events to ``_unwritten`` and removes them only once they are on disk.
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._unwritten: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False
        self.written = 0
        self.failed_writes = 0
        self.last_error: str | None = None
        self._ids: set[str] | None = None  # event ids stored or queued, read at first append

    # ------------------------------------------------------------------ appending

    def append(self, events: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        """Validate one event (a mapping) or several and queue them for writing.

        Raises:
            abkit.serve.events.EventValidationError: an event breaks a rule of the event log (named
                field, value and rule); none of the given events is stored.
            EventStoreFull: ``max_pending`` events already wait (writes are failing or far
                behind); none of the given events is stored.
            EventStoreError: the store was closed; none of the given events is stored.
        """
        if isinstance(events, Mapping):
            batch = [check_event(events, self.variants)]
        else:
            batch = [check_event(event, self.variants) for event in events]
            if not batch:
                return
        if self._closed:
            raise EventStoreError(f"{self.path}: the store is closed; open a new EventStore")
        self._refuse_seen_ids(batch)
        if self.pending + len(batch) > self.max_pending:
            self._wait_for_room(len(batch))
        self._queue.extend(batch)
        if self._flusher is None:
            self._start_flusher()
        elif len(self._queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        if self._closed:  # close() ran meanwhile: its last write may have missed these
            self._write_pending()

    def _refuse_seen_ids(self, batch: list[dict[str, Any]]) -> None:
        """An event id is stored once: an id already stored (or queued, or twice in
        ``batch``) is refused, so a retried append can never break every later read with a
        duplicate. The stored ids are read once, at the first append of this object; a
        second process appending to the same store is not seen until then."""
        with self._lock:
            if self._ids is None:
                stored = self.scan(variants=None).events
                self._ids = set() if stored is None or stored.empty else set(stored["event_id"])
                self._ids.update(event["event_id"] for event in [*self._unwritten, *self._queue])
            new = [event["event_id"] for event in batch]
            seen = [i for i in new if i in self._ids]
            twice = sorted({i for i in new if new.count(i) > 1}) if len(set(new)) < len(new) else []
            if seen or twice:
                shown = shorten(seen[:3] or twice[:3])
                raise EventValidationError(
                    f"event_id {shown} already stored or given twice: an event is stored once "
                    "(a retried append of a stored event needs no second append); none of the "
                    "given events is stored"
                )
            self._ids.update(new)

    def _wait_for_room(self, wanted: int) -> None:
        """Wait up to ``append_timeout`` for the writer to make room, or refuse the events."""
        deadline = time.monotonic() + self.append_timeout
        with self._lock:
            while self.pending + wanted > self.max_pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or wanted > self.max_pending:
                    cause = f"; the last write failed: {self.last_error}" if self.last_error else ""
                    raise EventStoreFull(
                        f"{self.path}: {self.pending} events wait to be written "
                        f"(max_pending == {self.max_pending}){cause}. These {wanted} event(s) "
                        "were not stored: fix the cause, or retry later"
                    )
                self._wake.set()
                self._room.wait(remaining)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._run_flusher, name=f"abkit-events-{self.path.name}", daemon=True
            )
            self._flusher.start()
        with _OPEN_STORES_LOCK:
            _OPEN_STORES.add(self)

    def _run_flusher(self) -> None:
        """Write every ``flush_interval`` or when a batch is full; back off while writes fail."""
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            delay = _RETRY_FIRST
            while not self._stop.is_set():
                try:
                    self._write_pending()
                    break
                except EventStoreError:  # recorded in last_error; the events stay queued
                    self._stop.wait(delay)
                    delay = min(2 * delay, _RETRY_MAX)

    # ------------------------------------------------------------------ writing

    @property
    def pending(self) -> int:
        """Events acknowledged but not yet on disk."""
        return len(self._queue) + len(self._unwritten)

    def _write_pending(self) -> None:
        """Write every queued event as one batch; on failure they stay queued, in order."""
        with self._write_lock:
            queue, unwritten = self._queue, self._unwritten
            for _ in range(len(queue)):
                unwritten.append(queue.popleft())
            if not unwritten:
                return
            try:
                self._write(unwritten)
            except Exception as error:
                self.failed_writes += 1
                self.last_error = f"{type(error).__name__}: {error}"
                raise EventStoreError(
                    f"{self.path}: writing {len(unwritten)} event(s) failed ({self.last_error}); "
                    "they are kept and retried"
                ) from error
            self.written += len(unwritten)
            unwritten.clear()
            self.last_error = None
        with self._lock:
            self._room.notify_all()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        rows = pa.Table.from_pylist(batch, schema=ARROW_EVENT_SCHEMA)
        if self.kind == "parquet":
            self.path.mkdir(parents=True, exist_ok=True)
            _write_part(self.path, rows, fsync=self.fsync)
        elif self.kind == "csv":
            _append_csv(self.path, rows, fsync=self.fsync)
        else:
            _insert_duckdb(self.path, self.table, rows)

    def flush(self) -> None:
        """Write every event appended so far, now, in the calling thread.

        Raises:
            EventStoreError: the write failed; the events are kept and retried.
        """
        self._write_pending()

    def close(self) -> None:
        """Stop the writing thread and write what waits; further appends are refused.

        Raises:
            EventStoreError: events could not be written; they are kept, and ``close()`` may
                be called again once the cause (space, permissions) is fixed.
        """
        self._closed = True
        self._stop.set()
        self._wake.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()
        self._write_pending()
        with _OPEN_STORES_LOCK:
            _OPEN_STORES.discard(self)

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def scan(self, *, variants: Sequence[str] | None | Literal["store"] = "store") -> StoreContents:
        """Everything on disk (not what is still queued), validated, with what was skipped.

        Works while other threads or processes write. ``variants`` defaults to the store's.
        """
        allowed = self.variants if variants == "store" else variants
        torn, unreadable, unfinished = 0, (), 0
        if self.kind == "parquet":
            table, unreadable, unfinished = _read_parts(self.path)
            frame = None if table is None else table.to_pandas()
        elif self.kind == "csv":
            frame, torn = _read_csv(self.path)
        else:
            frame = _read_duckdb(self.path, self.table)
        if frame is None:  # nothing written yet (validate refuses an empty log)
            events = ARROW_EVENT_SCHEMA.empty_table().to_pandas()
        else:
            events = validate(frame, EVENT_SCHEMA, variants=allowed)
        return StoreContents(events, torn, unreadable, unfinished)

    def read(self, *, variants: Sequence[str] | None | Literal["store"] = "store") -> pd.DataFrame:
        """Flush, then every event on disk, validated; a warning counts anything skipped.

        Raises:
            EventStoreError: the flush failed (nothing is lost: the events stay queued).
            abkit.serve.events.LogValidationError: the stored events break the schema (a store
                written by other tools).
        """
        self.flush()
        contents = self.scan(variants=variants)
        if contents.notes:
            warnings.warn(f"{self.path}: " + "; ".join(contents.notes), UserWarning, stacklevel=2)
        return contents.events


# --------------------------------------------------------------------------- exit and fork


_EXIT_RETRY_SECONDS = 10.0


def _flush_open_stores_at_exit() -> None:
    """Normal interpreter exit: close every open store, retrying a failing write for 10 s."""
    with _OPEN_STORES_LOCK:
        stores = list(_OPEN_STORES)
    for store in stores:
        deadline, delay = time.monotonic() + _EXIT_RETRY_SECONDS, _RETRY_FIRST
        while True:
            try:
                store.close()
                break
            except EventStoreError as error:
                if time.monotonic() > deadline:
                    print(
                        f"abkit: {store.pending} event(s) could not be written to {store.path} "
                        f"before exit and are lost: {error}",
                        file=sys.stderr,
                    )
                    break
                time.sleep(delay)
                delay = min(2 * delay, 1.0)


def _forget_parent_queues() -> None:
    """In a forked child: the queued events are the parent's to write; start empty.

    The locks are made anew too: another thread of the parent may have held them at the fork.
    """
    global _OPEN_STORES_LOCK
    _OPEN_STORES_LOCK = threading.Lock()
    for store in list(_OPEN_STORES):
        store._init_state()
    _OPEN_STORES.clear()


atexit.register(_flush_open_stores_at_exit)
os.register_at_fork(after_in_child=_forget_parent_queues)
