"""Does the judge err the same way everywhere? Judge–human agreement per arm and per week.

On the dialogs a human labeled, the judge's error is the gap label − judge. Prediction-powered
inference measures that gap from the labels and removes it (:mod:`abkit.stats.ppi`); the kit does
so per arm, so a judge that favours one arm's style is corrected as long as each arm's labels are
a random sample of its dialogs. Two things break the correction, and this check shows both:

- the gap differs between arms: the judge alone is biased for the difference (PPI is not, with
  random labels in each arm, which the analysis's label-selection gate checks);
- the gap changes over time (a judge model swapped, a prompt edited, traffic drifting) while the
  labels are not spread evenly over that time: the gap measured on the labels is then not the
  gap of the period, and PPI is biased.

Per group, the gap is Σ(label − judge) / Σ labeled over the group's users, with a user-clustered
delta-method standard error (the ratio estimator of Deng et al. 2018). Groups are compared with
Cochran's Q, Σ w_g (gap_g − ḡ)², w_g = 1/se_g², ḡ the weighted mean, against χ² with G − 1
degrees of freedom (for two arms, the two-sample z-test squared). Weeks are 7-day periods from the
first dialog (no calendar, so no time zone enters); a user seen in two weeks counts in both,
which makes the week test approximate (stated in its row). Whether labels are spread evenly over
the weeks is a χ² test of labeled against unlabeled dialogs per week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["JudgeDrift", "judge_drift"]


@dataclass(frozen=True)
class JudgeDrift:
    """The gap label − judge per arm and per week, and the tests across them.

    ``table`` columns: by (arm / week), group, dialogs, labeled, label_share, agreement (share
    of labeled dialogs where the judge equals the label), gap, se, ci_low, ci_high.
    """

    table: pd.DataFrame
    arm_p: float
    week_p: float
    labels_even_p: float
    alpha: float

    @property
    def flagged(self) -> bool:
        """True when the gap differs between arms or between weeks at level α."""
        return bool(self.arm_p < self.alpha or self.week_p < self.alpha)

    def sentences(self) -> list[str]:
        """The check in words, direction and numbers from the table."""
        arms = self.table[self.table["by"] == "arm"]
        gaps = ", ".join(f"{g} {v:+.3f}" for g, v in zip(arms["group"], arms["gap"], strict=True))
        if math.isnan(self.arm_p):
            lines = [f"Judge error by arm (label − judge): {gaps}; not tested (too few labels)."]
        elif self.arm_p < self.alpha:
            lines = [
                f"The judge errs differently in the arms (label − judge: {gaps}; p = "
                f"{self.arm_p:.2g}): the judge alone is biased for the difference. PPI corrects "
                "it because each arm has its own random labels; keep labeling every arm at random."
            ]
        else:
            lines = [f"No difference in the judge's error between arms is detectable ({gaps}; "
                     f"p = {self.arm_p:.2g})."]  # fmt: skip
        if math.isnan(self.week_p):
            lines.append("Judge drift over weeks: not tested (one week, or too few labels).")
        elif self.week_p < self.alpha:
            even = self.labels_even_p >= self.alpha
            lines.append(
                f"The judge's error changes across weeks (p = {self.week_p:.2g}): "
                + (
                    "the labels are spread evenly over the weeks, so PPI's correction still "
                    "holds for the whole period; a judge change mid-experiment deserves a look."
                    if even
                    else f"and the labels are not spread evenly over the weeks (p = "
                    f"{self.labels_even_p:.2g}), so PPI's correction is biased: label each week "
                    "at the same rate."
                )
            )
        else:
            lines.append(f"No drift of the judge's error across weeks is detectable (p = "
                         f"{self.week_p:.2g}).")  # fmt: skip
        return lines


def _gaps(frame: pd.DataFrame, by: str, user: str, alpha: float) -> pd.DataFrame:
    z = float(sps.norm.isf(alpha / 2))
    rows = []
    for group, part in frame.groupby(by, sort=True):
        labeled = part[part["_labeled"]]
        per_user = labeled.groupby(user).agg(r=("_gap", "sum"), n=("_gap", "size"))
        users, total = len(per_user), int(per_user["n"].sum())
        gap = float(per_user["r"].sum() / total) if total else math.nan
        if users >= 2:
            residual = per_user["r"] - gap * per_user["n"]
            se = float(np.sqrt(residual.var(ddof=1) / users) / per_user["n"].mean())
        else:
            se = math.nan
        rows.append(
            {
                "group": group,
                "dialogs": len(part),
                "labeled": total,
                "label_share": total / len(part),
                "agreement": float(labeled["_agree"].mean()) if total else math.nan,
                "gap": gap,
                "se": se,
                "ci_low": gap - z * se,
                "ci_high": gap + z * se,
            }
        )
    return pd.DataFrame(rows)


def _cochran_p(table: pd.DataFrame) -> float:
    usable = table[(table["se"] > 0) & table["gap"].notna()]
    if len(usable) < 2 or len(usable) < len(table):
        return math.nan
    weight = 1 / usable["se"] ** 2
    centre = float((weight * usable["gap"]).sum() / weight.sum())
    q = float((weight * (usable["gap"] - centre) ** 2).sum())
    return float(sps.chi2.sf(q, len(usable) - 1))


def judge_drift(
    log: pd.DataFrame,
    *,
    judge: str,
    label: str,
    arm: str = "variant",
    time: str = "timestamp",
    user: str = "user_id",
    alpha: float = 0.05,
) -> JudgeDrift:
    """The judge's error per arm and per 7-day week on the labeled dialogs of ``log`` (see the
    module docstring); ``label`` is missing where nobody labeled."""
    missing = [c for c in (judge, label, arm, time, user) if c not in log.columns]
    if missing:
        raise ValueError(f"judge_drift: the log lacks column(s) {missing}")
    frame = log[[judge, label, arm, time, user]].copy()
    frame["_labeled"] = frame[label].notna()
    if frame.loc[frame["_labeled"], judge].isna().any():
        raise ValueError(f"judge_drift: labeled dialogs without a judge score in {judge!r}")
    frame["_gap"] = frame[label] - frame[judge]
    frame["_agree"] = frame[label] == frame[judge]
    start = frame[time].min()
    frame["_week"] = ((frame[time] - start) // pd.Timedelta(days=7)).astype(int) + 1
    by_arm = _gaps(frame, arm, user, alpha).assign(by="arm")
    by_week = _gaps(frame, "_week", user, alpha).assign(by="week")
    by_week["group"] = "week " + by_week["group"].astype(str)
    labels_even_p = math.nan
    if len(by_week) >= 2:
        counts = np.column_stack([by_week["labeled"], by_week["dialogs"] - by_week["labeled"]])
        if (counts.sum(axis=0) > 0).all():
            labels_even_p = float(sps.chi2_contingency(counts)[1])
    table = pd.concat([by_arm, by_week], ignore_index=True)
    columns = ["by", "group", "dialogs", "labeled", "label_share", "agreement", "gap", "se",
               "ci_low", "ci_high"]  # fmt: skip
    return JudgeDrift(table[columns], _cochran_p(by_arm), _cochran_p(by_week), labels_even_p, alpha)
