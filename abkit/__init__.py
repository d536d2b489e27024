"""abkit: an A/B testing kit for fine-tuned LLMs.

``import abkit as ab`` gives the kit's public API, each name imported on first use (so
``import abkit`` and ``abkit --help`` stay fast)::

    import abkit as ab
    plan = ab.load_plan("data/example_custom_plan.yaml")
    result = ab.analyze("data/example_custom_columns.parquet", plan=plan)
    result.table, result.decision
    ab.solve_design("proportion", 0.75, mde=0.05, power=0.8, split=0.2)

The package is laid out by workflow step, each wing importing only the wings below it:
``core`` < ``stats`` < ``plan`` < ``serve`` < ``analysis`` < ``design`` < ``ingest`` <
``judging`` < ``report`` < ``teaching`` < ``experiment`` < ``cli`` (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_API = {
    # the plan and the analysis
    "ExperimentPlan": "abkit.plan.experiment_plan",
    "load_plan": "abkit.plan.experiment_plan",
    "Metric": "abkit.plan.metrics",
    "analyze": "abkit.analysis.results",
    "analyze_plan": "abkit.analysis.results",
    "cumulative_effects": "abkit.analysis.results",
    "AnalysisResult": "abkit.analysis.results",
    "check_log": "abkit.analysis.engine",
    "read_log": "abkit.analysis.log_source",
    # design
    "solve_design": "abkit.design.sample_size",
    "compare_methods": "abkit.design.sample_size",
    # serving and logging
    "assign_variant": "abkit.serve.routing",
    "assign_many": "abkit.serve.routing",
    "EventStore": "abkit.serve.event_store",
    "ExperimentServer": "abkit.serve.serving",
    # traces
    "ingest_otel": "abkit.ingest.otel",
    # judges
    "win_rates": "abkit.judging.pairwise",
    "fit_bradley_terry": "abkit.judging.bradley_terry",
    "read_judgment_table": "abkit.judging.judgments",
    "swap_report": "abkit.judging.pairwise",
    "ppi_mean": "abkit.stats.ppi",
    # reports
    "write_memo": "abkit.report.memo",
    "memo_table": "abkit.report.memo",
    "log_to_mlflow": "abkit.report.tracking",
    # experiments
    "new_experiment": "abkit.experiment.runs",
    "run_experiment": "abkit.experiment.runs",
    "read_experiment": "abkit.experiment.file",
    # teaching
    "simulate_dialogs": "abkit.teaching.simulate",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'abkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
