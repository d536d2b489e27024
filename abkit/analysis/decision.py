"""The decision: the families' corrections, each row's decision p, and the verdict (ship,
don't ship, keep running, invalid) with its reasons, from the results table and the health
gates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import pandas as pd

from abkit.analysis.health import (
    HealthReport,
)
from abkit.analysis.monitoring import MonitoringResult
from abkit.core.formatting import p_phrase
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.stats.two_sample import (
    adjust_p_values,
)

Verdict = Literal["ship", "don't ship", "keep running", "invalid"]

__all__ = [
    "Decision",
    "Verdict",
    "adjust",
    "decide",
    "decide_fixed",
    "decision_p_values",
    "level_text",
    "with_monitoring",
    "rows_of",
]


@dataclass(frozen=True)
class Decision:
    """The verdict and why: ship, don't ship, keep running, or invalid (a health gate failed).

    With several candidates (:mod:`abkit.analysis.candidates`): ``variant`` is the candidate to
    ship ("" when none), ``by_variant`` each candidate's own verdict against the control."""

    verdict: Verdict
    reasons: tuple[str, ...]
    variant: str = ""
    by_variant: tuple[tuple[str, Verdict], ...] = ()

    def __str__(self) -> str:
        return f"{self.verdict.upper()}: " + " ".join(self.reasons)


def adjust(table: pd.DataFrame, plan: ExperimentPlan) -> pd.DataFrame:
    """p_adjusted per family: primaries with plan.correction, secondaries with
    plan.secondary_correction; guardrails and monitors keep their raw p."""
    adjusted = table["p_value"].to_numpy(float).copy()
    for role, method in (("primary", plan.correction), ("secondary", plan.secondary_correction)):
        members = (table["role"] == role).to_numpy()
        if members.any():
            adjusted[members] = adjust_p_values(table.loc[members, "p_value"].to_numpy(), method)
    table["p_adjusted"] = adjusted
    table["significant"] = table["p_adjusted"] < plan.alpha
    sign = np.where(table["higher_is_better"], 1.0, -1.0)
    table["improved"] = table["effect"] * sign > 0
    return table


def decision_p_values(table: pd.DataFrame) -> pd.Series:
    """The p-value each row's verdict rests on, the one every surface shows as "p": the
    adjusted p of a primary or secondary metric (its family's correction), the one-sided
    non-inferiority p of a guardrail (its margin test: the two-sided difference test in
    ``p_value`` is not what decides it), the raw p of a monitor or check."""
    adjusted = table["role"].isin(["primary", "secondary"])
    guardrail = table["role"] == "guardrail"
    chosen = table["p_value"].where(~adjusted, table["p_adjusted"])
    if "non_inferiority_p" in table:
        chosen = chosen.where(~guardrail, table["non_inferiority_p"])
    return chosen.astype(float)


def level_text(value: float, unit: Any) -> str:
    return f"{value:.4g}" + (f" {unit}" if isinstance(unit, str) and unit else "")


def decide(table: pd.DataFrame, health: HealthReport, monitoring: MonitoringResult) -> Decision:
    return with_monitoring(decide_fixed(table, health), monitoring)


def with_monitoring(decision: Decision, monitoring: MonitoringResult) -> Decision:
    """A fixed-horizon decision read where the plan's monitoring stands: the look described,
    and at a group-sequential plan's final look "keep running" becomes "don't ship"."""
    if monitoring.kind == "fixed" or decision.verdict == "invalid":
        return decision
    reasons = (*decision.reasons, monitoring.describe())
    verdict = decision.verdict
    if monitoring.kind == "group_sequential" and decision.verdict == "keep running":
        if monitoring.final:
            reasons = (
                *reasons,
                "This was the final look: what it does not show cannot wait for more data.",
            )
            verdict = "don't ship"
        else:
            reasons = (*reasons, "Continue to the next look.")
    return dataclasses.replace(decision, verdict=verdict, reasons=reasons)


def rows_of(table: pd.DataFrame) -> list[Any]:
    """The rows as namespaces (``row.metric``), column by column: ``itertuples`` costs
    milliseconds on a table this wide, which counts when a monitor analyses many looks."""
    if table.empty:
        return []
    columns = {str(name): table[name].tolist() for name in table.columns}
    return [
        SimpleNamespace(**dict(zip(columns, values, strict=True)))
        for values in zip(*columns.values(), strict=True)
    ]


def decide_fixed(table: pd.DataFrame, health: HealthReport) -> Decision:
    if health.failed:
        return Decision(
            "invalid",
            tuple(f"{c.gate}: {c.detail}." for c in health.failed)
            + ("Fix the assignment or logging first; no metric is interpreted.",),
        )
    reasons = []
    primary = table[table["role"] == "primary"]
    guards = table[table["role"] == "guardrail"]
    wins = primary[primary["significant"] & primary["improved"]]
    losses = primary[primary["significant"] & ~primary["improved"]]
    breaches = guards[guards["guardrail"] == "breach"]
    unsure = guards[guards["guardrail"].isin(["inconclusive", "no data"])]
    for row in rows_of(wins):
        reasons.append(
            f"{row.metric} improved significantly ({level_text(row.control, row.unit)} -> "
            f"{level_text(row.treatment, row.unit)}, {p_phrase(row.p_adjusted, 'adjusted p')})."
        )
    for row in rows_of(losses):
        reasons.append(
            f"{row.metric} got significantly worse ({level_text(row.control, row.unit)} -> "
            f"{level_text(row.treatment, row.unit)}, {p_phrase(row.p_adjusted, 'adjusted p')})."
        )
    for row in rows_of(breaches):
        reasons.append(
            f"guardrail {row.metric} breached: {level_text(row.control, row.unit)} -> "
            f"{level_text(row.treatment, row.unit)}, worse than the allowed margin "
            f"{level_text(row.margin, row.unit)}."
        )
    for row in rows_of(unsure):
        reasons.append(
            f"guardrail {row.metric} not yet shown within its margin "
            f"({p_phrase(row.non_inferiority_p, 'non-inferiority p')})."
        )
    warnings = tuple(f"Warning: {c.gate}: {c.detail}." for c in health.warnings)
    if len(losses) or len(breaches):
        return Decision("don't ship", (*reasons, *warnings))
    if len(wins) and not len(unsure):
        passed = ", ".join(guards["metric"]) or "none defined"
        warned = f"no health gate failed, {len(warnings)} warned" if warnings else ""
        gates = warned or "every health gate passed"
        done = f"All guardrails passed ({passed}); {gates}."
        return Decision("ship", (*reasons, done, *warnings))
    if not len(wins):
        reasons.insert(0, "No primary metric improved significantly yet.")
    return Decision("keep running", (*reasons, *warnings))
