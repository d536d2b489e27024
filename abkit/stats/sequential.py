"""Group-sequential designs: alpha spending, boundaries for repeated looks, peeking simulation.

Looking at a fixed-horizon test every day and stopping at the first p < α inflates the
false-positive rate far above α. A group-sequential design spends α over the looks with a
spending function α(t) of the information fraction t ∈ (0, 1] (Lan & DeMets, Biometrika 1983):

- ``obrien_fleming`` (the default): Lan & DeMets' two-sided form, the total spent by both sides
  α(t) = 2 − 2Φ(z₁₋α/₂ / √t) (O'Brien–Fleming-type; spends little early);
- ``obrien_fleming_per_side``: the form of rpact (``asOF``) and gsDesign (``sfLDOF``): each side
  spends α/2 with the one-sided function, so the total is α(t) = 2·(2 − 2Φ(z₁₋α/₄ / √t)). It
  spends even less early: at 4 equal looks and α = 0.05 its boundaries are 4.333 / 2.963 / 2.359
  / 2.014, the two-sided form's 3.920 / 2.774 / 2.298 / 2.043. Both end at α; choose one before
  the first look and say which;
- ``pocock``: α(t) = α·ln(1 + (e − 1)·t) (linear in α, so the same in both conventions);
- ``power``: α(t) = α·t^ρ (ρ = 3 is close to O'Brien–Fleming, ρ = 1 to Pocock).

Boundaries c_k for two-sided tests solve P(no crossing before look k, |Z_k| ≥ c_k) = α(t_k) −
α(t_{k−1}) under H0, with Z_k = S(t_k)/√t_k for a Brownian motion S: computed by propagating
the density of S on a grid through the continuation regions (Armitage, McPherson & Rowe 1969).

For looking without a schedule, always-valid inference:

- :func:`confidence_sequence`: the normal-mixture sequential probability ratio test (mSPRT) as a
  confidence sequence, Waudby-Smith et al. 2023 (arXiv 2103.06476, eq. 9 two-sided, eq. 134
  one-sided, the mixing ρ of eq. 161 tuned for a planned sample size), the form GrowthBook
  and Eppo document: the interval holds at every n simultaneously with probability 1 − α;
- :func:`sequential_srm_p_values`: the sample-ratio check every day (Lindon & Malek 2022,
  Dirichlet–multinomial Bayes factor against the planned split; p = min over days of 1/BF).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import gammaln, ndtr
from scipy.stats import norm
from tqdm import tqdm

from abkit.core.params import check_choice, check_integer, check_number, check_probability

__all__ = [
    "ConfidenceSequence",
    "alpha_spending",
    "boundaries",
    "confidence_sequence",
    "mixture_rho",
    "peeking_simulation",
    "sequential_srm_p_values",
]

SpendingKind = Literal["obrien_fleming", "obrien_fleming_per_side", "pocock", "power"]
KINDS: tuple[str, ...] = get_args(SpendingKind)
_NODES = 1001  # Simpson nodes per look (odd)
_SQRT_2PI = math.sqrt(2 * math.pi)


def alpha_spending(
    t: float | Sequence[float] | np.ndarray,
    alpha: float = 0.05,
    kind: SpendingKind = "obrien_fleming",
    rho: float = 3.0,
) -> np.ndarray | float:
    """Cumulative two-sided α spent by information fraction ``t`` (see the module docstring).

    Examples:
        >>> round(float(alpha_spending(0.5)), 6)
        0.005575
        >>> round(float(alpha_spending(0.5, kind="obrien_fleming_per_side")), 6)
        0.003051
    """
    check_probability("alpha", alpha)
    check_choice("kind", kind, KINDS)
    check_number("rho", rho, low=0.0)
    fractions = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(fractions)) or np.any(fractions < 0) or np.any(fractions > 1):
        raise ValueError(f"t == {t!r}, information fractions must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        # 2·(1 − Φ(x)) written as 2·Φ̄(x): no cancellation for the tiny amounts spent early
        if kind == "obrien_fleming":
            spent = np.where(
                fractions > 0, 2 * norm.sf(norm.isf(alpha / 2) / np.sqrt(fractions)), 0.0
            )
        elif kind == "obrien_fleming_per_side":
            spent = np.where(
                fractions > 0, 4 * norm.sf(norm.isf(alpha / 4) / np.sqrt(fractions)), 0.0
            )
        elif kind == "pocock":
            spent = alpha * np.log1p((math.e - 1) * fractions)
        else:
            spent = alpha * fractions**rho
    return float(spent) if np.ndim(spent) == 0 else spent


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1:
        raise ValueError(f"information_fractions == {list(fractions)}, must increase within (0, 1]")
    return t


def _std_normal_pdf(x: np.ndarray) -> np.ndarray:
    """φ(x) = exp(−x²/2)/√(2π), the formula scipy's ``norm.pdf`` evaluates, without its
    per-call argument handling."""
    return np.exp(-(x**2) / 2.0) / _SQRT_2PI


def _normal_mixture(
    points: np.ndarray, centres: np.ndarray, masses: np.ndarray, spread: float
) -> np.ndarray:
    """Σ_j masses_j · φ((points_i − centres_j)/spread)/spread at each point: the density of
    S(t_k) from the sub-density of S(t_{k−1}) (an independent normal increment of variance
    ``spread``²). Computed in one buffer, in place: this runs on 1001 × 1001 grids once per
    look, and the temporary arrays of the plain expression cost three times as much."""
    grid = np.subtract.outer(points, centres)
    grid /= spread
    np.square(grid, out=grid)
    grid *= -0.5
    np.exp(grid, out=grid)
    return grid @ masses / (_SQRT_2PI * spread)


def _simpson_weights(count: int, width: float) -> np.ndarray:
    """Composite Simpson weights for ``count`` (odd) equally spaced nodes over ``width``."""
    weights = np.ones(count)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return weights * width / (count - 1) / 3


def boundaries(
    information_fractions: Sequence[float],
    alpha: float = 0.05,
    kind: SpendingKind = "obrien_fleming",
    rho: float = 3.0,
) -> pd.DataFrame:
    """Two-sided z boundaries for looks at the given information fractions.

    Recursive numerical integration: the sub-density of S(t_k) on "no crossing yet" is held on
    Simpson nodes inside (−c_k√t_k, c_k√t_k); the next look's crossing probability is then an
    exact sum of normal tail probabilities over those nodes, solved for c_{k+1}
    (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19).

    Returns:
        One row per look: look, information_fraction, cumulative_alpha, incremental_alpha,
        z_boundary (reject when |Z| ≥ it), nominal_alpha (the two-sided p-value threshold at
        that look, 2·(1 − Φ(z_boundary))).
    """
    t = _check_fractions(information_fractions)
    cumulative = np.asarray(alpha_spending(t, alpha, kind, rho), dtype=float)
    incremental = np.diff(np.concatenate([[0.0], cumulative]))
    nodes = masses = None  # Simpson nodes of S(t_{k-1}) in the continuation region, weighted
    previous_t = 0.0
    z_bounds = []
    for t_k, spend in zip(t, incremental, strict=True):
        root = math.sqrt(t_k)
        if nodes is None:

            def crossing(c: float) -> float:
                return float(2 * norm.sf(c))
        else:
            spread = math.sqrt(t_k - previous_t)

            def crossing(c: float, nodes=nodes, masses=masses, spread=spread, root=root) -> float:
                edge = c * root
                # Φ(a) + Φ̄(b) = ndtr(a) + ndtr(−b), the ufunc behind norm.cdf and norm.sf
                tails = ndtr((-edge - nodes) / spread) + ndtr(-((edge - nodes) / spread))
                return float(masses @ tails)

        if spend <= 0:
            c_k = math.inf
        else:
            c_k = optimize.brentq(lambda c, s=spend: crossing(c) - s, 1e-6, 40.0, xtol=1e-12)
        z_bounds.append(c_k)
        # the sub-density of S(t_k) on the new continuation region, on Simpson nodes
        edge = min(c_k, 12.0) * root
        new_nodes = np.linspace(-edge, edge, _NODES)
        if nodes is None:
            density = _std_normal_pdf(new_nodes / root) / root
        else:
            density = _normal_mixture(new_nodes, nodes, masses, math.sqrt(t_k - previous_t))
        nodes, masses = new_nodes, density * _simpson_weights(_NODES, 2 * edge)
        previous_t = t_k
    z = np.asarray(z_bounds)
    return pd.DataFrame(
        {
            "look": np.arange(1, len(t) + 1),
            "information_fraction": t,
            "cumulative_alpha": cumulative,
            "incremental_alpha": incremental,
            "z_boundary": z,
            "nominal_alpha": 2 * norm.sf(z),
        }
    )


def peeking_simulation(
    n_experiments: int,
    looks: int,
    *,
    alpha: float = 0.05,
    effect_z: float = 0.0,
    kind: SpendingKind = "obrien_fleming",
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Rejection rates when a test is looked at ``looks`` times at equal information steps.

    The cumulative z-statistic of a two-arm comparison follows Z_k = S(t_k)/√t_k with S a
    Brownian motion with drift ``effect_z`` (the expected z at the final look; 0 for A/A).
    Compares: fixed horizon (one look at the end), naive peeking (reject at the first look with
    |Z_k| ≥ z₁₋α/₂), and the group-sequential boundaries of ``kind``.

    Returns:
        method, rejections, rate; and for the group-sequential design, the boundaries used.
    """
    check_integer("n_experiments", n_experiments, minimum=1)
    check_integer("looks", looks, minimum=1)
    check_number("effect_z", effect_z)
    rng = np.random.default_rng(seed)
    t = np.arange(1, looks + 1) / looks
    bounds = boundaries(t, alpha, kind)["z_boundary"].to_numpy()
    fixed = naive = sequential = 0
    batch = 20_000
    for start in tqdm(range(0, n_experiments, batch), disable=not progress, desc="peeking"):
        size = min(batch, n_experiments - start)
        steps = rng.normal(effect_z / looks, math.sqrt(1 / looks), (size, looks))
        z = np.cumsum(steps, axis=1) / np.sqrt(t)
        critical = norm.isf(alpha / 2)
        fixed += int((np.abs(z[:, -1]) >= critical).sum())
        naive += int((np.abs(z) >= critical).any(axis=1).sum())
        sequential += int((np.abs(z) >= bounds).any(axis=1).sum())
    counts = {
        "fixed horizon (one look)": fixed,
        f"naive peeking ({looks} looks)": naive,
        f"group-sequential {kind.replace('_', '-')} ({looks} looks)": sequential,
    }
    return pd.DataFrame(
        {
            "method": list(counts),
            "rejections": list(counts.values()),
            "rate": [value / n_experiments for value in counts.values()],
        }
    )


