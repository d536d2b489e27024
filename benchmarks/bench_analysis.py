"""Full analysis of the 10M-dialog log (issue: analysis engine), against two baselines.

Each measurement runs in its own Python process (so peak memory is that path's alone) and
reports the best of --repeat warm runs (after one warm-up run in the same process):

- abkit (DuckDB): ``analyze`` on the Parquet file: completion, escalation, CSAT per rated
  dialog, turns (delta method per user), the SRM check, and clustered P50 / P95 / P99 latency,
  with the file's validation (required columns, nulls, duplicate dialog ids, labels);
- DuckDB floor: one plain query of the four ratio metrics' per-variant sums (no per-user step,
  no variance, no quantiles, no validation): the least any engine must do;
- pandas only: read the file with pandas and run the same ``analyze`` on the DataFrame.

Run: .venv/bin/python benchmarks/make_bench_data.py   # once, ~30 s, 250 MiB
     .venv/bin/python benchmarks/bench_analysis.py [--file ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "output" / "dialogs_10m.parquet"
METRICS = [
    "task_completion",
    "escalation_rate",
    "csat",
    "turns",
    "latency_p50",
    "latency_p95",
    "latency_p99",
]


def _abkit_duckdb(path: Path) -> None:
    from abkit.metrics import metrics_by_name

    from abkit.analysis import analyze

    analyze(path, split=0.2, metrics=metrics_by_name(METRICS))


def _duckdb_floor(path: Path) -> None:
    import duckdb

    with duckdb.connect() as connection:
        connection.execute(
            "SELECT variant, count(*), sum(completed), sum(escalated), sum(csat), count(csat), "
            f"sum(turns) FROM read_parquet('{path}') GROUP BY variant"
        ).fetchall()


def _pandas_only(path: Path) -> None:
    import pandas as pd
    from abkit.metrics import metrics_by_name

    from abkit.analysis import analyze

    analyze(pd.read_parquet(path), split=0.2, metrics=metrics_by_name(METRICS))


PATHS = {
    "abkit (DuckDB)": _abkit_duckdb,
    "DuckDB floor (4 ratio sums)": _duckdb_floor,
    "pandas only": _pandas_only,
}


def child(name: str, path: Path, repeat: int) -> None:
    action = PATHS[name]
    action(path)  # warm-up: imports, file cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action(path)
        times.append(time.perf_counter() - started)
    # VmHWM: this process's own peak resident memory (ru_maxrss would carry over the
    # parent's peak across fork + exec on Linux)
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    peak = peak_kib / 2**20  # KiB -> GiB
    print(json.dumps({"seconds": min(times), "peak_gib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=list(PATHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.repeat)
        return
    if not args.file.exists():
        sys.exit(f"{args.file} not found: run benchmarks/make_bench_data.py first")
    from abkit.metrics import metrics_by_name

    from abkit.analysis import analyze

    result = analyze(args.file, split=0.2, metrics=metrics_by_name(METRICS))
    print(f"file: {args.file} ({args.file.stat().st_size / 2**20:.0f} MiB)")
    print(
        result.table[["metric", "control", "treatment", "effect", "p_value"]]
        .round(4)
        .to_string(index=False)
    )
    print(f"SRM: {result.srm.verdict}; decision: {result.decision.verdict}\n")
    figures = {}
    for name in PATHS:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--file",
                str(args.file),
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        figures[name] = json.loads(done.stdout.strip().splitlines()[-1])
    floor = figures["DuckDB floor (4 ratio sums)"]["seconds"]
    for name, figure in figures.items():
        print(
            f"{name:28s} {figure['seconds']:6.2f} s warm  peak {figure['peak_gib']:.2f} GiB  "
            f"x{figure['seconds'] / floor:.1f} the DuckDB floor"
        )


if __name__ == "__main__":
    main()
