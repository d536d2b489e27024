"""Notebook 01's tables from its settings: what the design asks of clustered traffic and how long
it takes, the cost of an unequal split, the CUPED gain."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import pandas as pd

from abkit.design.sample_size import (
    _applicable_methods,
    solve_design,
)
from abkit.experiment.settings import DesignSettings

__all__ = [
    "cuped_table",
    "duration_table",
    "label_budget_table",
    "split_cost",
]

LABEL_SHARES = (1.0, 0.5, 0.2, 0.1, 0.05)


def duration_table(settings: DesignSettings) -> pd.DataFrame:
    """For each method, what the design asks of clustered traffic and how long it takes.

    Columns: method, n_total (independent units), design_effect, dialogs_total, users_total,
    days (see :func:`plan_clustered`).
    """
    rows = []
    for method in _applicable_methods(settings.metric, settings.sd_control, settings.sd_treatment):
        design = solve_design(**settings.solve_arguments(), method=method)
        plan = settings.clustered(design)
        rows.append(
            {
                "method": method,
                "n_total": design.n_total,
                "design_effect": plan.design_effect,
                "dialogs_total": plan.dialogs_total,
                "users_total": plan.users_total,
                "days": plan.days,
            }
        )
    return pd.DataFrame(rows)


def label_budget_table(settings: DesignSettings) -> pd.DataFrame:
    """For a metric an LLM judge scores on every dialog and humans label on a random share:
    at each share, the dialogs, human labels and days prediction-powered inference needs for the
    design's power (:func:`abkit.stats.ppi_budget.dialogs_for_share` with ``judge_rho``, the
    expected judge–human correlation). Share 1 is the design itself (every dialog labeled).

    Columns: label_share, dialogs_total, human_labels, days, labels_saved (against labeling
    every dialog of the design).
    """
    from abkit.stats.ppi_budget import dialogs_for_share

    base = duration_table(settings).iloc[0]
    rows = []
    for share in LABEL_SHARES:
        dialogs = dialogs_for_share(share, settings.judge_rho, float(base["dialogs_total"]))
        rows.append(
            {
                "label_share": share,
                "dialogs_total": math.ceil(dialogs),
                "human_labels": math.ceil(share * dialogs),
                "days": math.ceil(dialogs / (settings.daily_dialogs * settings.traffic_share)),
                "labels_saved": 1 - share * dialogs / float(base["dialogs_total"]),
            }
        )
    return pd.DataFrame(rows)


def split_cost(
    settings: DesignSettings, splits: Sequence[float] = (0.5, 0.3, 0.2, 0.1)
) -> pd.DataFrame:
    """Total n of the default method at several splits, and its ratio to a 50/50 split.

    For equal variances the ratio is 1/(4·s·(1 − s)): 1.56 at 80/20, 2.78 at 90/10.
    Columns: split, n_control, n_treatment, n_total, ratio_to_even.
    """
    chosen = sorted({*splits, settings.split}, reverse=True)
    arguments = settings.solve_arguments()
    rows = []
    for share in chosen:
        design = solve_design(**{**arguments, "split": share})
        rows.append(
            {
                "split": share,
                "n_control": design.n_control,
                "n_treatment": design.n_treatment,
                "n_total": design.n_total,
                "n_total_exact": design.n_total_exact,
            }
        )
    table = pd.DataFrame(rows)
    even = solve_design(**{**arguments, "split": 0.5}).n_total_exact
    table["ratio_to_even"] = table["n_total_exact"] / even
    return table.drop(columns="n_total_exact")


def cuped_table(settings: DesignSettings) -> pd.DataFrame:
    """The recommended method's design without and with CUPED.

    With a covariate correlated ρ with the metric the variance of the estimate is (1 − ρ²) of
    the unadjusted one (Deng, Xu, Kohavi & Walker 2013), so each arm needs (1 − ρ²) of the units
    for the same power; dialogs, users and days follow. Columns: design, rho, variance_factor,
    n_total, dialogs_total, users_total, days. One row (without) when no ρ is given.
    """
    design = solve_design(**settings.solve_arguments())
    estimate = settings.cuped
    rows = []
    options = [("without CUPED", 0.0)]
    if estimate is not None:
        options.append((f"with CUPED ({estimate.metric})", estimate.reduction))
    for label, reduction in options:
        factor = 1.0 - reduction
        scaled = dataclasses.replace(
            design,
            n_control=math.ceil(design.n_control * factor),
            n_treatment=math.ceil(design.n_treatment * factor),
            n_total_exact=design.n_total_exact * factor,
        )
        plan = settings.clustered(scaled)
        rows.append(
            {
                "design": label,
                "rho": math.sqrt(reduction),
                "variance_factor": factor,
                "n_total": scaled.n_total,
                "dialogs_total": plan.dialogs_total,
                "users_total": plan.users_total,
                "days": plan.days,
            }
        )
    return pd.DataFrame(rows)


# A segment of this share of users among 1/share segments: what notebook 01 shows.
SEGMENT_SHARES = (0.5, 0.25, 0.1)


def segment_mde(settings: DesignSettings, n_total: int) -> pd.DataFrame:
    """What segment-level power the design has: for a segment holding a share s of the units
    (one of m = 1/s segments), the effect it must have to be found with the design's power
    when Benjamini–Hochberg runs over the m segments (a single true effect among them passes
    BH's first step, Bonferroni's α/m; :mod:`abkit.analysis.segments`), with s·n units.

    Columns: segment_share, segments, n_total, alpha, mde, relative_mde.
    """
    rows = []
    for share in SEGMENT_SHARES:
        count = round(1 / share)
        units = max(4, math.floor(share * n_total))
        level = settings.test_alpha / count
        found = solve_design(
            **{**settings.solve_arguments(), "mde": None, "n_total": units, "alpha": level}
        )
        rows.append(
            {
                "segment_share": share,
                "segments": count,
                "n_total": units,
                "alpha": level,
                "mde": found.mde,
                "relative_mde": found.mde / abs(settings.baseline)
                if settings.baseline
                else math.nan,
            }
        )
    return pd.DataFrame(rows)
