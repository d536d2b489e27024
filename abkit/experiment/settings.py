"""Notebook 03's parameters and how they become an experiment plan.

The notebook's flat parameters (``split``, ``control`` ...) are for quick use; ``plan_file``
(a plan YAML) and ``plan`` (the same settings inline) declare the experiment fully; in an
experiment folder, ``experiment.yaml`` fills them (:mod:`abkit.experiment.file`). Where both
set a value, they must agree: a parameter changed from its default that the plan contradicts
is an error, never silently overruled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from abkit.analysis.covariates import VarianceReductionEstimate, estimate_variance_reduction
from abkit.analysis.log_source import log_columns
from abkit.core.params import (
    check_choice,
    check_integer,
    check_number,
    check_probability,
    check_text,
    parse_until,
)
from abkit.core.paths import in_kit
from abkit.design.sample_size import (
    ClusteredPlan,
    Design,
    design_effect,
    plan_clustered,
    solve_design,
)
from abkit.judging.bradley_terry import INTERVAL_KINDS
from abkit.judging.judgments import (
    SHAPES,
    JudgmentTable,
    read_judgment_table,
    read_judgments,
    to_kit_shape,
)
from abkit.judging.simulation import simulate_pairwise
from abkit.plan.experiment_plan import (
    COVARIATE_PATHS,
    ExperimentPlan,
    load_plan,
    plan_with_parameters,
    read_plan_spec,
)
from abkit.plan.metrics import DEFAULT_METRICS, Metric, default_metrics, metrics_by_name
from abkit.serve.routing import assign_many, assign_weighted, check_weights
from abkit.teaching.casestudy import PublishedMetric, PublishedStudy
from abkit.teaching.simulate import SimulationConfig

__all__ = [
    "AnalysisSettings",
    "CaseStudySettings",
    "DesignSettings",
    "JudgeEvaluationSettings",
    "RoutingSettings",
    "choose_metrics",
]


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
    mlflow_uri: str = ""
    experiment: str = ""

    def __post_init__(self) -> None:
        check_text("events_path", self.events_path)
        check_text("table", self.table)
        check_text("output_dir", self.output_dir)
        texts = ("plan_file", "experiment_id", "primary", "until", "looks_file", "experiment")
        for name in (*texts, "mlflow_uri"):
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
        if plan.monitoring.kind == "group_sequential":
            return in_kit(self.looks_file or str(Path(self.output_dir) / "looks.json"))
        return None

    def recorded_looks(self) -> int:
        """Looks of this experiment its reports record (0 outside an experiment folder)."""
        from abkit.experiment.file import recorded_looks

        return recorded_looks(Path(self.experiment).parent) if self.experiment else 0

    @property
    def events(self) -> str:
        return str(in_kit(self.events_path))

    @property
    def cache(self) -> Path | bool:  # where the rollup of a log folder is kept (the analysis's)
        return Path(self.experiment).parent / ".rollup" if self.experiment else True

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


@dataclass(frozen=True)
class JudgeEvaluationSettings:
    """The parameters of notebook ``05_judge_evaluation``, validated on construction."""

    pairwise_file: str = "data/example_pairwise_judgments.csv"
    judge_columns: dict = dataclasses.field(default_factory=dict)
    judge_verdicts: dict = dataclasses.field(default_factory=dict)
    judge_shape: str = "auto"
    judge_model: str = ""
    grades_file: str = "data/example_pointwise_grades.csv"
    judged_log: str = "data/example_judged_dialogs.parquet"
    judge_column: str = "judge_helpful"
    label_column: str = "human_helpful"
    split: float = 0.2
    target_width: float | None = None
    ppi_strata: str = ""
    true_effect: float | None = 0.04
    simulated_prompts: int = 300
    simulated_preference: float = 0.6
    judge_accuracy: float = 0.85
    position_bias: float = 0.1
    length_bias: float = 0.1
    length_ratio: float = 1.35
    bootstrap_resamples: int = 1000
    interval: str = "bootstrap"
    alpha: float = 0.05
    seed: int = 0
    output_dir: str = "reports/05_judge_evaluation"
    experiment: str = ""  # the experiment file applied (abkit.experiment.file)

    def __post_init__(self) -> None:
        texts = ("pairwise_file", "grades_file", "judged_log", "experiment", "judge_model")
        for name in (*texts, "ppi_strata"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} == {getattr(self, name)!r}, must be a path as text")
        for name in ("judge_columns", "judge_verdicts"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise TypeError(f"{name} == {value!r}, must be a mapping of text to text")
        check_choice("judge_shape", self.judge_shape, SHAPES)
        check_choice("interval", self.interval, INTERVAL_KINDS)
        check_text("output_dir", self.output_dir)
        self.judged_plan()  # checks the two columns
        if self.true_effect is not None:
            check_number("true_effect", self.true_effect)
        if self.target_width is not None:
            check_number("target_width", self.target_width, low=0.0)
        check_integer("simulated_prompts", self.simulated_prompts, minimum=2)
        check_number("simulated_preference", self.simulated_preference, low=0.0, high=1.0)
        for name in ("judge_accuracy", "position_bias", "length_bias"):
            share = getattr(self, name)
            check_number(name, share, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True)
        if self.position_bias + self.length_bias > 1:
            raise ValueError(
                f"position_bias + length_bias == {self.position_bias + self.length_bias:g}, "
                "must not exceed 1 (they are shares of the judge's verdicts)"
            )
        check_number("length_ratio", self.length_ratio, low=0.0)
        check_integer("bootstrap_resamples", self.bootstrap_resamples, minimum=0)
        check_probability("alpha", self.alpha)
        check_integer("seed", self.seed, minimum=0)

    def judgments(self) -> JudgmentTable:
        """The pairwise verdicts in the kit's shape: ``pairwise_file`` read through
        ``judge_columns``, ``judge_verdicts`` and ``judge_shape``, or a simulated judge when it
        is ''."""
        if self.pairwise_file:
            verdicts, shape = self.judge_verdicts or None, self.judge_shape
            return read_judgment_table(self.pairwise_file, "pairwise_file",
                                       columns=self.judge_columns, verdicts=verdicts,
                                       shape=shape)  # type: ignore[arg-type]  # fmt: skip
        theta = math.log(self.simulated_preference / (1 - self.simulated_preference))
        simulated = simulate_pairwise(
            self.simulated_prompts,
            {"candidate": theta, "baseline": 0.0},
            accuracy=self.judge_accuracy,
            position_bias=self.position_bias,
            length_bias=self.length_bias,
            mean_length={"candidate": 300.0 * self.length_ratio, "baseline": 300.0},
            seed=self.seed,
        ).drop(columns="human")
        return to_kit_shape(simulated)

    def strata_column(self, columns: list[str]) -> str:
        """``ppi_strata`` checked against the judged log's columns ('' for none)."""
        if self.ppi_strata and self.ppi_strata not in columns:
            raise ValueError(
                f"ppi_strata == {self.ppi_strata!r}: not a column of judged_log "
                f"{self.judged_log!r}; it has {columns}"
            )
        return self.ppi_strata

    def judged_plan(self) -> ExperimentPlan:
        """The plan of the online section: one ``judged`` metric (primary) from the log's
        ``judge_column`` and ``label_column``, at the planned ``split``."""
        metric = Metric(
            self.label_column,
            "judged",
            self.label_column,
            judge=self.judge_column,
            judge_model=self.judge_model,
            role="primary",
            description="human-scale mean from the judge and a random sample of human labels",
        )
        return ExperimentPlan(split=self.split, metrics=(metric,))

    def grades(self) -> pd.DataFrame | None:
        """The pointwise grades, or None when ``grades_file`` is ''."""
        return read_judgments(self.grades_file, "grades_file") if self.grades_file else None


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
    judge_rho: float = 0.0
    output_dir: str = "reports/01_design_sample_size"
    experiment: str = ""  # the experiment file applied (abkit.experiment.file)

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
            shares = declared.get("split")
            if isinstance(shares, Mapping):  # A/B/n: size the control vs the smallest candidate
                if self.split != defaults["split"]:
                    raise ValueError(
                        f"split == {self.split!r} (parameter) but plan_file {self.plan_file!r} "
                        f"gives a share per arm {dict(shares)}; set it in one place"
                    )
                declared = {k: v for k, v in declared.items() if k != "split"}
                plan = load_plan({**declared, "split": shares})
                object.__setattr__(self, "split", plan.sized_pair[1])
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
        check_number("judge_rho", self.judge_rho, low=0.0, high=1.0, low_inclusive=True)
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
        if not isinstance(declared.get("split"), Mapping):  # A/B/n plans keep their shares
            declared = {**declared, "split": self.split}
        plan = load_plan({**declared, "alpha": self.alpha})
        plan.check_sizable(f"plan_file {self.plan_file!r}")
        return plan

    @property
    def pair_share(self) -> float:
        """The share of all users the sized comparison gets: 1 for an A/B test; with several
        candidates, the control's and the smallest candidate's shares together (the design's
        users for the pair are this share of the experiment's, and the days count its traffic
        only)."""
        plan = self.experiment_plan
        return 1.0 if len(plan.candidates) == 1 else plan.sized_pair[2]

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
            traffic_share=self.traffic_share * self.pair_share,
        )

    def arm_cost(self) -> dict[str, int] | None:
        """What the extra candidates cost (None for an A/B test): the users and days of this
        A/B/n design (every arm) beside those of an A/B test of the control and the smallest
        candidate alone, at the same split between them and the family's α without the
        candidates' adjustment, on all the traffic."""
        if self.pair_share == 1.0:
            return None
        plan = self.experiment_plan
        level = plan.alpha if plan.correction == "none" else plan.alpha / plan.n_primary
        abn = self.clustered(solve_design(**self.solve_arguments()))
        alone = solve_design(**{**self.solve_arguments(), "alpha": level})
        ab = plan_clustered(
            alone,
            dialogs_per_user=self.dialogs_per_user,
            intra_user_correlation=self.intra_user_correlation,
            daily_dialogs=self.daily_dialogs,
            traffic_share=self.traffic_share,
        )
        return {
            "abn_users": math.ceil(abn.users_total / self.pair_share - 1e-9),
            "abn_days": abn.days,
            "ab_users": ab.users_total,
            "ab_days": ab.days,
        }

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


