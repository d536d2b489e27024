"""What notebook 03 and ``abkit analyze`` share: settings, metric choice, JSON, cumulative view."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from abkit.analysis import TABLE_COLUMNS, AnalysisResult, analyze
from abkit.events import DIALOG_SCHEMA, read_log
from abkit.metrics import Metric, default_metrics, metrics_by_name
from abkit.params import check_choice, check_number, check_text
from abkit.paths import in_kit
from abkit.reports import to_jsonable

__all__ = [
    "AnalysisSettings",
    "choose_metrics",
    "cumulative_effects",
    "result_to_json",
]

# The table columns reported by notebook 03 and `abkit analyze --json`.
RESULT_COLUMNS = [
    c for c in TABLE_COLUMNS if c not in ("kind", "improved", "higher_is_better", "se")
]


def choose_metrics(
    columns: Sequence[str],
    names: Sequence[str] = (),
    guardrail_margins: Mapping[str, float] | None = None,
) -> list[Metric]:
    """The metrics to analyse: by name (or the defaults the columns allow), with margins applied.

    A margin given for a metric makes it a guardrail with that margin (its relative / absolute
    reading kept from the metric's definition: relative for latency, absolute for rates).
    """
    available = default_metrics(columns)
    chosen = metrics_by_name(list(names), available) if names else available
    margins = dict(guardrail_margins or {})
    unknown = sorted(set(margins) - {metric.name for metric in chosen})
    if unknown:
        raise ValueError(
            f"guardrail_margins names {unknown}, not among the analysed metrics "
            f"{[metric.name for metric in chosen]}"
        )
    result = []
    for metric in chosen:
        if metric.name in margins:
            margin = check_number(
                f"guardrail_margins[{metric.name!r}]",
                margins[metric.name],
                low=0.0,
                low_inclusive=True,
            )
            metric = dataclasses.replace(metric, role="guardrail", margin=margin)
        result.append(metric)
    return result


@dataclass(frozen=True)
class AnalysisSettings:
    """The parameters of notebook ``03_significance_analysis``, validated on construction."""

    events_path: str
    table: str
    experiment: str
    control: str
    treatment: str
    split: float
    metrics: list
    alpha: float
    correction: str
    guardrail_margins: dict
    column_map: dict
    output_dir: str

    def __post_init__(self) -> None:
        check_text("events_path", self.events_path)
        check_text("table", self.table)
        if not isinstance(self.experiment, str):
            raise TypeError(f"experiment == {self.experiment!r}, must be a string ('' for all)")
        check_text("control", self.control)
        check_text("treatment", self.treatment)
        check_number("split", self.split, low=0.0, high=1.0)
        check_number("alpha", self.alpha, low=0.0, high=0.5)
        check_choice("correction", self.correction, ("holm", "bh", "none"))
        check_text("output_dir", self.output_dir)
        if not isinstance(self.metrics, list) or not all(isinstance(m, str) for m in self.metrics):
            raise TypeError(
                f"metrics == {self.metrics!r}, must be a list of metric names ([] for the defaults)"
            )
        for name, mapping in (
            ("guardrail_margins", self.guardrail_margins),
            ("column_map", self.column_map),
        ):
            if not isinstance(mapping, dict):
                raise TypeError(f"{name} == {mapping!r}, must be a mapping")
        unknown = sorted(set(self.column_map.values()) - set(DIALOG_SCHEMA.names))
        if unknown:
            raise ValueError(
                f"column_map maps to {unknown}, not columns of the dialog log: "
                f"{DIALOG_SCHEMA.names}"
            )
        if not in_kit(self.events_path).exists():
            raise ValueError(
                f"events_path == {self.events_path!r}: no such file (relative paths "
                "are read from the kit's folder)"
            )

    def load(self) -> pd.DataFrame:
        """Read and validate the log (column mapping applied; one experiment if named)."""
        log = read_log(
            in_kit(self.events_path),
            table=self.table,
            variants=None,
            column_map=self.column_map or None,
        )
        if self.experiment:
            if "experiment" not in log.columns:
                raise ValueError(
                    f"experiment == {self.experiment!r}, but the log has no "
                    "'experiment' column; use '' to analyse every row"
                )
            names = sorted(log["experiment"].dropna().unique())
            if self.experiment not in names:
                raise ValueError(
                    f"experiment == {self.experiment!r} not in the log; it has {names}"
                )
            log = log[log["experiment"] == self.experiment]
        labels = sorted(str(label) for label in log["variant"].dropna().unique())
        for name, label in (("control", self.control), ("treatment", self.treatment)):
            if label not in labels:
                raise ValueError(
                    f"{name} == {label!r}: no rows with that variant label; the log has {labels}"
                )
        self.metrics_for(log)  # unknown metric names or margins fail here, before any test
        return log

    def metrics_for(self, log: pd.DataFrame) -> list[Metric]:
        """The metrics these settings analyse on this log (see :func:`choose_metrics`)."""
        return choose_metrics(log.columns, self.metrics, self.guardrail_margins)

    def analyze(self, log: pd.DataFrame) -> AnalysisResult:
        return analyze(
            log,
            split=self.split,
            metrics=self.metrics_for(log),
            control=self.control,
            treatment=self.treatment,
            alpha=self.alpha,
            correction=self.correction,
        )  # type: ignore[arg-type]


def result_to_json(result: AnalysisResult) -> dict[str, Any]:
    """``{"results": [...], "decision": {...}, "srm": {...}}`` with plain JSON values."""
    return to_jsonable(
        {
            "results": result.table[RESULT_COLUMNS].to_dict(orient="records"),
            "decision": {
                "verdict": result.decision.verdict,
                "reasons": list(result.decision.reasons),
            },
            "srm": {
                "p_value": result.srm.p_value,
                "statistic": result.srm.statistic,
                "mismatch": result.srm.mismatch,
                "verdict": result.srm.verdict,
                "table": result.srm.table,
            },
            "settings": {
                "control": result.control,
                "treatment": result.treatment,
                "alpha": result.alpha,
                "correction": result.correction,
            },
        }
    )


def cumulative_effects(
    log: pd.DataFrame,
    metric: Metric,
    *,
    split: float,
    control: str = "control",
    treatment: str = "treatment",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The metric's effect and CI on the data up to the end of each day.

    Columns: day, effect, ci_low, ci_high, p_value. Looking at this every day and stopping at
    the first p < alpha inflates false positives: it is a picture, not a stopping rule.
    """
    days = log["timestamp"].dt.floor("D")
    rows = []
    for day in sorted(days.unique()):
        upto = log[days <= day]
        if upto["variant"].nunique() < 2:
            continue
        row = analyze(
            upto,
            split=split,
            metrics=[metric],
            control=control,
            treatment=treatment,
            alpha=alpha,
            correction="none",
        ).table.iloc[0]
        rows.append(
            {
                "day": pd.Timestamp(day).tz_localize(None),
                "effect": row["effect"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "p_value": row["p_value"] if math.isfinite(row["p_value"]) else math.nan,
            }
        )
    return pd.DataFrame(rows)
