"""The analysis on a 10M-dialog / 1M-user Parquet log, timed against tea-tasting and a DuckDB floor.

All in one run, on the same file, each measurement in its own process (so peak memory is that
path's alone; best of --repeat warm runs after one warm-up):

- abkit, 4 ratio metrics + SRM: task completion, escalation, CSAT per rated dialog and turns
  (delta method over users) with the sample-ratio gate, under a plan declaring just those;
- tea-tasting 2.0, the same work: per-user sums in DuckDB (tea-tasting analyses unit-level data),
  then ``Experiment(RatioOfMeans x 4, SampleRatio).analyze`` on that DuckDB relation. tea-tasting
  needs Python >= 3.12: this script builds ``benchmarks/output/tea-tasting-venv`` itself with the
  first python3.12+ it finds, and says so when it cannot;
- DuckDB floor: one query, the per-user GROUP BY of the four ratio metrics and the per-variant
  sums, squares and cross-products the delta method needs; no validation, no tests;
- DuckDB floor, same metrics: the same for the full analysis's twelve default metrics (eight
  ratios, the return share, per-variant P50 / P95 / P99 of latency by quantile_cont), one
  query: what the full analysis costs without its checks, its clustered quantile variances
  and its rank test;
- abkit, full default analysis: every health gate (ids, duplicates, labels, ranges, missing
  values, crossovers, units, SRM), twelve metrics with clustered P50 / P95 / P99 latency;
- the same with CUPED on task completion: the covariate from the users table (1 join of 1M
  rows; aim <= 1.3x the unadjusted analysis) or from the pre-period log (~5M dialogs windowed
  before each user's first exposure: a second log to read, reported).

Ratios printed: abkit 4-ratio vs tea-tasting (time, peak memory; aim <= 1.0x), the full
analysis vs the floor of the same metrics (aim <= 1.5x; the full analysis computes twelve
metrics, so its floor is the one query computing those twelve) and, for scale, vs the 4-ratio
floor, CUPED vs the unadjusted full analysis (aim <= 1.3x).

Run: .venv/bin/python benchmarks/make_bench_data.py   # once, ~1 min, ~250 MiB
     .venv/bin/python benchmarks/bench_analysis.py [--file ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "output" / "dialogs_10m.parquet"
TT_VENV = HERE / "output" / "tea-tasting-venv"
RATIOS = ["task_completion", "escalation_rate", "csat", "turns"]

PER_USER_SQL = """
SELECT user_id, any_value(variant) AS variant, count(*) AS dialogs,
       sum(completed) AS completed, sum(escalated) AS escalated,
       sum(csat) AS csat, count(csat) AS rated, sum(turns) AS turns
FROM read_parquet('{path}') GROUP BY user_id
"""


def _abkit_ratios(path: Path) -> None:
    import dataclasses

    from abkit.analysis.results import analyze
    from abkit.plan.experiment_plan import ExperimentPlan
    from abkit.plan.metrics import metrics_by_name

    metrics = [dataclasses.replace(m, ordinal=False) for m in metrics_by_name(RATIOS)]
    analyze(path, plan=ExperimentPlan(split=0.2, metrics=tuple(metrics)))


def _abkit_full(path: Path) -> None:
    from abkit.analysis.results import analyze

    analyze(path, split=0.2)


def _cuped_plan(covariate: str, path: Path):
    import dataclasses

    from abkit.analysis.log_source import log_columns
    from abkit.plan.experiment_plan import ExperimentPlan
    from abkit.plan.metrics import default_metrics

    metrics = tuple(  # the default metrics this log's columns allow, as the full analysis
        dataclasses.replace(m, covariate=covariate) if m.name == "task_completion" else m
        for m in default_metrics(log_columns(path))
    )
    return ExperimentPlan(split=0.2, metrics=metrics, pre_period_days=14.0)


def _abkit_cuped_users(path: Path) -> None:
    from make_bench_data import covariate_paths

    from abkit.analysis.results import analyze_plan

    analyze_plan(path, _cuped_plan("past_completion", path), users=covariate_paths(path)[1])


def _abkit_cuped_pre_period(path: Path) -> None:
    from make_bench_data import covariate_paths

    from abkit.analysis.results import analyze_plan

    analyze_plan(path, _cuped_plan("pre_period", path), pre_period=covariate_paths(path)[0])


def _delta_sums(pairs: list[tuple[str, str]]) -> list[str]:
    """Per variant, each ratio's five sums over users that the delta method needs."""
    return [f"sum({y}), sum({x}), sum({y}*{y}), sum({x}*{x}), sum({x}*{y})" for y, x in pairs]


