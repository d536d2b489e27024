"""LLM-as-judge outputs as data, with honest uncertainty (the kit calls no model).

- :func:`ppi_mean` / :func:`ppi_mean_difference`: prediction-powered inference, PPI++
  (Angelopoulos, Duchi & Zrnic 2023, arXiv 2311.01453). Judge scores Ŷ on every item, human
  labels Y on a random subset of n of them (N judged items without a label):

      θ̂_λ = mean(λ·Ŷ_unlabeled) + mean(Y − λ·Ŷ_labeled),
      se² = Var(λ·Ŷ_unlabeled)/N + Var(Y − λ·Ŷ_labeled)/n          (variances with 1/N, 1/n),
      λ̂  = Cov(Y, Ŷ) / ((1 + n/N)·Var(Ŷ)) clipped to [0, 1]

  with Cov over the labeled items (1/n) and Var(Ŷ) over all judged items (1/(n + N − 1)), the
  tuning that minimizes the variance (λ = 0: the human-only mean; λ = 1: plain PPI). The interval
  is θ̂ ± z₁₋α/₂·se. The difference between two arms (independent samples) is the difference of
  their estimates with se = √(se_T² + se_C²). Checked against the ``ppi-python`` package.
- :func:`mcnemar_test` and :func:`sign_test` for two systems judged on the same items (paired):
  McNemar's χ² on the discordant pairs (with Yates' continuity correction by default, as R's
  ``mcnemar.test``) and the exact binomial sign test (R's ``binom.test``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from abkit.params import check_probability

__all__ = [
    "PairedTest",
    "PpiEstimate",
    "mcnemar_test",
    "ppi_mean",
    "ppi_mean_difference",
    "sign_test",
]


@dataclass(frozen=True)
class PpiEstimate:
    """A prediction-powered estimate beside the human-only one.

    ``lam`` is the power-tuning parameter used (for a difference: NaN, one per arm);
    ``human_*``: the same quantity from the human labels alone (normal interval, 1/n variance).
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    lam: float
    n_labeled: int
    n_unlabeled: int
    human_estimate: float
    human_ci_low: float
    human_ci_high: float
    human_se: float

    @property
    def width_ratio(self) -> float:
        """PPI interval width / human-only width (below 1: the judge helped)."""
        return (self.ci_high - self.ci_low) / (self.human_ci_high - self.human_ci_low)


def _vector(name: str, values: object) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{name} holds {int((~np.isfinite(array)).sum())} missing or infinite "
            "value(s); drop them (and say how many) before estimating"
        )
    return array


def _tuned_lambda(labels: np.ndarray, judged: np.ndarray, unlabeled: np.ndarray) -> float:
    n, big_n = labels.size, unlabeled.size
    covariance = float(np.mean((labels - labels.mean()) * (judged - judged.mean())))
    variance = float(np.var(np.concatenate([judged, unlabeled]), ddof=1))
    if variance <= 0:
        return 0.0
    return float(np.clip(covariance / ((1 + n / big_n) * variance), 0.0, 1.0))


def ppi_mean(
    labels: object,
    judged_labeled: object,
    judged_unlabeled: object,
    *,
    alpha: float = 0.05,
    lam: float | None = None,
) -> PpiEstimate:
    """PPI++ estimate and interval of the mean of the human-scale label (module docstring).

    Args:
        labels: human labels Y of the labeled items.
        judged_labeled: the judge's scores Ŷ of the same items, in the same order.
        judged_unlabeled: the judge's scores of the items without a human label.
        lam: the power-tuning parameter; None chooses it from the data.

    Examples:
        >>> est = ppi_mean([1, 0, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1, 1, 0, 1, 1])
        >>> round(est.estimate, 4), round(est.lam, 4)
        (0.8359, 0.3437)
    """
    check_probability("alpha", alpha)
    y = _vector("labels", labels)
    y_hat = _vector("judged_labeled", judged_labeled)
    y_hat_u = _vector("judged_unlabeled", judged_unlabeled)
    if y.size != y_hat.size:
        raise ValueError(
            f"labels has {y.size} values and judged_labeled {y_hat.size}: each labeled item "
            "needs its human label and its judge score"
        )
    if y.size < 2:
        raise ValueError(f"labels has {y.size} value(s); PPI needs at least 2 labeled items")
    tuned = _tuned_lambda(y, y_hat, y_hat_u) if lam is None else float(lam)
    estimate = float(np.mean(tuned * y_hat_u) + np.mean(y - tuned * y_hat))
    se = math.sqrt(np.var(tuned * y_hat_u) / y_hat_u.size + np.var(y - tuned * y_hat) / y.size)
    z = float(sps.norm.isf(alpha / 2))
    human_se = math.sqrt(np.var(y) / y.size)
    return PpiEstimate(
        estimate,
        estimate - z * se,
        estimate + z * se,
        se,
        tuned,
        int(y.size),
        int(y_hat_u.size),
        float(y.mean()),
        float(y.mean() - z * human_se),
        float(y.mean() + z * human_se),
        human_se,
    )


def ppi_mean_difference(
    treatment: tuple[object, object, object],
    control: tuple[object, object, object],
    *,
    alpha: float = 0.05,
) -> PpiEstimate:
    """Treatment minus control, each arm a (labels, judged_labeled, judged_unlabeled) triple
    estimated by :func:`ppi_mean` with its own λ; the arms are independent samples."""
    t = ppi_mean(*treatment, alpha=alpha)
    c = ppi_mean(*control, alpha=alpha)
    z = float(sps.norm.isf(alpha / 2))
    estimate, se = t.estimate - c.estimate, math.hypot(t.se, c.se)
    human, human_se = t.human_estimate - c.human_estimate, math.hypot(t.human_se, c.human_se)
    return PpiEstimate(
        estimate,
        estimate - z * se,
        estimate + z * se,
        se,
        math.nan,
        t.n_labeled + c.n_labeled,
        t.n_unlabeled + c.n_unlabeled,
        human,
        human - z * human_se,
        human + z * human_se,
        human_se,
    )


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
