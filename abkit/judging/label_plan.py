"""The label budget read from a judged log: the log is the pilot.

σ and ρ come from the dialogs a human labeled (:func:`abkit.stats.ppi_budget.pilot_quantities`),
the dialogs per arm from the log, and the design effect of several dialogs per user from the
analysis itself: (the user-clustered width of the human-only difference, from the engine's
judged table) / (the same width computed as if dialogs were independent), squared. The budget
is then :func:`abkit.stats.ppi_budget.label_budget` for an experiment of this size.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.stats.ppi_budget import LabelBudget, label_budget, pilot_quantities

__all__ = ["design_effect_of_labels", "label_plan"]


def design_effect_of_labels(
    log: pd.DataFrame,
    judged: pd.DataFrame,
    *,
    label: str,
    arm: str,
    arms: tuple[str, str],
    alpha: float = 0.05,
) -> float:
    """(clustered / independent width of the human-only difference)², at least 1; ``judged``
    is the engine's judged table at level ``alpha``."""
    labeled = log[log[label].notna()]
    parts = [labeled.loc[labeled[arm] == name, label].to_numpy(float) for name in arms]
    naive = math.sqrt(sum(p.var(ddof=1) / p.size for p in parts if p.size > 1))
    z = float(sps.norm.isf(alpha / 2))
    row = judged[(judged["estimator"] == "human labels only")
                 & (judged["quantity"] == "difference")]  # fmt: skip
    if row.empty or not naive > 0:
        return 1.0
    clustered = float(row["width"].iloc[0]) / (2 * z)
    return max(1.0, (clustered / naive) ** 2)


def label_plan(
    log: pd.DataFrame,
    judged: pd.DataFrame,
    *,
    judge: str,
    label: str,
    target_width: float,
    arm: str = "variant",
    arms: tuple[str, str] = ("control", "treatment"),
    alpha: float = 0.05,
) -> tuple[LabelBudget, float]:
    """The labels an experiment of this log's size needs for a PPI interval of the difference
    ``target_width`` wide, and the design effect used (see the module docstring)."""
    labeled = log[log[label].notna()]
    sd, rho, sd_judge = pilot_quantities(
        labeled[label].to_numpy(float), labeled[judge].to_numpy(float), log[judge].to_numpy(float)
    )
    deff = design_effect_of_labels(log, judged, label=label, arm=arm, arms=arms, alpha=alpha)
    counts = log[arm].value_counts()
    missing = [name for name in arms if name not in counts.index]
    if missing:
        raise ValueError(f"label_plan: the log has no dialogs in arm(s) {missing}")
    budget = label_budget(
        target_width,
        dialogs_control=int(counts[arms[0]]),
        dialogs_treatment=int(counts[arms[1]]),
        sd_label=sd,
        rho=rho,
        sd_judge=sd_judge,
        design_effect=deff,
        alpha=alpha,
    )
    return budget, float(np.round(deff, 6))