def _duckdb_floor(path: Path) -> None:
    import duckdb

    pairs = [("completed", "dialogs"), ("escalated", "dialogs"), ("csat", "rated")]
    sums = _delta_sums([*pairs, ("turns", "dialogs")])
    with duckdb.connect() as connection:
        connection.execute("SET enable_progress_bar = false")
        connection.execute(
            f"SELECT variant, count(*), {', '.join(sums)} "
            f"FROM ({PER_USER_SQL.format(path=path)}) GROUP BY variant"
        ).fetchall()


FULL_PER_USER_SQL = """
SELECT user_id, any_value(variant) AS variant, count(*) AS dialogs,
       sum(completed) AS completed, sum(escalated) AS escalated, sum(csat) AS csat,
       count(csat) AS rated, sum(turns) AS turns, sum(likes) AS likes,
       sum(likes + dislikes) AS votes, max(returned_7d) AS returned, sum(error) AS errors,
       sum(tokens_out) AS tokens
FROM read_parquet('{path}') GROUP BY user_id
"""


def _duckdb_floor_full(path: Path) -> None:
    """The same twelve default metrics in one hand-written query, nothing checked: the
    per-user GROUP BY with every ratio's five sums and the return share per variant, and
    P50 / P95 / P99 of latency per variant (quantile_cont, no clustered variance)."""
    import duckdb

    pairs = [
        ("completed", "dialogs"),
        ("escalated", "dialogs"),
        ("csat", "rated"),
        ("turns", "dialogs"),
        ("likes", "votes"),
        ("errors", "dialogs"),
        ("tokens", "dialogs"),
        ("tokens", "completed"),
    ]
    sums = _delta_sums(pairs)
    with duckdb.connect() as connection:
        connection.execute("SET enable_progress_bar = false")  # its printing is not the work
        connection.execute(
            f"WITH u AS ({FULL_PER_USER_SQL.format(path=path)}), "
            f"a AS (SELECT variant, count(*), avg(returned), {', '.join(sums)} FROM u "
            "GROUP BY variant), "
            "q AS (SELECT variant, quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM "
            f"read_parquet('{path}') GROUP BY variant) "
            "SELECT * FROM a JOIN q USING (variant)"
        ).fetchall()


def _tea_tasting(path: Path) -> None:  # runs under the tea-tasting venv: no abkit imports
    import duckdb
    import tea_tasting as tt

    with duckdb.connect() as connection:
        users = connection.sql(PER_USER_SQL.format(path=path))
        experiment = tt.Experiment(
            task_completion=tt.RatioOfMeans("completed", "dialogs"),
            escalation_rate=tt.RatioOfMeans("escalated", "dialogs"),
            csat=tt.RatioOfMeans("csat", "rated"),
            turns=tt.RatioOfMeans("turns", "dialogs"),
            srm=tt.SampleRatio({"control": 0.8, "treatment": 0.2}),
        )
        experiment.analyze(users, control="control")


PATHS = {
    "abkit: 4 ratios + SRM": _abkit_ratios,
    "tea-tasting 2.0: 4 ratios + SRM": _tea_tasting,
    "DuckDB floor: per-user GROUP BY": _duckdb_floor,
    "DuckDB floor: the same 12 metrics": _duckdb_floor_full,
    "abkit: full default analysis": _abkit_full,
    "abkit: full + CUPED (users table)": _abkit_cuped_users,
    "abkit: full + CUPED (pre-period log)": _abkit_cuped_pre_period,
}


