"""Prediction-powered inference: LLM-judge scores on every item, human labels on a random
subset, one estimate with an honest interval.

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
- :func:`ppi_clustered`: the same estimator with users, not dialogs, as the independent unit
  (the kit's metric kind ``judged``, :mod:`abkit.analysis.metric_kinds`), from per-user sums.
- :func:`ppi_stratified`: PPI++ within each stratum (e.g. an intent or a language, where the
  judge is better or worse), each with its own λ, combined with the strata's shares of all
  judged items as weights: θ̂ = Σ w_s·θ̂_s, se² = Σ w_s²·se_s² (stratified PPI with
  proportional weights, Fisch et al. 2024, arXiv 2406.04291). Narrower than one PPI++ over
  everything when the judge's quality differs between strata. ``ppi-python`` (0.2.3) has no
  stratified estimator: each stratum's term is checked against its ``ppi_mean_ci``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.core.params import check_probability
from abkit.stats.cuped import Moments

__all__ = [
    "PPI_COMPONENTS",
    "PpiEstimate",
    "check_same_scale",
    "judge_only",
    "label_selection_test",
    "ppi_clustered",
    "ppi_comparison",
    "ppi_mean",
    "ppi_mean_difference",
    "ppi_stratified",
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


def check_same_scale(labels: np.ndarray, judged: np.ndarray) -> None:
    """Refuse human labels and judge scores on different scales (labels 1-5, scores 0-1): PPI
    adds the judge's scores to a correction in the labels' units, so mixed scales give a
    plausible-looking, meaningless estimate. Both within [0, 1], or both reaching beyond it.

    >>> try:
    ...     check_same_scale(np.array([1.0, 4.0, 5.0]), np.array([0.2, 0.9]))
    ... except ValueError as error:
    ...     print(str(error)[:57])
    human labels range over [1, 5] but judge scores over [0.2
    """
    beyond = [bool(np.any((v < 0) | (v > 1))) for v in (labels, judged)]
    if beyond[0] != beyond[1]:
        raise ValueError(
            f"human labels range over [{labels.min():g}, {labels.max():g}] but judge scores "
            f"over [{judged.min():g}, {judged.max():g}]: put them on one scale (rescale the "
            "judge's scores to the labels') before PPI"
        )


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
    check_same_scale(y, np.concatenate([y_hat, y_hat_u]))
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


def ppi_stratified(
    labels: object,
    judged_labeled: object,
    judged_unlabeled: object,
    strata_labeled: object,
    strata_unlabeled: object,
    *,
    alpha: float = 0.05,
) -> tuple[PpiEstimate, pd.DataFrame]:
    """Stratified PPI++ (module docstring): the combined estimate and one row per stratum
    (stratum, weight, labeled, unlabeled, estimate, se, lam).

    Raises:
        ValueError: a stratum with fewer than 2 labeled items (named, with its counts): its
            judge error cannot be measured; merge it with a neighbour or label more.

    Examples:
        >>> est, table = ppi_stratified([1, 0, 1, 1], [1, 0, 1, 1], [1, 0, 0, 1],
        ...                             ["x", "x", "y", "y"], ["x", "x", "y", "y"], alpha=0.1)
        >>> round(est.estimate, 4), table["weight"].tolist()
        (0.75, [0.5, 0.5])
    """
    check_probability("alpha", alpha)
    y, y_hat, y_hat_u = (
        _vector(name, values)
        for name, values in (
            ("labels", labels),
            ("judged_labeled", judged_labeled),
            ("judged_unlabeled", judged_unlabeled),
        )
    )
    s_l = pd.Series(np.asarray(strata_labeled, dtype=object))
    s_u = pd.Series(np.asarray(strata_unlabeled, dtype=object))
    if s_l.size != y.size or s_u.size != y_hat_u.size:
        raise ValueError(
            f"strata_labeled has {s_l.size} values for {y.size} labels and strata_unlabeled "
            f"{s_u.size} for {y_hat_u.size} unlabeled items: one stratum per item"
        )
    if s_l.isna().any() or s_u.isna().any():
        raise ValueError("strata hold missing values: every item needs its stratum")
    total = y.size + y_hat_u.size
    rows = []
    for stratum in sorted(set(s_l) | set(s_u), key=str):
        in_l, in_u = (s_l == stratum).to_numpy(), (s_u == stratum).to_numpy()
        if in_l.sum() < 2 or in_u.sum() < 1:
            raise ValueError(
                f"stratum {stratum!r} has {int(in_l.sum())} labeled and {int(in_u.sum())} "
                "unlabeled item(s): stratified PPI needs at least 2 labeled and 1 unlabeled in "
                "every stratum; merge it with a neighbour or label more"
            )
        fit = ppi_mean(y[in_l], y_hat[in_l], y_hat_u[in_u], alpha=alpha)
        weight = (in_l.sum() + in_u.sum()) / total
        rows.append((stratum, weight, int(in_l.sum()), int(in_u.sum()), fit.estimate, fit.se,
                     fit.lam, fit.human_estimate, fit.human_se))  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=["stratum", "weight", "labeled", "unlabeled", "estimate", "se", "lam",
                 "human_estimate", "human_se"],
    )  # fmt: skip
    w = table["weight"].to_numpy()
    estimate = float(w @ table["estimate"])
    se = math.sqrt(float(w**2 @ table["se"] ** 2))
    human = float(w @ table["human_estimate"])
    human_se = math.sqrt(float(w**2 @ table["human_se"] ** 2))
    z = float(sps.norm.isf(alpha / 2))
    combined = PpiEstimate(
        estimate, estimate - z * se, estimate + z * se, se, math.nan, int(y.size),
        int(y_hat_u.size), human, human - z * human_se, human + z * human_se, human_se,
    )  # fmt: skip
    return combined, table.drop(columns=["human_estimate", "human_se"])


# Per-user components of :func:`ppi_clustered`, in this order: the judge's scores summed over
# the user's unlabeled dialogs, their count, the human labels summed over the labeled dialogs,
# the judge's scores summed over the same labeled dialogs, their count.
PPI_COMPONENTS = ("judged_unlabeled", "unlabeled", "labels", "judged_labeled", "labeled")


def ppi_clustered(
    moments: Moments, *, alpha: float = 0.05, lam: float | None = None
) -> PpiEstimate:
    """PPI++ with users as the independent unit, from per-user sums (:data:`PPI_COMPONENTS`).

    With a, m, b, c, l the per-user means of the five components over the U users,
    θ̂_λ = λ·a/m + (b − λ·c)/l (the dialog-level PPI++ estimator of :func:`ppi_mean`). Its
    variance is the delta method's gᵀSg / U with S the components' covariance (1/U, as PPI++)
    and g = g₀ + λ·g₁ the gradient, g₀ = (0, 0, 1/l, 0, −b/l²), g₁ = (1/m, −a/m², 0, −1/l, c/l²);
    the tuned λ minimizes it: λ̂ = −g₀ᵀSg₁ / g₁ᵀSg₁ clipped to [0, 1]. With one dialog per user
    this is :func:`ppi_mean` with a fixed λ exactly; the tuned λ then differs from PPI++'s
    pooled-variance formula by O(1/n). The human-only estimate is b/l with its clustered
    delta-method variance (λ = 0). Arms without unlabeled dialogs get λ = 0.

    Raises:
        ValueError: fewer than 2 labeled dialogs or 2 users.

    Examples:
        >>> rows = np.array([[1, 1, 1, 1, 1], [0, 1, 0, 0, 1], [1, 1, 1, 1, 1], [1, 1, 1, 0, 1],
        ...                  [1, 1, 0, 0, 0], [0, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]])
        >>> est = ppi_clustered(Moments.of(rows), lam=0.5)
        >>> round(est.estimate, 4), est.n_labeled, est.n_unlabeled
        (0.875, 4, 8)
    """
    check_probability("alpha", alpha)
    if len(moments.sums) != len(PPI_COMPONENTS):
        raise ValueError(f"moments have {len(moments.sums)} components, need {PPI_COMPONENTS}")
    users = moments.n
    a, m, b, c, labeled = moments.mean if users else np.zeros(5)
    labeled_dialogs = int(round(moments.sums[4])) if users else 0
    if users < 2 or labeled_dialogs < 2:
        raise ValueError(
            f"{labeled_dialogs} labeled dialog(s) over {users} user(s): PPI needs at least 2 "
            "labeled dialogs and 2 users"
        )
    covariance = moments.population_covariance
    g0 = np.array([0.0, 0.0, 1 / labeled, 0.0, -b / labeled**2])
    g1 = np.zeros(5)
    if m > 0:
        g1 = np.array([1 / m, -a / m**2, 0.0, -1 / labeled, c / labeled**2])
    cross, own = float(g0 @ covariance @ g1), float(g1 @ covariance @ g1)
    if lam is not None:
        tuned = float(lam)
    else:
        tuned = float(np.clip(-cross / own, 0.0, 1.0)) if m > 0 and own > 0 else 0.0
    if m == 0:
        tuned = 0.0
    estimate = (tuned * a / m if m > 0 else 0.0) + (b - tuned * c) / labeled
    gradient = g0 + tuned * g1
    se = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0) / users)
    human = b / labeled
    human_se = math.sqrt(max(float(g0 @ covariance @ g0), 0.0) / users)
    z = float(sps.norm.isf(alpha / 2))
    return PpiEstimate(
        float(estimate),
        float(estimate - z * se),
        float(estimate + z * se),
        se,
        tuned,
        int(round(moments.sums[4])),
        int(round(moments.sums[1])),
        float(human),
        float(human - z * human_se),
        float(human + z * human_se),
        human_se,
    )


def label_selection_test(moments: Moments) -> tuple[float, float, float]:
    """Were the labeled dialogs a random subset? The judge's mean score on labeled dialogs
    minus on unlabeled ones (c/l − a/m in :func:`ppi_clustered`'s notation), with its
    user-clustered delta-method z-test: (difference, z, two-sided p). PPI is unbiased only
    when labels are assigned at random; a difference here means they were not (e.g. only
    complaints were labeled). NaN when an arm has no labeled or no unlabeled dialog.

    Examples:
        >>> rows = np.array([[1, 1, 1, 1, 1], [0, 1, 0, 0, 1], [1, 2, 0, 0, 0], [0, 1, 0, 0, 0]])
        >>> [round(v, 4) for v in label_selection_test(Moments.of(rows))]
        [0.1, 0.4311, 0.6664]
    """
    if len(moments.sums) != len(PPI_COMPONENTS) or moments.n < 2:
        return (math.nan, math.nan, math.nan)
    s = np.asarray(moments.sums)
    a, m, _, c, labeled = s / moments.n
    if not (m > 0 and labeled > 0):
        return (math.nan, math.nan, math.nan)
    covariance = moments.population_covariance
    gradient = np.array([-1 / m, a / m**2, 0.0, 1 / labeled, -c / labeled**2])
    difference = c / labeled - a / m
    se = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0) / moments.n)
    if not se > 0:
        return (float(difference), math.nan, math.nan)
    z = difference / se
    return (float(difference), float(z), float(2 * sps.norm.sf(abs(z))))


def judge_only(moments: Moments, *, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """The judge's mean score over every judged dialog, Σ(judge)/Σ(dialogs) with users as the
    unit (delta method): (estimate, se, ci_low, ci_high). Honest about its sampling error,
    blind to the judge's bias: what the LLM evaluation tools report."""
    if len(moments.sums) != len(PPI_COMPONENTS) or moments.n < 2:
        return (math.nan,) * 4
    s = np.asarray(moments.sums)
    a, m, _, c, labeled = s / moments.n
    total = m + labeled
    if not total > 0:
        return (math.nan,) * 4
    value = (a + c) / total
    gradient = np.array([1 / total, -value / total, 0.0, 1 / total, -value / total])
    covariance = moments.population_covariance
    se = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0) / moments.n)
    z = float(sps.norm.isf(alpha / 2))
    return (float(value), se, float(value - z * se), float(value + z * se))


