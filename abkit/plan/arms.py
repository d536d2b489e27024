"""The arms of an experiment: one control, one or several candidates, and the planned share of
users of each (what :class:`abkit.plan.experiment_plan.ExperimentPlan` checks on construction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from abkit.core.params import check_number, check_text, shorten

__all__ = ["check_arms"]


def check_arms(
    control: str, treatment: Any, split: Any
) -> tuple[str | tuple[str, ...], float | dict[str, float]]:
    """The candidates (a label or a list of distinct labels, none the control's) and the split
    (a share for two arms, a mapping over every arm for several), normalised: one candidate
    is returned as a label and its split as the treatment's share.

    >>> check_arms("control", ["v1"], {"control": 0.8, "v1": 0.2})
    ('v1', 0.2)
    >>> check_arms("control", ["v1", "v2"], {"control": 0.5, "v1": 0.25, "v2": 0.25})[0]
    ('v1', 'v2')
    """
    if isinstance(treatment, list | tuple):
        labels = tuple(check_text(f"treatment[{k}]", label) for k, label in enumerate(treatment))
        if not labels:
            raise ValueError("treatment == [], name at least one candidate label")
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"treatment == {list(labels)}: {twice} listed more than once")
        treatment = labels[0] if len(labels) == 1 else labels
    else:
        check_text("treatment", treatment)
    candidates = (treatment,) if isinstance(treatment, str) else treatment
    if candidates == (control,):
        raise ValueError(f"control == treatment == {control!r}, compare two different variants")
    if control in candidates:
        raise ValueError(
            f"control == {control!r} is also a treatment label {list(candidates)}; "
            "compare different variants"
        )
    labels = (control, *candidates)
    if isinstance(split, Mapping):
        if set(split) != set(labels):
            raise ValueError(
                f"split == {shorten(dict(split))}: a mapping needs a share for exactly the "
                f"arms {list(labels)} (missing {sorted(set(labels) - set(split))}, unknown "
                f"{sorted(set(split) - set(labels), key=str)})"
            )
        shares = [
            check_number(f"split[{label!r}]", split[label], low=0.0, high=1.0) for label in labels
        ]
        if not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
            raise ValueError(
                f"split == {shorten(dict(split))} sums to {sum(shares):.6g}; the arms' shares "
                "must sum to 1"
            )
        split = shares[1] if len(candidates) == 1 else {k: float(split[k]) for k in labels}
    elif len(candidates) > 1:
        raise ValueError(
            f"split == {shorten(split)} is one treatment share, which describes two arms; with "
            f"{len(candidates)} candidates give each arm's planned share, e.g. split: "
            + "{"
            + ", ".join(f"{label}: {1 / len(labels):.4g}" for label in labels)
            + "}"
        )
    else:
        check_number("split", split, low=0.0, high=1.0)
    return treatment, split
