"""Prediction-powered inference by stratum, with users as the unit: the judged log's version of
:func:`abkit.stats.ppi.ppi_stratified`.

Each user belongs to the stratum of their first dialog (by time, then dialog id: the kit's
segment rule, :func:`abkit.analysis.checks.first_values`, so a user is in exactly one stratum and
the strata are independent samples). Within each arm and stratum, PPI++ runs on per-user sums
(:func:`abkit.stats.ppi.ppi_clustered`, its own λ); an arm's estimate is Σ w_s·θ̂_s with w_s the
stratum's share of the arm's dialogs, se² = Σ w_s²·se_s² (the shares taken as known, as in
post-stratification); the difference is treatment − control with se = √(se_T² + se_C²).
Where the judge is better in some strata than in others, each stratum's λ trusts it as much as it
deserves there, and the interval narrows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.analysis.checks import first_values
from abkit.core.duckdb_session import shared_cursor
from abkit.stats.cuped import Moments
from abkit.stats.ppi import ppi_clustered

__all__ = ["stratified_judged"]


def _user_strata(log: pd.DataFrame, stratum: str) -> pd.Series:
    """Each user's stratum: the value of ``stratum`` on their first dialog (as text)."""
    with shared_cursor() as connection:  # the kit's session: UTC, as the analysis reads times
        connection.register("log", log[["user_id", "dialog_id", "timestamp", stratum]])
        first = connection.sql(
            f"SELECT user_id, v FROM ({first_values(stratum, 'TRUE')}) WHERE r = 1"
        ).df()
    return first.set_index("user_id")["v"]


def _components(part: pd.DataFrame, judge: str, label: str) -> Moments:
    labeled = part[label].notna()
    per_user = (
        pd.DataFrame(
            {
                "user_id": part["user_id"],
                "judged_unlabeled": part[judge].where(~labeled, 0.0),
                "unlabeled": (~labeled).astype(float),
                "labels": part[label].fillna(0.0),
                "judged_labeled": part[judge].where(labeled, 0.0),
                "labeled": labeled.astype(float),
            }
        )
        .groupby("user_id", sort=False)
        .sum()
    )
    return Moments.of(per_user.to_numpy())


def stratified_judged(
    log: pd.DataFrame,
    *,
    judge: str,
    label: str,
    stratum: str,
    arm: str = "variant",
    arms: tuple[str, str] = ("control", "treatment"),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """PPI per arm and stratum and combined (module docstring).

    Returns:
        One row per (quantity, stratum): quantity (an arm, or difference), stratum (a value, or
        'all, stratified' / 'all, unstratified'), weight, users, labeled, estimate, se, ci_low,
        ci_high, width.

    Raises:
        ValueError: a column missing, or an arm and stratum with fewer than 2 users or 2
            labeled dialogs (named): merge the stratum with another or label more.
    """
    needed = ["user_id", "dialog_id", "timestamp", arm, judge, label, stratum]
    missing = [c for c in needed if c not in log.columns]
    if missing:
        raise ValueError(f"stratified PPI: the log lacks column(s) {missing}")
    frame = log[needed].copy()
    frame["_stratum"] = frame["user_id"].map(_user_strata(frame, stratum)).fillna("(none)")
    z = float(sps.norm.isf(alpha / 2))
    rows = []
    combined = {}
    for name in arms:
        in_arm = frame[frame[arm] == name]
        if in_arm.empty:
            raise ValueError(f"stratified PPI: no dialogs in arm {name!r}")
        parts = []
        for value, part in in_arm.groupby("_stratum", sort=True):
            labeled = int(part[label].notna().sum())
            users = int(part["user_id"].nunique())
            if labeled < 2 or users < 2:
                raise ValueError(
                    f"stratified PPI: stratum {value!r} of arm {name!r} has {users} user(s) and "
                    f"{labeled} labeled dialog(s); each needs at least 2 of both (merge it with "
                    "another stratum, or label more)"
                )
            fit = ppi_clustered(_components(part, judge, label), alpha=alpha)
            weight = len(part) / len(in_arm)
            parts.append((value, weight, users, labeled, fit.estimate, fit.se))
        w = np.array([p[1] for p in parts])
        estimate = float(w @ [p[4] for p in parts])
        se = math.sqrt(float(w**2 @ np.square([p[5] for p in parts])))
        whole = ppi_clustered(_components(in_arm, judge, label), alpha=alpha)
        combined[name] = (estimate, se, whole.estimate, whole.se)
        rows.extend((name, *p) for p in parts)
        users, labeled = in_arm["user_id"].nunique(), int(in_arm[label].notna().sum())
        rows.append((name, "all, stratified", 1.0, users, labeled, estimate, se))
        rows.append((name, "all, unstratified", 1.0, users, labeled, whole.estimate, whole.se))
    (c, c_se, cu, cu_se), (t, t_se, tu, tu_se) = (combined[a] for a in arms)
    rows.append(("difference", "all, stratified", 1.0, None, None, t - c, math.hypot(t_se, c_se)))
    rows.append(("difference", "all, unstratified", 1.0, None, None, tu - cu,
                 math.hypot(tu_se, cu_se)))  # fmt: skip
    table = pd.DataFrame(
        rows, columns=["quantity", "stratum", "weight", "users", "labeled", "estimate", "se"]
    )
    table["ci_low"] = table["estimate"] - z * table["se"]
    table["ci_high"] = table["estimate"] + z * table["se"]
    table["width"] = 2 * z * table["se"]
    return table
