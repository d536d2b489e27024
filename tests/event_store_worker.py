"""A writer process for the event-store tests: appends tagged events, then exits as told.

Run as ``python tests/event_store_worker.py STORE --writer W --count N [options]``. Each event's
id is ``w<W>-t<thread>-<sequence>``, so a test can count exactly what came back. Options:

- ``--threads T``: T threads append N events each;
- ``--pace S``: sleep S seconds between appends;
- ``--ack``: print ``ack <sequence> <unix time>`` after each append returned (thread 0);
- ``--no-close``: exit normally without closing the store (the atexit flush must write);
- ``--hold``: after appending, print ``appended pending=P failed=F error=E`` and wait for a line
  on stdin before closing (the test fixes the disk or the folder meanwhile);
- ``--fsize-limit B``: files may not grow past B bytes (RLIMIT_FSIZE: writes fail as on a full
  disk) until the line on stdin arrives; ``--fsize-headroom``: B bytes past the store file's size;
  ``--limit-after K`` first appends and flushes K events;
- ``--slow-writes``: CSV rows and Parquet parts go to disk 4 KiB at a time, 10 ms apart; once the
  file ``STORE.stall`` exists, the next write longer than one chunk stops for 30 s after its first
  chunk and creates ``STORE.stalled`` first, so a test that waits for that file kills the writer
  inside a write, always.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd

START = pd.Timestamp("2026-01-05", tz="UTC")


def tagged_event(writer: int, thread: int, sequence: int) -> dict:
    """An exposure whose id names its writer, thread and sequence number."""
    return {
        "event_id": f"w{writer}-t{thread}-{sequence}",
        "timestamp": START + pd.Timedelta(milliseconds=sequence),
        "experiment": "durability",
        "user_id": f"u{sequence % 997}",
        "dialog_id": f"w{writer}-t{thread}-d{sequence}",
        "variant": "treatment" if sequence % 2 else "control",
        "model_version": "v1",
        "event_type": "exposure",
        "status": "ok",
        "latency_ms": float(sequence % 1000),
        "tokens_out": 12.0,
    }


def expected_ids(writer: int, threads: int, count: int) -> set[str]:
    return {f"w{writer}-t{t}-{s}" for t in range(threads) for s in range(count)}


def slow_down(module, store: Path) -> None:
    """Make the store's CSV and Parquet writes slow, chunk by chunk, as on a loaded disk.

    Asked to (``STORE.stall`` exists), one write stalls after its first chunk: ``STORE.stalled``
    tells the test that a kill now lands inside it.
    """
    import io

    asked = store.with_name(store.name + ".stall")
    stalled = store.with_name(store.name + ".stalled")

    def write_slowly(descriptor: int, data: bytes) -> None:
        for start in range(0, len(data), 4096):
            os.write(descriptor, data[start : start + 4096])
            if start == 0 and len(data) > 4096 and asked.exists() and not stalled.exists():
                stalled.touch()
                time.sleep(30)
            time.sleep(0.01)

    def write_table_slowly(table, where) -> None:
        buffer = io.BytesIO()
        real_write_table(table, buffer)
        descriptor = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_slowly(descriptor, buffer.getvalue())
        finally:
            os.close(descriptor)

    real_write_table = module.pq.write_table
    module._write_all = write_slowly
    module.pq = type(
        "SlowParquet",
        (),
        {
            "write_table": staticmethod(write_table_slowly),
            "read_table": staticmethod(module.pq.read_table),
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store")
    parser.add_argument("--writer", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--ack", action="store_true")
    parser.add_argument("--no-close", action="store_true")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--fsize-limit", type=int)
    parser.add_argument("--fsize-headroom", action="store_true")
    parser.add_argument("--limit-after", type=int, default=0)
    parser.add_argument("--slow-writes", action="store_true")
    args = parser.parse_args()

    from abkit.serve import store_files
    from abkit.serve.event_store import EventStore

    if args.slow_writes:
        slow_down(store_files, Path(args.store))

    store = EventStore(args.store, flush_interval=args.flush_interval)
    if args.limit_after:
        store.append([tagged_event(args.writer, 99, s) for s in range(args.limit_after)])
        store.flush()
    if args.fsize_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        grown = os.path.getsize(args.store) if args.fsize_headroom else 0
        resource.setrlimit(resource.RLIMIT_FSIZE, (grown + args.fsize_limit, hard))

    def append_many(thread: int) -> None:
        for sequence in range(args.count):
            store.append(tagged_event(args.writer, thread, sequence))
            if args.ack and thread == 0:
                print(f"ack {sequence} {time.time():.6f}", flush=True)
            if args.pace:
                time.sleep(args.pace)

    workers = [threading.Thread(target=append_many, args=(t,)) for t in range(args.threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if args.hold:
        time.sleep(2 * args.flush_interval)  # let the writer try (and fail) at least once
        error = (store.last_error or "").replace("\n", " ")
        print(f"appended pending={store.pending} failed={store.failed_writes} error={error}")
        sys.stdout.flush()
        sys.stdin.readline()
        if args.fsize_limit is not None:
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    if not args.no_close:
        store.close()
        print(f"closed pending={store.pending}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
