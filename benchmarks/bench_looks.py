"""Daily looks on the 10M-dialog log, all in one run.

1. The log as a folder of 14 daily Parquet parts (dialog ids replaced by UUID-like md5 strings,
   built once into benchmarks/output/dialogs_10m_days/), under a plan of four ratio metrics
   that the rollup holds (abkit.analysis.rollup):
   - a hand-written DuckDB query of the same metrics over the folder (the floor);
   - one full analysis (cache=False);
   - the first analysis with the rollup on (a one-off look: the full scan, the look noted) and
     the second (the rollup built: its build in the time);
   - 14 daily looks ``analyze(until=day)`` as full scans, and through the rollup (from an empty
     rollup: its build is in the time), and through the built rollup;
   - the effect-over-time cell (cumulative_effects) through the rollup;
   - a look after one more day's part arrives (the rollup of the 13 days before it built);
     the same when looks through each day were taken before it (their increments kept, then
     extended by the new day's), and the 14 daily looks after it;
   - the default plan (latency quantiles): the checks from the rollup, the pass on the log.
   With --spark, instead: the same folder and plan on local-mode Spark, full scans against the
   rollup kept by Spark.
2. The effect-over-time view of the single-file log: every daily look in one pass
   (abkit.analysis.looks) against a look per day (the path taken before).

    .venv/bin/python benchmarks/make_bench_data.py   # once: benchmarks/output/dialogs_10m.parquet
    .venv/bin/python benchmarks/bench_looks.py [--log FILE] [--metric task_completion] [--spark]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

import abkit.analysis.results as results
from abkit.plan.experiment_plan import ExperimentPlan, load_plan
from abkit.plan.metrics import metrics_by_name

OUTPUT = Path(__file__).parent / "output"
DEFAULT_LOG = OUTPUT / "dialogs_10m.parquet"
RATIOS = ["task_completion", "escalation_rate", "csat", "turns"]
FLOOR_SQL = """
SELECT variant, count(*), sum(dialogs), sum(completed), sum(escalated), sum(csat), sum(rated),
       sum(turns), sum(completed * completed), sum(escalated * escalated), sum(csat * csat),
       sum(turns * turns), sum(dialogs * dialogs), sum(rated * rated), sum(completed * dialogs),
       sum(escalated * dialogs), sum(csat * rated), sum(turns * dialogs)
FROM (SELECT user_id, any_value(variant) AS variant, count(*) AS dialogs,
             sum(completed) AS completed, sum(escalated) AS escalated, sum(csat) AS csat,
             count(csat) AS rated, sum(turns) AS turns
      FROM read_parquet('{folder}/*.parquet') GROUP BY user_id)
