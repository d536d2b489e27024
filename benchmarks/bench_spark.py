"""The full default analysis of a 10M-dialog log on DuckDB and on local-mode Spark.

Same file, same run, each engine in its own process pinned to 1 core and then to 2
(``taskset``; Spark's master is ``local[1]`` / ``local[2]`` to match). Time: best of --repeat
warm runs after one warm-up (Spark's session start-up is reported apart). Peak memory: the
whole process tree (the Python driver and Spark's JVM), sampled every 50 ms from /proc, since
Spark's memory is not in the Python process.

Run: .venv/bin/python benchmarks/make_bench_data.py   # once: benchmarks/output/dialogs_10m.parquet
     .venv/bin/python benchmarks/bench_spark.py [--file ...] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = KIT / "benchmarks" / "output" / "dialogs_10m.parquet"


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def child(engine: str, cores: int, path: str, repeat: int) -> None:
    """Runs in the measured process: prints one JSON line with the timings."""
    sys.path.insert(0, str(KIT))
    from abkit.analysis.results import analyze

    spark, started = None, time.perf_counter()
    if engine == "spark":
        from abkit.analysis.spark_source import spark_session

        spark = spark_session(f"local[{cores}]")
    startup = time.perf_counter() - started
    _run = None

    def run() -> float:
        nonlocal _run
        begun = time.perf_counter()
        result = analyze(path, split=0.2, spark=spark)
        _run = result
        return time.perf_counter() - begun

    run()  # warm-up
    times = [run() for _ in range(repeat)]
    print(json.dumps({"startup": startup, "best": min(times), "verdict": _run.decision.verdict}))


def measure(engine: str, cores: int, path: Path, repeat: int) -> dict:
    pinned = ["taskset", "-c", ",".join(str(c) for c in range(cores))]
    command = [*pinned, sys.executable, __file__, "--child", engine, str(cores), str(path)]
    command.append(str(repeat))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = process.communicate()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{engine} with {cores} core(s) failed (exit {process.returncode})")
    return {**json.loads(out.strip().splitlines()[-1]), "peak": peak}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not args.file.exists():
        raise SystemExit(f"{args.file} not found: run benchmarks/make_bench_data.py first")
    print(f"file: {args.file} ({args.file.stat().st_size / 2**20:.0f} MiB)")
    found = {}
    for engine in ("duckdb", "spark"):
        for cores in (1, 2):
            got = measure(engine, cores, args.file, args.repeat)
            found[(engine, cores)] = got
            print(
                f"{engine:6s} {cores} core(s): best {got['best']:6.2f} s warm (start-up "
                f"{got['startup']:4.1f} s), peak {got['peak'] / 2**30:5.2f} GiB (process tree), "
                f"decision {got['verdict']}",
                flush=True,
            )
    for cores in (1, 2):
        ratio = found[("spark", cores)]["best"] / found[("duckdb", cores)]["best"]
        print(f"Spark / DuckDB at {cores} core(s): time x{ratio:.1f}")
    for engine in ("duckdb", "spark"):
        one, two = found[(engine, 1)]["best"], found[(engine, 2)]["best"]
        print(f"{engine}: 2 cores take {two / one:.2f}x the time of 1 (speed-up {one / two:.2f})")


if __name__ == "__main__":
    main()