def child(name: str, path: Path, repeat: int) -> None:
    action = PATHS[name]
    action(path)  # warm-up: imports, file cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action(path)
        times.append(time.perf_counter() - started)
    # VmHWM: this process's own peak resident memory (ru_maxrss would carry the parent's)
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": min(times), "peak_gib": peak_kib / 2**20}))


def _runs(python: str) -> bool:
    done = subprocess.run(
        [python, "-c", "import sys; assert sys.version_info >= (3, 12)"], capture_output=True
    )
    return done.returncode == 0


def tea_tasting_python() -> Path | None:
    """A Python >= 3.12 with tea-tasting 2.0 and duckdb, built on first use; None when it cannot."""
    python = TT_VENV / "bin" / "python"
    if python.exists():
        return python
    candidates = [shutil.which(c) for c in ("python3.13", "python3.12")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python"))
    found = next((c for c in candidates if c and _runs(c)), None)
    if found is None:
        print("tea-tasting skipped: it needs Python >= 3.12 and none was found on PATH")
        return None
    print(f"building {TT_VENV} with {found} (tea-tasting 2.0, duckdb, pandas) ...")
    try:
        subprocess.run([found, "-m", "venv", str(TT_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "tea-tasting>=2.0,<3",
                "duckdb",
                "pandas",
            ],
            check=True,
        )
    except subprocess.CalledProcessError as error:
        print(f"tea-tasting skipped: building its environment failed ({error})")
        shutil.rmtree(TT_VENV, ignore_errors=True)
        return None
    return python


def measure(name: str, python: Path | str, path: Path, repeat: int) -> dict:
    done = subprocess.run(
        [str(python), __file__, "--child", name, "--file", str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    from abkit.analysis.results import analyze

    result = analyze(args.file, split=0.2)
    print(
        f"file: {args.file} ({args.file.stat().st_size / 2**20:.0f} MiB), "
        f"{result.engine.rows:,} dialogs, {sum(result.engine.users):,} users"
    )
    print(
        result.table[["metric", "control", "treatment", "effect", "p_value"]]
        .round(4)
        .to_string(index=False)
    )
    print(f"decision: {result.decision.verdict}\n")
    tt_python = tea_tasting_python()
    figures = {}
    for name in PATHS:
        python = tt_python if name.startswith("tea-tasting") else sys.executable
        if python is None:
            continue
        figures[name] = measure(name, python, args.file, args.repeat)
        print(
            f"{name:38s} {figures[name]['seconds']:6.2f} s warm  "
            f"peak {figures[name]['peak_gib']:.2f} GiB",
            flush=True,
        )
    print()
    floor = figures["DuckDB floor: per-user GROUP BY"]
    full = figures["abkit: full default analysis"]
    same = figures["DuckDB floor: the same 12 metrics"]
    print(
        f"full analysis / same-metrics floor: time x{full['seconds'] / same['seconds']:.2f} "
        "(aim <= 1.5: the one-query floor computing the same twelve metrics, unchecked)"
    )
    print(
        f"full analysis / 4-ratio floor:      time x{full['seconds'] / floor['seconds']:.2f} "
        "(for scale: 12 metrics and every gate against 4 ratios' GROUP BY)"
    )
    for name in ("abkit: full + CUPED (users table)", "abkit: full + CUPED (pre-period log)"):
        cuped = figures[name]
        print(
            f"{name[7:]:34s} time x{cuped['seconds'] / full['seconds']:.2f} of the unadjusted "
            f"full analysis (aim <= 1.3 with the users table), peak memory "
            f"x{cuped['peak_gib'] / full['peak_gib']:.2f}"
        )
    ours = figures["abkit: 4 ratios + SRM"]
    print(f"abkit 4 ratios / floor:            time x{ours['seconds'] / floor['seconds']:.2f}")
    theirs = figures.get("tea-tasting 2.0: 4 ratios + SRM")
    if theirs:
        print(
            f"abkit 4 ratios / tea-tasting 2.0:  time x{ours['seconds'] / theirs['seconds']:.2f}"
            f", peak memory x{ours['peak_gib'] / theirs['peak_gib']:.2f} (aim <= 1.0 each)"
        )


if __name__ == "__main__":
    main()
