"""Declarative metric specifications and the default set for the dialog log.

A metric says *what* to measure, not how to test it; :mod:`abkit.analysis` picks the test from
its kind:

- ``ratio``: Σ numerator / Σ denominator over dialogs, users randomized (completion per dialog,
  turns per dialog, CSAT per rated dialog, likes per rated response, cost per successful task):
  delta method.
- ``user_proportion``: share of users for whom the column is ever 1 (returned within 7 days):
  two-proportion z-test, Fisher's exact test for small counts.
- ``user_mean``: per-user sum of the column, averaged over users: Welch t-test.
- ``quantile``: a quantile of the dialog-level column (latency P50 / P95 / P99):
  cluster-adjusted quantile variance.

Roles: ``primary`` (the success metric the decision rests on), ``secondary`` (reported, in the
multiple-testing family), ``guardrail`` (must not get worse by more than its margin: one-sided
non-inferiority test), ``monitor`` (reported only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from abkit.params import check_choice, check_number, check_text

__all__ = ["DEFAULT_METRICS", "Metric", "default_metrics", "metrics_by_name"]

MetricKind = Literal["ratio", "user_proportion", "user_mean", "quantile"]
Role = Literal["primary", "secondary", "guardrail", "monitor"]
KINDS = ("ratio", "user_proportion", "user_mean", "quantile")
ROLES = ("primary", "secondary", "guardrail", "monitor")
# denominator keywords of a ratio metric
PER_DIALOG = "dialogs"
PER_RATED = "rated"


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        name: label in the results table.
        kind: see the module docstring.
        column: the dialog-log column measured (the numerator of a ratio).
        denominator: ratio metrics only: ``"dialogs"`` (one per dialog), ``"rated"`` (dialogs
            where ``column`` is not empty), or a tuple of columns whose sum is the denominator.
        quantile: the quantile level for ``kind == "quantile"``, in (0, 1).
        higher_is_better: direction of improvement.
        role: primary, secondary, guardrail or monitor.
        margin: guardrails: how much worse the treatment may be (non-inferiority margin).
        relative_margin: read ``margin`` as a share of the control value (0.1 = 10 % worse).
        ordinal: also run a Mann–Whitney test on per-user means (for CSAT-like scales).
        description: one line for tables and reports.
    """

    name: str
    kind: MetricKind
    column: str
    denominator: str | tuple[str, ...] = PER_DIALOG
    quantile: float | None = None
    higher_is_better: bool = True
    role: Role = "secondary"
    margin: float | None = None
    relative_margin: bool = True
    ordinal: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_text("metric name", self.name)
        check_choice(f"{self.name}: kind", self.kind, KINDS)
        check_choice(f"{self.name}: role", self.role, ROLES)
        check_text(f"{self.name}: column", self.column)
        if self.kind == "quantile":
            if self.quantile is None:
                raise ValueError(f"{self.name}: a quantile metric needs quantile in (0, 1)")
            check_number(f"{self.name}: quantile", self.quantile, low=0.0, high=1.0)
        if self.role == "guardrail":
            if self.margin is None:
                raise ValueError(f"{self.name}: a guardrail needs a non-inferiority margin")
            check_number(f"{self.name}: margin", self.margin, low=0.0, low_inclusive=True)
        if isinstance(self.denominator, str) and self.denominator not in (PER_DIALOG, PER_RATED):
            raise ValueError(
                f"{self.name}: denominator == {self.denominator!r}, must be "
                f"'{PER_DIALOG}', '{PER_RATED}' or a tuple of column names"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """Every log column the metric reads."""
        extra = () if isinstance(self.denominator, str) else self.denominator
        return (self.column, *extra)

    @property
    def in_success_family(self) -> bool:
        """Primary and secondary metrics form the multiple-testing family."""
        return self.role in ("primary", "secondary")


DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric(
        "task_completion",
        "ratio",
        "completed",
        role="primary",
        description="share of dialogs solved without escalation",
    ),
    Metric(
        "escalation_rate",
        "ratio",
        "escalated",
        higher_is_better=False,
        description="share of dialogs handed to a human",
    ),
    Metric(
        "csat",
        "ratio",
        "csat",
        PER_RATED,
        ordinal=True,
        description="mean satisfaction (1-5) per rated dialog",
    ),
    Metric(
        "turns",
        "ratio",
        "turns",
        higher_is_better=False,
        description="user messages per dialog (time to value)",
    ),
    Metric(
        "like_rate",
        "ratio",
        "likes",
        ("likes", "dislikes"),
        description="likes per rated response (explicit preference)",
    ),
    Metric(
        "return_7d",
        "user_proportion",
        "returned_7d",
        description="share of users who came back within 7 days (implicit preference)",
    ),
    Metric(
        "error_rate",
        "ratio",
        "error",
        higher_is_better=False,
        role="guardrail",
        margin=0.01,
        relative_margin=False,
        description="share of dialogs with a failed model call; may rise by 1 point at most",
    ),
    Metric(
        "latency_p50",
        "quantile",
        "latency_ms",
        quantile=0.50,
        higher_is_better=False,
        role="monitor",
        description="median latency, ms",
    ),
    Metric(
        "latency_p95",
        "quantile",
        "latency_ms",
        quantile=0.95,
        higher_is_better=False,
        role="guardrail",
        margin=0.10,
        description="95th percentile latency, ms; may rise by 10 % at most",
    ),
    Metric(
        "latency_p99",
        "quantile",
        "latency_ms",
        quantile=0.99,
        higher_is_better=False,
        role="monitor",
        description="99th percentile latency, ms",
    ),
    Metric(
        "tokens_per_dialog",
        "ratio",
        "tokens_out",
        higher_is_better=False,
        role="monitor",
        description="tokens generated per dialog (cost)",
    ),
    Metric(
        "cost_per_success",
        "ratio",
        "tokens_out",
        ("completed",),
        higher_is_better=False,
        role="monitor",
        description="tokens generated per successfully completed task",
    ),
)


def default_metrics(columns: Iterable[str]) -> list[Metric]:
    """The default metrics whose columns a log has (a standard log names no metric at all)."""
    present = set(columns)
    return [metric for metric in DEFAULT_METRICS if set(metric.columns) <= present]


def metrics_by_name(
    names: Sequence[str], available: Sequence[Metric] = DEFAULT_METRICS
) -> list[Metric]:
    """Pick metrics by name from ``available``; an unknown name is an error listing the options."""
    known = {metric.name: metric for metric in available}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"metrics == {list(names)}: unknown {unknown}, choose from {list(known)}")
    return [known[name] for name in names]
