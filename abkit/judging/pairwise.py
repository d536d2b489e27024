"""LLM-as-judge outputs as data, with honest uncertainty (the kit calls no model).

- :func:`win_rates`: win / tie / loss shares of two systems with intervals paired by prompt.
- :func:`fit_bradley_terry`: Bradley–Terry strengths of two or more systems by maximum likelihood
  (Hunter's MM algorithm; equal to ``choix``'s), with bootstrap intervals over prompts.
- :func:`swap_report`: pairs judged in both orders: the swap-inconsistency rate and the share of
  verdicts won by the response shown first (position bias).
- :func:`length_controlled_strengths`: the strengths at equal response length (a length
  covariate in the logistic model, as AlpacaEval's length-controlled win rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.core.params import shorten
from abkit.stats.paired import PairedTest, sign_test

__all__ = [
    "beats",
    "bradley_terry_strengths",
    "BradleyTerry",
    "fit_bradley_terry",
    "length_controlled_strengths",
    "LengthControlled",
    "MIN_PROMPTS_FOR_INTERVAL",
    "read_judgments",
    "swap_report",
    "SwapReport",
    "VERDICTS",
    "win_rates",
    "WinRates",
]


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


def read_judgments(path: str | Path, parameter: str) -> pd.DataFrame:
    """A table of judge outputs (.csv or .parquet; relative: to the kit), or a one-line error
    naming ``parameter``, the path and what is allowed."""
    from abkit.core.paths import in_kit

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
