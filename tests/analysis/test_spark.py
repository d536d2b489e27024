"""The engine on Spark (local mode) against DuckDB, on the same logs: identical per-arm sums
(integers exactly, floats to 1e-12), the same results table, health table and decision; the
same errors and gates on the bad logs of the plan issue. Skipped, with the reason, where
pyspark or a Java runtime is missing."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abkit.analysis.results import AnalysisResult, analyze
from abkit.core.paths import DATA_DIR
from abkit.serve.events import LogValidationError

pytest.importorskip("pyspark", reason="pyspark not installed: pip install 'abkit[spark]'")
pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install 'abkit[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17+", allow_module_level=True)

from abkit.analysis.spark_source import spark_session, to_spark_sql  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    return spark_session("local[2]")


def _same_sums(duck: AnalysisResult, on_spark: AnalysisResult) -> None:
    assert duck.engine.sums.keys() == on_spark.engine.sums.keys()
    for metric, arms in duck.engine.sums.items():
        for arm, (expected, got) in enumerate(zip(arms, on_spark.engine.sums[metric], strict=True)):
            assert expected.keys() == got.keys(), (metric, arm)
            for key, value in expected.items():
                other = got[key]
                where = f"{metric} arm {arm} {key}: {value!r} vs {other!r}"
                if isinstance(value, int) and isinstance(other, int):
                    assert value == other, where
                elif value is None or other is None:
                    assert value == other, where
                else:
                    assert math.isclose(value, other, rel_tol=1e-12, abs_tol=1e-12), where
    assert duck.engine.users == on_spark.engine.users
    assert duck.engine.dialogs == on_spark.engine.dialogs
    assert duck.engine.rows == on_spark.engine.rows


def _same_result(duck: AnalysisResult, on_spark: AnalysisResult) -> None:
    _same_sums(duck, on_spark)
    pd.testing.assert_frame_equal(duck.table, on_spark.table, check_exact=False, rtol=1e-9)
    # the unit gate reads approximate medians (DuckDB approx_quantile, Spark
    # approx_percentile): its figures agree to 1 %, every other cell exactly
    approximate = duck.health.table["gate"].str.startswith("unit ")
    pd.testing.assert_frame_equal(
        duck.health.table[~approximate], on_spark.health.table[~approximate]
    )
    pd.testing.assert_frame_equal(
        duck.health.table[approximate].drop(columns="detail"),
        on_spark.health.table[approximate].drop(columns="detail"),
        check_exact=False,
        rtol=0.01,
    )
    assert duck.decision == on_spark.decision


BUNDLED = {
    "example": ("example_dialogs.parquet", {"split": 0.2}),
    "guardrail_breach": ("scenario_guardrail_breach.parquet", {"split": 0.2}),
    "srm": ("scenario_srm.parquet", {"split": 0.2}),
    "judged": ("example_judged_dialogs.parquet", {"split": 0.2}),
    "otel": ("example_otel_dialogs.parquet", {"split": 0.5, "experiment": "support-bot-otel"}),
    "custom_plan": (
        "example_custom_columns.parquet",
        {"plan": DATA_DIR / "example_custom_plan.yaml"},
    ),
    "abn": ("example_abn_dialogs.parquet", {"plan": DATA_DIR / "example_abn_plan.yaml"}),
}


@pytest.mark.parametrize("case", list(BUNDLED))
def test_bundled_logs_give_the_same_analysis_on_spark(spark, case: str) -> None:
    name, options = BUNDLED[case]
    path = DATA_DIR / name
    _same_result(analyze(path, **options), analyze(path, spark=spark, **options))


def test_cuped_covariates_from_a_pre_period_log_and_a_users_table_agree(spark) -> None:
    plan = DATA_DIR / "example_cuped_plan.yaml"
    path = DATA_DIR / "example_dialogs.parquet"
    duck, on_spark = analyze(path, plan=plan), analyze(path, plan=plan, spark=spark)
    assert len(duck.cuped_table()) >= 2
    _same_result(duck, on_spark)


def test_a_look_at_a_cut_off_under_an_always_valid_plan_agrees(spark) -> None:
    """``until`` (the rows through a day) and the daily-new-users SRM test of a monitored plan."""
    path = DATA_DIR / "example_dialogs.parquet"
    plan = {"split": 0.2, "monitoring": {"kind": "always_valid", "planned_users": 12000}}
    duck = analyze(path, plan=plan, until="2026-01-11 23:59:59+00:00")
    on_spark = analyze(path, plan=plan, until="2026-01-11 23:59:59+00:00", spark=spark)
    assert duck.engine.rows < 36_001
    _same_result(duck, on_spark)
    assert (duck.engine.first, duck.engine.last) == (on_spark.engine.first, on_spark.engine.last)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_naive_timestamps_are_read_in_the_plans_zone_on_both_engines(spark, tmp_path, zone) -> None:
    """One time model (#27): a naive timestamp is in the plan's zone (UTC by default) on
    DuckDB and on Spark alike, so a look selects the same rows."""
    log = pd.read_parquet(DATA_DIR / "example_dialogs.parquet")
    # a tenth of the users, every day of the log: the rows a look selects are what is tested,
    # and a JVM started cold takes a minute over the whole log
    users = log["user_id"].drop_duplicates().iloc[::10]
    log = log[log["user_id"].isin(users)].reset_index(drop=True)
    log["timestamp"] = log["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    path = tmp_path / "naive.parquet"
    log.to_parquet(path)
    plan = {"split": 0.2, "timezone": zone}
    until = "2026-01-08 23:59:59.999999+00:00"
    duck = analyze(path, plan=plan, until=until)
    on_spark = analyze(path, plan=plan, until=until, spark=spark)
    instants = log["timestamp"].dt.tz_localize(zone).dt.tz_convert("UTC")
    assert duck.engine.rows == int((instants <= pd.Timestamp(until)).sum())
    _same_result(duck, on_spark)
    assert (duck.engine.first, duck.engine.last) == (on_spark.engine.first, on_spark.engine.last)


def test_a_spark_dataframe_and_a_table_name_are_read_like_the_file(spark) -> None:
    path = DATA_DIR / "example_dialogs.parquet"
    duck = analyze(path, split=0.2)
    frame = spark.read.parquet(str(path))
    _same_result(duck, analyze(frame, split=0.2))  # the session comes with the DataFrame
    frame.createOrReplaceTempView("abkit_test_dialogs")
    _same_result(duck, analyze("abkit_test_dialogs", split=0.2, spark=spark))
    with pytest.raises(ValueError, match="no such file, folder or table"):
        analyze("no_such_table", split=0.2, spark=spark)


def test_a_million_dialogs_agree(spark, tmp_path_factory) -> None:
    from abkit.serve.events import write_log
    from abkit.teaching.simulate import simulate_dialogs

    path = tmp_path_factory.mktemp("spark") / "dialogs_1m.parquet"
    dialogs = simulate_dialogs(n_users=330_000, days=14, split=0.2, seed=5)
    assert len(dialogs) > 950_000
    write_log(dialogs, path)
    _same_result(analyze(path, split=0.2), analyze(path, split=0.2, spark=spark))


# --------------------------------------------------------------------------- bad logs


def _log(**changes) -> pd.DataFrame:
    from abkit.teaching.simulate import simulate_dialogs

    return simulate_dialogs(n_users=1500, days=7, split=0.5, seed=9).assign(**changes)


def _both(spark, frame: pd.DataFrame, tmp_path: Path, **options):
    path = tmp_path / "log.parquet"
    frame.to_parquet(path, index=False)
    outcomes = []
    for engine in (None, spark):
        try:
            outcomes.append(analyze(path, spark=engine, **options))
        except (LogValidationError, ValueError) as error:
            outcomes.append(error)
    return outcomes


def _crossed(frame: pd.DataFrame) -> pd.DataFrame:
    users = frame["user_id"].drop_duplicates().iloc[:40]
    first = frame[frame["user_id"].isin(users)].groupby("user_id").head(1).index
    flipped = frame.loc[first, "variant"].map({"control": "treatment", "treatment": "control"})
    return frame.assign(variant=frame["variant"].where(~frame.index.isin(first), flipped))


def _missing_in_treatment(frame: pd.DataFrame) -> pd.DataFrame:
    hide = (frame["variant"] == "treatment") & (np.arange(len(frame)) % 3 == 0)
    return frame.assign(completed=frame["completed"].where(~hide))


BAD = {
    "users in both arms": (_crossed, "users in both arms"),
    "missingness differs": (_missing_in_treatment, "missing completed"),
    "unknown label": (
        lambda f: f.assign(variant=f["variant"].replace("treatment", "treatment ")),
        None,
    ),
    "two experiments": (
        lambda f: f.assign(experiment=np.where(np.arange(len(f)) % 2, "exp-a", "exp-b")),
        None,
    ),
    "csat out of range": (lambda f: f.assign(csat=f["csat"].where(f.index != 7, 0.0)), None),
    "duplicate dialog ids": (
        lambda f: f.assign(dialog_id=f["dialog_id"].where(f.index != 3, f["dialog_id"].iloc[4])),
        None,
    ),
    "placeholder user ids": (
        lambda f: f.assign(
            user_id=f["user_id"].where(f.index > 5, np.where(f.index % 2, "", "None"))
        ),
        None,
    ),
    "invisible and spreadsheet user ids": (
        lambda f: f.assign(
            user_id=f["user_id"].where(f.index > 5, np.where(f.index % 2, "\u200b", " N/A"))
        ),
        None,
    ),
    "a user with more dialogs than a person": (
        lambda f: f.assign(user_id=f["user_id"].where(f["variant"] != "treatment", "kiosk")),
        "dialogs per user",
    ),
    "missing in one arm only": (
        lambda f: f.assign(completed=f["completed"].where(f["variant"] != "treatment")),
        "missing completed",
    ),
    "epoch milliseconds": (
        lambda f: f.assign(timestamp=f["timestamp"].astype("int64") // 1_000),
        "sample ratio",
    ),
    "epoch-0 timestamps": (
        lambda f: f.assign(timestamp=f["timestamp"].where(f.index > 2, pd.Timestamp(0, tz="UTC"))),
        "timestamps",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_logs_stop_or_fail_the_same_gate_on_both_engines(spark, tmp_path, case: str) -> None:
    change, gate = BAD[case]
    duck, on_spark = _both(spark, change(_log()), tmp_path, split=0.5)
    if gate is None:  # the analysis stops with the same message
        assert isinstance(duck, Exception), duck
        assert type(duck) is type(on_spark) and str(duck) == str(on_spark)
    else:
        _same_result(duck, on_spark)
        health = duck.health.table.set_index("gate")
        assert gate in health.index
        if case not in (
            "epoch milliseconds",
            "epoch-0 timestamps",
            "a user with more dialogs than a person",
        ):
            assert health.loc[gate, "status"] == "fail"


# --------------------------------------------------------------------------- the SQL


def test_the_rewrites_keep_meaning_where_the_dialects_differ() -> None:
    assert "XXHASH64(" in to_spark_sql("SELECT count(DISTINCT hash(dialog_id)) FROM log")
    assert "TIMESTAMP_SECONDS(" in to_spark_sql("SELECT to_timestamp(t / 1000.0) FROM log")
    assert to_spark_sql("SELECT timezone('UTC', t) FROM log") == "SELECT t FROM log"
    finite = to_spark_sql('SELECT count(*) FROM log WHERE isfinite("x")')
    assert "ISNAN(`x`)" in finite and "Infinity" in finite


def test_the_session_must_be_on_utc(spark) -> None:
    from abkit.analysis.spark_source import SparkConnection

    spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
    try:
        with pytest.raises(ValueError, match="needs 'UTC'"):
            SparkConnection(spark)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


# --------------------------------------------------------------------------- the command


def test_abkit_analyze_engine_spark_prints_the_same_decision(spark) -> None:
    from kit_cli import abkit

    path = str(DATA_DIR / "example_dialogs.parquet")
    duck = abkit("analyze", path, "--split", "0.2", "--json")
    on_spark = abkit("analyze", path, "--split", "0.2", "--json", "--engine", "spark")
    assert duck.returncode == on_spark.returncode == 0
    import json

    assert json.loads(on_spark.stdout)["decision"] == json.loads(duck.stdout)["decision"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--engine", "spark", "--spark-master", "bogus://x"),
            "spark master == 'bogus://x': must be",
        ),
        (("--spark-master", "local[2]"), "--spark-master == 'local[2]' needs --engine spark"),
    ],
)
def test_bad_spark_options_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    from kit_cli import abkit

    done = abkit("analyze", str(DATA_DIR / "example_dialogs.parquet"), "--split", "0.2", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ("README.md", "the Spark engine reads .parquet files and folders and tables"),
        ("no_such_table", "no such file, folder or table"),
    ],
)
def test_what_spark_cannot_read_is_named(spark, events: str, message: str) -> None:
    from kit_cli import abkit

    from abkit.core.paths import KIT_ROOT

    target = str(KIT_ROOT / events) if events.endswith(".md") else events
    done = abkit("analyze", target, "--split", "0.2", "--engine", "spark")
    assert done.returncode == 2 and message in done.stderr


def test_parquet_parts_are_merged_by_name_or_refused_naming_the_column(spark, tmp_path) -> None:
    """A folder whose parts disagree: a part without a column reads as missing values there,
    as on DuckDB (the parts named in a warning; a part without the user id column is
    refused, as on DuckDB); a column that is whole numbers in one part and floats in another
    is never read with one part's type (Spark refuses to merge them, naming the column)."""
    log = _log()
    half = len(log) // 2
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    log.iloc[:half].to_parquet(lacking / "part-0.parquet", index=False)
    log.iloc[half:].drop(columns=["csat"]).to_parquet(lacking / "part-1.parquet", index=False)
    duck, on_spark = (analyze(lacking, split=0.5, spark=engine) for engine in (None, spark))
    _same_result(duck, on_spark)
    assert {"missing csat", "parts without csat"} <= set(on_spark.health.table["gate"])
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    log.iloc[:half].to_parquet(renamed / "part-0.parquet", index=False)
    log.iloc[half:].rename(columns={"user_id": "customer"}).to_parquet(
        renamed / "part-1.parquet", index=False
    )
    with pytest.raises(LogValidationError, match=r"'user_id' is absent from 1 of 2 parts \(part-1"):
        analyze(renamed, split=0.5, spark=spark)
    floats = tmp_path / "floats"
    floats.mkdir()
    log.iloc[:half].to_parquet(floats / "part-0.parquet", index=False)
    log.iloc[half:].astype({"completed": float}).to_parquet(floats / "part-1.parquet", index=False)
    with pytest.raises(LogValidationError, match=r"column completed is BIGINT in one part and "):
        analyze(floats, split=0.5, spark=spark)


def test_a_look_on_spark_under_another_machine_time_zone_selects_the_same_rows(tmp_path) -> None:
    """Spark in a JVM (and Python) started under TZ=Asia/Tokyo: naive timestamps stay UTC, so
    the rows and the period of a look are DuckDB's (a naive TIMESTAMP_NTZ collected by PySpark
    came back in the machine's zone: the period 9 hours early)."""
    import json
    import os
    import subprocess
    import sys

    log = pd.read_parquet(DATA_DIR / "example_dialogs.parquet")
    # a tenth of the users, every day of the log: the rows a look selects are what is tested,
    # and a JVM started cold takes a minute over the whole log
    users = log["user_id"].drop_duplicates().iloc[::10]
    log = log[log["user_id"].isin(users)].reset_index(drop=True)
    log["timestamp"] = log["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    path = tmp_path / "naive.parquet"
    log.to_parquet(path)
    script = (
        "import json, sys\n"
        "from abkit.analysis.results import analyze\n"
        "from abkit.analysis.spark_source import spark_session\n"
        "spark = spark_session('local[1]')\n"
        "out = {}\n"
        "plan = {'split': 0.2, 'metrics': [{'name': 'task_completion', 'kind': 'ratio',\n"
        "         'column': 'completed', 'role': 'primary'}]}  # the rows are what is tested\n"
        "for name, engine in (('duckdb', None), ('spark', spark)):\n"
        "    r = analyze(sys.argv[1], plan=plan, until='2026-01-08', spark=engine, novelty=False)\n"
        "    out[name] = [r.engine.rows, str(r.engine.first), str(r.engine.last)]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "Asia/Tokyo"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    expected = int((log["timestamp"] < pd.Timestamp("2026-01-09")).sum())
    assert runs["duckdb"] == runs["spark"]
    assert runs["spark"][0] == expected
    assert runs["spark"][1] == str(log["timestamp"].min().tz_localize("UTC"))


def test_segments_give_the_same_numbers_on_spark(spark) -> None:
    log = str(DATA_DIR / "scenario_segments.parquet")
    plan = {"split": 0.2, "segments": ["intent"]}
    duck = analyze(log, plan=plan)
    on_spark = analyze(log, plan=plan, spark=spark)
    pd.testing.assert_frame_equal(duck.segments, on_spark.segments, check_exact=False, rtol=1e-9)
    assert duck.segments["reversed"].any()
    for name in ("novelty", "exposure_effects"):  # the exposure periods' query too
        pd.testing.assert_frame_equal(
            getattr(duck, name), getattr(on_spark, name), check_exact=False, rtol=1e-9
        )


def test_capped_metrics_give_the_same_numbers_on_spark(spark) -> None:
    log = str(DATA_DIR / "example_dialogs.parquet")
    metrics = [
        {
            "name": "tokens",
            "kind": "user_mean",
            "column": "tokens_out",
            "role": "primary",
            "cap": {"upper": 0.99, "lower": 0.05},
        },
        {
            "name": "tokens_per_success",
            "kind": "ratio",
            "column": "tokens_out",
            "denominator": ["completed"],
            "cap": {"upper": 0.95},
        },
    ]
    plan = {"split": 0.2, "metrics": metrics}
    _same_result(analyze(log, plan=plan), analyze(log, plan=plan, spark=spark))
