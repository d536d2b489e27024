"""Tests for two systems judged on the same items: McNemar's chi-squared on the discordant pairs
(Yates' correction by default, as R's ``mcnemar.test``) and the exact binomial sign test (R's
``binom.test``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from abkit.stats.ppi import _vector

__all__ = [
    "PairedTest",
    "mcnemar_test",
    "sign_test",
]


@dataclass(frozen=True)
class PairedTest:
    """A test of two systems on the same items: its statistic, p-value and the counts used."""

    statistic: float
    p_value: float
    a_only: int
    b_only: int
    method: str


def mcnemar_test(a_correct: object, b_correct: object, *, correction: bool = True) -> PairedTest:
    """McNemar's test: are systems A and B right equally often on the same items?

    χ² = (|b − c| − 1)² / (b + c) with the continuity correction (``correction``; R's default),
    (b − c)² / (b + c) without, on 1 df; b = items only A got right, c = only B.

    Examples:
        >>> round(mcnemar_test([1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 0, 1]).p_value, 6)
        0.248213
    """
    a = _vector("a_correct", a_correct)
    b = _vector("b_correct", b_correct)
    if a.size != b.size:
        raise ValueError(f"a_correct has {a.size} items and b_correct {b.size}: pair them")
    if not np.isin(a, (0, 1)).all() or not np.isin(b, (0, 1)).all():
        raise ValueError("a_correct and b_correct must be 0 / 1 per item")
    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    total = only_a + only_b
    if total == 0:
        return PairedTest(0.0, 1.0, 0, 0, "McNemar (no discordant pairs)")
    gap = abs(only_a - only_b) - (1 if correction else 0)
    statistic = max(gap, 0) ** 2 / total
    method = "McNemar" + (" with continuity correction" if correction else "")
    return PairedTest(statistic, float(sps.chi2.sf(statistic, 1)), only_a, only_b, method)


def sign_test(wins_a: int, wins_b: int) -> PairedTest:
    """Exact two-sided sign test: wins of A against wins of B (ties left out), p from
    Binomial(wins_a + wins_b, 1/2) as R's ``binom.test``.

    Examples:
        >>> round(sign_test(14, 5).p_value, 6)
        0.063568
    """
    if min(wins_a, wins_b) < 0:
        raise ValueError(f"wins == ({wins_a}, {wins_b}), must be counts >= 0")
    total = wins_a + wins_b
    if total == 0:
        return PairedTest(math.nan, 1.0, 0, 0, "sign test (no decided pair)")
    p = float(sps.binomtest(wins_a, total, 0.5).pvalue)
    return PairedTest(float(wins_a), p, wins_a, wins_b, "exact sign test")
