"""The experiment plan: what an experiment declares before its data are seen.

One frozen :class:`ExperimentPlan` is read by notebook 01 (the sample size for the plan's
decision family), notebook 03, ``abkit analyze`` and :func:`abkit.analysis.analyze` alike:
variant labels, planned split, which experiment's rows to read, the column map, α, the
corrections, the health-gate thresholds and the metrics. A :class:`Metric` names its kind, the
columns it is built from, its role, direction, valid range and, for a guardrail, its margin.

Plans are written in YAML (a plan file, or the ``plan:`` section of an experiment's
``params.yaml``) and need no code::

    experiment: support-bot-v2
    split: 0.2
    primary: csat                      # shortcut: make this metric the (only) primary
    metrics: default                   # the default catalogue; or a list of metrics:
    #  - {name: csat, kind: ratio, column: csat, role: primary, valid_range: [1, 5]}
    #  - {name: p95, kind: quantile, column: latency_ms, quantile: 0.95, role: guardrail,
    #     margin: 0.1, direction: decrease, unit: ms}

The decision family (see :mod:`abkit.analysis`): ``correction`` runs over the primary metrics
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

import yaml

from abkit.params import check_choice, check_number, check_text
from abkit.stats import Correction

__all__ = [
    "DEFAULT_COLUMN_RULES",
    "DEFAULT_METRICS",
    "ColumnRule",
    "Correction",
    "ExperimentPlan",
    "Kind",
    "Metric",
    "Role",
    "default_metrics",
    "load_plan",
    "plan_with_parameters",
    "read_plan_spec",
    "metrics_by_name",
    "plan_from_dict",
]

Kind = Literal["ratio", "user_proportion", "user_mean", "quantile"]
Role = Literal["primary", "secondary", "guardrail", "monitor"]
Direction = Literal["increase", "decrease"]
UnknownVariants = Literal["error", "ignore"]
TimestampUnit = Literal["auto", "s", "ms"]

# The columns every dialog log must have, after the column map.
REQUIRED_COLUMNS = ("dialog_id", "user_id", "variant", "timestamp")


@dataclass(frozen=True)
class ColumnRule:
    """What values a log column may hold: a closed range, whole numbers or not, and its unit.

    NaN and infinities are never valid. ``unit`` ``"ms"`` or ``"s"`` switches on the
    unit-sanity gate (a latency in ms whose median looks like seconds, or the reverse).
    """

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int | float) and isinstance(self.high, int | float)):
            raise TypeError(f"range == [{self.low!r}, {self.high!r}], must be two numbers")
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ValueError(f"range == [{self.low!r}, {self.high!r}], must have low <= high")

    def describe(self) -> str:
        kind = "whole numbers" if self.integer else "numbers"
        return f"{kind} in [{self.low:g}, {self.high:g}]"


_FLAG = ColumnRule(0, 1, integer=True)
_COUNT = ColumnRule(0, math.inf, integer=True)
# Valid values of the standard dialog-log columns (data/README.md); a plan may override them.
DEFAULT_COLUMN_RULES: dict[str, ColumnRule] = {
    "completed": _FLAG,
    "escalated": _FLAG,
    "returned_7d": _FLAG,
    "error": _FLAG,
    "turns": _COUNT,
    "likes": _COUNT,
    "dislikes": _COUNT,
    "csat": ColumnRule(1, 5),
    "latency_ms": ColumnRule(0, math.inf, unit="ms"),
    "tokens_out": ColumnRule(0, math.inf),
}


@dataclass(frozen=True)
class Metric:
    """One metric of the plan.

    Attributes:
        name: label in the results table.
        kind: ``ratio``: Σ numerator / Σ denominator over dialogs, users randomized (delta
            method); ``user_proportion``: share of users whose column is ever > 0;
            ``user_mean``: per-user sum of the column, averaged over users (Welch);
            ``quantile``: a quantile of the dialog-level column (cluster-adjusted variance).
        column: the log column measured (the numerator of a ratio).
        denominator: ratio metrics: the columns whose sum is the denominator; empty means one
            per dialog whose ``column`` is known. Dialogs missing any of the metric's columns
            leave both numerator and denominator (missing is never 0).
        quantile: the level, for ``kind == "quantile"``, in (0, 1).
        role: primary (the decision rests on it), secondary (reported), guardrail (must not be
            worse than its margin), monitor (reported only).
        higher_is_better: direction of improvement.
        margin: guardrails: how much worse the treatment may be (non-inferiority margin).
        relative_margin: read ``margin`` as a share of the control value (0.1 = 10 % worse).
        valid_range: (low, high) allowed for ``column``; default from
            :data:`DEFAULT_COLUMN_RULES`, else any finite number.
        unit: unit of the value, for tables ("ms", "tokens"); "ms" / "s" also enable the
            unit-sanity gate.
        ordinal: also run a Mann–Whitney test on per-user means (for CSAT-like scales).
        description: one line for tables and reports.
    """

    name: str
    kind: Kind
    column: str
    denominator: tuple[str, ...] = ()
    quantile: float | None = None
    role: Role = "secondary"
    higher_is_better: bool = True
    margin: float | None = None
    relative_margin: bool = True
    valid_range: tuple[float, float] | None = None
    unit: str = ""
    ordinal: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_text("metric name", self.name)
        check_choice(f"metric {self.name!r}: kind", self.kind, get_args(Kind))
        check_choice(f"metric {self.name!r}: role", self.role, get_args(Role))
        check_text(f"metric {self.name!r}: column", self.column)
        if isinstance(self.denominator, str):
            object.__setattr__(self, "denominator", (self.denominator,))
        for column in self.denominator:
            check_text(f"metric {self.name!r}: denominator column", column)
        if self.denominator and self.kind != "ratio":
            raise ValueError(
                f"metric {self.name!r}: denominator == {list(self.denominator)}, only a ratio "
                "metric has one"
            )
        if self.kind == "quantile":
            if self.quantile is None:
                raise ValueError(
                    f"metric {self.name!r}: a quantile metric needs quantile in (0, 1)"
                )
            check_number(f"metric {self.name!r}: quantile", self.quantile, low=0.0, high=1.0)
        elif self.quantile is not None:
            raise ValueError(
                f"metric {self.name!r}: quantile == {self.quantile!r}, only for kind 'quantile'"
            )
        if self.role == "guardrail":
            if self.margin is None:
                raise ValueError(f"metric {self.name!r}: a guardrail needs a margin")
            check_number(f"metric {self.name!r}: margin", self.margin, low=0.0, low_inclusive=True)
        if self.valid_range is not None:
            low, high = self.valid_range
            ColumnRule(low, high)  # checks the pair
            object.__setattr__(self, "valid_range", (float(low), float(high)))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every log column the metric reads."""
        return (self.column, *self.denominator)