Side = Literal["two-sided", "lower", "upper"]
SIDES: tuple[str, ...] = get_args(Side)


def mixture_rho(alpha: float, planned_n: float, *, two_sided: bool = True) -> float:
    """The mixing scale ρ of the normal-mixture SPRT that makes its confidence sequence tightest
    near ``planned_n`` units (Waudby-Smith et al. 2023, eq. 161): ρ² = (−2 ln a + ln(1 − 2 ln a))
    / planned_n with a = α two-sided, 2α one-sided.

    Examples:
        >>> round(mixture_rho(0.05, 5000), 6)
        0.03984
    """
    check_probability("alpha", alpha)
    check_number("planned_n", planned_n, low=0.0)
    level = alpha if two_sided else 2 * alpha
    return math.sqrt((-2 * math.log(level) + math.log(1 - 2 * math.log(level))) / planned_n)


@dataclass(frozen=True)
class ConfidenceSequence:
    """An always-valid interval for an effect and its always-valid p-value (two-sided).

    ``ci_low`` / ``ci_high`` are −inf / +inf on the side a one-sided sequence leaves open.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    rho: float
    side: Side


def confidence_sequence(
    estimate: float,
    se: float,
    n: int,
    *,
    planned_n: float,
    alpha: float = 0.05,
    side: Side = "two-sided",
) -> ConfidenceSequence:
    """Always-valid confidence interval for ``estimate`` (standard error ``se`` from ``n`` units).

    With σ² = se²·n (one unit's variance) and ρ = :func:`mixture_rho` for ``planned_n``:

    - two-sided half-width (eq. 9): σ·√(2(nρ² + 1)/(nρ)² · ln(√(nρ² + 1)/α));
    - one-sided (eq. 134): σ·√(2(nρ² + 1)/(nρ)² · ln(1 + √(nρ² + 1)/(2α))), ``side`` "lower"
      bounds the effect from below, "upper" from above;
    - p-value (eq. 155, two-sided ρ): min(1, 1/E) with the e-value
      E = exp(ρ² n² estimate² / (2σ²(nρ² + 1))) / √(nρ² + 1); report the running minimum
      over looks, which stays valid.

    Checked against GrowthBook's ``SequentialTwoSidedTTest`` test values.

    Examples:
        >>> cs = confidence_sequence(0.5, 0.1, 6000, planned_n=5000)
        >>> round(cs.ci_low, 4), round(cs.ci_high, 4)
        (0.1963, 0.8037)
    """
    check_number("se", se, low=0.0)
    check_integer("n", n, minimum=1)
    check_choice("side", side, SIDES)
    rho = mixture_rho(alpha, planned_n, two_sided=side == "two-sided")
    variance = se**2 * n
    spread = n * rho**2 + 1
    scale = 2 * spread / (n * rho) ** 2
    if side == "two-sided":
        half = math.sqrt(variance * scale * math.log(math.sqrt(spread) / alpha))
        low, high = estimate - half, estimate + half
    else:
        half = math.sqrt(variance * scale * math.log(1 + math.sqrt(spread) / (2 * alpha)))
        low, high = (estimate - half, math.inf) if side == "lower" else (-math.inf, estimate + half)
    two_sided_rho = mixture_rho(alpha, planned_n)
    spread_p = n * two_sided_rho**2 + 1
    if se > 0:
        log_e = two_sided_rho**2 * estimate**2 * n**2 / (2 * variance * spread_p)
        p_value = min(1.0, math.exp(-(log_e - 0.5 * math.log(spread_p))))
    else:
        p_value = math.nan
    return ConfidenceSequence(estimate, low, high, p_value, rho, side)


def sequential_srm_p_values(
    daily_counts: Sequence[Sequence[int]] | np.ndarray,
    expected: Sequence[float],
    *,
    concentration: float = 10_000.0,
) -> np.ndarray:
    """Always-valid sample-ratio p-values after each day (Lindon & Malek 2022).

    The counts of each day (one column per arm, new units only) update a Dirichlet prior with
    mean ``expected`` and total ``concentration``; the Bayes factor of "some other split" against
    the planned one multiplies by DirMult(x | α)/Mult(x | p₀) each day:
    ln Γ(Σα) − ln Γ(Σα + n) + Σᵢ [ln Γ(αᵢ + xᵢ) − ln Γ(αᵢ)] − Σᵢ xᵢ ln p₀ᵢ, then α ← α + x.
    The p-value is min(1, 1/BF), as a running minimum. Checked against GrowthBook's values
    (computed with the reference ``ssrm`` implementation).

    Examples:
        >>> [float(f"{p:.6g}") for p in sequential_srm_p_values([[800, 200]], [0.5, 0.5])]
        [8.12616e-08]
    """
    counts = np.asarray(daily_counts, dtype=float)
    p0 = np.asarray(expected, dtype=float)
    if counts.ndim != 2 or counts.shape[1] != p0.size:
        raise ValueError(
            f"daily_counts has shape {counts.shape}, must be (days, {p0.size}): one column per "
            "arm of expected"
        )
    if np.any(~np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("daily_counts must be whole numbers >= 0 (users first seen that day)")
    if np.any(p0 <= 0) or not math.isclose(float(p0.sum()), 1.0, abs_tol=1e-9):
        raise ValueError(f"expected == {list(expected)}, must be shares > 0 that sum to 1")
    check_number("concentration", concentration, low=0.0)
    prior = concentration * p0
    log_bf, smallest, out = 0.0, 1.0, []
    for day in counts:
        total = day.sum()
        log_bf += float(
            gammaln(prior.sum())
            - gammaln(prior.sum() + total)
            + np.sum(gammaln(prior + day) - gammaln(prior))
            - np.sum(day * np.log(p0))
        )
        prior = prior + day
        smallest = min(smallest, math.exp(-log_bf) if log_bf > 0 else 1.0)
        out.append(smallest)
    return np.asarray(out)