def ppi_comparison(control: Moments, treatment: Moments, *, alpha: float = 0.05) -> pd.DataFrame:
    """Judge-only, prediction-powered and human-only estimates side by side, per arm and for the
    difference (treatment − control), from each arm's :data:`PPI_COMPONENTS` moments.

    Columns: estimator, quantity (control / treatment / difference), estimate, ci_low,
    ci_high, width. The judge-only row is biased whenever the judge is; the PPI row is not,
    and is at most as wide as the human-only one (λ = 0 is allowed).
    """
    z = float(sps.norm.isf(alpha / 2))
    arms = {"control": control, "treatment": treatment}
    rows = []

    def add(estimator: str, values: dict[str, tuple[float, float]]) -> None:
        difference = values["treatment"][0] - values["control"][0]
        values = {
            **values,
            "difference": (difference, math.hypot(*(v[1] for v in values.values()))),
        }
        for quantity, (estimate, se) in values.items():
            rows.append(
                (estimator, quantity, estimate, estimate - z * se, estimate + z * se, 2 * z * se)
            )

    add("judge only", {k: judge_only(m, alpha=alpha)[:2] for k, m in arms.items()})
    fitted = {k: ppi_clustered(m, alpha=alpha) for k, m in arms.items()}
    add("prediction-powered", {k: (f.estimate, f.se) for k, f in fitted.items()})
    add("human labels only", {k: (f.human_estimate, f.human_se) for k, f in fitted.items()})
    return pd.DataFrame(
        rows, columns=["estimator", "quantity", "estimate", "ci_low", "ci_high", "width"]
    )
