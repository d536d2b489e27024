"""Planning on top of :mod:`abkit.design`: several metrics, curves, and notebook 01's tables.

- :func:`sample_size_for_metrics`: several primary metrics at once (the largest n binds);
- :func:`power_curve` (power against n) and :func:`mde_by_duration` (MDE against days);
- :class:`DesignSettings`, :func:`duration_table`, :func:`split_cost`: what notebook
  ``01_design_sample_size`` shows.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from abkit.covariates import VarianceReductionEstimate, estimate_variance_reduction
from abkit.design import (
    METHODS,
    ClusteredPlan,
    Design,
    MetricKind,
    _applicable_methods,
    design_effect,
    plan_clustered,
    solve_design,
)
from abkit.params import check_integer, check_number
from abkit.paths import in_kit
from abkit.plan import ExperimentPlan, load_plan, plan_with_parameters, read_plan_spec

__all__ = [
    "DesignSettings",
    "MetricGoal",
    "cuped_table",
    "duration_table",
    "mde_by_duration",
    "power_curve",
    "sample_size_for_metrics",
    "split_cost",
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


@dataclass(frozen=True)
class DesignSettings:
    """The parameters of notebook ``01_design_sample_size``, validated on construction.

    The same names and defaults as the notebook's ``parameters`` cell; see there for what each
    means. With ``plan_file`` the experiment plan's α, split and decision family apply: each
    primary test is designed at :attr:`test_alpha` (α/k for k primaries under a correction),
    exactly what the analysis will test it at. A parameter changed from its default that the
    plan contradicts is an error.
    """

    metric: str = "proportion"
    baseline: float = 0.75
    mde: float = 0.05
    relative_mde: bool = False
    sd_control: float | None = None
    sd_treatment: float | None = None
    alpha: float = 0.05
    power: float = 0.8
    split: float = 0.2
    daily_dialogs: float = 550.0
    traffic_share: float = 1.0
    dialogs_per_user: float = 3.0
    intra_user_correlation: float = 0.2
    max_days: int = 28
    plan_file: str = ""
    cuped_rho: float = 0.0
    pre_period_log: str = ""
    output_dir: str = "reports/01_design_sample_size"
    experiment: str = ""  # the experiment file applied (abkit.experiment_file)

    def __post_init__(self) -> None:
        if not isinstance(self.relative_mde, bool):
            raise TypeError(f"relative_mde == {self.relative_mde!r}, must be True or False")
        if not isinstance(self.output_dir, str) or not self.output_dir.strip():
            raise ValueError(f"output_dir == {self.output_dir!r}, must be a non-empty path string")
        if not isinstance(self.plan_file, str):
            raise TypeError(f"plan_file == {self.plan_file!r}, must be a path string ('' for none)")
        if self.plan_file:
            declared = read_plan_spec(in_kit(self.plan_file))
            defaults = {f.name: f.default for f in fields(self)}
            merged = plan_with_parameters(
                {k: declared[k] for k in ("alpha", "split") if k in declared},
                {"alpha": self.alpha, "split": self.split},
                defaults,
            )
            object.__setattr__(self, "alpha", merged["alpha"])
            object.__setattr__(self, "split", merged["split"])
        check_number("daily_dialogs", self.daily_dialogs, low=0.0)
        check_number("traffic_share", self.traffic_share, low=0.0, high=1.0, high_inclusive=True)
        check_integer("max_days", self.max_days, minimum=1)
        design_effect(self.dialogs_per_user, self.intra_user_correlation)
        check_number("cuped_rho", self.cuped_rho, low=0.0, high=1.0, low_inclusive=True)
        if not isinstance(self.pre_period_log, str):
            raise TypeError(
                f"pre_period_log == {self.pre_period_log!r}, must be a path string ('' for none)"
            )
        if self.pre_period_log and self.cuped_rho:
            raise ValueError(
                f"cuped_rho == {self.cuped_rho!r} and pre_period_log == {self.pre_period_log!r}: "
                "give the expected correlation or a log to estimate it from, not both"
            )
        if self.pre_period_log and not in_kit(self.pre_period_log).exists():
            raise ValueError(
                f"pre_period_log == {self.pre_period_log!r}: no such file (relative paths are "
                "read from the kit's folder)"
            )
        # Solving once checks metric, baseline, MDE, alpha, power, split and SDs together.
        solve_design(**self.solve_arguments())

    @functools.cached_property
    def experiment_plan(self) -> ExperimentPlan:
        """The plan the analysis will use: the plan file (with α and split as above), or the
        default plan (one primary metric) at this α and split."""
        declared = read_plan_spec(in_kit(self.plan_file)) if self.plan_file else {}
        plan = load_plan({**declared, "alpha": self.alpha, "split": self.split})
        plan.check_sizable(f"plan_file {self.plan_file!r}")
        return plan

    @functools.cached_property
    def cuped(self) -> VarianceReductionEstimate | None:
        """The variance CUPED is expected to remove: ρ² from ``cuped_rho``, or estimated from
        ``pre_period_log`` for the plan's primary metric; None when neither is given."""
        if self.pre_period_log:
            return estimate_variance_reduction(in_kit(self.pre_period_log), self.experiment_plan)
        if self.cuped_rho:
            primary = self.experiment_plan.metrics_with_role("primary")
            name = primary[0].name if primary else "task_completion"
            return VarianceReductionEstimate(name, self.cuped_rho**2, self.cuped_rho, 0, 0)
        return None

    @property
    def test_alpha(self) -> float:
        """The two-sided level each primary metric is tested at (α/k under a correction)."""
        return self.experiment_plan.alpha_per_primary

    def clustered(self, design: Design) -> ClusteredPlan:
        """``design`` in dialogs, users and days for this traffic (:func:`plan_clustered`)."""
        return plan_clustered(
            design,
            dialogs_per_user=self.dialogs_per_user,
            intra_user_correlation=self.intra_user_correlation,
            daily_dialogs=self.daily_dialogs,
            traffic_share=self.traffic_share,
        )

    def solve_arguments(self) -> dict[str, object]:
        """Keyword arguments for :func:`solve_design` / :func:`compare_methods` (n unknown)."""
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "mde": self.mde,
            "power": self.power,
            "alpha": self.test_alpha,
            "split": self.split,
            "relative": self.relative_mde,
            "sd_control": self.sd_control,
            "sd_treatment": self.sd_treatment,
        }


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
