"""Serving overhead: 32 threads x 2,000 requests through ExperimentServer vs the models directly.

The fake models sleep ``--model-ms`` (a network call: the GIL is released) and report how long
they took, so each request's overhead is exact: the time ``generate`` took minus the model's own
time (routing, timing, the model-call thread, validating and queueing the exposure). The same
fake models are first called directly by the same threads; the wall-time ratio of the two runs
is the throughput cost. With ``--baseline REF`` the script also runs itself against the kit as it
was at git commit REF (a temporary worktree), in the same run, for a before / after comparison.

    .venv/bin/python benchmarks/bench_serving.py [--baseline REF] [--store parts|csv|duckdb]

Without ``--timeout`` it measures the server as configured by default (model in the caller's
thread) and with ``timeout=60`` (model on the call pool).
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STORES = {"parts": "events", "csv": "events.csv", "duckdb": "events.duckdb"}


def fake_model(model_seconds: float):
    def generate(prompt: str, **_: object) -> SimpleNamespace:
        started = time.perf_counter()
        time.sleep(model_seconds)
        return SimpleNamespace(
            text=prompt,
            usage=SimpleNamespace(completion_tokens=42),
            model_seconds=time.perf_counter() - started,
        )

    return generate


def run_threads(call, threads: int, requests: int) -> tuple[float, np.ndarray]:
    """Wall time, and per request: (total seconds, model seconds)."""
    timings = np.zeros((threads, requests, 2))
    barrier = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        barrier.wait()
        for request in range(requests):
            started = time.perf_counter()
            model_seconds = call(index, request)
            timings[index, request] = (time.perf_counter() - started, model_seconds)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, timings.reshape(-1, 2)


def measure(args: argparse.Namespace) -> dict:
    """Direct calls, then through the server, in this process; figures as a dict."""
    try:
        from abkit.serve.event_store import EventStore
    except ImportError:  # the kit before the store had its own module
        from abkit.serve.event_store import EventStore
    from abkit.serve.serving import ExperimentServer

    model = fake_model(args.model_ms / 1000)
    direct_wall, direct = run_threads(
        lambda k, r: model("hi").model_seconds, args.threads, args.requests
    )
    folder = Path(tempfile.mkdtemp())
    store = EventStore(folder / STORES[args.store])
    options = {"split": 0.5}
    if args.timeout is not None:
        if "timeout" not in inspect.signature(ExperimentServer).parameters:
            raise SystemExit("this version of ExperimentServer has no timeout")
        options["timeout"] = args.timeout
    server = ExperimentServer("bench", {"control": model, "treatment": model}, store, **options)
    served_wall, served = run_threads(
        lambda k, r: server.generate(f"user-{k}-{r}", "hi").response.model_seconds,
        args.threads,
        args.requests,
    )
    store.close()
    written = len(store.read())
    overhead = (served[:, 0] - served[:, 1]) * 1000
    direct_overhead = (direct[:, 0] - direct[:, 1]) * 1000
    return {
        "direct_wall_s": direct_wall,
        "served_wall_s": served_wall,
        "wall_ratio": served_wall / direct_wall,
        "overhead_p50_ms": float(np.percentile(overhead, 50)),
        "overhead_p99_ms": float(np.percentile(overhead, 99)),
        "direct_call_p99_ms": float(np.percentile(direct_overhead, 99)),
        "events_written": written,
    }


def run_baseline(args: argparse.Namespace) -> dict:
    """This script, run in a worktree of the kit at ``args.baseline``."""
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "kit"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            command = [sys.executable, __file__, "--json", *_passed_on(args)]
            out = subprocess.run(
                command,
                cwd=tree,
                env={"PYTHONPATH": str(tree), "PATH": ""},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    return json.loads(out)


def _passed_on(args: argparse.Namespace) -> list[str]:
    options = [
        "--threads", str(args.threads), "--requests", str(args.requests),
        "--model-ms", str(args.model_ms), "--store", args.store,
    ]  # fmt: skip
    return options + (["--timeout", str(args.timeout)] if args.timeout is not None else [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per thread")
    parser.add_argument("--model-ms", type=float, default=1.0, help="the fake model's latency")
    parser.add_argument("--store", choices=sorted(STORES), default="parts")
    parser.add_argument(
        "--timeout", type=float, help="the server's model timeout (default: none, as the kit's)"
    )
    parser.add_argument("--baseline", metavar="REF", help="also measure the kit at this commit")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args)))
        return 0
    rows = {"this tree": measure(args)}
    if args.timeout is None:
        args.timeout = 60.0
        rows["this tree, timeout=60"] = measure(args)
        args.timeout = None
    if args.baseline:
        rows[f"at {args.baseline}"] = run_baseline(args)
    print(
        f"{args.threads} threads x {args.requests} requests, fake model {args.model_ms:g} ms, "
        f"store: {args.store}"
    )
    print(
        f"{'':26} {'direct s':>9} {'served s':>9} {'ratio':>6} {'ovh p50 ms':>11} "
        f"{'ovh p99 ms':>11} {'events':>7}"
    )
    for name, row in rows.items():
        print(
            f"{name:26} {row['direct_wall_s']:9.2f} {row['served_wall_s']:9.2f} "
            f"{row['wall_ratio']:6.3f} {row['overhead_p50_ms']:11.3f} "
            f"{row['overhead_p99_ms']:11.3f} {row['events_written']:7d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
