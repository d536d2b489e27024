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
- :func:`ppi_clustered`: the same estimator with users, not dialogs, as the independent unit
  (the kit's metric kind ``judged``, :mod:`abkit.metric_kinds`), from per-user sums.
- :func:`win_rates`: win / tie / loss shares of two systems with intervals paired by prompt.
- :func:`mcnemar_test` and :func:`sign_test` for two systems judged on the same items (paired):
  McNemar's χ² on the discordant pairs (with Yates' continuity correction by default, as R's
  ``mcnemar.test``) and the exact binomial sign test (R's ``binom.test``).
- :func:`fit_bradley_terry`: Bradley–Terry strengths of two or more systems by maximum likelihood
  (Hunter's MM algorithm; equal to ``choix``'s), with bootstrap intervals over prompts.
- :func:`swap_report`: pairs judged in both orders: the swap-inconsistency rate and the share of
  verdicts won by the response shown first (position bias).
- :func:`length_controlled_strengths`: the strengths at equal response length (a length
  covariate in the logistic model, as AlpacaEval's length-controlled win rate).
- :func:`simulate_pairwise`: a judge with set accuracy, position bias and length bias;
  :func:`simulate_judge_scores`: judge scores of a binary outcome with set accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.cuped import Moments
from abkit.metrics import Metric
from abkit.params import check_integer, check_number, check_probability, check_text, shorten
from abkit.plan import ExperimentPlan

__all__ = [
    "BradleyTerry",
    "GradedComparison",
    "JudgeEvaluationSettings",
    "PairedTest",
    "length_effect_sentence",
    "PpiEstimate",
    "SwapReport",
    "add_judge_labels",
    "bradley_terry_strengths",
    "compare_graded",
    "LengthControlled",
    "fit_bradley_terry",
    "judge_findings",
    "judge_only",
    "length_controlled_strengths",
    "PPI_COMPONENTS",
    "WinRates",
    "label_selection_test",
    "mcnemar_test",
    "ppi_clustered",
    "ppi_mean",
    "ppi_comparison",
    "ppi_mean_difference",
    "preference_table",
    "read_judgments",
    "sign_test",
    "simulate_judge_scores",
    "simulate_pairwise",
    "simulate_pointwise",
    "swap_report",
    "win_rates",
    "write_examples",
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


@dataclass(frozen=True)
class WinRates:
    """Win / tie / loss shares of system A against B over prompts, with paired intervals.

    ``score`` = win + tie/2 (A's expected share of the preference; 0.5: no difference).
    Intervals are normal (t, df = prompts − 1) over the per-prompt shares, so the two orders of
    one prompt count once.
    """

    system_a: str
    system_b: str
    prompts: int
    win: float
    tie: float
    loss: float
    score: float
    win_ci: tuple[float, float]
    tie_ci: tuple[float, float]
    loss_ci: tuple[float, float]
    score_ci: tuple[float, float]
    prompts_won_a: int
    prompts_won_b: int

    @property
    def sign_test(self) -> PairedTest:
        """The exact sign test over prompts: a prompt counts for A when A's score on it is
        above 1/2, for B when below, and not at all when even (both orders count once)."""
        return sign_test(self.prompts_won_a, self.prompts_won_b)

    def table(self) -> pd.DataFrame:
        """One row per outcome: share and interval, tidy for display."""
        rows = [
            (f"{self.system_a} wins", self.win, *self.win_ci),
            ("tie", self.tie, *self.tie_ci),
            (f"{self.system_b} wins", self.loss, *self.loss_ci),
            (f"score of {self.system_a} (win + tie/2)", self.score, *self.score_ci),
        ]
        return pd.DataFrame(rows, columns=["outcome", "share", "ci_low", "ci_high"])


def win_rates(comparisons: pd.DataFrame, *, alpha: float = 0.05) -> WinRates:
    """Win / tie / loss shares of the two systems of ``comparisons`` (one row per verdict:
    prompt_id, system_a, system_b, winner a / b / tie); each prompt's verdicts (one per order,
    or more; a row with the two systems the other way round counts for the first row's
    system_a) are first averaged per prompt, and the interval is the paired t-interval over
    prompts (the paired analysis of a paired design; an unpaired one would treat the two
    orders of one prompt as independent).

    Examples:
        >>> df = pd.DataFrame({"prompt_id": [1, 1, 2, 2, 3, 3], "system_a": "x", "system_b": "y",
        ...                    "winner": ["a", "a", "a", "tie", "b", "a"]})
        >>> round(win_rates(df).score, 4)
        0.75
    """
    _check_comparisons(comparisons)
    pairs = comparisons[["system_a", "system_b"]].drop_duplicates()
    systems = set(pairs["system_a"]) | set(pairs["system_b"])
    if len(systems) != 2:
        raise ValueError(
            f"comparisons hold {len(systems)} systems {sorted(map(str, systems))[:6]}; "
            "win_rates compares two: filter to one pair (fit_bradley_terry takes more)"
        )
    a, b = pairs.iloc[0]
    # a row naming the pair the other way round (system_a == b) is read with a and b swapped
    verdict = comparisons["winner"].astype(str)
    winner = verdict.where(comparisons["system_a"] == a, verdict.map(_OTHER_SIDE)).to_numpy()
    outcome = pd.DataFrame(
        {
            "prompt_id": comparisons["prompt_id"].to_numpy(),
            "win": (winner == "a").astype(float),
            "tie": (winner == "tie").astype(float),
            "loss": (winner == "b").astype(float),
        }
    )
    outcome["score"] = outcome["win"] + outcome["tie"] / 2
    per_prompt = outcome.groupby("prompt_id").mean()
    prompts = len(per_prompt)
    if prompts < 2:
        raise ValueError(f"comparisons cover {prompts} prompt(s); an interval needs at least 2")
    t = float(sps.t.isf(alpha / 2, prompts - 1))

    def interval(column: str) -> tuple[float, float]:
        values = per_prompt[column].to_numpy()
        half = t * float(np.std(values, ddof=1)) / math.sqrt(prompts)
        return (float(values.mean() - half), float(values.mean() + half))

    means = per_prompt.mean()
    return WinRates(
        str(a),
        str(b),
        prompts,
        float(means["win"]),
        float(means["tie"]),
        float(means["loss"]),
        float(means["score"]),
        interval("win"),
        interval("tie"),
        interval("loss"),
        interval("score"),
        int((per_prompt["score"] > 0.5).sum()),
        int((per_prompt["score"] < 0.5).sum()),
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


def beats(theta_a: float, theta_b: float) -> float:
    """P(a beats b) = 1 / (1 + exp(θ_b − θ_a)) under Bradley–Terry strengths (log scale)."""
    return float(1 / (1 + math.exp(float(theta_b) - float(theta_a))))


@dataclass(frozen=True)
class BradleyTerry:
    """Bradley–Terry strengths (log scale, mean zero) by system, with bootstrap intervals.

    P(i beats j) = 1 / (1 + exp(θ_j − θ_i)); ``ci_low`` / ``ci_high`` are percentile intervals
    over ``resamples`` bootstrap resamples of the prompts (NaN when ``resamples`` is 0).
    """

    systems: tuple[str, ...]
    strength: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    resamples: int

    def win_probability(self, a: str, b: str) -> float:
        i, j = self.systems.index(a), self.systems.index(b)
        return beats(self.strength[i], self.strength[j])

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "system": self.systems,
                "strength": self.strength,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        ).sort_values("strength", ascending=False, ignore_index=True)


def bradley_terry_strengths(
    wins: np.ndarray, *, tol: float = 1e-12, max_iter: int = 100_000
) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry strengths from a wins matrix (``wins[i, j]``: times i
    beat j; a tie may count half to each), by Hunter's (2004) MM iteration
    π_i ← W_i / Σ_j n_ij / (π_i + π_j), returned as θ = ln π centred to mean zero (the
    convention of ``choix``).

    Raises:
        ValueError: a system that never wins or never loses (its strength is infinite), or
            systems in groups never compared with each other.

    Examples:
        >>> np.round(bradley_terry_strengths(np.array([[0, 3], [1, 0]])), 6).tolist()
        [0.549306, -0.549306]
    """
    w = np.asarray(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise ValueError(f"wins has shape {w.shape}, must be a square matrix of 2+ systems")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("wins must hold counts >= 0")
    games = w + w.T
    total_wins, total_losses = w.sum(axis=1), w.sum(axis=0)
    stuck = np.flatnonzero((total_wins == 0) | (total_losses == 0))
    if stuck.size:
        raise ValueError(
            f"system(s) at index {stuck.tolist()} never win or never lose: their maximum-"
            "likelihood strength is infinite (compare them more, or add a prior)"
        )
    reached = {0}
    frontier = [0]
    while frontier:  # the comparison graph must be connected
        node = frontier.pop()
        for other in np.flatnonzero(games[node] > 0):
            if int(other) not in reached:
                reached.add(int(other))
                frontier.append(int(other))
    if len(reached) < w.shape[0]:
        raise ValueError("some systems were never compared, even indirectly, with the others")
    pi = np.ones(w.shape[0])
    for _ in range(max_iter):
        denominator = (games / (pi[:, None] + pi[None, :])).sum(axis=1)
        updated = total_wins / denominator
        updated /= np.exp(np.log(updated).mean())
        if np.max(np.abs(np.log(updated) - np.log(pi))) < tol:
            pi = updated
            break
        pi = updated
    theta = np.log(pi)
    return theta - theta.mean()


VERDICTS = ("a", "b", "tie")
_OTHER_SIDE = {"a": "b", "b": "a", "tie": "tie"}


def _check_comparisons(comparisons: pd.DataFrame, extra: tuple[str, ...] = ()) -> None:
    needed = ("prompt_id", "system_a", "system_b", "winner", *extra)
    missing = [c for c in needed if c not in comparisons.columns]
    if missing:
        raise ValueError(
            f"comparisons lack column(s) {missing}; they need {list(needed)} (winner: a, b or tie)"
        )
    for column in needed:
        absent = comparisons[column].isna()
        if absent.any():
            raise ValueError(
                f"comparisons: column {column!r} has {int(absent.sum())} missing value(s), e.g. "
                f"row {comparisons.index[absent][0]!r}; every comparison needs {list(needed)}"
            )
    bad = sorted(set(comparisons["winner"].astype(str)) - set(VERDICTS))
    if bad:
        raise ValueError(f"winner holds {bad}; allowed: {list(VERDICTS)}")
    order = ["shown_first"] if "shown_first" in comparisons.columns else []
    pair = comparisons[["system_a", "system_b"]].astype(str)
    key = pd.DataFrame(
        {
            "prompt_id": comparisons["prompt_id"],
            "low": pair.min(axis=1),
            "high": pair.max(axis=1),
            **{c: comparisons[c] for c in order},
        }
    )
    counts = key.groupby(list(key.columns), sort=False).size()
    limit = 1 if order else 2  # with no order column: one verdict per order at most
    repeated = counts[counts > limit]
    if len(repeated):
        example = dict(zip(key.columns, repeated.index[0], strict=True))
        raise ValueError(
            f"comparisons: {int((repeated - limit).sum())} duplicate verdict(s), e.g. "
            f"{shorten(example)} judged {int(repeated.iloc[0])} times"
            f"{' in the same order' if order else ''}; each would count again. Keep one "
            "verdict per prompt, pair and order"
        )
    itself = comparisons["system_a"] == comparisons["system_b"]
    if itself.any():
        prompt, system = comparisons.loc[itself, ["prompt_id", "system_a"]].to_numpy().tolist()[0]
        raise ValueError(
            f"{int(itself.sum())} comparison(s) have system_a == system_b, e.g. prompt_id "
            f"{prompt!r} with {system!r} against itself: each comparison needs two systems"
        )


def _wins(comparisons: pd.DataFrame, systems: tuple[str, ...]) -> np.ndarray:
    index = {s: k for k, s in enumerate(systems)}
    a = comparisons["system_a"].map(index).to_numpy()
    b = comparisons["system_b"].map(index).to_numpy()
    score = comparisons["winner"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
    wins = np.zeros((len(systems), len(systems)))
    np.add.at(wins, (a, b), score)
    np.add.at(wins, (b, a), 1 - score)
    return wins


# Prompts below which a prompt bootstrap cannot give an honest interval (with one prompt every
# resample is that prompt: a zero-width interval).
MIN_PROMPTS_FOR_INTERVAL = 10


def fit_bradley_terry(
    comparisons: pd.DataFrame, *, resamples: int = 1000, alpha: float = 0.05, seed: int = 0
) -> BradleyTerry:
    """Bradley–Terry strengths of every system in ``comparisons`` (one row per judged pair:
    prompt_id, system_a, system_b, winner a / b / tie; a tie counts half to each), with
    percentile intervals from ``resamples`` bootstrap resamples of the prompts (a prompt's
    comparisons stay together). Resamples whose fit does not exist (a system never winning)
    are counted against the interval: if more than 1 % fail, the interval is refused."""
    _check_comparisons(comparisons)
    systems = tuple(sorted(set(comparisons["system_a"]) | set(comparisons["system_b"])))
    prompts_seen = comparisons["prompt_id"].nunique()
    if resamples and prompts_seen < MIN_PROMPTS_FOR_INTERVAL:
        raise ValueError(
            f"{prompts_seen} prompt(s): a bootstrap interval over prompts needs at least "
            f"{MIN_PROMPTS_FOR_INTERVAL} (with fewer, resampling them gives an interval far "
            "too narrow, zero-width for one); judge more prompts, or pass resamples=0 for the "
            "strengths alone"
        )
    strength = bradley_terry_strengths(_wins(comparisons, systems))
    low = high = np.full(len(systems), math.nan)
    if resamples:
        rng = np.random.default_rng(seed)
        prompts = comparisons["prompt_id"].unique()
        groups = {p: g for p, g in comparisons.groupby("prompt_id", sort=False)}
        draws, failed = [], 0
        for _ in range(resamples):
            chosen = rng.choice(prompts, size=prompts.size, replace=True)
            sample = pd.concat([groups[p] for p in chosen], ignore_index=True)
            try:
                draws.append(bradley_terry_strengths(_wins(sample, systems)))
            except ValueError:
                failed += 1
        if failed > 0.01 * resamples:
            raise ValueError(
                f"{failed} of {resamples} bootstrap resamples had a system that never won or "
                "never lost: too few comparisons for an interval"
            )
        stacked = np.vstack(draws)
        low = np.quantile(stacked, alpha / 2, axis=0)
        high = np.quantile(stacked, 1 - alpha / 2, axis=0)
    return BradleyTerry(systems, strength, low, high, resamples)


@dataclass(frozen=True)
class SwapReport:
    """Pairs judged in both orders: how often the verdict flips with the order, and how much the
    judge favours the response shown first."""

    pairs: int
    inconsistent: int
    inconsistency_rate: float
    first_position_share: float
    first_position_ci: tuple[float, float]
    position_bias_p: float


def swap_report(comparisons: pd.DataFrame, *, alpha: float = 0.05) -> SwapReport:
    """``comparisons`` with a ``shown_first`` column (a / b): each (prompt_id, system_a,
    system_b) judged in both orders. A pair is inconsistent when its two verdicts differ. The
    position share is the share of decided verdicts (not ties) won by the response shown first
    (0.5 without bias; Wilson interval, exact binomial p against 0.5).

    Raises:
        ValueError: a pair not judged exactly once in each order.
    """
    _check_comparisons(comparisons, ("shown_first",))
    keys = ["prompt_id", "system_a", "system_b"]
    orders = comparisons.groupby(keys)["shown_first"].agg(lambda s: "".join(sorted(s)))
    bad = orders[orders != "ab"]
    if len(bad):
        raise ValueError(
            f"{len(bad)} pair(s) not judged exactly once in each order (shown_first a and b), "
            f"e.g. {bad.index.to_frame().to_numpy().tolist()[0]} (prompt_id, system_a, system_b)"
        )
    verdicts = comparisons.groupby(keys)["winner"].agg(lambda s: len(set(s)) > 1)
    decided = comparisons[comparisons["winner"] != "tie"]
    first = int((decided["winner"] == decided["shown_first"]).sum())
    total = len(decided)
    share = first / total if total else math.nan
    z = float(sps.norm.isf(alpha / 2))
    if total:
        centre = (share + z**2 / (2 * total)) / (1 + z**2 / total)
        half = (
            z * math.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / (1 + z**2 / total)
        )
        interval = (centre - half, centre + half)
        p = float(sps.binomtest(first, total, 0.5).pvalue)
    else:
        interval, p = (math.nan, math.nan), math.nan
    return SwapReport(
        len(verdicts), int(verdicts.sum()), float(verdicts.mean()), share, interval, p
    )


@dataclass(frozen=True)
class LengthControlled:
    """Strengths at equal response length, beside the length effect (the logistic model
    logit P(A beats B) = θ_A − θ_B + β·(len_A − len_B)/sd(len_A − len_B), as AlpacaEval's
    length-controlled win rate)."""

    systems: tuple[str, ...]
    strength: np.ndarray
    length_coefficient: float
    length_scale: float

    def win_probability(self, a: str, b: str) -> float:
        """P(a beats b) at equal length."""
        i, j = self.systems.index(a), self.systems.index(b)
        return beats(self.strength[i], self.strength[j])


def length_controlled_strengths(
    comparisons: pd.DataFrame, *, tol: float = 1e-12, max_iter: int = 100
) -> LengthControlled:
    """Fit the length-controlled Bradley–Terry model to ``comparisons`` (prompt_id, system_a,
    system_b, winner, length_a, length_b) by Newton–Raphson on the Bernoulli likelihood (a tie
    counts as half a win: y = 0.5); the first system (sorted) is the reference, strengths are
    then centred to mean zero. Checked against statsmodels' binomial GLM."""
    _check_comparisons(comparisons, ("length_a", "length_b"))
    systems = tuple(sorted(set(comparisons["system_a"]) | set(comparisons["system_b"])))
    index = {s: k for k, s in enumerate(systems)}
    gap = (comparisons["length_a"] - comparisons["length_b"]).to_numpy(float)
    scale = float(np.std(gap, ddof=1)) if gap.size > 1 else 0.0
    if not np.isfinite(gap).all():
        raise ValueError("length_a / length_b hold missing or infinite values")
    if scale <= 0:
        raise ValueError("length_a − length_b does not vary: no length effect can be fitted")
    design = np.zeros((len(comparisons), len(systems)))
    rows = np.arange(len(comparisons))
    design[rows, comparisons["system_a"].map(index).to_numpy()] += 1.0
    design[rows, comparisons["system_b"].map(index).to_numpy()] -= 1.0
    x = np.column_stack([design[:, 1:], gap / scale])
    y = comparisons["winner"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(x @ beta)))
        hessian = x.T @ (x * (p * (1 - p))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    else:
        raise ValueError("the length-controlled model did not converge (separated data?)")
    theta = np.concatenate([[0.0], beta[:-1]])
    return LengthControlled(systems, theta - theta.mean(), float(beta[-1]), scale)


def simulate_pairwise(
    n_prompts: int,
    strengths: dict[str, float],
    *,
    accuracy: float = 1.0,
    position_bias: float = 0.0,
    length_bias: float = 0.0,
    mean_length: dict[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Pairwise judgments of two systems, each prompt judged in both orders, for tests and
    teaching. The human preference follows Bradley–Terry (``strengths``); the judge reports it
    with probability ``accuracy`` (else the other one), but in a share ``position_bias`` of its
    verdicts picks the response shown first, and in a share ``length_bias`` the longer one.
    Response lengths are lognormal around ``mean_length`` (default 300 tokens each).

    Returns:
        prompt_id, system_a, system_b, shown_first, winner (the judge's), human (the human
        preference), length_a, length_b.
    """
    if len(strengths) != 2:
        raise ValueError(f"strengths names {len(strengths)} systems; simulate_pairwise takes 2")
    for name, value in (
        ("accuracy", accuracy),
        ("position_bias", position_bias),
        ("length_bias", length_bias),
    ):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} == {value!r}, must be in [0, 1]")
    if position_bias + length_bias > 1:
        raise ValueError("position_bias + length_bias must not exceed 1")
    rng = np.random.default_rng(seed)
    (a, theta_a), (b, theta_b) = strengths.items()
    means = mean_length or {a: 300.0, b: 300.0}
    length_a = np.round(means[a] * rng.lognormal(0, 0.3, n_prompts))
    length_b = np.round(means[b] * rng.lognormal(0, 0.3, n_prompts))
    human_a = rng.random(n_prompts) < beats(theta_a, theta_b)
    rows = []
    for first in ("a", "b"):
        agrees = rng.random(n_prompts) < accuracy
        says_a = np.where(agrees, human_a, ~human_a)
        mode = rng.random(n_prompts)
        says_a = np.where(mode < position_bias, first == "a", says_a)
        longer_a = length_a > length_b
        in_length = (mode >= position_bias) & (mode < position_bias + length_bias)
        says_a = np.where(in_length & (length_a != length_b), longer_a, says_a)
        rows.append(
            pd.DataFrame(
                {
                    "prompt_id": np.arange(n_prompts),
                    "system_a": a,
                    "system_b": b,
                    "shown_first": first,
                    "winner": np.where(says_a, "a", "b"),
                    "human": np.where(human_a, "a", "b"),
                    "length_a": length_a,
                    "length_b": length_b,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sort_values(
        ["prompt_id", "shown_first"], ignore_index=True
    )


def simulate_judge_scores(
    n_labeled: int, n_unlabeled: int, *, rate: float, accuracy: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary human-scale outcome with true ``rate`` and a judge that agrees with the human
    label with probability ``accuracy``: (labels, judged_labeled, judged_unlabeled) for
    :func:`ppi_mean`, the labeled items a random subset of all."""
    for name, value in (("rate", rate), ("accuracy", accuracy)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} == {value!r}, must be in [0, 1]")
    rng = np.random.default_rng(seed)
    truth = rng.random(n_labeled + n_unlabeled) < rate
    judged = np.where(rng.random(truth.size) < accuracy, truth, ~truth).astype(float)
    return truth[:n_labeled].astype(float), judged[:n_labeled], judged[n_labeled:]


def simulate_pointwise(
    n_prompts: int,
    pass_logits: dict[str, float],
    *,
    difficulty_sd: float = 1.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Pointwise grades (pass / fail) of systems on the same prompts, for tests and teaching.

    A prompt's difficulty d ~ N(0, ``difficulty_sd``²) is shared by every system, so grades of
    one prompt are correlated (the reason a paired test is the right one); system s passes
    with probability logistic(``pass_logits[s]`` − d).

    Returns:
        One row per prompt and system: prompt_id, system, passed (0 / 1).
    """
    if len(pass_logits) < 2:
        raise ValueError(f"pass_logits names {len(pass_logits)} system(s); give at least 2")
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, difficulty_sd, n_prompts)
    frames = [
        pd.DataFrame(
            {
                "prompt_id": np.arange(n_prompts),
                "system": system,
                "passed": (rng.random(n_prompts) < 1 / (1 + np.exp(difficulty - logit))).astype(
                    int
                ),
            }
        )
        for system, logit in pass_logits.items()
    ]
    return pd.concat(frames, ignore_index=True)


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


def add_judge_labels(
    dialogs: pd.DataFrame,
    *,
    helpful_rate: dict[str, float],
    accuracy: float = 0.85,
    label_share: float = 0.05,
    judge_lift: dict[str, float] | None = None,
    user_sd: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """A dialog log with a judge's verdict on every dialog and a human's on a random subset.

    The human verdict ``human_helpful`` (0 / 1) is Bernoulli(p_user), p_user = the arm's
    ``helpful_rate`` plus a per-user deviation N(0, ``user_sd``²) clipped to [0.01, 0.99]
    (dialogs of one user are alike: users are the unit). The judge (``judge_helpful``) agrees
    with it with probability ``accuracy``; in an arm named in ``judge_lift`` it also calls that
    share of the truly unhelpful dialogs helpful (a judge fond of the candidate's style). A
    random ``label_share`` of dialogs keeps its human verdict; the rest get NaN.
    """
    check_probability("accuracy", accuracy)
    check_probability("label_share", label_share)
    arms = sorted(dialogs["variant"].unique())
    unknown = sorted(set(arms) - set(helpful_rate))
    if unknown:
        raise ValueError(f"helpful_rate has no rate for variant(s) {unknown}")
    rng = np.random.default_rng(seed)
    users = dialogs["user_id"].unique()
    deviation = pd.Series(rng.normal(0.0, user_sd, users.size), index=users)
    rate = dialogs["variant"].map(helpful_rate).to_numpy(float)
    p_user = np.clip(rate + deviation.loc[dialogs["user_id"]].to_numpy(), 0.01, 0.99)
    truth = rng.random(len(dialogs)) < p_user
    judged = np.where(rng.random(len(dialogs)) < accuracy, truth, ~truth)
    lift = dialogs["variant"].map(judge_lift or {}).fillna(0.0).to_numpy(float)
    judged = judged | (~truth & (rng.random(len(dialogs)) < lift))
    labeled = rng.random(len(dialogs)) < label_share
    return dialogs.assign(
        judge_helpful=judged.astype(float),
        human_helpful=np.where(labeled, truth.astype(float), np.nan),
    )


# The bundled examples (data/, `make data`): a candidate against the baseline judged offline,
# and the example experiment's log with an LLM judge that likes the candidate's style.
EXAMPLE_PAIRWISE = "example_pairwise_judgments.csv"
EXAMPLE_GRADES = "example_pointwise_grades.csv"
EXAMPLE_JUDGED_LOG = "example_judged_dialogs.parquet"
EXAMPLE_PAIRWISE_SETTINGS: dict = {
    "n_prompts": 300,
    "strengths": {"candidate": 0.405, "baseline": 0.0},  # humans prefer the candidate 60 : 40
    "accuracy": 0.85,
    "position_bias": 0.1,
    "length_bias": 0.1,
    "mean_length": {"candidate": 380.0, "baseline": 280.0},
    "seed": 0,
}
EXAMPLE_GRADES_SETTINGS: dict = {
    "n_prompts": 220,
    "pass_logits": {"candidate": 0.9, "baseline": 0.4},
    "difficulty_sd": 4.0,
    "seed": 2,
}
EXAMPLE_JUDGE_SETTINGS: dict = {
    "helpful_rate": {"control": 0.60, "treatment": 0.64},
    "accuracy": 0.85,
    "label_share": 0.05,
    "judge_lift": {"treatment": 0.15},
    "seed": 7,
}


def write_examples(directory: Path) -> list[Path]:
    """Write the three bundled judging examples into ``directory`` (fixed seeds)."""
    from abkit.events import write_log
    from abkit.simulate import EXAMPLE_CONFIG, simulate_dialogs

    directory.mkdir(parents=True, exist_ok=True)
    pairwise = simulate_pairwise(**EXAMPLE_PAIRWISE_SETTINGS).drop(columns="human")
    pairwise.to_csv(directory / EXAMPLE_PAIRWISE, index=False)
    simulate_pointwise(**EXAMPLE_GRADES_SETTINGS).to_csv(directory / EXAMPLE_GRADES, index=False)
    columns = ["dialog_id", "user_id", "variant", "timestamp", "experiment", "completed"]
    dialogs = simulate_dialogs(EXAMPLE_CONFIG)[columns]
    judged = add_judge_labels(dialogs, **EXAMPLE_JUDGE_SETTINGS)
    log = write_log(judged, directory / EXAMPLE_JUDGED_LOG)
    return [directory / EXAMPLE_PAIRWISE, directory / EXAMPLE_GRADES, log]


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


@dataclass(frozen=True)
class JudgeEvaluationSettings:
    """The parameters of notebook ``05_judge_evaluation``, validated on construction."""

    pairwise_file: str = "data/example_pairwise_judgments.csv"
    grades_file: str = "data/example_pointwise_grades.csv"
    judged_log: str = "data/example_judged_dialogs.parquet"
    judge_column: str = "judge_helpful"
    label_column: str = "human_helpful"
    split: float = 0.2
    true_effect: float | None = 0.04
    simulated_prompts: int = 300
    simulated_preference: float = 0.6
    judge_accuracy: float = 0.85
    position_bias: float = 0.1
    length_bias: float = 0.1
    length_ratio: float = 1.35
    bootstrap_resamples: int = 1000
    alpha: float = 0.05
    seed: int = 0
    output_dir: str = "reports/05_judge_evaluation"
    experiment: str = ""  # the experiment file applied (abkit.experiment_file)

    def __post_init__(self) -> None:
        for name in ("pairwise_file", "grades_file", "judged_log", "experiment"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} == {getattr(self, name)!r}, must be a path as text")
        check_text("output_dir", self.output_dir)
        self.judged_plan()  # checks the two columns
        if self.true_effect is not None:
            check_number("true_effect", self.true_effect)
        check_integer("simulated_prompts", self.simulated_prompts, minimum=2)
        check_number("simulated_preference", self.simulated_preference, low=0.0, high=1.0)
        for name in ("judge_accuracy", "position_bias", "length_bias"):
            check_number(
                name,
                getattr(self, name),
                low=0.0,
                high=1.0,
                low_inclusive=True,
                high_inclusive=True,
            )
        if self.position_bias + self.length_bias > 1:
            raise ValueError(
                f"position_bias + length_bias == {self.position_bias + self.length_bias:g}, "
                "must not exceed 1 (they are shares of the judge's verdicts)"
            )
        check_number("length_ratio", self.length_ratio, low=0.0)
        check_integer("bootstrap_resamples", self.bootstrap_resamples, minimum=0)
        check_probability("alpha", self.alpha)
        check_integer("seed", self.seed, minimum=0)

    def pairwise(self) -> pd.DataFrame:
        """The pairwise verdicts: ``pairwise_file``, or a simulated judge when it is ''."""
        if self.pairwise_file:
            return read_judgments(self.pairwise_file, "pairwise_file")
        theta = math.log(self.simulated_preference / (1 - self.simulated_preference))
        return simulate_pairwise(
            self.simulated_prompts,
            {"candidate": theta, "baseline": 0.0},
            accuracy=self.judge_accuracy,
            position_bias=self.position_bias,
            length_bias=self.length_bias,
            mean_length={"candidate": 300.0 * self.length_ratio, "baseline": 300.0},
            seed=self.seed,
        ).drop(columns="human")

    def judged_plan(self) -> ExperimentPlan:
        """The plan of the online section: one ``judged`` metric (primary) from the log's
        ``judge_column`` and ``label_column``, at the planned ``split``."""
        metric = Metric(
            self.label_column,
            "judged",
            self.label_column,
            judge=self.judge_column,
            role="primary",
            description="human-scale mean from the judge and a random sample of human labels",
        )
        return ExperimentPlan(split=self.split, metrics=(metric,))

    def grades(self) -> pd.DataFrame | None:
        """The pointwise grades, or None when ``grades_file`` is ''."""
        return read_judgments(self.grades_file, "grades_file") if self.grades_file else None


def read_judgments(path: str | Path, parameter: str) -> pd.DataFrame:
    """A table of judge outputs (.csv or .parquet; relative: to the kit), or a one-line error
    naming ``parameter``, the path and what is allowed."""
    from abkit.paths import in_kit

    resolved = in_kit(path)
    if resolved.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"{parameter} == {str(path)!r}: must be a .csv or .parquet file")
    if not resolved.is_file():
        raise FileNotFoundError(f"{parameter} == {str(path)!r}: no such file ({resolved})")
    if resolved.suffix.lower() == ".parquet":
        return pd.read_parquet(resolved)
    try:
        return pd.read_csv(resolved)
    except UnicodeDecodeError:
        raise ValueError(
            f"{parameter} == {str(path)!r} is not UTF-8 text: re-save it as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{parameter} == {str(path)!r} is empty") from None


def preference_table(raw: BradleyTerry, controlled: LengthControlled) -> pd.DataFrame:
    """Raw and length-controlled Bradley–Terry side by side, one row per system: strengths
    (log scale, mean zero), and as probabilities of beating an average system,
    logistic(θ) (with the raw fit's bootstrap interval mapped the same way).

    Columns: system, strength, ci_low, ci_high, win_probability, win_ci_low, win_ci_high,
    controlled_strength, controlled_win_probability.
    """
    if raw.systems != controlled.systems:
        raise ValueError(f"the fits cover different systems: {raw.systems} / {controlled.systems}")

    def logistic(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))

    return pd.DataFrame(
        {
            "system": raw.systems,
            "strength": raw.strength,
            "ci_low": raw.ci_low,
            "ci_high": raw.ci_high,
            "win_probability": logistic(raw.strength),
            "win_ci_low": logistic(raw.ci_low),
            "win_ci_high": logistic(raw.ci_high),
            "controlled_strength": controlled.strength,
            "controlled_win_probability": logistic(controlled.strength),
        }
    ).sort_values("strength", ascending=False, ignore_index=True)


def length_effect_sentence(raw: float, controlled: float) -> str:
    """What length control did to a win probability, its direction taken from the signed
    change (controlled - raw), never from its size alone.

    Examples:
        >>> length_effect_sentence(0.66, 0.60)
        'Length control lowers it by about 6 points: length inflated the raw preference.'
        >>> length_effect_sentence(0.60, 0.66)
        'Length control raises it by about 6 points: length held the raw preference down.'
        >>> length_effect_sentence(0.60, 0.61)
        'Length explains little of it.'
    """
    change = controlled - raw
    if abs(change) < 0.02:
        return "Length explains little of it."
    if change < 0:
        return (
            f"Length control lowers it by about {-change * 100:.0f} points: length inflated the "
            "raw preference."
        )
    return (
        f"Length control raises it by about {change * 100:.0f} points: length held the raw "
        "preference down."
    )


def judge_findings(
    swap: SwapReport,
    wins: WinRates,
    preferences: pd.DataFrame,
    graded: GradedComparison | None = None,
    judged: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
) -> list[str]:
    """Plain sentences from notebook 05's results, each carrying its numbers: position bias,
    the paired win rate, what length control changes, paired vs unpaired grading and what the
    judge alone would have claimed online."""
    from abkit.formatting import p_phrase

    lines = [
        f"The verdict flips with the order of the two responses in {swap.inconsistency_rate:.0%} "
        f"of pairs ({swap.inconsistent} of {swap.pairs}); the response shown first wins "
        f"{swap.first_position_share:.1%} of decided verdicts ({p_phrase(swap.position_bias_p)} "
        "against 50 %): "
        + (
            "the judge has a position bias, so every pair must be judged in both orders."
            if swap.position_bias_p < alpha
            else "no position bias is detectable at this size."
        )
    ]
    sign = wins.sign_test
    lines.append(
        f"Paired by prompt, {wins.system_a} scores {wins.score:.1%} against {wins.system_b} "
        f"(95 % CI {wins.score_ci[0]:.1%} to {wins.score_ci[1]:.1%}; sign test over prompts "
        f"{p_phrase(sign.p_value)})."
    )
    top = preferences.set_index("system")
    a, b = wins.system_a, wins.system_b
    raw = beats(top.loc[a, "strength"], top.loc[b, "strength"])
    fair = beats(top.loc[a, "controlled_strength"], top.loc[b, "controlled_strength"])
    lines.append(
        f"The judge prefers {a} to {b} with probability {raw:.1%}; at equal response length "
        f"{fair:.1%}. " + length_effect_sentence(raw, fair)
    )
    if graded is not None:
        lines.append(
            f"Graded one at a time on the same {graded.prompts} prompts, {graded.system_a} passes "
            f"{graded.pass_rate_a:.1%} and {graded.system_b} {graded.pass_rate_b:.1%}: McNemar's "
            f"paired test gives {p_phrase(graded.mcnemar.p_value)}, the unpaired z-test "
            f"{p_phrase(graded.unpaired_p)}; the paired test is the right one for one item set."
        )
    if judged is not None and len(judged):
        rows = judged[judged["quantity"] == "difference"].set_index("estimator")
        judge, ppi, human = (
            rows.loc[k] for k in ("judge only", "prediction-powered", "human labels only")
        )
        lines.append(
            f"Online, the judge alone puts the difference at {judge['estimate']:+.3f} "
            f"({judge['ci_low']:+.3f} to {judge['ci_high']:+.3f}); the judge corrected by the "
            f"human labels (PPI) at {ppi['estimate']:+.3f} ({ppi['ci_low']:+.3f} to "
            f"{ppi['ci_high']:+.3f}), an interval {ppi['width'] / human['width']:.2f}x as wide "
            f"as the labels' alone ({human['estimate']:+.3f}, {human['ci_low']:+.3f} to "
            f"{human['ci_high']:+.3f}). Only the last two are about what humans think."
        )
    return lines
