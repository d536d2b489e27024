"""LLM-as-judge outputs as data, with honest uncertainty (the kit calls no model).

- :func:`win_rates`: win / tie / loss shares of two systems with intervals paired by prompt.
- Bradley–Terry strengths of two or more systems are :mod:`.bradley_terry`; reading judge files
  into the verdict table all of these take is :mod:`.judgments`.
- :func:`swap_report`: pairs judged in both orders: the swap-inconsistency rate and the share of
  verdicts won by the response shown first (position bias).
- :func:`length_controlled_strengths`: the strengths at equal response length (a length
  covariate in the logistic model, as AlpacaEval's length-controlled win rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.judging.bradley_terry import beats
from abkit.judging.judgments import check_comparisons
from abkit.stats.paired import PairedTest, sign_test

__all__ = [
    "length_controlled_strengths",
    "LengthControlled",
    "swap_check",
    "swap_report",
    "SwapReport",
    "win_rates",
    "WinRates",
]

_OTHER_SIDE = {"a": "b", "b": "a", "tie": "tie"}


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
    check_comparisons(comparisons)
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
    check_comparisons(comparisons, ("shown_first",))
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


def swap_check(comparisons: pd.DataFrame, *, alpha: float = 0.05) -> tuple[SwapReport | None, str]:
    """:func:`swap_report` over the pairs judged once in each order, with a line saying what it
    left out ('' when nothing), or None and the reason it cannot be computed (no order column,
    or no pair judged both ways): a check that cannot be computed is reported, never passed."""
    check_comparisons(comparisons)
    if "shown_first" not in comparisons.columns:
        return None, "position bias: no column says which response was shown first"
    keys = ["prompt_id", "system_a", "system_b"]
    both = comparisons.groupby(keys, sort=False)["shown_first"].transform("nunique") == 2
    once = comparisons.loc[~both, keys].drop_duplicates()
    if not both.any():
        return None, (
            f"position bias: none of the {len(once):,} pairs was judged in both orders (the "
            "swap check needs each pair once with each response shown first)"
        )
    report = swap_report(comparisons[both], alpha=alpha)
    if len(once):
        return report, (
            f"{len(once):,} pair(s) judged in one order only ({int((~both).sum()):,} verdicts) "
            "are left out of the swap check; the other sections use them"
        )
    return report, ""


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
    check_comparisons(comparisons, ("length_a", "length_b"))
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
