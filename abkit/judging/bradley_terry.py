"""Bradley–Terry strengths at leaderboard scale, with prompt-level uncertainty.

The model: P(i beats j) = 1 / (1 + exp(θ_j − θ_i)), θ centred to mean zero (the convention of
``choix``); a tie counts half a win to each side. Everything runs on sufficient statistics:

- :class:`PairCounts`: per prompt and unordered pair of systems (a *slot*), the games played
  and the wins of the slot's first system, held as sparse prompt × slot matrices. A data set of
  1.67M verdicts over 129 systems becomes at most 8,256 slots.
- :func:`fit_slots`: the maximum-likelihood θ for many data sets at once by Newton's method on
  the log-likelihood (concave; Hessian = the weighted graph Laplacian L with weights
  g·p·(1 − p); each step solves (L + 11ᵀ/n)·Δ = ∇ℓ, which keeps Σθ = 0). Its fixed point is
  the estimate of Hunter's (2004) MM iteration and of ``choix``.
- the prompt bootstrap as **weights**: a resample draws prompts with replacement, so each
  prompt enters with a multinomial count c_p and the resampled statistics are cᵀ·W (one sparse
  product), never a table per resample. Prompts that contribute the same thing (one verdict on
  the same pair with the same outcome, as on a leaderboard) are drawn together as one type
  with its multiplicity (:func:`_prompt_types`).
- the prompt-clustered sandwich: Cov(θ̂) = I⁺ B I⁺ · G/(G − 1), I the Fisher information, B the
  sum over the G prompts of the outer products of each prompt's score (Huber 1967; the
  clustered form and its G/(G − 1) factor are R's ``sandwich::vcovCL``, type HC0, whose values
  the tests hold). I⁺ is the pseudo-inverse, which gives the covariance of the centred θ.
- simultaneous intervals for all systems at once (max-t: the 1 − α quantile of
  max_s |θ*_s − θ̂_s| / se_s over the bootstrap draws, or over normal draws with the sandwich
  covariance), and from them rank intervals: a system ranks below every system whose interval
  lies wholly above its own, and above every one wholly below (the leaderboard reading:
  "rank 1 + the number of systems certainly better").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.special import expit
from scipy.stats import norm

from abkit.judging.judgments import check_comparisons

__all__ = [
    "MIN_PROMPTS_FOR_INTERVAL",
    "BradleyTerry",
    "IntervalKind",
    "PairCounts",
    "beats",
    "bootstrap_strengths",
    "bradley_terry_strengths",
    "fit_bradley_terry",
    "fit_slots",
    "pair_counts",
    "sandwich_covariance",
]

IntervalKind = Literal["bootstrap", "sandwich"]
INTERVAL_KINDS: tuple[str, ...] = get_args(IntervalKind)

# Prompts below which a prompt bootstrap cannot give an honest interval (with one prompt every
# resample is that prompt: a zero-width interval).
MIN_PROMPTS_FOR_INTERVAL = 10
_CHUNK = 64  # resamples fitted together (memory: CHUNK × systems² doubles)
_MAX_T_DRAWS = 100_000  # normal draws for the sandwich's simultaneous critical value


def beats(theta_a: float, theta_b: float) -> float:
    """P(a beats b) = 1 / (1 + exp(θ_b − θ_a)) under Bradley–Terry strengths (log scale)."""
    return float(1 / (1 + math.exp(float(theta_b) - float(theta_a))))


@dataclass(frozen=True)
class PairCounts:
    """Verdicts reduced to sufficient statistics.

    ``first[k] < second[k]`` are the systems of slot k (indices into ``systems``); ``games`` and
    ``wins`` are prompts × slots sparse matrices (CSR): the verdicts of prompt p on slot k and
    the wins of ``first[k]`` among them (a tie: half).
    """

    systems: tuple[str, ...]
    first: np.ndarray
    second: np.ndarray
    games: sparse.csr_matrix
    wins: sparse.csr_matrix

    @property
    def prompts(self) -> int:
        return int(self.games.shape[0])

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Games and first-system wins per slot over all prompts."""
        return (
            np.asarray(self.games.sum(axis=0)).ravel(),
            np.asarray(self.wins.sum(axis=0)).ravel(),
        )

    def wins_matrix(self) -> np.ndarray:
        """``wins[i, j]``: times i beat j (ties half), as :func:`bradley_terry_strengths` takes."""
        games, wins = self.totals()
        matrix = np.zeros((len(self.systems), len(self.systems)))
        matrix[self.first, self.second] = wins
        matrix[self.second, self.first] = games - wins
        return matrix


