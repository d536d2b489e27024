"""Planning on top of :mod:`abkit.design.sample_size`: several metrics, curves, and notebook 01's
tables.

- :func:`sample_size_for_metrics`: several primary metrics at once (the largest n binds);
- :func:`power_curve` (power against n) and :func:`mde_by_duration` (MDE against days);
- :class:`DesignSettings`, :func:`duration_table`, :func:`split_cost`: what notebook
  ``01_design_sample_size`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from abkit.core.params import check_integer, check_number
from abkit.design.sample_size import (
    METHODS,
    MetricKind,
    design_effect,
    solve_design,
)

__all__ = [
    "MetricGoal",
    "mde_by_duration",
    "power_curve",
    "sample_size_for_metrics",
]


# --------------------------------------------------------------------------- several metrics


@dataclass(frozen=True)
class MetricGoal:
    """One primary metric's design inputs, for :func:`sample_size_for_metrics`."""

    name: str
    metric: MetricKind
    baseline: float
    mde: float
    relative: bool = False
    sd_control: float | None = None
    sd_treatment: float | None = None
    method: str | None = None


def sample_size_for_metrics(
    goals: Sequence[MetricGoal], *, alpha: float = 0.05, power: float = 0.8, split: float = 0.5
) -> pd.DataFrame:
    """Sample size for several primary metrics at once; the experiment needs the largest.

    Returns one row per metric (name, metric, method, baseline, mde, n_control, n_treatment,
    n_total) and a boolean column ``binding`` marking the metric that sets the size. ``alpha``
    is used as given: divide it by the number of metrics yourself for a Bonferroni design.
    """
    if not goals:
        raise ValueError("goals == [], give at least one MetricGoal")
    rows = []
    for goal in goals:
        design = solve_design(
            goal.metric,
            goal.baseline,
            mde=goal.mde,
            power=power,
            alpha=alpha,
            split=split,
            method=goal.method,
            relative=goal.relative,
            sd_control=goal.sd_control,
            sd_treatment=goal.sd_treatment,
        )
        rows.append({"name": goal.name, **design.to_dict()})
    table = pd.DataFrame(rows)[
        ["name", "metric", "method", "baseline", "mde", "n_control", "n_treatment", "n_total"]
    ]
    table["binding"] = table["n_total"] == table["n_total"].max()
    return table


# --------------------------------------------------------------------------- curves


def power_curve(
    metric: MetricKind,
    baseline: float,
    mde: float,
    n_totals: Sequence[int] | np.ndarray,
    *,
    alpha: float = 0.05,
    split: float = 0.5,
    methods: Sequence[str] | None = None,
    relative: bool = False,
    sd_control: float | None = None,
    sd_treatment: float | None = None,
) -> pd.DataFrame:
    """Power against total n, tidy: columns method, n_total, power."""
    rows = []
    for method in methods or METHODS[metric]:
        for n in n_totals:
            design = solve_design(
                metric,
                baseline,
                mde=mde,
                n_total=int(n),
                alpha=alpha,
                split=split,
                method=method,
                relative=relative,
                sd_control=sd_control,
                sd_treatment=sd_treatment,
            )
            rows.append({"method": method, "n_total": design.n_total, "power": design.power})
    return pd.DataFrame(rows)


def mde_by_duration(
    metric: MetricKind,
    baseline: float,
    days: Sequence[int] | np.ndarray,
    *,
    daily_dialogs: float,
    traffic_share: float = 1.0,
    power: float = 0.8,
    alpha: float = 0.05,
    split: float = 0.5,
    dialogs_per_user: float = 1.0,
    intra_user_correlation: float = 0.0,
    method: str | None = None,
    sd_control: float | None = None,
    sd_treatment: float | None = None,
) -> pd.DataFrame:
    """Smallest detectable effect after each number of days, tidy.

    Dialogs collected after t days are t × daily_dialogs × traffic_share; dividing by the design
    effect gives the effective number of independent units the MDE is solved for.
    Columns: days, dialogs, effective_n, mde, relative_mde.
    """
    daily = check_number("daily_dialogs", daily_dialogs, low=0.0)
    share = check_number("traffic_share", traffic_share, low=0.0, high=1.0, high_inclusive=True)
    de = design_effect(dialogs_per_user, intra_user_correlation)
    rows = []
    for day in days:
        whole_days = check_integer("days", day, minimum=1)
        dialogs = whole_days * daily * share
        effective = math.floor(dialogs / de)
        design = solve_design(
            metric,
            baseline,
            n_total=effective,
            power=power,
            alpha=alpha,
            split=split,
            method=method,
            sd_control=sd_control,
            sd_treatment=sd_treatment,
        )
        rows.append(
            {
                "days": whole_days,
                "dialogs": dialogs,
                "effective_n": effective,
                "mde": design.mde,
                "relative_mde": design.relative_mde,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- notebook settings