GROUP BY variant
"""


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def daily_parts(log: Path) -> Path:
    """The log split by UTC day into 14 parts (the last day's part also holds the rows at
    its closing midnight), dialog ids as UUID-like md5 text; built once."""
    folder = OUTPUT / "dialogs_10m_days"
    if folder.is_dir() and len(list(folder.glob("*.parquet"))) == 14:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    groups = "'^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5'"
    uuid = f"regexp_replace(md5(dialog_id), {groups})"
    day = "least(CAST(timestamp AS DATE), DATE '2026-01-18')"
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        days = connection.execute(
            f"SELECT DISTINCT {day} FROM read_parquet('{log}') ORDER BY 1"
        ).fetchall()
        for (value,) in days:
            connection.execute(
                f"COPY (SELECT * REPLACE ({uuid} AS dialog_id) FROM read_parquet('{log}') "
                f"WHERE {day} = DATE '{value}') TO '{folder}/day-{value}.parquet' (FORMAT parquet)"
            )
    return folder


def rollup_section(log: Path) -> None:
    folder = daily_parts(log)
    metrics = [dataclasses.replace(m, ordinal=False) for m in metrics_by_name(RATIOS)]
    plan = ExperimentPlan(split=0.2, metrics=tuple(metrics))
    days = [f"2026-01-{d:02d}" for d in range(5, 19)]
    analyze = results.analyze_plan
    with tempfile.TemporaryDirectory(prefix="abkit-bench-rollup-") as scratch:
        cache = Path(scratch) / "rollup"
        analyze(folder, plan, cache=False, novelty=False)  # warm the file cache
        with duckdb.connect() as connection:
            floor, _ = timed(lambda: connection.execute(FLOOR_SQL.format(folder=folder)).fetchall())
        full, whole = timed(analyze, folder, plan, cache=False, novelty=False)
        scans = 0.0
        for day in days:
            scans += timed(analyze, folder, plan, until=day, cache=False, novelty=False)[0]
        first, _ = timed(analyze, folder, plan, cache=Path(scratch) / "first", novelty=False)
        second, _ = timed(analyze, folder, plan, cache=Path(scratch) / "first", novelty=False)
        cold = 0.0
        for day in days:
            cold += timed(analyze, folder, plan, until=day, cache=cache, novelty=False)[0]
        warm = 0.0
        for day in days:
            warm += timed(analyze, folder, plan, until=day, cache=cache, novelty=False)[0]
        effect, over_time = timed(results.cumulative_effects, folder, plan, RATIOS[0], cache=cache)
        rolled = analyze(folder, plan, cache=cache, novelty=False)
        pd.testing.assert_frame_equal(whole.table, rolled.table, check_exact=False, rtol=1e-12)
        # one more day: the rollup of the parts before it is built, then its part arrives
        growing = Path(scratch) / "growing"
        growing.mkdir()
        parts = sorted(folder.glob("*.parquet"))
        for part in parts[:-1]:
            os.link(part, growing / part.name)
        analyze(growing, plan, cache=cache, novelty=False)  # the one-off look: a scan
        analyze(growing, plan, cache=cache, novelty=False)  # the rollup of 13 days built
        os.link(parts[-1], growing / parts[-1].name)
        added, _ = timed(analyze, growing, plan, cache=cache, novelty=False)
        # the same, a look through each day taken before it: the new day's increments
        # extend the kept ones, and the looks through each day after it read them
        daily = Path(scratch) / "daily"
        daily.mkdir()
        for part in parts[:-1]:
            os.link(part, daily / part.name)
        analyze(daily, plan, cache=cache, novelty=False)
        for day in days[:-1]:
            analyze(daily, plan, until=day, cache=cache, novelty=False)
        os.link(parts[-1], daily / parts[-1].name)
        extended, latest = timed(analyze, daily, plan, cache=cache, novelty=False)
        pd.testing.assert_frame_equal(whole.table, latest.table, check_exact=False, rtol=1e-12)
        redrawn = sum(
            timed(analyze, daily, plan, until=day, cache=cache, novelty=False)[0] for day in days
        )
    title = f"log: {folder.name}/ (14 daily parts, UUID-like ids), {len(RATIOS)} ratio metrics"
    print(title)
    print_row("DuckDB query of the same metrics (floor)", floor, "")
    print_row("one full analysis (cache=False)", full, f"{full / floor:.2f}x the floor")
    print_row("first analysis (a one-off: the full scan)", first, f"{first / floor:.2f}x the floor")
    print_rows(
        full,
        [
            ("second analysis, building the rollup", second),
            ("14 daily looks, full scans", scans),
            ("14 daily looks, rollup built on the way", cold),
            ("14 daily looks, rollup built", warm),
            (f"effect over time ({len(over_time)} days), rollup built", effect),
            ("a look after one more day's part", added),
            ("the same, looks through each day taken before it", extended),
            ("then 14 daily looks", redrawn),
        ],
    )


def spark_section(log: Path) -> None:
    """The same folder and plan on local-mode Spark (local[2]): a full scan, the rollup's build
    (the second look), and 14 daily looks as full scans and through the built rollup."""
    from abkit.analysis.spark_source import spark_session

    folder = daily_parts(log)
    metrics = [dataclasses.replace(m, ordinal=False) for m in metrics_by_name(RATIOS)]
    plan = ExperimentPlan(split=0.2, metrics=tuple(metrics))
    days = [f"2026-01-{d:02d}" for d in range(5, 19)]
    spark = spark_session("local[2]")

    def analyze(**kwargs):
        return results.analyze_plan(folder, plan, novelty=False, spark=spark, **kwargs)

    with tempfile.TemporaryDirectory(prefix="abkit-bench-rollup-spark-") as scratch:
        cache = Path(scratch) / "rollup"
        analyze(cache=False)  # the session's and the file cache's warm-up
        full, whole = timed(analyze, cache=False)
        first, _ = timed(analyze, cache=cache)
        second, _ = timed(analyze, cache=cache)
        again, rolled = timed(analyze, cache=cache)
        pd.testing.assert_frame_equal(whole.table, rolled.table, check_exact=False, rtol=1e-12)
        scans = sum(timed(analyze, until=day, cache=False)[0] for day in days)
        warm = sum(timed(analyze, until=day, cache=cache)[0] for day in days)
    print("\non Spark (local[2]), the same folder and plan")
    print_rows(
        full,
        [
            ("one full analysis (cache=False)", full),
            ("first analysis (a one-off: the full scan)", first),
            ("second analysis, building the rollup", second),
            ("third analysis, from the rollup", again),
            ("14 daily looks, full scans", scans),
            ("14 daily looks, rollup built", warm),
        ],
    )


def print_row(label: str, seconds: float, ratio: str) -> None:
    print(f"{label + ':':<52}{seconds:6.2f} s  {ratio}")


def print_rows(full: float, rows: list[tuple[str, float]]) -> None:
    """One line per timing: label, seconds, and the ratio to one full analysis."""
    for label, seconds in rows:
        print_row(label, seconds, f"{seconds / full:.2f}x one analysis")


def quantile_section(log: Path) -> None:
    """The default plan (three latency quantiles among its metrics): the checks from the
    rollup, the heavy pass over the log (abkit.analysis.rollup.reads_the_log)."""
    folder = daily_parts(log)
    plan = load_plan({"split": 0.2})
    days = [f"2026-01-{d:02d}" for d in range(5, 19)]
    analyze = results.analyze_plan
    with tempfile.TemporaryDirectory(prefix="abkit-bench-rollup-") as scratch:
        cache = Path(scratch) / "rollup"
        analyze(folder, plan, cache=False, novelty=False)  # warm the file cache
        full, whole = timed(analyze, folder, plan, cache=False, novelty=False)
        first, _ = timed(analyze, folder, plan, cache=cache, novelty=False)
        second, _ = timed(analyze, folder, plan, cache=cache, novelty=False)
        again, rolled = timed(analyze, folder, plan, cache=cache, novelty=False)
        pd.testing.assert_frame_equal(whole.table, rolled.table, check_exact=False, rtol=1e-12)
        scans = sum(
            timed(analyze, folder, plan, until=day, cache=False, novelty=False)[0] for day in days
        )
        looks = sum(
            timed(analyze, folder, plan, until=day, cache=cache, novelty=False)[0] for day in days
        )
    print(f"\nlog: {folder.name}/, the default plan ({len(whole.table)} rows, 3 latency quantiles)")
    print_row("one full analysis (cache=False)", full, "")
    print_rows(
        full,
        [
            ("first analysis (a one-off: the full scan)", first),
            ("second analysis, building the checks' rollup", second),
            ("the analysis again, checks from the rollup", again),
            ("14 daily looks, full scans", scans),
            ("14 daily looks, checks from the rollup", looks),
        ],
    )


def one_pass_section(log: Path, metric: str) -> None:
    plan = load_plan({"split": 0.2})
    single = results.cumulative_effects  # warm the imports and the file cache once
    single(log, plan, metric)
    full, _ = timed(results.analyze_plan, log, plan, novelty=False)
    one_pass, fast = timed(single, log, plan, metric)
    original = results.aggregate_daily
    results.aggregate_daily = lambda *a, **k: None  # the look-per-day path
    try:
        per_day, slow = timed(single, log, plan, metric)
    finally:
        results.aggregate_daily = original
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9, atol=1e-12)
    print(f"\nlog: {log.name}, metric {metric}, {len(fast)} daily looks (same numbers)")
    print(f"one full analysis (every metric):  {full:6.2f} s")
    print(f"effect over time, a look per day:  {per_day:6.2f} s")
    print(f"effect over time, one pass:        {one_pass:6.2f} s")
    print(f"ratio one pass / look per day: {one_pass / per_day:.2f}; "
          f"one pass / full analysis: {one_pass / full:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--metric", default="task_completion")
    parser.add_argument(
        "--spark", action="store_true", help="only the rollup on local-mode Spark (abkit[spark])"
    )
    args = parser.parse_args()
    if not args.log.is_file():
        raise SystemExit(f"--log == '{args.log}': no such file; run make_bench_data.py first")
    if args.spark:
        spark_section(args.log)
        return
    rollup_section(args.log)
    quantile_section(args.log)
    one_pass_section(args.log, args.metric)


if __name__ == "__main__":
    main()
