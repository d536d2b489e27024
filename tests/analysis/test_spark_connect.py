"""Spark Connect after `make setup`: a Connect server started from the installed pyspark on
loopback, the analysis through ``sc://127.0.0.1:PORT`` equal to DuckDB's. Skipped, with the
reason, where pyspark, its Connect client or a Java runtime is missing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR

pyspark = pytest.importorskip("pyspark", reason="pyspark not installed: pip install 'abkit[spark]'")
pytest.importorskip(
    "grpc", reason="Spark Connect's client (grpcio) missing: pip install 'abkit[spark]'"
)
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17+", allow_module_level=True)

from test_spark import _same_result  # noqa: E402

from abkit.analysis.spark_source import spark_session  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_NO_DAEMONIZE": "1",
           "SPARK_LOG_DIR": str(log.parent), "SPARK_PID_DIR": str(log.parent)}  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.ui.enabled=false"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "Spark Connect server started" not in log.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Connect server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _stop_local_sessions() -> None:
    """A process holding a local (classic) session cannot open a remote one: stop it (the
    other Spark tests' fixtures create theirs again when they run)."""
    from pyspark.sql import SparkSession

    for session in (SparkSession.getActiveSession(), SparkSession._instantiatedSession):
        if session is not None:
            session.stop()


def test_the_analysis_through_spark_connect_is_duckdbs(connect_url) -> None:
    log = DATA_DIR / "example_dialogs.parquet"
    _stop_local_sessions()
    spark = spark_session(connect_url)
    try:
        _same_result(analyze(log, split=0.2), analyze(log, split=0.2, spark=spark))
    finally:
        spark.stop()


def test_the_rollup_through_spark_connect_gives_duckdbs_full_scan(connect_url, tmp_path) -> None:
    """A folder of daily parts looked at three times through Spark Connect (the one-off scan,
    the look that builds the rollup, a look from it): each the full scan's numbers on DuckDB;
    the last read from the rollup."""
    import dataclasses

    import pandas as pd
    import test_rollup

    from abkit.analysis.results import analyze_plan
    from abkit.plan.experiment_plan import load_plan

    frame = pd.read_parquet(DATA_DIR / "example_dialogs.parquet")
    folder = test_rollup.split_by_day(frame, tmp_path / "log")
    plan = test_rollup.rollup_plan(load_plan({"split": 0.2}), folder)
    plan = dataclasses.replace(plan, metrics=tuple(m for m in plan.metrics if m.kind != "quantile"))
    cache = tmp_path / "rollup"
    _stop_local_sessions()
    spark = spark_session(connect_url)
    try:
        for _ in range(3):
            test_rollup._assert_same_outcome(folder, plan, cache, rolled_on=spark)
        rolled = analyze_plan(folder, plan, cache=cache, spark=spark, novelty=False)
        assert rolled.engine.read_from.startswith("rollup of 14 part(s)"), rolled.engine.read_from
    finally:
        spark.stop()
