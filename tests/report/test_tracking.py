"""Results to MLflow (abkit.report.tracking): one run per analysis against a real tracking
server (``mlflow server`` on loopback, SQLite store), read back with MLflow's own client; the
CLI's ``--mlflow`` and notebook 03's ``mlflow_uri`` write the same run. Skipped, with the reason,
where mlflow is not installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kit_cli import abkit

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR
from abkit.report.tracking import DECISION_CODES, log_to_mlflow, run_contents

mlflow = pytest.importorskip("mlflow", reason="mlflow not installed: pip install 'abkit[mlflow]'")
from mlflow.tracking import MlflowClient  # noqa: E402

LOG = DATA_DIR / "example_dialogs.parquet"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [command, "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", (folder / "artifacts").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_one_analysis_is_one_run_that_mlflows_client_reads_back(server, tmp_path) -> None:
    result = analyze(LOG, split=0.2)
    tracked = log_to_mlflow(result, server, source=LOG, run_name="support-bot-v2 final")
    client = MlflowClient(tracking_uri=server)
    run = client.get_run(tracked.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "support-bot-v2 final"
    assert run.data.tags["abkit.decision"] == "ship" and run.data.tags["abkit.source"] == LOG.name
    assert run.data.params["alpha"] == "0.05" and run.data.params["split"] == "0.2"
    assert run.data.params["metrics.task_completion.role"] == "primary"
    row = result.table.set_index("metric").loc["task_completion"]
    for column in ("effect", "ci_low", "ci_high", "p_value", "p_adjusted"):
        assert run.data.metrics[f"task_completion.{column}"] == pytest.approx(row[column])
    assert run.data.metrics["decision"] == DECISION_CODES["ship"]
    assert run.data.metrics["users.treatment"] == result.engine.users[1]
    names = {item.path for item in client.list_artifacts(tracked.run_id)}
    assert names == {"memo.html", "summary.json", "results.csv"}
    folder = Path(client.download_artifacts(tracked.run_id, "", str(tmp_path)))
    assert "SHIP" in (folder / "memo.html").read_text(encoding="utf-8")
    assert json.loads((folder / "summary.json").read_text())["decision"]["verdict"] == "ship"


def test_the_cli_logs_the_same_run(server) -> None:
    done = abkit("analyze", str(LOG), "--split", "0.2", "--mlflow", server)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("mlflow: run "))
    run_id = line.split()[2]
    run = MlflowClient(tracking_uri=server).get_run(run_id)
    assert run.data.tags["abkit.decision"] == "ship"
    assert run.data.metrics["task_completion.effect"] == pytest.approx(
        analyze(LOG, split=0.2).table.set_index("metric").loc["task_completion", "effect"]
    )


def test_several_candidates_are_logged_per_candidate() -> None:
    result = analyze(
        DATA_DIR / "example_abn_dialogs.parquet", plan=DATA_DIR / "example_abn_plan.yaml"
    )
    _, metrics, tags = run_contents(result)
    for candidate in result.plan.candidates:
        assert any(key.startswith(f"task_completion.{candidate}.") for key in metrics), candidate
    assert tags["abkit.decision"] == result.decision.verdict