@dataclass(frozen=True)
class RoutingSettings:
    """The parameters of notebook ``02_routing_simulation``, validated on construction."""

    experiment_id: str = "fine-tuned-v2-test"
    split: float = 0.2
    weights: dict = field(default_factory=dict)
    effects: dict = field(default_factory=dict)
    n_users: int = 20000
    days: int = 14
    dialogs_per_user: float = 3.0
    intra_user_correlation: float = 0.3
    ramp_schedule: list[float] = field(default_factory=lambda: [0.05, 0.2, 0.5])
    bug_error_rate: float = 0.1
    seed: int = 42
    output_dir: str = "reports/02_routing_simulation"
    experiment: str = ""  # the experiment file applied (abkit.experiment.file)

    def __post_init__(self) -> None:
        check_text("output_dir", self.output_dir)
        check_text("experiment_id", self.experiment_id)
        ceiling = 1.0 - SimulationConfig.error_rate  # the clean log's error rate, plus this
        check_number(
            "bug_error_rate",
            self.bug_error_rate,
            low=0.0,
            high=ceiling,
            low_inclusive=True,
            high_inclusive=True,
        )
        if not isinstance(self.ramp_schedule, list) or len(self.ramp_schedule) < 2:
            raise ValueError(
                f"ramp_schedule == {self.ramp_schedule!r}, must be a list of at least two shares"
            )
        for step, share in enumerate(self.ramp_schedule):
            check_number(f"ramp_schedule[{step}]", share, low=0.0, high=1.0, high_inclusive=True)
        if self.ramp_schedule != sorted(self.ramp_schedule):
            raise ValueError(f"ramp_schedule == {self.ramp_schedule!r}, must increase")
        if self.weights:
            check_weights(self.weights)
        self.simulation()  # checks experiment, split, effects, n_users, days, seed, ...

    @property
    def planned(self) -> dict[str, float]:
        """The planned share of users per arm: ``weights``, else control / treatment by
        ``split``."""
        if self.weights:
            return {str(k): float(v) for k, v in self.weights.items()}
        return {"control": 1 - self.split, "treatment": self.split}

    @property
    def bug_arm(self) -> str:
        """The arm the simulated logging bug hits: the treatment, or the last candidate."""
        return list(self.planned)[-1]

    def assign(self, user_ids: Any) -> Any:
        """Each user's arm: the seed's md5 router by ``split``, or its bucket cut by
        ``weights`` (A/B/n)."""
        if self.weights:
            return assign_weighted(self.experiment_id, user_ids, self.weights)
        return assign_many(self.experiment_id, user_ids, self.split)

    def buggy_simulation(self) -> SimulationConfig:
        """The same traffic with the logging bug: ``bug_error_rate`` more errors in
        :attr:`bug_arm`, whose users whose first dialog failed are never logged."""
        effects = {arm: dict(values) for arm, values in self.effects.items()}
        effects.setdefault(self.bug_arm, {})["error_rate"] = self.bug_error_rate
        return self.simulation(effects=effects, unlogged_error_arm=self.bug_arm)

    def simulation(self, **overrides: object) -> SimulationConfig:
        """The simulation these settings describe (the clean log); ``overrides`` change fields."""
        fields = {
            "experiment": self.experiment_id,
            "n_users": self.n_users,
            "days": self.days,
            "split": self.split,
            "seed": self.seed,
            "dialogs_per_user": self.dialogs_per_user,
            "intra_user_correlation": self.intra_user_correlation,
            "weights": dict(self.weights) or None,
            "effects": dict(self.effects),
        }
        check_number("split", self.split, low=0.0, high=1.0)
        return SimulationConfig(**{**fields, **overrides})  # type: ignore[arg-type]


