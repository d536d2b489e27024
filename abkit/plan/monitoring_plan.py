"""How an experiment is looked at, declared in its plan before the first look: a fixed horizon,
group-sequential looks, or always-valid inference (run by :mod:`abkit.analysis.monitoring`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from abkit.core.params import check_choice, check_integer, shorten
from abkit.stats.sequential import SpendingKind

__all__ = ["Monitoring", "MonitoringKind", "monitoring_from_dict"]

MonitoringKind = Literal["fixed", "group_sequential", "always_valid"]


@dataclass(frozen=True)
class Monitoring:
    """How the experiment is looked at, declared before the first look.

    Attributes:
        kind: ``fixed``: one analysis at the planned end (looking earlier and stopping on a
            significant result inflates false positives); ``group_sequential``: any number of
            looks, each at information fraction t = users so far / ``planned_users``, the primary
            metrics judged against the boundary that the ``spending`` function gives for the
            looks taken so far (Lan–DeMets: the looks need not be planned in advance, only the
            total); ``always_valid``: every metric's interval is a confidence sequence and its
            p-value always valid (:func:`abkit.stats.sequential.confidence_sequence`), for looking
            without a schedule.
        planned_users: the users (both arms) the design planned, e.g. notebook 01's; the
            information fraction's denominator and the tuning of the confidence sequences.
        spending: the α-spending function of a group-sequential plan
            (:data:`abkit.stats.sequential.SpendingKind`; default O'Brien–Fleming in Lan–DeMets'
            two-sided form, ``obrien_fleming_per_side`` for rpact's / gsDesign's).
    """

    kind: MonitoringKind = "fixed"
    planned_users: int = 0
    spending: SpendingKind = "obrien_fleming"

    def __post_init__(self) -> None:
        check_choice("monitoring kind", self.kind, get_args(MonitoringKind))
        check_choice("monitoring spending", self.spending, get_args(SpendingKind))
        if self.kind != "fixed" or self.planned_users:
            check_integer("monitoring planned_users", self.planned_users, minimum=2)


def monitoring_from_dict(spec: Any) -> Monitoring:
    """``monitoring:`` of a plan: a kind (``fixed``) or a mapping of :class:`Monitoring` fields."""
    if isinstance(spec, Monitoring):
        return spec
    if spec is None:
        return Monitoring()
    if isinstance(spec, str):
        return Monitoring(kind=spec)  # type: ignore[arg-type]
    allowed = {item.name for item in dataclasses.fields(Monitoring)}
    if not isinstance(spec, Mapping) or set(spec) - allowed:
        raise ValueError(
            f"plan monitoring == {shorten(spec)}, must be a kind or a mapping with keys "
            f"{sorted(allowed)}"
        )
    return Monitoring(**spec)
