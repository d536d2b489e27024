"""Results where teams track experiments: one MLflow run per analysis.

:func:`log_to_mlflow` writes, into the experiment named by the plan (``experiment:``; else
``abkit``):

- **params**: the plan, flattened (``alpha``, ``split``, ``correction``, ``metrics.<name>.role``,
  ...), MLflow's 6,000-character limit per value respected;
- **metrics**: per result row ``<metric>.effect``, ``.ci_low``, ``.ci_high``, ``.p_value``,
  ``.p_adjusted`` (``<metric>.<candidate>.…`` with several candidates), the users per arm, and
  ``decision``: 1 ship, 0 keep running, −1 don't ship, −2 invalid (the verdict itself is the tag
  ``abkit.decision``, its reasons the tag ``abkit.reasons``);
- **artifacts**: ``memo.html`` (the decision memo), ``summary.json`` (:meth:`AnalysisResult.
  to_dict`) and ``results.csv`` (the results table);
- **tags**: ``abkit.experiment``, ``abkit.decision``, ``abkit.source``, ``abkit.version``.

``mlflow`` is an optional dependency (the ``mlflow`` extra, which ``make setup`` installs),
imported only here, so the CLI starts as fast without it. The default tracking URI is a local
SQLite store, ``reports/mlflow.db`` under the kit, with the artifacts in ``reports/mlartifacts``
(``mlflow ui --backend-store-uri sqlite:///reports/mlflow.db`` from the kit's folder shows them);
MLflow no longer accepts a plain folder as a store.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from abkit.analysis.results import AnalysisResult
from abkit.core.paths import REPORTS_DIR
from abkit.core.summary import to_jsonable

__all__ = [
    "DECISION_CODES",
    "TrackedRun",
    "default_tracking_uri",
    "log_to_mlflow",
    "mlflow_key",
    "run_contents",
]

DECISION_CODES = {"ship": 1.0, "keep running": 0.0, "don't ship": -1.0, "invalid": -2.0}
_VALUE_LIMIT = 6000  # MLflow's longest param value
_ROW_METRICS = ("effect", "ci_low", "ci_high", "p_value", "p_adjusted")


@dataclass(frozen=True)
class TrackedRun:
    """Where the analysis went: the tracking URI, the experiment and the run."""

    tracking_uri: str
    experiment: str
    run_id: str


def default_tracking_uri() -> str:
    """The local store used when no URI is given: ``reports/mlflow.db`` under the kit."""
    return f"sqlite:///{(REPORTS_DIR / 'mlflow.db').resolve()}"


def mlflow_key(name: str) -> str:
    """A metric or param name MLflow accepts: other characters become '_'.

    Examples:
        >>> mlflow_key("csat (rank test).effect")
        'csat _rank test_.effect'
    """
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        for item in value:
            name = str(item.get("name", len(out)))
            _flatten(f"{prefix}.{name}", {k: v for k, v in item.items() if k != "name"}, out)
    else:
        text = json.dumps(value) if not isinstance(value, str) else value
        key = mlflow_key(prefix)
        out[key] = text[: _VALUE_LIMIT - 3] + "..." if len(text) > _VALUE_LIMIT else text


def run_contents(result: AnalysisResult) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """The params, metrics and tags :func:`log_to_mlflow` writes (without MLflow)."""
    params: dict[str, str] = {}
    _flatten("", to_jsonable(result.plan.to_dict()), params)
    metrics: dict[str, float] = {"decision": DECISION_CODES[result.decision.verdict]}
    several = len(result.plan.candidates) > 1
    for row in result.table.to_dict(orient="records"):
        name = f"{row['metric']}.{row['variant']}" if several else str(row["metric"])
        for column in _ROW_METRICS:
            value = row.get(column)
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[mlflow_key(f"{name}.{column}")] = float(value)
    for label, users in zip(result.plan.labels, result.engine.users, strict=True):
        metrics[mlflow_key(f"users.{label}")] = float(users)
    experiment = result.plan.experiment or "abkit"
    tags = {
        "abkit.experiment": experiment,
        "abkit.decision": result.decision.verdict,
        "abkit.reasons": " ".join(result.decision.reasons)[:_VALUE_LIMIT],
    }
    return params, {k: v for k, v in metrics.items() if not math.isinf(v)}, tags


def log_to_mlflow(
    result: AnalysisResult,
    tracking_uri: str | None = None,
    *,
    source: str | Path | pd.DataFrame = "the log",
    run_name: str | None = None,
) -> TrackedRun:
    """Log one analysis as one MLflow run (module docstring); returns where it went."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError(
            "logging to MLflow needs the mlflow package: pip install 'abkit[mlflow]' (make setup "
            "installs it)"
        ) from None
    from abkit import __name__ as package
    from abkit.report.memo import memo_html

    uri = tracking_uri or default_tracking_uri()
    local = tracking_uri is None
    if local:
        REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    params, metrics, tags = run_contents(result)
    tags["abkit.source"] = source if isinstance(source, str) else (
        Path(source).name if isinstance(source, Path) else f"a DataFrame of {len(source):,} rows"
    )  # fmt: skip
    from importlib.metadata import version

    tags["abkit.version"] = version(package)
    client = MlflowClient(tracking_uri=uri)
    experiment = tags["abkit.experiment"]
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:  # a local store keeps its artifacts beside it; a server decides for itself
        where = (REPORTS_DIR / "mlartifacts").resolve().as_uri() if local else None
        experiment_id = client.create_experiment(experiment, artifact_location=where)
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        client.log_batch(
            run_id,
            params=[mlflow.entities.Param(k, v) for k, v in params.items()],
            metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in metrics.items()],
        )
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            (out / "memo.html").write_text(memo_html(result, source), encoding="utf-8")
            (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2))
            result.table.to_csv(out / "results.csv", index=False)
            for name in ("memo.html", "summary.json", "results.csv"):
                client.log_artifact(run_id, str(out / name))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return TrackedRun(uri, experiment, run_id)