@dataclass(frozen=True)
class CaseStudySettings:
    """The parameters of notebook ``04_case_study_replication``, validated on construction."""

    study_name: str
    n_control: int
    n_treatment: int
    split: float
    days: int
    published: list
    assumed_sd: dict
    sd_sweep: list
    p95_latency_control_s: float | None
    p95_latency_treatment_s: float | None
    published_decision: str
    latency_margin: float
    seed: int
    output_dir: str

    def __post_init__(self) -> None:
        check_text("output_dir", self.output_dir)
        check_number("latency_margin", self.latency_margin, low=0.0)
        check_integer("seed", self.seed, minimum=0)
        if not isinstance(self.published, list) or not self.published:
            raise ValueError(
                f"published == {self.published!r}, must be a non-empty list of "
                "metrics (mappings with name, kind, control, treatment, published_p)"
            )
        if not isinstance(self.sd_sweep, list) or not self.sd_sweep:
            raise ValueError(f"sd_sweep == {self.sd_sweep!r}, must be a non-empty list of SDs")
        for k, sd in enumerate(self.sd_sweep):
            check_number(f"sd_sweep[{k}]", sd, low=0.0)
        study = self.study()
        for metric in study.metrics:
            if metric.kind == "mean" and metric.sd_control is None:
                if metric.name not in self.assumed_sd:
                    raise ValueError(
                        f"assumed_sd has no SD for {metric.name!r}, a mean with no published SD"
                    )
                check_number(f"assumed_sd[{metric.name!r}]", self.assumed_sd[metric.name], low=0.0)

    def study(self) -> PublishedStudy:
        allowed = set(PublishedMetric.__dataclass_fields__)
        metrics = []
        for k, entry in enumerate(self.published):
            if not isinstance(entry, dict):
                raise TypeError(f"published[{k}] == {entry!r}, must be a mapping")
            unknown = sorted(set(entry) - allowed)
            if unknown:
                raise ValueError(
                    f"published[{k}] has unknown key(s) {unknown}, allowed: {sorted(allowed)}"
                )
            fields = dict(entry)
            if fields.get("scale") is not None:
                fields["scale"] = tuple(fields["scale"])
            try:
                metrics.append(PublishedMetric(**fields))
            except TypeError as error:
                raise ValueError(f"published[{k}]: {error}") from None
        return PublishedStudy(
            name=self.study_name,
            n_control=self.n_control,
            n_treatment=self.n_treatment,
            split=self.split,
            days=self.days,
            metrics=tuple(metrics),
            p95_latency_control_s=self.p95_latency_control_s,
            p95_latency_treatment_s=self.p95_latency_treatment_s,
            decision=self.published_decision,
        )
