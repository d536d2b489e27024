"""Notebook 03's parameters and how they become an experiment plan.

The notebook's flat parameters (``split``, ``control`` ...) are for quick use; ``plan_file``
(a plan YAML) and ``plan`` (the same settings inline) declare the experiment fully; in an
experiment folder, ``experiment.yaml`` fills them (:mod:`abkit.experiment_file`). Where both
set a value, they must agree: a parameter changed from its default that the plan contradicts
is an error, never silently overruled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from abkit.log_source import log_columns
from abkit.metrics import DEFAULT_METRICS, Metric, default_metrics, metrics_by_name
from abkit.params import check_number, check_text, parse_until
from abkit.paths import in_kit
from abkit.plan import (
    COVARIATE_PATHS,
    ExperimentPlan,
    load_plan,
    plan_with_parameters,
    read_plan_spec,
)

__all__ = ["AnalysisSettings", "choose_metrics", "parse_until"]


def choose_metrics(
    names: list[str], guardrail_margins: dict[str, float], columns: list[str] | None = None
) -> list[Metric]:
    """Default metrics by name (all the columns allow when ``names`` is empty), margins applied.

    A margin given for a metric makes it a guardrail with that margin (its relative / absolute
    reading kept from the metric's definition: relative for latency, absolute for rates).
    """
    available = DEFAULT_METRICS if columns is None else tuple(default_metrics(columns))
    chosen = metrics_by_name(names, available) if names else list(available)
    unknown = sorted(set(guardrail_margins) - {m.name for m in chosen})
    if unknown:
        raise ValueError(
            f"guardrail_margins names {unknown}, not among the analysed metrics "
            f"{[m.name for m in chosen]}"
        )
    result = []
    for metric in chosen:
        if metric.name in guardrail_margins:
            margin = check_number(
                f"guardrail_margins[{metric.name!r}]",
                guardrail_margins[metric.name],
                low=0.0,
                low_inclusive=True,
            )
            metric = dataclasses.replace(metric, role="guardrail", margin=margin)
        result.append(metric)
    return result


@dataclass(frozen=True)
class AnalysisSettings:
    """The parameters of notebook ``03_significance_analysis``, validated on construction."""

    events_path: str = "data/example_dialogs.parquet"
    table: str = "dialogs"
    plan_file: str = ""
    plan: dict = dataclasses.field(default_factory=dict)
    experiment_id: str = ""
    control: str = "control"
    treatment: str = "treatment"
    split: float = 0.2
    primary: str = ""
    metrics: list = dataclasses.field(default_factory=list)
    alpha: float = 0.05
    correction: str = "holm"
    guardrail_margins: dict = dataclasses.field(default_factory=dict)
    column_map: dict = dataclasses.field(default_factory=dict)
    until: str = ""
    looks_file: str = ""
    output_dir: str = "reports/03_significance_analysis"
    experiment: str = ""

    def __post_init__(self) -> None:
        check_text("events_path", self.events_path)
        check_text("table", self.table)
        check_text("output_dir", self.output_dir)
        for name in ("plan_file", "experiment_id", "primary", "until", "looks_file", "experiment"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} == {getattr(self, name)!r}, must be a string")
        if not isinstance(self.metrics, list) or not all(isinstance(m, str) for m in self.metrics):
            raise TypeError(
                f"metrics == {self.metrics!r}, must be a list of metric names ([] for the defaults)"
            )
        for name in ("plan", "guardrail_margins", "column_map"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} == {getattr(self, name)!r}, must be a mapping")
        if self.plan_file and not in_kit(self.plan_file).is_file():
            raise ValueError(
                f"plan_file == {self.plan_file!r}: no such file (relative paths "
                "are read from the kit's folder)"
            )
        if not in_kit(self.events_path).exists():
            raise ValueError(
                f"events_path == {self.events_path!r}: no such file (relative paths "
                "are read from the kit's folder)"
            )
        if self.until:
            parse_until("until", self.until)
        self.experiment_plan()  # every plan error stops the notebook here

    @property
    def until_time(self) -> pd.Timestamp | None:
        """``until`` as a time (:func:`parse_until`), or None for all rows."""
        return parse_until("until", self.until) if self.until else None

    def looks_path(self, plan: ExperimentPlan) -> Path | None:
        """Where a group-sequential plan keeps its looks: ``looks_file``, else looks.json in
        ``output_dir`` (kept between runs of the same experiment); None for other plans."""
        if plan.monitoring.kind != "group_sequential":
            return None
        return in_kit(self.looks_file or str(Path(self.output_dir) / "looks.json"))

    def recorded_looks(self) -> int:
        """Looks of this experiment its reports record (0 outside an experiment folder)."""
        if not self.experiment:
            return 0
        from abkit.experiment_file import recorded_looks

        return recorded_looks(Path(self.experiment).parent)

    @property
    def events(self) -> str:
        return str(in_kit(self.events_path))

    def experiment_plan(self) -> ExperimentPlan:
        """The plan: file, then the inline ``plan``, then the flat parameters where set."""
        declared = read_plan_spec(in_kit(self.plan_file)) if self.plan_file else {}
        declared.update(self.plan)
        defaults = {f.name: f.default for f in fields(self) if f.default is not dataclasses.MISSING}
        names = ("control", "treatment", "split", "primary", "alpha", "correction")
        flat = {n: getattr(self, n) for n in names}
        flat["experiment"] = self.experiment_id  # the plan's key for the log's experiment column
        defaults["experiment"] = defaults["experiment_id"]
        merged = plan_with_parameters(declared, flat, defaults)
        if self.column_map:
            merged["column_map"] = {**declared.get("column_map", {}), **self.column_map}
        if self.metrics or self.guardrail_margins:
            if declared.get("metrics"):
                raise ValueError(
                    "metrics / guardrail_margins (parameters) and the plan's metrics "
                    "both choose metrics; declare them in the plan only"
                )
            columns = (
                None
                if self.metrics
                else log_columns(
                    self.events, table=self.table, column_map=merged.get("column_map") or {}
                )
            )
            merged["metrics"] = tuple(choose_metrics(self.metrics, self.guardrail_margins, columns))
        for key in COVARIATE_PATHS:  # inline plans: relative to the kit, like events_path
            if isinstance(merged.get(key), str) and merged[key]:
                merged[key] = str(in_kit(merged[key]))
        return load_plan(merged)
