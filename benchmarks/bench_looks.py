"""The effect-over-time view (notebook 03's cell: abkit.analysis.results.cumulative_effects) on
the 10M-dialog log: every daily look in one pass (abkit.analysis.looks) against a look per day
(the path before, still taken for quantile metrics) and against one full analysis of the same
metric, all in one run.

    .venv/bin/python benchmarks/make_bench_data.py   # once: benchmarks/output/dialogs_10m.parquet
    .venv/bin/python benchmarks/bench_looks.py [--log FILE] [--metric task_completion]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import abkit.analysis.results as results
from abkit.plan.experiment_plan import load_plan

DEFAULT_LOG = Path(__file__).parent / "output" / "dialogs_10m.parquet"


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--metric", default="task_completion")
    args = parser.parse_args()
    if not args.log.is_file():
        raise SystemExit(f"--log == '{args.log}': no such file; run make_bench_data.py first")
    plan = load_plan({"split": 0.2})
    single = results.cumulative_effects  # warm the imports and the file cache once
    single(args.log, plan, args.metric)
    full, _ = timed(results.analyze_plan, args.log, plan, novelty=False)
    one_pass, fast = timed(single, args.log, plan, args.metric)
    original = results.aggregate_daily
    results.aggregate_daily = lambda *a, **k: None  # the look-per-day path
    try:
        per_day, slow = timed(single, args.log, plan, args.metric)
    finally:
        results.aggregate_daily = original
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9, atol=1e-12)
    print(f"log: {args.log.name}, metric {args.metric}, {len(fast)} daily looks (same numbers)")
    print(f"one full analysis (every metric):  {full:6.2f} s")
    print(f"effect over time, a look per day:  {per_day:6.2f} s")
    print(f"effect over time, one pass:        {one_pass:6.2f} s")
    print(f"ratio one pass / look per day: {one_pass / per_day:.2f}; "
          f"one pass / full analysis: {one_pass / full:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