def _metric(name: str, kind: Kind, column: str, description: str, **options: Any) -> Metric:
    return Metric(name, kind, column, description=description, **options)


DEFAULT_METRICS: tuple[Metric, ...] = (
    _metric(
        "task_completion",
        "ratio",
        "completed",
        "share of dialogs solved without escalation",
        role="primary",
    ),
    _metric(
        "escalation_rate",
        "ratio",
        "escalated",
        "share of dialogs handed to a human",
        higher_is_better=False,
    ),
    _metric("csat", "ratio", "csat", "mean satisfaction (1-5) per rated dialog", ordinal=True),
    _metric(
        "turns",
        "ratio",
        "turns",
        "user messages per dialog (time to value)",
        higher_is_better=False,
    ),
    _metric(
        "like_rate",
        "ratio",
        "likes",
        "likes per rated response (explicit preference)",
        denominator=("likes", "dislikes"),
    ),
    _metric(
        "return_7d",
        "user_proportion",
        "returned_7d",
        "share of users who came back within 7 days (implicit preference)",
    ),
    _metric(
        "error_rate",
        "ratio",
        "error",
        "share of dialogs with a failed model call; may rise by 1 point at most",
        higher_is_better=False,
        role="guardrail",
        margin=0.01,
        relative_margin=False,
    ),
    *(
        _metric(
            f"latency_p{level}",
            "quantile",
            "latency_ms",
            f"{['median', '95th percentile', '99th percentile'][k]} latency"
            + ("; may rise by 10 % at most" if level == 95 else ""),
            quantile=level / 100,
            higher_is_better=False,
            role="guardrail" if level == 95 else "monitor",
            margin=0.10 if level == 95 else None,
            unit="ms",
        )
        for k, level in enumerate((50, 95, 99))
    ),
    _metric(
        "tokens_per_dialog",
        "ratio",
        "tokens_out",
        "tokens generated per dialog (cost)",
        higher_is_better=False,
        role="monitor",
        unit="tokens",
    ),
    _metric(
        "cost_per_success",
        "ratio",
        "tokens_out",
        "tokens generated per successfully completed task",
        denominator=("completed",),
        higher_is_better=False,
        role="monitor",
        unit="tokens",
    ),
)


