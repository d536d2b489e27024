"""Two systems graded pass / fail one at a time on the same prompts: paired (McNemar) against
unpaired (two-proportion z) tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps

from abkit.stats.paired import PairedTest, mcnemar_test

__all__ = [
    "GradedComparison",
    "compare_graded",
]


@dataclass(frozen=True)
class GradedComparison:
    """Two systems graded pass / fail on the same prompts: the paired test and, for contrast,
    the unpaired two-proportion z-test that ignores the pairing."""

    system_a: str
    system_b: str
    prompts: int
    pass_rate_a: float
    pass_rate_b: float
    mcnemar: PairedTest
    unpaired_p: float


def compare_graded(grades: pd.DataFrame, system_a: str, system_b: str) -> GradedComparison:
    """McNemar's test of ``system_a`` against ``system_b`` on the prompts both were graded on
    (``grades``: prompt_id, system, passed 0 / 1), beside the unpaired z-test.

    Raises:
        ValueError: a missing column or system, a grade without a prompt_id or that is not
            0 / 1, a prompt graded twice for one system, or prompts graded for only one of the
            two (named, counted).
    """
    needed = ("prompt_id", "system", "passed")
    missing = [c for c in needed if c not in grades.columns]
    if missing:
        raise ValueError(f"grades lack column(s) {missing}; they need {list(needed)}")
    for system in (system_a, system_b):
        if not (grades["system"] == system).any():
            raise ValueError(
                f"system {system!r} not in grades; systems: {sorted(grades['system'].unique())}"
            )
    chosen = grades[grades["system"].isin([system_a, system_b])]
    unnamed = chosen["prompt_id"].isna()
    if unnamed.any():
        raise ValueError(
            f"{int(unnamed.sum())} grade(s) of {system_a!r} / {system_b!r} have no prompt_id: "
            "each grade needs the prompt it was given on (that is what pairs them)"
        )
    if not chosen["passed"].isin([0, 1]).all():
        bad = chosen.loc[~chosen["passed"].isin([0, 1]), "passed"].tolist()[0]
        raise ValueError(f"passed == {bad!r}; grades must be 0 or 1")
    repeated = chosen.duplicated(["prompt_id", "system"])
    if repeated.any():
        raise ValueError(
            f"{int(repeated.sum())} prompt(s) graded more than once for one system, e.g. prompt "
            f"{chosen.loc[repeated, 'prompt_id'].tolist()[0]!r}: keep one grade per prompt and "
            "system"
        )
    wide = chosen.pivot(index="prompt_id", columns="system", values="passed")
    unpaired_rows = wide[[system_a, system_b]].isna().any(axis=1)
    if unpaired_rows.any():
        raise ValueError(
            f"{int(unpaired_rows.sum())} prompt(s) graded for only one of {system_a!r} and "
            f"{system_b!r}, e.g. {unpaired_rows[unpaired_rows].index[0]!r}: compare on the "
            "prompts both were graded on"
        )
    a, b = wide[system_a].to_numpy(float), wide[system_b].to_numpy(float)
    n = len(wide)
    k_a, k_b = int(a.sum()), int(b.sum())
    pooled = (k_a + k_b) / (2 * n)
    se = math.sqrt(2 * pooled * (1 - pooled) / n) if 0 < pooled < 1 else math.nan
    unpaired = float(2 * sps.norm.sf(abs(k_a - k_b) / n / se)) if se > 0 else math.nan
    return GradedComparison(system_a, system_b, n, k_a / n, k_b / n, mcnemar_test(a, b), unpaired)