_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def pair_counts(comparisons: pd.DataFrame) -> PairCounts:
    """The :class:`PairCounts` of checked verdicts (prompt_id, system_a, system_b, winner);
    systems sorted by name, prompts in order of first appearance."""
    names = np.concatenate([comparisons["system_a"].unique(), comparisons["system_b"].unique()])
    systems = tuple(sorted(set(names.tolist())))
    a = pd.Categorical(comparisons["system_a"], categories=systems).codes.astype(np.int64)
    b = pd.Categorical(comparisons["system_b"], categories=systems).codes.astype(np.int64)
    verdict = pd.Categorical(comparisons["winner"], categories=list(_SCORE)).codes
    score = np.array(list(_SCORE.values()))[verdict]
    low, high = np.minimum(a, b), np.maximum(a, b)
    first_wins = np.where(a == low, score, 1.0 - score)
    slot_code, slots = pd.factorize(low * len(systems) + high, sort=True)
    prompt_code, prompts = pd.factorize(comparisons["prompt_id"], sort=False)
    shape = (len(prompts), len(slots))
    games = sparse.csr_matrix((np.ones(len(a)), (prompt_code, slot_code)), shape=shape)
    wins = sparse.csr_matrix((first_wins, (prompt_code, slot_code)), shape=shape)
    slots = np.asarray(slots, dtype=np.int64)
    return PairCounts(systems, slots // len(systems), slots % len(systems), games, wins)


def _refuse_infinite(games: np.ndarray, wins: np.ndarray, first, second, n: int) -> np.ndarray:
    """Per data set (rows): True where every system both won and lost and the comparison graph
    is connected, i.e. where the maximum-likelihood θ exists."""
    won = np.zeros((games.shape[0], n))
    lost = np.zeros((games.shape[0], n))
    np.add.at(won.T, first, wins.T)
    np.add.at(won.T, second, (games - wins).T)
    np.add.at(lost.T, first, (games - wins).T)
    np.add.at(lost.T, second, wins.T)
    fine = (won > 0).all(axis=1) & (lost > 0).all(axis=1)
    for row in np.flatnonzero(fine):
        played = games[row] > 0
        graph = sparse.coo_matrix(
            (np.ones(int(played.sum())), (first[played], second[played])), shape=(n, n)
        )
        if connected_components(graph, directed=False, return_labels=False) > 1:
            fine[row] = False
    return fine


def fit_slots(
    games: np.ndarray,
    wins: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    n: int,
    *,
    start: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood θ (mean zero) for each row of ``games`` / ``wins`` (data sets ×
    slots), by Newton's method (see the module docstring).

    Returns:
        θ (data sets × n; NaN where the estimate does not exist: a system that never won or
        never lost, or systems never compared even indirectly) and a boolean per data set
        telling which converged.
    """
    games = np.atleast_2d(np.asarray(games, dtype=float))
    wins = np.atleast_2d(np.asarray(wins, dtype=float))
    sets = games.shape[0]
    theta = np.zeros((sets, n)) if start is None else np.array(np.broadcast_to(start, (sets, n)))
    exists = _refuse_infinite(games, wins, first, second, n)
    done = ~exists
    centre = np.full((n, n), 1.0 / n)
    rows = np.arange(n)
    for _ in range(max_iter):
        active = np.flatnonzero(~done)
        if not active.size:
            break
        t = theta[active]
        p = expit(t[:, first] - t[:, second])
        g = games[active]
        residual = wins[active] - g * p
        gradient = np.zeros((active.size, n))
        np.add.at(gradient.T, first, residual.T)
        np.add.at(gradient.T, second, -residual.T)
        weight = g * p * (1 - p)
        hessian = np.broadcast_to(centre, (active.size, n, n)).copy()
        hessian[:, first, second] -= weight
        hessian[:, second, first] -= weight
        degree = np.zeros((active.size, n))
        np.add.at(degree.T, first, weight.T)
        np.add.at(degree.T, second, weight.T)
        hessian[:, rows, rows] += degree
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        theta[active] = t + step
        done[active] = np.abs(step).max(axis=1) < tol
    theta[~exists] = np.nan
    return theta, done & exists


def bradley_terry_strengths(
    wins: np.ndarray, *, tol: float = 1e-12, max_iter: int = 100
) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry strengths from a wins matrix (``wins[i, j]``: times i
    beat j; a tie may count half to each), θ centred to mean zero (as ``choix``).

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
    n = w.shape[0]
    stuck = np.flatnonzero((w.sum(axis=1) == 0) | (w.sum(axis=0) == 0))
    if stuck.size:
        raise ValueError(
            f"system(s) at index {stuck.tolist()} never win or never lose: their maximum-"
            "likelihood strength is infinite (compare them more, or add a prior)"
        )
    first, second = np.triu_indices(n, k=1)
    games = (w + w.T)[first, second]
    played = games > 0
    theta, converged = fit_slots(
        games[played], w[first, second][played], first[played], second[played], n,
        tol=tol, max_iter=max_iter,
    )  # fmt: skip
    if np.isnan(theta).any():
        raise ValueError("some systems were never compared, even indirectly, with the others")
    if not converged[0]:
        raise ValueError(f"the Bradley–Terry fit did not converge in {max_iter} Newton steps")
    return theta[0]


def _prompt_types(counts: PairCounts) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Prompts grouped by what they contribute (the same slots, games and wins), as
    (types × 2·slots matrix of games | wins, prompts per type). Resampling prompts with
    replacement is then a multinomial draw over the types with these multiplicities: the same
    distribution, drawn in time proportional to the types (a leaderboard of one verdict per
    prompt has at most 3 types per pair of systems). Prompts with verdicts on several pairs
    are each their own type."""
    stacked = sparse.hstack([counts.games, counts.wins], format="csr")
    stacked.sort_indices()
    entries = np.diff(stacked.indptr)
    slots = counts.first.size
    if entries.size and (entries == 2).all() and (stacked.indices[0::2] < slots).all():
        key = pd.DataFrame(
            {"slot": stacked.indices[0::2], "games": stacked.data[0::2],
             "wins": stacked.data[1::2]}
        )  # fmt: skip
        single = (key["wins"] == 0) | (stacked.indices[1::2] == key["slot"] + slots)
        if single.all():
            grouped = key.groupby(["slot", "games", "wins"], sort=True).size()
            frame = grouped.index.to_frame(index=False)
            rows = np.arange(len(frame))
            types = sparse.csr_matrix(
                (
                    np.concatenate([frame["games"], frame["wins"]]),
                    (np.tile(rows, 2), np.concatenate([frame["slot"], frame["slot"] + slots])),
                ),
                shape=(len(frame), 2 * slots),
            )
            return types, grouped.to_numpy()
    return stacked, np.ones(counts.prompts, dtype=np.int64)


def _resample_counts(multiplicity: np.ndarray, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """How many times each prompt type is drawn in each resample of the prompts with
    replacement, in chunks (resamples × types)."""
    rng = np.random.default_rng(seed)
    prompts = int(multiplicity.sum())
    chunk = max(1, min(_CHUNK, 20_000_000 // max(multiplicity.size, 1)))
    shares = multiplicity / prompts
    for begin in range(0, resamples, chunk):
        size = min(chunk, resamples - begin)
        if multiplicity.size == prompts:  # every prompt its own type: draw prompt indices
            yield np.vstack(
                [np.bincount(rng.integers(0, prompts, prompts), minlength=prompts)
                 for _ in range(size)]
            )  # fmt: skip
        else:
            yield rng.multinomial(prompts, shares, size=size)


def bootstrap_strengths(
    counts: PairCounts, resamples: int, *, seed: int = 0, start: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """θ of each prompt-bootstrap resample (resamples × systems; rows of resamples whose
    estimate does not exist are dropped) and the number dropped."""
    types, multiplicity = _prompt_types(counts)
    by_slot = types.T.tocsr()  # (2·slots) × types
    slots = counts.first.size
    draws, failed = [], 0
    for chunk in _resample_counts(multiplicity, resamples, seed):
        summed = (by_slot @ chunk.T.astype(float)).T  # chunk × (2·slots)
        theta, ok = fit_slots(
            summed[:, :slots], summed[:, slots:], counts.first, counts.second,
            len(counts.systems), start=start,
        )  # fmt: skip
        draws.append(theta[ok])
        failed += int((~ok).sum())
    return np.vstack(draws), failed


def sandwich_covariance(counts: PairCounts, theta: np.ndarray) -> np.ndarray:
    """Prompt-clustered sandwich covariance of the centred θ̂ (see the module docstring)."""
    n = len(counts.systems)
    p = expit(theta[counts.first] - theta[counts.second])
    games, _ = counts.totals()
    incidence = sparse.csr_matrix(
        (
            np.concatenate([np.ones(p.size), -np.ones(p.size)]),
            (np.tile(np.arange(p.size), 2), np.concatenate([counts.first, counts.second])),
        ),
        shape=(p.size, n),
    )
    residual = counts.wins - counts.games.multiply(p[None, :])  # prompts × slots
    scores = sparse.csr_matrix(residual) @ incidence  # prompts × systems
    meat = np.asarray((scores.T @ scores).todense())
    information = np.asarray(
        (incidence.T @ sparse.diags(games * p * (1 - p)) @ incidence).todense()
    )
    bread = np.linalg.pinv(information)
    clusters = counts.prompts
    return bread @ meat @ bread * clusters / (clusters - 1)


def _rank_intervals(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    better = (low[None, :] > high[:, None]).sum(axis=1)  # systems wholly above each
    worse = (high[None, :] < low[:, None]).sum(axis=1)
    return 1 + better, low.size - worse


@dataclass(frozen=True)
class BradleyTerry:
    """Bradley–Terry strengths (log scale, mean zero) by system, with intervals.

    P(i beats j) = 1 / (1 + exp(θ_j − θ_i)). ``ci_low`` / ``ci_high``: per-system intervals at
    1 − α (bootstrap percentiles, or θ̂ ± z·se for the sandwich); ``sim_low`` / ``sim_high``:
    simultaneous over all systems (max-t); ``rank_low`` / ``rank_high``: the rank intervals
    they imply (1 = best). All NaN when ``resamples`` is 0 and the interval is the bootstrap.
    """

    systems: tuple[str, ...]
    strength: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    resamples: int
    interval: IntervalKind = "bootstrap"
    se: np.ndarray | None = None
    sim_low: np.ndarray | None = None
    sim_high: np.ndarray | None = None
    failed_resamples: int = 0

    def win_probability(self, a: str, b: str) -> float:
        i, j = self.systems.index(a), self.systems.index(b)
        return beats(self.strength[i], self.strength[j])

    def ranks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each system's rank by strength and its simultaneous rank interval (low, high)."""
        order = (-self.strength).argsort(kind="stable")
        rank = np.empty(len(self.systems), dtype=int)
        rank[order] = np.arange(1, len(self.systems) + 1)
        if self.sim_low is None or self.sim_high is None:
            nan = np.full(len(self.systems), np.nan)
            return rank, nan, nan
        low, high = _rank_intervals(self.sim_low, self.sim_high)
        return rank, low, high

    def table(self) -> pd.DataFrame:
        rank, rank_low, rank_high = self.ranks()
        missing = np.full(len(self.systems), np.nan)
        return pd.DataFrame(
            {
                "system": self.systems,
                "strength": self.strength,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "se": missing if self.se is None else self.se,
                "rank": rank,
                "rank_low": rank_low,
                "rank_high": rank_high,
            }
        ).sort_values("strength", ascending=False, ignore_index=True)


def _max_t_critical(covariance: np.ndarray, alpha: float, seed: int) -> float:
    """1 − α quantile of max_s |Z_s| / sd_s for Z ~ N(0, covariance), from fixed-seed draws."""
    sd = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(sd, sd)
    values, vectors = np.linalg.eigh(correlation)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    draws = np.random.default_rng(seed).standard_normal((_MAX_T_DRAWS, sd.size)) @ root.T
    return float(np.quantile(np.abs(draws).max(axis=1), 1 - alpha))


def fit_bradley_terry(
    comparisons: pd.DataFrame,
    *,
    resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    interval: IntervalKind = "bootstrap",
) -> BradleyTerry:
    """Bradley–Terry strengths of every system in ``comparisons`` (one row per verdict:
    prompt_id, system_a, system_b, winner a / b / tie; a tie counts half to each), with
    intervals over prompts (a prompt's verdicts stay together):

    - ``interval="bootstrap"``: percentile intervals from ``resamples`` resamples of the
      prompts. Resamples whose fit does not exist (a system never winning) are counted against
      the interval: if more than 1 % fail, the interval is refused.
    - ``interval="sandwich"``: θ̂ ± z·se with the prompt-clustered sandwich covariance (fast,
      analytic; no resampling).

    Both come with simultaneous (max-t) intervals over all systems and the rank intervals they
    imply (:meth:`BradleyTerry.table`).
    """
    if interval not in INTERVAL_KINDS:
        raise ValueError(f"interval == {interval!r}; allowed: {list(INTERVAL_KINDS)}")
    check_comparisons(comparisons)
    counts = pair_counts(comparisons)
    wanted = interval == "sandwich" or resamples > 0
    if wanted and counts.prompts < MIN_PROMPTS_FOR_INTERVAL:
        raise ValueError(
            f"{counts.prompts} prompt(s): a {interval} interval over prompts needs at least "
            f"{MIN_PROMPTS_FOR_INTERVAL} (with fewer, resampling them gives an interval far "
            "too narrow, zero-width for one); judge more prompts, or pass resamples=0 for the "
            "strengths alone"
        )
    strength = bradley_terry_strengths(counts.wins_matrix())
    n = len(counts.systems)
    nan = np.full(n, math.nan)
    if interval == "sandwich":
        covariance = sandwich_covariance(counts, strength)
        se = np.sqrt(np.diag(covariance))
        z = float(norm.isf(alpha / 2))
        c = _max_t_critical(covariance, alpha, seed)
        return BradleyTerry(
            counts.systems, strength, strength - z * se, strength + z * se, 0, "sandwich",
            se, strength - c * se, strength + c * se,
        )  # fmt: skip
    if not resamples:
        return BradleyTerry(counts.systems, strength, nan, nan, 0)
    draws, failed = bootstrap_strengths(counts, resamples, seed=seed, start=strength)
    if failed > 0.01 * resamples:
        raise ValueError(
            f"{failed} of {resamples} bootstrap resamples had a system that never won or "
            "never lost: too few comparisons for an interval"
        )
    low = np.quantile(draws, alpha / 2, axis=0)
    high = np.quantile(draws, 1 - alpha / 2, axis=0)
    se = draws.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_max = (np.abs(draws - strength) / se).max(axis=1)
    c = float(np.quantile(t_max, 1 - alpha))
    return BradleyTerry(
        counts.systems, strength, low, high, resamples, "bootstrap", se,
        strength - c * se, strength + c * se, failed,
    )  # fmt: skip
