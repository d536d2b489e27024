"""The experiment plan: what an experiment declares before its data are seen.

One frozen :class:`ExperimentPlan` is read by notebook 01 (the sample size for the plan's
decision family), notebook 03, ``abkit analyze`` and :func:`abkit.analysis.results.analyze` alike:
variant labels, planned split, which experiment's rows to read, the column map, α, the
corrections, the health-gate thresholds and the metrics (:class:`abkit.plan.metrics.Metric`: kind,
columns, role, direction, valid range and, for a guardrail, its margin).

Plans are written in YAML (a plan file, or the ``plan:`` section of an experiment's
``experiment.yaml``) and need no code::

    experiment: support-bot-v2
    split: 0.2
    primary: csat                      # shortcut: make this metric the (only) primary
    metrics: default                   # the default catalogue; or a list of metrics:
    #  - {name: csat, kind: ratio, column: csat, role: primary, valid_range: [1, 5]}
    #  - {name: p95, kind: quantile, column: latency_ms, quantile: 0.95, role: guardrail,
    #     margin: 0.1, direction: decrease, unit: ms}
    #  - {name: helpful, kind: judged, column: human_label, judge: judge_score,
    #     valid_range: [0, 1]}         # PPI from an LLM judge plus human labels on a subset

The decision family (see :mod:`abkit.analysis.results`): ``correction`` runs over the primary
metrics
only and the decision rests on them; secondaries get ``secondary_correction`` among themselves
and are reported; guardrails keep one-sided non-inferiority tests at α each; monitors are
reported only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from abkit.core.params import (
    check_choice,
    check_number,
    check_text,
    check_time_zone,
    load_yaml,
    shorten,
)
from abkit.plan.arms import check_arms
from abkit.plan.metrics import (
    DEFAULT_COLUMN_RULES,
    DEFAULT_METRICS,
    ColumnRule,
    ColumnUnit,
    Metric,
    Role,
    check_range,
    default_metrics,
    metric_from_dict,
    metric_to_dict,
    yaml_number,
)
from abkit.plan.monitoring_plan import Monitoring, monitoring_from_dict
from abkit.stats.two_sample import Correction

__all__ = [
    "Correction",
    "ExperimentPlan",
    "Monitoring",
    "load_plan",
    "plan_from_dict",
    "plan_spec",
    "plan_with_parameters",
    "read_plan_spec",
    "EXPERIMENT_SECTIONS",
]

# Plan settings that are paths of covariate sources; in a plan file, relative to the file.
COVARIATE_PATHS = ("pre_period_log", "users_table")
UnknownVariants = Literal["error", "ignore"]
CupedUse = Literal["decide", "report"]
TimestampUnit = Literal["auto", "s", "ms"]
# How an A/B/n decision names one candidate among several that pass (abkit.analysis.candidates).
ChoiceRule = Literal["best_on_first_primary", "first_listed"]


@dataclass(frozen=True)
class ExperimentPlan:
    """Everything an analysis needs to know that is not in the log.

    Attributes:
        metrics: the metrics; ``None`` means the default catalogue, restricted to the metrics
            whose columns the log has (see :meth:`resolve`).
        control, treatment: the variant labels compared: one control, and one candidate (a
            label) or several (a list of labels: an A/B/n experiment, each candidate compared
            with the shared control, see :mod:`abkit.analysis.candidates`).
        split: the planned share of users: with one candidate the treatment's share (0.2 for
            80/20); with several a mapping label -> share over every arm, summing to 1 (a
            mapping also works for two arms, and is stored as the treatment's share). The SRM
            gate tests it over all arms.
        experiment: read only rows whose ``experiment`` column equals this; "" when the log
            holds one experiment (a log holding several is then an error).
        alpha: two-sided level of each family; one-sided level of each guardrail.
        correction: multiple-testing correction over the primary metrics (the decision).
        secondary_correction: the same over the secondary metrics (reported only).
        column_map: your column name -> the dialog log's, e.g. ``{"customer_id": "user_id"}``.
        columns: valid values per column, over :data:`DEFAULT_COLUMN_RULES`.
        timezone: the zone of timestamps written without one (naive datetimes, text without an
            offset): "UTC" (default), or an IANA name such as "Europe/Paris". Timestamps with
            a zone or offset, and epoch numbers, are instants already; every engine's session
            runs in UTC (:mod:`abkit.core.duckdb_session`), whatever the machine's ``TZ``.
        timestamp_unit: how numeric timestamps are read: epoch "s", "ms", or "auto" (by
            magnitude; anything else is refused).
        unknown_variants: rows whose variant is neither label: "error" (default) or "ignore"
            (left out and counted in the health table).
        crossover_max_share: users seen in both arms are left out of every metric (GrowthBook's
            practice) and counted; above this share of users the experiment is invalid. 1 %:
            sticky routing gives none, so more than a handful means an assignment or identity
            bug whose users cannot be assumed to be like the others.
        srm_p: the SRM gate fails below this p-value (χ², as Kohavi et al. recommend 0.001).
        missing_p: the missing-outcome gate fails when the share of missing values of a
            metric column differs between arms with a user-clustered p-value below this.
        primary: convenience: make this metric the only primary (others keep their roles,
            former primaries become secondary).
        pre_period_log: path of a dialog log from before the experiment (``user_id``,
            ``timestamp`` and the metrics' columns), for metrics whose covariate is
            ``pre_period``; in a plan file relative to the file. The API and CLI can pass it
            instead (``pre_period=``, ``--pre-period``).
        pre_period_days: the window of that covariate: each user's dialogs in the N days
            before their first exposure (rows at or after it are never used).
        users_table: path of a table with ``user_id``, ``measured_at`` (when the values were
            measured: a value measured at or after a user's first exposure is refused as
            post-treatment) and per-user covariate columns.
        cuped: ``decide``: a metric with a covariate is decided on its CUPED estimate;
            ``report``: on its unadjusted estimate, with the CUPED one beside it.
        monitoring: how the experiment is looked at (:class:`Monitoring`): fixed horizon,
            group-sequential or always-valid.
        choice: with several candidates, which of those that pass the decision names:
            ``best_on_first_primary`` (default: the best estimate on the first primary, tested
            against the runner-up) or ``first_listed`` (the plan's order as a preference, e.g.
            the cheaper model first).
        segments: columns whose values split the users into segments, each analysed on its
            own (:mod:`abkit.analysis.segments`); a user belongs to the segment of their first
            dialog (by time, then dialog id).
    """

    metrics: tuple[Metric, ...] | None = None
    control: str = "control"
    treatment: str | tuple[str, ...] = "treatment"
    split: float | Mapping[str, float] = 0.5
    experiment: str = ""
    alpha: float = 0.05
    correction: Correction = "holm"
    secondary_correction: Correction = "bh"
    column_map: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    timestamp_unit: TimestampUnit = "auto"
    timezone: str = "UTC"
    unknown_variants: UnknownVariants = "error"
    crossover_max_share: float = 0.01
    srm_p: float = 0.001
    missing_p: float = 0.001
    primary: str = ""
    pre_period_log: str = ""
    pre_period_days: float = 28.0
    users_table: str = ""
    cuped: CupedUse = "decide"
    monitoring: Monitoring = field(default_factory=Monitoring)
    choice: ChoiceRule = "best_on_first_primary"
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_text("control", self.control)
        treatment, split = check_arms(self.control, self.treatment, self.split)
        object.__setattr__(self, "treatment", treatment)
        object.__setattr__(self, "split", split)
        if not isinstance(self.experiment, str):
            raise TypeError(f"experiment == {self.experiment!r}, must be a string ('' for one)")
        check_number("alpha", self.alpha, low=0.0, high=0.5)
        check_choice("correction", self.correction, get_args(Correction))
        check_choice("secondary_correction", self.secondary_correction, get_args(Correction))
        check_choice("timestamp_unit", self.timestamp_unit, get_args(TimestampUnit))
        check_time_zone("timezone", self.timezone)
        check_choice("unknown_variants", self.unknown_variants, get_args(UnknownVariants))
        check_number(
            "crossover_max_share", self.crossover_max_share, low=0.0, high=1.0, low_inclusive=True
        )
        check_number("srm_p", self.srm_p, low=0.0, high=1.0)
        check_number("missing_p", self.missing_p, low=0.0, high=1.0)
        _check_mapping("column_map", self.column_map, str)
        _check_mapping("columns", self.columns, ColumnRule)
        targets = list(self.column_map.values())
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"column_map maps several columns to {repeated}; each once only")
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(self.metrics))
            if not self.metrics:
                raise ValueError("metrics == [], the plan needs at least one metric")
            names = [m.name for m in self.metrics]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"metric name(s) {twice} appear more than once in the plan")
        if not isinstance(self.primary, str):
            raise TypeError(f"primary == {self.primary!r}, must be a metric name")
        for name in ("pre_period_log", "users_table"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} == {getattr(self, name)!r}, must be a path ('' for none)")
        check_number("pre_period_days", self.pre_period_days, low=0.0)
        check_choice("cuped", self.cuped, get_args(CupedUse))
        if not isinstance(self.monitoring, Monitoring):
            raise TypeError(f"monitoring == {self.monitoring!r}, must be a Monitoring")
        check_choice("choice", self.choice, get_args(ChoiceRule))
        if isinstance(self.segments, str) or not isinstance(self.segments, list | tuple):
            raise TypeError(
                f"segments == {shorten(self.segments)}, must be a list of column names, e.g. "
                "[intent, language]"
            )
        object.__setattr__(
            self,
            "segments",
            tuple(check_text(f"segments[{k}]", c) for k, c in enumerate(self.segments)),
        )
        if len(set(self.segments)) < len(self.segments):
            raise ValueError(f"segments == {list(self.segments)}: a column is listed twice")

    @property
    def candidates(self) -> tuple[str, ...]:
        """The candidate labels, in the plan's order (one for an A/B test)."""
        return (self.treatment,) if isinstance(self.treatment, str) else self.treatment

    @property
    def labels(self) -> tuple[str, ...]:
        """Every arm's label: the control first, then the candidates."""
        return (self.control, *self.candidates)

    @property
    def shares(self) -> tuple[float, ...]:
        """The planned share of users of each arm, in the order of :attr:`labels`."""
        if isinstance(self.split, Mapping):
            return tuple(float(self.split[label]) for label in self.labels)
        return (1.0 - self.split, float(self.split))

    def pair(self, candidate: str) -> ExperimentPlan:
        """The two-arm plan of the control and one candidate, with the candidate's share of
        the two arms' users as its split (what each many-to-one comparison reads).

        >>> plan = ExperimentPlan(treatment=("v1", "v2"),
        ...                       split={"control": 0.5, "v1": 0.25, "v2": 0.25})
        >>> plan.pair("v2").labels, round(plan.pair("v2").split, 4)
        (('control', 'v2'), 0.3333)
        """
        if candidate not in self.candidates:
            raise ValueError(f"candidate == {candidate!r}, not one of {list(self.candidates)}")
        shares = dict(zip(self.labels, self.shares, strict=True))
        split = shares[candidate] / (shares[self.control] + shares[candidate])
        return dataclasses.replace(self, treatment=candidate, split=split)

    def column_rule(self, column: str) -> ColumnRule:
        """The valid values of ``column``: the plan's rule, else the default, else any number."""
        return self.columns.get(column) or DEFAULT_COLUMN_RULES.get(column) or ColumnRule()

    def resolve(self, log_columns: Iterable[str]) -> ExperimentPlan:
        """The plan with its metrics fixed for a log with these (mapped) columns.

        Default metrics are those of :data:`DEFAULT_METRICS` whose columns the log has; a
        declared metric whose column is missing is an error. ``primary`` is applied, metric
        ``valid_range`` values become column rules, and a plan with no primary metric is an
        error (the decision would rest on nothing).

        Raises:
            ValueError: a metric's column is missing, ``primary`` names no metric, or no
                metric is primary.
        """
        present = set(log_columns)
        if self.metrics is None:
            metrics = default_metrics(present)
            left_out = [m for m in DEFAULT_METRICS if m not in metrics]
        else:
            metrics, left_out = list(self.metrics), []
            for metric in metrics:
                missing = [c for c in metric.columns if c not in present]
                if missing:
                    raise ValueError(
                        f"metric {metric.name!r} needs column(s) {missing}, which the log does "
                        f"not have; its columns are {sorted(present)} (map yours with "
                        "column_map)"
                    )
        absent = [c for c in self.segments if c not in present]
        if absent:
            raise ValueError(
                f"segments == {list(self.segments)}: column(s) {absent} not in the log; its "
                f"columns are {sorted(present)} (map yours with column_map)"
            )
        if self.primary:
            names = [m.name for m in metrics]
            if self.primary not in names:
                absent = next((m for m in left_out if m.name == self.primary), None)
                why = (
                    f": it needs column(s) {list(absent.columns)}, which the log lacks"
                    if absent
                    else ""
                )
                raise ValueError(
                    f"primary == {self.primary!r}, not a metric of this plan{why}; "
                    f"choose from {names}"
                )
            metrics = [
                dataclasses.replace(m, role="primary", margin=None)  # a guardrail's margin goes
                if m.name == self.primary
                else dataclasses.replace(m, role="secondary")
                if m.role == "primary"
                else m
                for m in metrics
            ]
        if not any(m.role == "primary" for m in metrics):
            lacking = [m for m in left_out if m.role == "primary"]
            why = (
                f"the default primary {lacking[0].name!r} needs column(s) "
                f"{list(lacking[0].columns)}, which the log lacks"
                if lacking
                else "no metric has role 'primary'"
            )
            raise ValueError(
                f"the plan has no primary metric: {why}. Name one of "
                f"{[m.name for m in metrics]} as primary (abkit analyze --primary NAME; "
                "primary: NAME in the plan file or experiment.yaml; primary=NAME in the API), or "
                "give a metric role: primary in the plan's metrics"
            )
        rules = dict(self.columns)
        for metric in metrics:
            # a judged metric's judge scores on the human label's scale: the same range
            for column in (metric.column, *((metric.judge,) if metric.judge else ())):
                rule = rules.get(column) or self.column_rule(column)
                if metric.valid_range is not None:
                    rule = dataclasses.replace(
                        rule, low=metric.valid_range[0], high=metric.valid_range[1]
                    )
                if metric.unit and metric.unit in get_args(ColumnUnit):  # ms or s: the unit gate
                    rule = dataclasses.replace(rule, unit=metric.unit)
                if rule != self.column_rule(column) or column in rules:
                    rules[column] = rule
        return dataclasses.replace(self, metrics=tuple(metrics), columns=rules, primary="")

    @property
    def n_primary(self) -> int:
        """Primary metrics in the decision family (the default catalogue has one)."""
        if self.metrics is None:
            return 1
        primaries = [m for m in self.metrics if m.role == "primary"]
        if self.primary and self.primary not in [m.name for m in primaries]:
            return 1
        return max(len(primaries), 1)

    @property
    def alpha_per_primary(self) -> float:
        """The level each primary test must be designed for: α/k for k primaries under Holm,
        Bonferroni or BH (the power to find one true effect among them is at least that of a
        test at α/k, which Holm's and BH's first step is), α with no correction. With several
        candidates, the per-comparison level of Dunnett's critical value for that α and the
        planned shares (:func:`abkit.stats.many_to_one.per_comparison_alpha`)."""
        level = self.alpha if self.correction == "none" else self.alpha / self.n_primary
        if len(self.candidates) == 1:
            return level
        from abkit.stats.many_to_one import per_comparison_alpha

        return per_comparison_alpha(self.shares, level)

    @property
    def sequential_alpha(self) -> float:
        """The level a sequential plan spends (group-sequential boundaries) or holds (always-valid
        sequences) for each comparison of a primary metric: α/m over m primaries under a
        correction (as :attr:`alpha_per_primary`), and with k candidates also α/k each
        (Bonferroni over the candidates: valid however the looks fall; Dunnett's correlation is
        not used across looks)."""
        level = self.alpha if self.correction == "none" else self.alpha / self.n_primary
        return level / len(self.candidates)

    @property
    def sized_pair(self) -> tuple[str, float, float]:
        """The comparison a design sizes: the candidate with the smallest planned share (it
        needs the most users), its share of the pair (the pair's split) and the pair's share
        of all users (the pair's users over this is the experiment's)."""
        shares = dict(zip(self.labels, self.shares, strict=True))
        smallest = min(self.candidates, key=lambda c: shares[c])
        pair = shares[self.control] + shares[smallest]
        return smallest, shares[smallest] / pair, pair

    def metrics_with_role(self, role: Role) -> list[Metric]:
        return [m for m in self.metrics or () if m.role == role]

    def check_sizable(self, label: str) -> None:
        """Refuse to size an experiment for a plan the analysis would refuse: declared metrics
        with no primary (the default catalogue has one)."""
        if self.metrics is not None and not self.primary and not self.metrics_with_role("primary"):
            raise ValueError(
                f"{label} has no primary metric, so the analysis would refuse it: give one "
                "metric role: primary (or primary: NAME) before sizing the experiment"
            )

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping that :func:`plan_from_dict` reads back (for YAML and summary.json)."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "metrics":
                value = None if value is None else [metric_to_dict(m) for m in value]
            elif item.name == "columns":
                value = {
                    k: {"range": [v.low, v.high], "integer": v.integer, "unit": v.unit}
                    for k, v in value.items()
                }
            elif item.name == "column_map":
                value = dict(value)
            elif item.name == "monitoring":
                value = dataclasses.asdict(value)
            elif item.name in ("treatment", "segments") and not isinstance(value, str):
                value = list(value)
            elif item.name == "split" and isinstance(value, Mapping):
                value = dict(value)
            out[item.name] = value
        return out


def _check_mapping(name: str, value: Any, kind: type) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} == {shorten(value)}, must be a mapping")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, kind):
            raise TypeError(
                f"{name}[{key!r}] == {item!r}, must map a column name to a {kind.__name__}"
            )


_PLAN_KEYS = {item.name for item in dataclasses.fields(ExperimentPlan)}


def plan_from_dict(spec: Mapping[str, Any], **overrides: Any) -> ExperimentPlan:
    """Build a plan from a mapping (parsed YAML); ``overrides`` win over ``spec``.

    ``metrics`` may be ``"default"`` (or absent) for the default catalogue; ``columns`` maps a
    column to ``{range: [low, high], integer: bool, unit: str}``.

    Raises:
        ValueError / TypeError: unknown keys or invalid values, named.

    Examples:
        >>> plan = plan_from_dict({"split": 0.2, "primary": "csat"})
        >>> plan.split, plan.primary, plan.metrics is None
        (0.2, 'csat', True)
        >>> plan_from_dict({"splt": 0.2})
        Traceback (most recent call last):
        ...
        ValueError: plan: unknown key(s) ['splt']; allowed: ['alpha', 'choice', 'column_map', \
'columns', 'control', 'correction', 'crossover_max_share', 'cuped', 'experiment', 'metrics', \
'missing_p', 'monitoring', 'pre_period_days', 'pre_period_log', 'primary', \
'secondary_correction', 'segments', 'split', 'srm_p', 'timestamp_unit', 'timezone', \
'treatment', 'unknown_variants', 'users_table']
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"plan == {shorten(spec)}, must be a mapping of plan settings")
    merged = {**spec, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - _PLAN_KEYS)
    if unknown:
        raise ValueError(f"plan: unknown key(s) {unknown}; allowed: {sorted(_PLAN_KEYS)}")
    metrics = merged.get("metrics")
    if metrics is None or metrics == "default":
        merged["metrics"] = None
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        merged["metrics"] = tuple(
            m if isinstance(m, Metric) else metric_from_dict(m, i) for i, m in enumerate(metrics)
        )
    else:
        raise TypeError(
            f"plan metrics == {shorten(metrics)}, must be 'default' or a list of metrics"
        )
    columns = merged.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise TypeError(f"plan columns == {shorten(columns)}, must map column names to rules")
    rules = {}
    for name, rule in columns.items():
        if isinstance(rule, ColumnRule):
            rules[name] = rule
            continue
        if not isinstance(rule, Mapping) or set(rule) - {"range", "integer", "unit"}:
            raise ValueError(
                f"plan columns[{name!r}] == {shorten(rule)}, must be a mapping with range, "
                "integer, unit"
            )
        where = f"plan columns[{name!r}]"
        pair = rule.get("range", (-math.inf, math.inf))
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{where}: range == {pair!r}, must be [low, high]")
        integer, unit = rule.get("integer", False), rule.get("unit", "")
        if not isinstance(integer, bool):
            raise TypeError(f"{where}: integer == {integer!r}, must be true or false")
        check_choice(f"{where}: unit", unit, get_args(ColumnUnit))
        low, high = (yaml_number(f"{where}: range", v) for v in pair)
        check_range(f"{where}: range", low, high)
        rules[name] = ColumnRule(low, high, integer, unit)
    merged["columns"] = rules
    merged["column_map"] = dict(merged.get("column_map") or {})
    merged["monitoring"] = monitoring_from_dict(merged.get("monitoring"))
    return ExperimentPlan(**merged)


# Sections an experiment file (experiment.yaml, abkit.experiment.file) holds beside ``plan:``.
EXPERIMENT_SECTIONS = ("name", "plan", "inputs", "design", "judging")


def read_plan_spec(path: str | Path) -> dict[str, Any]:
    """The settings a plan file declares (its top level, or the ``plan:`` section of an
    experiment file), checked by building the plan; only the keys the file writes, so a default
    is never mistaken for a declaration.

    In an experiment file the covariate sources (``pre_period_log``, ``users_table``) are
    inputs: they are read from its ``inputs:`` section. Paths are relative to the file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the YAML cannot be read (duplicate keys and aliases are refused:
            :func:`abkit.core.params.load_yaml`), holds invalid settings, or holds sections that are
            not an experiment file's beside ``plan:``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"plan == '{path}': no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"plan == '{path}' is not UTF-8 text: re-save it as UTF-8") from None
    spec = load_yaml(text, f"plan == '{path}'")
    if isinstance(spec, Mapping) and any(
        isinstance(k, str) and k[:3].rstrip("_").isdigit() for k in spec
    ):
        raise ValueError(
            f"plan == '{path}' is a params.yaml of an older abkit (one section per notebook); "
            f"convert its folder with: abkit new NAME --from {path}"
        )
    inputs: Mapping[str, Any] = {}
    if isinstance(spec, Mapping) and "plan" in spec:
        beside = sorted(set(spec) - set(EXPERIMENT_SECTIONS), key=str)
        if beside:
            raise ValueError(
                f"plan == '{path}': unknown key(s) {beside} beside plan:; an experiment file "
                f"holds only {list(EXPERIMENT_SECTIONS)}"
            )
        inputs = spec.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise TypeError(f"{path}: inputs == {shorten(inputs)}, must be a mapping")
        spec = spec["plan"]
    spec = {} if spec is None else spec
    plan_from_dict(spec)
    spec = dict(spec)
    for key in COVARIATE_PATHS:
        if inputs.get(key):
            if spec.get(key):
                raise ValueError(
                    f"{path}: {key} is given under plan: and under inputs:; give it under inputs:"
                )
            spec[key] = check_text(f"{path}: inputs {key}", inputs[key])
    for key in COVARIATE_PATHS:  # relative to the plan file, wherever it is read from
        if isinstance(spec.get(key), str) and spec[key] and not Path(spec[key]).is_absolute():
            spec[key] = str((path.parent / spec[key]).resolve())
    return spec


def plan_with_parameters(
    declared: Mapping[str, Any],
    parameters: Mapping[str, Any],
    defaults: Mapping[str, Any],
    source: str = "the plan",
) -> dict[str, Any]:
    """A notebook's flat parameters merged into what a plan declares.

    A parameter fills in what the plan leaves out; one changed from its template default
    overrides the plan only where the plan says the same, and is an error where the plan says
    otherwise (never a silent choice between the two).

    Examples:
        >>> plan_with_parameters({"split": 0.2}, {"split": 0.2, "alpha": 0.05},
        ...                      {"split": 0.2, "alpha": 0.05})
        {'split': 0.2, 'alpha': 0.05}
        >>> plan_with_parameters({"split": 0.2}, {"split": 0.5}, {"split": 0.2})
        Traceback (most recent call last):
        ...
        ValueError: split == 0.5 (parameter) but the plan says 0.2; set it in one place
    """
    merged = dict(declared)
    for name, value in parameters.items():
        changed = value != defaults.get(name)
        if name in declared and changed and declared[name] != value:
            raise ValueError(
                f"{name} == {shorten(value)} (parameter) but {source} says "
                f"{shorten(declared[name])}; set it in one place"
            )
        if name not in declared or changed:
            merged[name] = value
    return merged


def load_plan(source: str | Path | Mapping[str, Any] | None, **overrides: Any) -> ExperimentPlan:
    """A plan from a YAML file (its top level, or its ``plan:`` section), a mapping, or None.

    ``overrides`` (keyword arguments set to None are ignored) win over the file: the CLI's
    ``--split``, ``--primary``, ``--experiment`` ...

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the YAML cannot be read or holds invalid settings.
    """
    return plan_from_dict(plan_spec(source), **overrides)


def plan_spec(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings ``source`` declares (a file: :func:`read_plan_spec`; a mapping, or its
    ``plan:`` section; None: nothing), so a caller can tell a declared value from a default."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source.get("plan", source) if "plan" in source else source)
    return read_plan_spec(source)