@dataclass(frozen=True)
class ExperimentPlan:
    """Everything an analysis needs to know that is not in the log.

    Attributes:
        metrics: the metrics; ``None`` means the default catalogue, restricted to the metrics
            whose columns the log has (see :meth:`resolve`).
        control, treatment: the variant labels compared.
        split: planned treatment share of users (SRM check, design).
        experiment: read only rows whose ``experiment`` column equals this; "" when the log
            holds one experiment (a log holding several is then an error).
        alpha: two-sided level of each family; one-sided level of each guardrail.
        correction: multiple-testing correction over the primary metrics (the decision).
        secondary_correction: the same over the secondary metrics (reported only).
        column_map: your column name -> the dialog log's, e.g. ``{"customer_id": "user_id"}``.
        columns: valid values per column, over :data:`DEFAULT_COLUMN_RULES`.
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
    """

    metrics: tuple[Metric, ...] | None = None
    control: str = "control"
    treatment: str = "treatment"
    split: float = 0.5
    experiment: str = ""
    alpha: float = 0.05
    correction: Correction = "holm"
    secondary_correction: Correction = "bh"
    column_map: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)
    timestamp_unit: TimestampUnit = "auto"
    unknown_variants: UnknownVariants = "error"
    crossover_max_share: float = 0.01
    srm_p: float = 0.001
    missing_p: float = 0.001
    primary: str = ""

    def __post_init__(self) -> None:
        check_text("control", self.control)
        check_text("treatment", self.treatment)
        if self.control == self.treatment:
            raise ValueError(
                f"control == treatment == {self.control!r}, compare two different variants"
            )
        check_number("split", self.split, low=0.0, high=1.0)
        if not isinstance(self.experiment, str):
            raise TypeError(f"experiment == {self.experiment!r}, must be a string ('' for one)")
        check_number("alpha", self.alpha, low=0.0, high=0.5)
        check_choice("correction", self.correction, get_args(Correction))
        check_choice("secondary_correction", self.secondary_correction, get_args(Correction))
        check_choice("timestamp_unit", self.timestamp_unit, get_args(TimestampUnit))
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

    @property
    def labels(self) -> tuple[str, str]:
        return (self.control, self.treatment)

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
                dataclasses.replace(m, role="primary")
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
                f"the plan has no primary metric: {why}. Name one with primary "
                f"(one of {[m.name for m in metrics]}) or declare the plan's metrics"
            )
        rules = dict(self.columns)
        for metric in metrics:
            rule = rules.get(metric.column) or self.column_rule(metric.column)
            if metric.valid_range is not None:
                rule = dataclasses.replace(
                    rule, low=metric.valid_range[0], high=metric.valid_range[1]
                )
            if metric.unit in ("ms", "s"):
                rule = dataclasses.replace(rule, unit=metric.unit)
            if rule != self.column_rule(metric.column) or metric.column in rules:
                rules[metric.column] = rule
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
        test at α/k, which Holm's and BH's first step is), α with no correction."""
        return self.alpha if self.correction == "none" else self.alpha / self.n_primary

    def metrics_with_role(self, role: Role) -> list[Metric]:
        return [m for m in self.metrics or () if m.role == role]

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping that :func:`plan_from_dict` reads back (for YAML and summary.json)."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "metrics":
                value = None if value is None else [_metric_to_dict(m) for m in value]
            elif item.name == "columns":
                value = {
                    k: {"range": [v.low, v.high], "integer": v.integer, "unit": v.unit}
                    for k, v in value.items()
                }
            elif item.name == "column_map":
                value = dict(value)
            out[item.name] = value
        return out


def _check_mapping(name: str, value: Any, kind: type) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} == {value!r}, must be a mapping")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, kind):
            raise TypeError(
                f"{name}[{key!r}] == {item!r}, must map a column name to a {kind.__name__}"
            )


def _metric_to_dict(metric: Metric) -> dict[str, Any]:
    out = {}
    for item in dataclasses.fields(metric):
        value = getattr(metric, item.name)
        if value != item.default:
            out[item.name] = list(value) if isinstance(value, tuple) else value
    return out


_METRIC_KEYS = {item.name for item in dataclasses.fields(Metric)} | {"direction"}
_PLAN_KEYS = {item.name for item in dataclasses.fields(ExperimentPlan)}


def _metric_from_dict(spec: Any, index: int) -> Metric:
    where = f"plan metrics[{index}]"
    if not isinstance(spec, Mapping):
        raise TypeError(f"{where} == {spec!r}, must be a mapping with name, kind, column ...")
    unknown = sorted(set(spec) - _METRIC_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_METRIC_KEYS)}")
    options = dict(spec)
    for key in ("name", "kind", "column"):
        if key not in options:
            raise ValueError(f"{where} == {dict(spec)!r}: missing {key!r}")
    if "direction" in options:
        direction = check_choice(
            f"{where}: direction", options.pop("direction"), get_args(Direction)
        )
        options["higher_is_better"] = direction == "increase"
    for key in ("denominator", "valid_range"):
        if isinstance(options.get(key), list):
            options[key] = tuple(options[key])
    if "valid_range" in options and options["valid_range"] is not None:
        pair = options["valid_range"]
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"{where}: valid_range == {pair!r}, must be [low, high]")
        options["valid_range"] = tuple(_yaml_number(f"{where}: valid_range", v) for v in pair)
    return Metric(**options)


def _yaml_number(name: str, value: Any) -> float:
    """YAML writes infinity as .inf; also accept the strings 'inf' / '-inf'."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", ".inf", "-.inf"):
        return -math.inf if value.strip().startswith("-") else math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} == {value!r}, must be a number")
    return float(value)


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
        ValueError: plan: unknown key(s) ['splt']; allowed: ['alpha', 'column_map', 'columns', \
'control', 'correction', 'crossover_max_share', 'experiment', 'metrics', 'missing_p', \
'primary', 'secondary_correction', 'split', 'srm_p', 'timestamp_unit', 'treatment', \
'unknown_variants']
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"plan == {spec!r}, must be a mapping of plan settings")
    merged = {**spec, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - _PLAN_KEYS)
    if unknown:
        raise ValueError(f"plan: unknown key(s) {unknown}; allowed: {sorted(_PLAN_KEYS)}")
    metrics = merged.get("metrics")
    if metrics is None or metrics == "default":
        merged["metrics"] = None
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        merged["metrics"] = tuple(
            m if isinstance(m, Metric) else _metric_from_dict(m, i) for i, m in enumerate(metrics)
        )
    else:
        raise TypeError(f"plan metrics == {metrics!r}, must be 'default' or a list of metrics")
    columns = merged.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise TypeError(f"plan columns == {columns!r}, must map column names to rules")
    rules = {}
    for name, rule in columns.items():
        if isinstance(rule, ColumnRule):
            rules[name] = rule
            continue
        if not isinstance(rule, Mapping) or set(rule) - {"range", "integer", "unit"}:
            raise ValueError(
                f"plan columns[{name!r}] == {rule!r}, must be a mapping with range, integer, unit"
            )
        low, high = rule.get("range", (-math.inf, math.inf))
        rules[name] = ColumnRule(
            _yaml_number(f"columns[{name!r}] range", low),
            _yaml_number(f"columns[{name!r}] range", high),
            bool(rule.get("integer", False)),
            str(rule.get("unit", "")),
        )
    merged["columns"] = rules
    merged["column_map"] = dict(merged.get("column_map") or {})
    return ExperimentPlan(**merged)


