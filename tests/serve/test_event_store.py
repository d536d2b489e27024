"""abkit.serve.event_store: every acknowledged event is kept, whatever happens to the writer.

Events carry their writer, thread and sequence number (``tests/event_store_worker.py``), so each
test counts exactly what came back: no event missing, none twice. Every test runs for each
store kind: a Parquet folder, a CSV file and a DuckDB database.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from event_store_worker import expected_ids, tagged_event

from abkit.analysis.log_source import read_log
from abkit.serve import event_store
from abkit.serve.event_store import EventStore, EventStoreError, EventStoreFull
from abkit.serve.events import EVENT_SCHEMA, EventValidationError, LogValidationError

WORKER = Path(__file__).parents[1] / "event_store_worker.py"
KINDS = ["parts", "events.csv", "events.duckdb"]
ROOT = Path(__file__).resolve().parents[2]


def start_worker(path: Path, *options: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, sys.executable, str(WORKER), str(path), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def finish(process: subprocess.Popen, stdin: str = "") -> str:
    out, err = process.communicate(stdin, timeout=120)
    assert process.returncode == 0, err[-2000:]
    return out


def stored_ids(path: Path) -> list[str]:
    contents = EventStore(path).scan()
    assert not contents.notes, contents.notes
    return contents.events["event_id"].tolist()


def assert_exactly(path: Path, expected: set[str]) -> None:
    ids = stored_ids(path)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicated events"
    assert set(ids) == expected, (
        f"{len(expected - set(ids))} missing, {len(set(ids) - expected)} unexpected"
    )


# --------------------------------------------------------------------------- many writers


@pytest.mark.parametrize("kind", KINDS)
def test_eight_threads_and_four_processes_on_one_path_keep_every_event_once(
    tmp_path, kind: str
) -> None:
    path = tmp_path / kind
    processes = [
        start_worker(path, "--writer", str(w), "--count", "5000", "--flush-interval", "0.2")
        for w in range(1, 5)
    ]
    store = EventStore(path, batch_size=1_000)

    def append_many(thread: int) -> None:
        for sequence in range(5_000):
            store.append(tagged_event(0, thread, sequence))

    threads = [threading.Thread(target=append_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    for process in processes:
        finish(process)
    expected = expected_ids(0, 8, 5_000).union(*(expected_ids(w, 1, 5_000) for w in range(1, 5)))
    assert_exactly(path, expected)


# --------------------------------------------------------------------------- exits and crashes


@pytest.mark.parametrize("kind", KINDS)
def test_a_normal_exit_without_close_loses_nothing(tmp_path, kind: str) -> None:
    path = tmp_path / kind
    finish(start_worker(path, "--count", "1234", "--no-close", "--flush-interval", "30"))
    assert_exactly(path, expected_ids(0, 1, 1234))


@pytest.mark.parametrize(
    ("kind", "slow"), [(kind, False) for kind in KINDS] + [("parts", True), ("events.csv", True)]
)
def test_kill_9_loses_at_most_the_last_interval_and_tears_nothing(
    tmp_path, kind: str, slow: bool
) -> None:
    """Appends run at about 5,000 a second; the process is killed after about 2 s.

    With slow writes the test asks the worker to stall inside its next write and kills it there
    (``event_store_worker.py``): the CSV is left with a torn last line, the Parquet folder with a
    part under its temporary name.
    """
    path, interval = tmp_path / kind, 0.5
    process = start_worker(
        path,
        "--count",
        "1000000",
        "--ack",
        "--pace",
        "0.0001",
        "--flush-interval",
        str(interval),
        *(["--slow-writes"] if slow else []),
    )
    acks: list[tuple[int, float]] = []
    for line in process.stdout:
        _, sequence, at = line.split()
        acks.append((int(sequence), float(at)))
        if acks[-1][1] - acks[0][1] > 2.0:
            break
    if slow:
        path.with_name(path.name + ".stall").touch()
        deadline = time.time() + 60
        while not path.with_name(path.name + ".stalled").exists() and time.time() < deadline:
            time.sleep(0.005)
        assert path.with_name(path.name + ".stalled").exists(), "the worker never stalled a write"
    killed_at = time.time()
    process.send_signal(signal.SIGKILL)
    rest, _ = process.communicate(timeout=60)
    acks += [(int(s), float(t)) for _, s, t in (line.split() for line in rest.splitlines())]
    contents = EventStore(path).scan()
    assert contents.torn_rows <= 1 and not contents.unreadable_parts  # nothing torn is read
    sequences = sorted(int(i.rsplit("-", 1)[1]) for i in contents.events["event_id"])
    assert sequences == list(range(len(sequences)))  # a prefix: no holes, no duplicates
    lost = [at for sequence, at in acks if sequence >= len(sequences)]
    # Everything acknowledged before the last interval (plus one write's time) is on disk.
    write_allowance = 1.0
    if slow:  # a write then takes up to about 1.5 s: the one under way, and the one before
        write_allowance = 3.0
        assert contents.torn_rows + contents.unfinished_parts == 1
    assert not lost or killed_at - min(lost) <= interval + write_allowance, (
        f"an event acknowledged {killed_at - min(lost):.2f} s before the kill was lost"
    )
    assert len(sequences) > (0.1 if slow else 0.5) * len(acks)


# --------------------------------------------------------------------------- failing writes


def _limits_child_files() -> bool:
    return hasattr(signal, "SIGXFSZ")


@pytest.mark.skipif(not _limits_child_files(), reason="needs RLIMIT_FSIZE (Linux)")
@pytest.mark.parametrize("kind", KINDS)
def test_a_full_disk_loses_nothing_acknowledged_and_leaves_a_readable_store(
    tmp_path, kind: str
) -> None:
    """RLIMIT_FSIZE makes writes past a size fail (EFBIG) as on a full disk, part-way too.

    500 events are written first; then 3,000 are appended while no file may grow (CSV: by more
    than 5,000 bytes, so a write is cut off in the middle); then the limit is lifted.
    """
    path = tmp_path / kind
    headroom = ["--fsize-limit", "5000", "--fsize-headroom"] if kind.endswith(".csv") else []
    process = start_worker(
        path,
        "--count",
        "3000",
        "--hold",
        "--limit-after",
        "500",
        "--flush-interval",
        "0.2",
        *(headroom or ["--fsize-limit", "4096"]),
    )
    status = process.stdout.readline()
    assert re.match(r"appended pending=3000 failed=[1-9]", status), status
    assert "too large" in status.lower()
    assert len(stored_ids(path)) == 500  # readable while the disk is full; nothing half-written
    finish(process, "go\n")
    first = {f"w0-t99-{sequence}" for sequence in range(500)}  # written before the limit
    assert_exactly(path, first | expected_ids(0, 1, 3000))


def _without_root_override() -> tuple[str, ...]:
    """As root, chmod does not stop writes: drop the capabilities that override it."""
    if os.getuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner")


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_only_folder_loses_nothing_acknowledged(tmp_path, kind: str) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / kind
    locked = path if kind == "parts" else folder
    if kind == "parts":
        path.mkdir()
    locked.chmod(0o555)
    try:
        process = start_worker(
            path,
            "--count",
            "2000",
            "--hold",
            "--flush-interval",
            "0.2",
            prefix=_without_root_override(),
        )
        status = process.stdout.readline()
        assert re.match(r"appended pending=2000 failed=[1-9].*Permission denied", status), status
    finally:
        locked.chmod(0o755)
    finish(process, "go\n")
    assert_exactly(path, expected_ids(0, 1, 2000))


def _fail_writes(monkeypatch, kind: str) -> None:
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = {
        "parts": "_write_part",
        "events.csv": "_append_csv",
        "events.duckdb": "_insert_duckdb",
    }
    monkeypatch.setattr(event_store, target[kind], no_space)


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_queue_refuses_clearly_and_close_keeps_what_it_could_not_write(
    tmp_path, monkeypatch, kind: str
) -> None:
    path = tmp_path / kind
    store = EventStore(
        path, batch_size=10, max_pending=100, append_timeout=0.2, flush_interval=0.05
    )
    _fail_writes(monkeypatch, kind)
    store.append([tagged_event(0, 0, s) for s in range(100)])
    with pytest.raises(
        EventStoreFull,
        match=r"100 events wait to be written \(max_pending == "
        r"100\); the last write failed: OSError: \[Errno 28\] No space left",
    ):
        store.append(tagged_event(0, 0, 100))
    with pytest.raises(EventStoreError, match=r"writing 100 event\(s\) failed .* kept and retried"):
        store.close()
    assert store.pending == 100
    monkeypatch.undo()
    store.close()  # the cause is fixed: a second close writes them
    assert_exactly(path, expected_ids(0, 1, 100))


# --------------------------------------------------------------------------- torn data


def test_a_torn_csv_tail_is_skipped_counted_and_set_aside_before_the_next_append(
    tmp_path,
) -> None:
    path = tmp_path / "events.csv"
    with EventStore(path) as store:
        store.append([tagged_event(0, 0, s) for s in range(10)])
    with open(path, "ab") as handle:
        handle.write(b'"w0-t0-10",2026-01-05 00:00:00.010000Z,"durability","u10","w0-t0-d1')
    contents = EventStore(path).scan()
    assert len(contents.events) == 10 and contents.torn_rows == 1
    with pytest.warns(UserWarning, match=r"1 torn CSV row\(s\) skipped"):
        EventStore(path).read()
    with EventStore(path) as store:
        store.append([tagged_event(0, 0, s) for s in range(10, 15)])
    assert path.read_bytes().endswith(b"\n")
    assert path.with_name("events.csv.torn").read_bytes().startswith(b'"w0-t0-10"')
    contents = EventStore(path).scan()
    assert sorted(contents.events["event_id"]) == sorted(f"w0-t0-{s}" for s in range(15))
    assert contents.torn_rows == 1


def test_a_half_written_parquet_part_never_makes_the_store_unreadable(tmp_path) -> None:
    path = tmp_path / "parts"
    with EventStore(path) as store:
        store.append([tagged_event(0, 0, s) for s in range(10)])
    whole = next(path.glob("part-*.parquet")).read_bytes()
    (path / "part-0-half.parquet").write_bytes(whole[: len(whole) // 2])  # an older writer's
    (path / ".part-1-unfinished.parquet.tmp").write_bytes(whole[:100])  # a crash mid-write
    contents = EventStore(path).scan()
    assert len(contents.events) == 10
    assert contents.unreadable_parts == ("part-0-half.parquet",)
    assert contents.unfinished_parts == 1
    with pytest.warns(UserWarning, match=r"1 unreadable Parquet part\(s\) skipped"):
        EventStore(path).read()


@pytest.mark.parametrize("kind", KINDS)
def test_reading_while_another_process_writes(tmp_path, kind: str) -> None:
    path = tmp_path / kind
    process = start_worker(path, "--count", "3000", "--pace", "0.0005", "--flush-interval", "0.1")
    counts, read_log_counts = [], []
    while process.poll() is None:
        counts.append(len(EventStore(path).scan().events))
        table = {"table": "events"} if kind.endswith(".duckdb") else {}
        with contextlib.suppress(LogValidationError, FileNotFoundError):  # before any write
            read_log_counts.append(len(read_log(path, schema=EVENT_SCHEMA, **table)))
        time.sleep(0.05)
    assert read_log_counts == sorted(read_log_counts) and len(read_log_counts) >= 3
    finish(process)
    assert len(counts) >= 5 and counts == sorted(counts)
    assert_exactly(path, expected_ids(0, 1, 3000))


def test_a_forked_child_does_not_write_its_parents_queue_again(tmp_path) -> None:
    path = tmp_path / "events.csv"
    store = EventStore(path, flush_interval=30)
    store.append([tagged_event(0, 0, s) for s in range(50)])
    child = os.fork()
    if child == 0:  # the child appends its own events and exits normally
        try:
            store.append([tagged_event(1, 0, s) for s in range(20)])
            store.close()
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    store.close()
    assert_exactly(path, expected_ids(0, 1, 50) | expected_ids(1, 1, 20))


# --------------------------------------------------------------------------- at the door


BAD_EVENTS = [
    ({"event_type": "click"}, r"event_type == 'click', must be one of \['exposure', 'outcome'\]"),
    ({"status": "done"}, r"status == 'done', must be one of \['ok', 'error', 'timeout'\]"),
    (
        {"event_type": "outcome", "outcome": "csat", "value": 7},
        r"'csat'\) == 7, must be numbers in",
    ),
    ({"event_type": "outcome", "outcome": "resolved", "value": 5}, r"\) == 5, must be whole"),
    ({"event_type": "outcome", "outcome": "like", "value": 2}, r"'like'\) == 2, must be whole"),
    ({"event_type": "outcome", "outcome": "turns", "value": 2.5}, r"\) == 2.5, must be whole"),
    ({"event_type": "outcome", "outcome": "csat"}, r"value is missing, required for outcomes"),
    ({"event_type": "outcome", "outcome": "thumbs", "value": 1}, r"outcome == 'thumbs'"),
    ({"latency_ms": -3.0}, r"latency_ms == -3.0, must be numbers in \[0, inf\]"),
    ({"latency_ms": float("inf")}, r"latency_ms == inf, must be numbers"),
    ({"tokens_out": "12"}, r"tokens_out == '12', must be a number"),
    ({"user_id": "u1\nu2"}, r"user_id == 'u1\\nu2', must be text of at most 1000 characters"),
    ({"user_id": " "}, r"user_id == ' ', must be non-empty text"),
    ({"user_id": None}, r"user_id is missing, required"),
    ({"user_id": "None"}, r"user_id == 'None' is a missing value written as text"),
    ({"variant": "treatment "}, r"variant == 'treatment ', must be one of \['control', "),
    ({"timestamp": 1767571200}, r"timestamp == 1767571200, must be a date-time .* not a number"),
    ({"timestamp": "yesterday"}, r"timestamp == 'yesterday', must be a date-time"),
    ({"clicks": 1}, r"unknown field\(s\) \['clicks'\]"),
]


@pytest.mark.parametrize(("change", "message"), BAD_EVENTS)
@pytest.mark.parametrize("kind", KINDS)
def test_events_that_would_poison_the_store_are_refused_at_append(
    tmp_path, kind: str, change: dict, message: str
) -> None:
    store = EventStore(tmp_path / kind)
    with pytest.raises(EventValidationError, match=message):
        store.append([tagged_event(0, 0, 0), {**tagged_event(0, 0, 1), **change}])
    store.append(tagged_event(0, 0, 2))
    store.close()
    assert stored_ids(tmp_path / kind) == ["w0-t0-2"]  # the refused call stored nothing


def test_a_csv_that_is_not_an_event_store_is_refused_up_front(tmp_path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("dialog_id,user_id\nd1,u1\n")
    with pytest.raises(EventStoreError, match=r"first line is 'dialog_id,user_id', an event"):
        EventStore(path)


def test_store_options_are_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"flush_interval == 0, must be in \(0, 60\]"):
        EventStore(tmp_path / "e.csv", flush_interval=0)
    with pytest.raises(ValueError, match=r"max_pending == 10, must be"):
        EventStore(tmp_path / "e.csv", batch_size=100, max_pending=10)
    closed = EventStore(tmp_path / "e.csv")
    closed.close()
    with pytest.raises(EventStoreError, match=r"the store is closed"):
        closed.append(tagged_event(0, 0, 0))
