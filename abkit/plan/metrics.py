"""Metric declarations: what a metric is built from, its role and valid values; the default
catalogue of the standard dialog log.

A :class:`Metric` names its kind, the columns it is built from, its role, direction, valid range
and, for a guardrail, its margin; :class:`ColumnRule` says what values a column may hold. How a
kind is aggregated and tested is :mod:`abkit.analysis.metric_kinds`; the plan that holds the
metrics is
:mod:`abkit.plan.experiment_plan`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from abkit.core.params import check_choice, check_number, check_text, shorten

__all__ = [
    "Cap",
    "DEFAULT_COLUMN_RULES",
    "DEFAULT_METRICS",
    "PRE_PERIOD",
    "REQUIRED_COLUMNS",
    "ColumnRule",
    "Kind",
    "Metric",
    "Role",
    "default_metrics",
    "metric_from_dict",
    "metric_to_dict",
    "metrics_by_name",
]

Kind = Literal["ratio", "user_proportion", "user_mean", "quantile", "judged"]
Role = Literal["primary", "secondary", "guardrail", "monitor"]
Direction = Literal["increase", "decrease"]

# A metric's covariate "pre_period": the same metric over each user's pre-period dialogs.
PRE_PERIOD = "pre_period"
# The columns every dialog log must have, after the column map.
REQUIRED_COLUMNS = ("dialog_id", "user_id", "variant", "timestamp")


# A column rule's unit: "ms" or "s" switch on the unit-sanity gate; "" is none.
ColumnUnit = Literal["", "ms", "s"]


def check_range(name: str, low: Any, high: Any) -> None:
    """Refuse a [low, high] pair that is not two numbers with low <= high (NaN is neither)."""
    if not (isinstance(low, int | float) and isinstance(high, int | float)):
        raise TypeError(f"{name} == [{low!r}, {high!r}], must be two numbers")
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"{name} == [{low!r}, {high!r}], must have low <= high")


@dataclass(frozen=True)
class ColumnRule:
    """What values a log column may hold: a closed range, whole numbers or not, and its unit.

    NaN and infinities are never valid. ``unit`` ``"ms"`` or ``"s"`` switches on the
    unit-sanity gate (a latency in ms whose median looks like seconds, or the reverse).
    """

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False
    unit: ColumnUnit = ""

    def __post_init__(self) -> None:
        check_range("range", self.low, self.high)
        check_choice("unit", self.unit, get_args(ColumnUnit))

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
    # columns of logs ingested from traces (abkit.ingest.otel)
    "tokens_in": ColumnRule(0, math.inf),
    "ttft_ms": ColumnRule(0, math.inf, unit="ms"),
    "cost": ColumnRule(0, math.inf),
    # an LLM judge's verdict on every dialog and a human's on a random subset
    # (abkit.judging.pairwise)
    "judge_helpful": ColumnRule(0, 1),
    "human_helpful": ColumnRule(0, 1),
}


@dataclass(frozen=True)
class Cap:
    """Winsorizing of a metric's per-user sums: each user's sum (a ratio's numerator and
    denominator separately) is limited to the ``upper`` and raised to the ``lower`` quantile
    (linear interpolation) of the users' sums over every arm pooled, before CUPED; None leaves
    that side open. The estimand changes with it: the memo says so, with the users capped.

    >>> Cap(upper=0.99)
    Cap(upper=0.99, lower=None)
    """

    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        for side in ("upper", "lower"):
            value = getattr(self, side)
            if value is not None:
                check_number(f"cap {side}", value, low=0.0, high=1.0)
        if self.upper is None and self.lower is None:
            raise ValueError("cap == {}: give upper and/or lower, e.g. {upper: 0.99}")
        if self.upper is not None and self.lower is not None and self.lower >= self.upper:
            raise ValueError(f"cap lower == {self.lower!r} must be below upper == {self.upper!r}")

    def describe(self) -> str:
        """Words for tables: "capped at P99", "capped at P1 and P99"."""
        sides = [f"P{100 * q:g}" for q in (self.lower, self.upper) if q is not None]
        return "capped at " + " and ".join(sides)


@dataclass(frozen=True)
class Metric:
    """One metric of the plan.

    Attributes:
        name: label in the results table.
        kind: ``ratio``: Σ numerator / Σ denominator over dialogs, users randomized (delta
            method); ``user_proportion``: share of users whose column is ever > 0;
            ``user_mean``: per-user sum of the column, averaged over users (Welch);
            ``quantile``: a quantile of the dialog-level column (cluster-adjusted variance);
            ``judged``: the mean human label per dialog, estimated from an LLM judge's score on
            every dialog and human labels on a random subset (prediction-powered inference,
            users as the unit; :func:`abkit.stats.ppi.ppi_clustered`).
        column: the log column measured (the numerator of a ratio; for ``judged``, the human
            label, missing on the dialogs nobody labeled).
        judge: ``judged`` metrics: the column of the judge's score, on the label's scale.
        judge_model: ``judged`` metrics: the judge's model and version (e.g.
            ``gpt-4o-2024-08-06``), shown in the memo beside the results it produced.
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
        covariate: CUPED (variance reduction, :mod:`abkit.stats.cuped`): ``"pre_period"`` for the
            same metric over each user's dialogs in the pre-period log (the plan's
            ``pre_period_days`` before their first exposure), or a column of the users table
            (a per-user value measured before exposure). Users with no history get an
            indicator covariate, never dropped. Not for quantile metrics.
        cap: ratio and user_mean metrics: winsorize each user's sums (:class:`Cap`), e.g.
            ``{upper: 0.99}`` for a heavy-tailed cost or token count.
    """

    name: str
    kind: Kind
    column: str
    denominator: tuple[str, ...] = ()
    judge: str = ""
    judge_model: str = ""
    quantile: float | None = None
    role: Role = "secondary"
    higher_is_better: bool = True
    margin: float | None = None
    relative_margin: bool = True
    valid_range: tuple[float, float] | None = None
    unit: str = ""
    ordinal: bool = False
    description: str = ""
    covariate: str = ""
    cap: Cap | None = None

    def __post_init__(self) -> None:
        check_text("metric name", self.name)
        for item in dataclasses.fields(self):  # 'false' written as text would read as true
            value = getattr(self, item.name)
            if item.type == "bool" and not isinstance(value, bool):
                raise TypeError(
                    f"metric {self.name!r}: {item.name} == {shorten(value)}, must be true or false"
                )
            if item.type == "str" and not isinstance(value, str):
                raise TypeError(
                    f"metric {self.name!r}: {item.name} == {shorten(value)}, must be text"
                )
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
        if self.kind == "judged":
            check_text(f"metric {self.name!r}: judge (the judge's score column)", self.judge)
            if self.judge == self.column:
                raise ValueError(
                    f"metric {self.name!r}: judge == column == {self.column!r}; the judge's score "
                    "and the human label must be two columns"
                )
        elif self.judge or self.judge_model:
            raise ValueError(
                f"metric {self.name!r}: judge == {self.judge!r}, judge_model == "
                f"{self.judge_model!r}: only a 'judged' metric has a judge"
            )
        if not isinstance(self.judge_model, str):
            raise TypeError(f"metric {self.name!r}: judge_model == {self.judge_model!r}, text")
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
            if self.relative_margin and self.margin > 1:
                raise ValueError(
                    f"metric {self.name!r}: margin == {self.margin!r} with relative_margin "
                    f"true lets the treatment be {self.margin:.0%} worse, which no guardrail "
                    "means: a relative margin is a share, 0.1 for 10 %; or set relative_margin: "
                    "false for a margin in the metric's units"
                )
            if not self.relative_margin and self.valid_range is not None:
                width = float(self.valid_range[1]) - float(self.valid_range[0])
                if self.margin >= width:
                    raise ValueError(
                        f"metric {self.name!r}: margin == {self.margin!r} is at least the width "
                        f"of its valid_range {list(self.valid_range)}, so the guardrail could "
                        "never fail; give a margin in the metric's units, smaller than that"
                    )
        if not isinstance(self.covariate, str):
            raise TypeError(
                f"metric {self.name!r}: covariate == {self.covariate!r}, must be "
                f"{PRE_PERIOD!r} or a column of the users table"
            )
        if self.covariate and self.kind in ("quantile", "judged"):
            raise ValueError(
                f"metric {self.name!r}: covariate == {self.covariate!r}, but CUPED is for "
                f"ratio, user_mean and user_proportion metrics, not {self.kind} ones"
            )
        if isinstance(self.cap, Mapping):
            allowed = {"upper", "lower"}
            if set(self.cap) - allowed:
                raise ValueError(
                    f"metric {self.name!r}: cap == {dict(self.cap)!r}, keys must be "
                    f"{sorted(allowed)}"
                )
            object.__setattr__(self, "cap", Cap(**self.cap))
        if self.cap is not None:
            if not isinstance(self.cap, Cap):
                raise TypeError(f"metric {self.name!r}: cap == {self.cap!r}, must be {{upper: q}}")
            if self.kind not in ("ratio", "user_mean"):
                raise ValueError(
                    f"metric {self.name!r}: cap is for ratio and user_mean metrics (per-user "
                    f"sums), not {self.kind} ones"
                )
        if self.valid_range is not None:
            low, high = self.valid_range
            check_range(f"metric {self.name!r}: valid_range", low, high)
            object.__setattr__(self, "valid_range", (float(low), float(high)))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every log column the metric reads."""
        return (self.column, *self.denominator, *((self.judge,) if self.judge else ()))


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
        "helpfulness",
        "judged",
        "human_helpful",
        "share of dialogs a human rates helpful, from an LLM judge on every dialog and human "
        "labels on a random subset (prediction-powered)",
        judge="judge_helpful",
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
    # logs ingested from traces (abkit.ingest.otel) also carry time to first chunk and money
    _metric(
        "time_to_first_chunk",
        "ratio",
        "ttft_ms",
        "mean time to the first streamed chunk per streaming dialog",
        higher_is_better=False,
        role="monitor",
        unit="ms",
    ),
    _metric(
        "cost_per_dialog",
        "ratio",
        "cost",
        "model cost per dialog, in the price table's currency",
        higher_is_better=False,
        role="monitor",
    ),
    _metric(
        "cost_per_resolved_task",
        "ratio",
        "cost",
        "model cost per task completed, in the price table's currency",
        denominator=("completed",),
        higher_is_better=False,
        role="monitor",
    ),
)