def read_plan_spec(path: str | Path) -> dict[str, Any]:
    """The settings a plan file declares (its top level, or its ``plan:`` section), checked by
    building the plan; only the keys the file writes, so a default is never mistaken for a
    declaration.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the YAML cannot be read or holds invalid settings.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"plan == '{path}': no such file")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"plan == '{path}': not valid YAML ({error})".replace("\n", " ")) from None
    if isinstance(spec, Mapping) and "plan" in spec:
        spec = spec["plan"]
    spec = {} if spec is None else spec
    plan_from_dict(spec)
    return dict(spec)


def plan_with_parameters(
    declared: Mapping[str, Any], parameters: Mapping[str, Any], defaults: Mapping[str, Any]
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
                f"{name} == {value!r} (parameter) but the plan says {declared[name]!r}; "
                "set it in one place"
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
    if source is None:
        return plan_from_dict({}, **overrides)
    if isinstance(source, Mapping):
        spec = source.get("plan", source) if "plan" in source else source
        return plan_from_dict(spec, **overrides)
    return plan_from_dict(read_plan_spec(source), **overrides)


def default_metrics(columns: Iterable[str]) -> list[Metric]:
    """The default metrics whose columns a log has (a standard log names no metric at all)."""
    present = set(columns)
    return [metric for metric in DEFAULT_METRICS if set(metric.columns) <= present]


def metrics_by_name(
    names: Sequence[str], available: Sequence[Metric] = DEFAULT_METRICS
) -> list[Metric]:
    """Pick metrics by name from ``available``; an unknown name is an error listing the options.

    Examples:
        >>> [m.kind for m in metrics_by_name(["task_completion", "latency_p95"])]
        ['ratio', 'quantile']
    """
    known = {metric.name: metric for metric in available}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"metrics == {list(names)}: unknown {unknown}, choose from {list(known)}")
    return [known[name] for name in names]
