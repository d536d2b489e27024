"""Sequential monitoring inside the analysis: the plan's ``monitoring`` applied to the results.

- ``fixed``: nothing changes; the results are valid once, at the planned end.
- ``group_sequential``: this analysis is a look at information fraction t = users so far /
  ``planned_users`` (capped at 1: the final look). The looks already taken are kept in a looks
  file (JSON, in the experiment's report folder) so that each look's boundary uses the α that
  the earlier looks spent (Lan & DeMets 1983: the boundary at look k follows from the spending
  function at t₁ … t_k). A primary metric is significant when |z| = |effect / se| reaches the
  boundary, computed at the level each primary is designed for (α/k for k primaries under a
  correction, :attr:`abkit.plan.experiment_plan.ExperimentPlan.alpha_per_primary`). Analysing the
  same data
  again (same users) is the same look; fewer users than an earlier look is refused.
- ``always_valid``: every metric's interval becomes a confidence sequence and its p-value
  always valid (:func:`abkit.stats.sequential.confidence_sequence`, tuned for ``planned_users``);
  the corrections then run on those p-values; a guardrail passes when the one-sided confidence
  sequence on its worse side stays within the margin.

Guardrails under ``group_sequential`` keep their fixed non-inferiority test at each look (not
spent over looks): a guardrail read at many looks is conservative for shipping only if it is
read at the last one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from abkit.core.params import shorten
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.monitoring_plan import MonitoringKind
from abkit.stats.sequential import boundaries, confidence_sequence

__all__ = [
    "Look",
    "MonitoringResult",
    "always_valid_table",
    "boundary_table",
    "monitor",
    "read_looks",
    "take_look",
]

LOOKS_FILE = "looks.json"


@dataclass(frozen=True)
class Look:
    """One look of a group-sequential plan, as kept in the looks file."""

    look: int
    users: int
    information_fraction: float
    z_boundary: float
    data_until: str


@dataclass(frozen=True)
class MonitoringResult:
    """Where this analysis stands in the plan's monitoring.

    ``look`` / ``z_boundary`` / ``looks`` are set for a group-sequential plan (0 / NaN / () for
    the others); ``information_fraction`` = users / planned users (NaN when none is planned).
    """

    kind: MonitoringKind
    users: int
    planned_users: int
    information_fraction: float
    look: int = 0
    z_boundary: float = math.nan
    looks: tuple[Look, ...] = ()

    @property
    def final(self) -> bool:
        return self.information_fraction >= 1

    def describe(self) -> str:
        """One sentence for the decision's reasons and the memo."""
        share = (
            f"{self.users:,} of {self.planned_users:,} planned users "
            f"(information fraction {self.information_fraction:.2f})"
            if self.planned_users
            else f"{self.users:,} users"
        )
        if self.kind == "group_sequential":
            return (
                f"Group-sequential look {self.look}{' (final)' if self.final else ''}: {share}; "
                f"a primary metric needs |z| >= {self.z_boundary:.3f} at this look."
            )
        if self.kind == "always_valid":
            return f"Always-valid analysis (confidence sequences): {share}."
        return f"Fixed-horizon analysis: {share}; valid at the planned end, not before."

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["final"] = self.final
        return out


LOOKS_VERSION = 2


def plan_fingerprint(plan: ExperimentPlan) -> dict[str, Any]:
    """The settings a group-sequential decision rests on, as the looks file records them: a
    look under other settings would spend α by another rule than the earlier looks did."""
    return {
        "control": plan.control,
        "treatment": plan.treatment,
        "experiment": plan.experiment,
        "alpha": plan.alpha,
        "correction": plan.correction,
        "alpha_per_primary": plan.sequential_alpha,
        "primary": sorted(m.name for m in plan.metrics_with_role("primary")),
        "monitoring": plan.monitoring.kind,
        "planned_users": plan.monitoring.planned_users,
        "spending": plan.monitoring.spending,
    }