def metric_to_dict(metric: Metric) -> dict[str, Any]:
    out = {}
    for item in dataclasses.fields(metric):
        value = getattr(metric, item.name)
        if value != item.default:
            if isinstance(value, Cap):
                value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
            out[item.name] = list(value) if isinstance(value, tuple) else value
    if metric.role != "guardrail":  # a margin left from a guardrail made primary means nothing
        out.pop("margin", None)
        out.pop("relative_margin", None)
    return out


_METRIC_KEYS = {item.name for item in dataclasses.fields(Metric)} | {"direction"}


def metric_from_dict(spec: Any, index: int) -> Metric:
    where = f"plan metrics[{index}]"
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"{where} == {shorten(spec)}, must be a mapping with name, kind, column ..."
        )
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
        options["valid_range"] = tuple(yaml_number(f"{where}: valid_range", v) for v in pair)
    metric = Metric(**options)
    if metric.margin is not None and metric.role != "guardrail":
        raise ValueError(
            f"{where}: metric {metric.name!r} has margin == {metric.margin!r}, but only a "
            f"guardrail has a margin (a non-inferiority test) and its role is {metric.role!r}; "
            "make it a guardrail or drop the margin"
        )
    return metric


def yaml_number(name: str, value: Any) -> float:
    """YAML writes infinity as .inf; also accept the strings 'inf' / '-inf'."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", ".inf", "-.inf"):
        return -math.inf if value.strip().startswith("-") else math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} == {shorten(value)}, must be a number")
    return float(value)


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