def _digest(previous: str, look: Look) -> str:
    """A look's link in the file's chain: SHA-256 of the previous link and the look's fields,
    so an edited, removed or reordered look breaks every later link."""
    text = previous + json.dumps(asdict(look), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_looks(path: str | Path, plan: ExperimentPlan | None = None) -> tuple[Look, ...]:
    """The looks kept in ``path`` (none when the file does not exist yet), checked.

    With ``plan``: the plan recorded at the first look must be this plan's
    (:func:`plan_fingerprint`); every look's information fraction and boundary must be what
    the plan gives for the users recorded; looks are numbered 1, 2, ... with growing users;
    and each look's link (:func:`_digest`) must match. Any difference stops the look, naming
    it: a plan changed between looks or an edited file would spend α silently.
    """
    target = Path(path)
    if not target.exists():
        return ()
    try:
        stored = json.loads(target.read_text(encoding="utf-8"))
        rows = stored["looks"] if isinstance(stored, dict) else stored
        looks = tuple(Look(**{k: v for k, v in row.items() if k != "digest"}) for row in rows)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(
            f"looks file '{target}' is not a looks file ({shorten(error, 80)}); restore it from "
            "a copy (each run's report holds its looks in summary.json)"
        ) from None
    if plan is None:
        return looks
    where = f"looks file '{target}'"
    if isinstance(stored, dict):
        recorded = stored.get("plan", {})
        now = json.loads(json.dumps(plan_fingerprint(plan)))
        changed = [
            f"{key}: {shorten(recorded.get(key), 60)} at look 1, now {shorten(value, 60)}"
            for key, value in now.items()
            if recorded.get(key) != value
        ]
        if changed:
            raise ValueError(
                f"{where}: the plan changed since the looks were taken ({'; '.join(changed)}); "
                "a group-sequential plan is fixed before the first look. Restore the plan, or "
                "start a new experiment with its own looks file"
            )
        link = ""
        for row, look in zip(rows, looks, strict=True):
            link = _digest(link, look)
            if row.get("digest") != link:
                raise ValueError(
                    f"{where}: look {look.look} does not match its record (the file was edited, "
                    "or a look removed or reordered); restore the file from a copy"
                )
    users = [look.users for look in looks]
    if any(later <= earlier for earlier, later in zip(users, users[1:], strict=False)):
        raise ValueError(
            f"{where}: the looks' users {users} do not grow from look to look (reordered or "
            "edited); restore the file from a copy"
        )
    expected = _replay(users, plan)
    for look, again in zip(looks, expected, strict=True):
        if (look.look, look.users) != (again.look, again.users) or not (
            math.isclose(look.information_fraction, again.information_fraction, rel_tol=1e-9)
            and math.isclose(look.z_boundary, again.z_boundary, rel_tol=1e-9)
        ):
            raise ValueError(
                f"{where}: look {look.look} records information fraction "
                f"{look.information_fraction:.6g} and boundary {look.z_boundary:.6g}, but "
                f"{look.users:,} users under this plan give {again.information_fraction:.6g} "
                f"and {again.z_boundary:.6g}: the file was edited or the plan changed"
            )
    return looks


def _replay(users: Sequence[int], plan: ExperimentPlan) -> list[Look]:
    """The looks ``plan`` gives for these users at each look, in order."""
    planned = plan.monitoring.planned_users
    fractions = [min(n / planned, 1.0) for n in users]
    if not fractions:
        return []
    table = boundaries(fractions, alpha=plan.sequential_alpha, kind=plan.monitoring.spending)
    return [
        Look(k + 1, n, f, float(z), "")
        for k, (n, f, z) in enumerate(zip(users, fractions, table["z_boundary"], strict=True))
    ]


def take_look(
    previous: Sequence[Look],
    users: int,
    plan: ExperimentPlan,
    data_until: str,
) -> tuple[Look, ...]:
    """The looks after this analysis: the same look again when ``users`` equals the last
    look's, else a new look at t = min(users / planned, 1) with its boundary from the spending
    function over every look so far.

    Raises:
        ValueError: fewer users than an earlier look, or a look after the final one.
    """
    monitoring = plan.monitoring
    if previous and users == previous[-1].users:
        return tuple(previous)
    if previous and users < previous[-1].users:
        raise ValueError(
            f"users == {users:,}, fewer than the {previous[-1].users:,} of look "
            f"{previous[-1].look}: is this the same experiment's log (and the same looks file)?"
        )
    if previous and previous[-1].information_fraction >= 1:
        raise ValueError(
            f"look {previous[-1].look} was the final look (information fraction 1): the "
            "group-sequential experiment is over; its decision stands"
        )
    fraction = min(users / monitoring.planned_users, 1.0)
    fractions = [look.information_fraction for look in previous] + [fraction]
    table = boundaries(fractions, alpha=plan.sequential_alpha, kind=monitoring.spending)
    boundary = float(table["z_boundary"].iloc[-1])
    return (*previous, Look(len(fractions), users, fraction, boundary, data_until))


def _write_looks(path: Path, looks: Sequence[Look], plan: ExperimentPlan) -> None:
    """Write the looks with the plan they were taken under and each look's link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, link = [], ""
    for look in looks:
        link = _digest(link, look)
        rows.append({**asdict(look), "digest": link})
    document = {"version": LOOKS_VERSION, "plan": plan_fingerprint(plan), "looks": rows}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2), encoding="utf-8")
    temporary.replace(path)


def _group_sequential(table: pd.DataFrame, boundary: float, look: int) -> pd.DataFrame:
    primary = table["role"] == "primary"
    z = table["effect"] / table["se"]
    table.loc[primary, "significant"] = (z[primary].abs() >= boundary).to_numpy()
    note = f"group-sequential look {look}: |z| vs boundary {boundary:.3f}"
    table.loc[primary, "note"] = [
        "; ".join(x for x in (str(old or ""), f"{note} (|z| = {abs(value):.3f})") if x)
        for old, value in zip(table.loc[primary, "note"], z[primary], strict=True)
    ]
    return table


def always_valid_table(table: pd.DataFrame, plan: ExperimentPlan, users: int) -> pd.DataFrame:
    """Fixed-horizon rows (before the corrections) turned always-valid: each interval a
    confidence sequence, each p-value the mixture SPRT's; relative intervals widened in the same
    ratio; a guardrail passes when the one-sided sequence on its worse side stays within the
    margin (its non-inferiority p is then not reported: NaN). With k candidates a primary
    metric's sequences are at level α/k (Bonferroni over the candidates; the roles of the
    other metrics are per candidate, at α)."""
    planned = plan.monitoring.planned_users
    table = table.copy()
    for index, row in table.iterrows():
        alpha = plan.alpha / len(plan.candidates) if row["role"] == "primary" else plan.alpha
        if not (math.isfinite(row["se"]) and row["se"] > 0):
            continue
        sequence = confidence_sequence(
            row["effect"], row["se"], users, planned_n=planned, alpha=alpha
        )
        fixed_half = (row["ci_high"] - row["ci_low"]) / 2
        widen = (sequence.ci_high - sequence.ci_low) / 2 / fixed_half if fixed_half > 0 else 1.0
        table.loc[index, ["ci_low", "ci_high", "p_value"]] = [
            sequence.ci_low,
            sequence.ci_high,
            sequence.p_value,
        ]
        relative = row["relative_effect"]
        if math.isfinite(relative):
            table.loc[index, "relative_ci_low"] = (
                relative - (relative - row["relative_ci_low"]) * widen
            )
            table.loc[index, "relative_ci_high"] = (
                relative + (row["relative_ci_high"] - relative) * widen
            )
        if row["role"] == "guardrail" and math.isfinite(row["margin"]):
            side = "lower" if row["higher_is_better"] else "upper"
            bound = confidence_sequence(
                row["effect"], row["se"], users, planned_n=planned, alpha=alpha, side=side
            )
            worst = -bound.ci_low if row["higher_is_better"] else bound.ci_high
            harm = -row["effect"] if row["higher_is_better"] else row["effect"]
            status = (
                "pass"
                if worst < row["margin"]
                else "breach"
                if harm > row["margin"]
                else "inconclusive"
            )
            table.loc[index, ["non_inferiority_p", "guardrail"]] = [math.nan, status]
        note = str(row["note"] or "")
        table.loc[index, "note"] = "; ".join(
            x for x in (note, "always-valid (confidence sequence)") if x
        )
    return table


def monitor(
    table: pd.DataFrame,
    plan: ExperimentPlan,
    users: int,
    *,
    looks_file: str | Path | None = None,
    data_until: Any = None,
    recorded_looks: int = 0,
) -> tuple[pd.DataFrame, MonitoringResult]:
    """Where this analysis stands in the plan's monitoring; for a group-sequential plan, the
    primaries' significance set against this look's boundary (``table`` after the corrections)
    and the looks file read (checked: :func:`read_looks`) and, for a new look, written.

    ``recorded_looks``: looks of this experiment recorded elsewhere (its reports); with none in
    the looks file, the look stops rather than start again at look 1."""
    monitoring = plan.monitoring
    planned = monitoring.planned_users
    fraction = users / planned if planned else math.nan
    if monitoring.kind != "group_sequential":
        return table, MonitoringResult(monitoring.kind, users, planned, fraction)
    if looks_file is None:
        raise ValueError(
            "a group-sequential plan needs a looks file (looks_file= / --looks FILE) that keeps "
            "the looks already taken"
        )
    previous = read_looks(looks_file, plan)
    if not previous and recorded_looks:
        raise ValueError(
            f"looks file '{looks_file}' is missing or empty, but {recorded_looks} look(s) of this "
            "experiment are recorded in its reports: starting again at look 1 would spend α "
            "twice. Restore the looks file"
        )
    until = "" if data_until is None else str(pd.Timestamp(data_until))
    looks = take_look(previous, users, plan, until)
    if looks != tuple(previous) or not _current_format(Path(looks_file)):
        _write_looks(Path(looks_file), looks, plan)
    current = looks[-1]
    table = _group_sequential(table.copy(), current.z_boundary, current.look)
    return table, MonitoringResult(
        "group_sequential",
        users,
        planned,
        current.information_fraction,
        current.look,
        current.z_boundary,
        looks,
    )


def _current_format(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("version") == LOOKS_VERSION
    except (OSError, ValueError, AttributeError):
        return False


def boundary_table(result: MonitoringResult) -> pd.DataFrame:
    """The looks taken so far as a table (look, users, information fraction, boundary)."""
    return (
        pd.DataFrame([asdict(look) for look in result.looks])
        if result.looks
        else pd.DataFrame(
            columns=["look", "users", "information_fraction", "z_boundary", "data_until"]
        )
    )
