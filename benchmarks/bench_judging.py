"""Bradley–Terry at leaderboard scale (issue: LLM judges at real scale).

Prints, in one run on this machine, on a simulated arena-shaped data set (default 1.67M verdicts
over 129 systems, one verdict per prompt with random 32-hex-digit prompt ids, 15 % ties):

- ``abkit.judging.fit_bradley_terry`` with 1,000 prompt-bootstrap resamples (aim: <= 60 s), and
  with the prompt-clustered sandwich interval;
- the implementation before this issue (a DataFrame per resample, restated below as
  ``dataframe_bootstrap``) timed on a 50,000-verdict subset for a few resamples, and extrapolated
  to 1,000 resamples of the whole set (its cost grows with the verdicts);
- ``choix.ilsr_pairwise`` (the peer) fitting the decided verdicts (choix has no ties), and the
  kit's fit on the same verdicts, with the largest strength difference;

and the ratios of those times.

Run: .venv/bin/python benchmarks/bench_judging.py [--comparisons 1670000] [--systems 129]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from abkit.judging.bradley_terry import bradley_terry_strengths, fit_bradley_terry
from abkit.judging.simulation import simulate_arena


def dataframe_bootstrap(comparisons: pd.DataFrame, resamples: int, seed: int) -> None:
    """The bootstrap before this issue, restated: per resample, the chosen prompts' rows are
    concatenated into a new DataFrame, its wins matrix built, and the strengths fitted."""
    systems = tuple(sorted(set(comparisons["system_a"]) | set(comparisons["system_b"])))
    index = {s: k for k, s in enumerate(systems)}
    rng = np.random.default_rng(seed)
    prompts = comparisons["prompt_id"].unique()
    groups = dict(list(comparisons.groupby("prompt_id", sort=False)))
    for _ in range(resamples):
        chosen = rng.choice(prompts, size=prompts.size, replace=True)
        sample = pd.concat([groups[p] for p in chosen], ignore_index=True)
        a = sample["system_a"].map(index).to_numpy()
        b = sample["system_b"].map(index).to_numpy()
        score = sample["winner"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy()
        wins = np.zeros((len(systems), len(systems)))
        np.add.at(wins, (a, b), score)
        np.add.at(wins, (b, a), 1 - score)
        bradley_terry_strengths(wins)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=1_670_000)
    parser.add_argument("--systems", type=int, default=129)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=50_000)
    parser.add_argument("--subset-resamples", type=int, default=3)
    args = parser.parse_args()

    theta = np.random.default_rng(7).normal(0.0, 0.6, args.systems)
    data = simulate_arena(args.comparisons, theta, tie_share=0.15, seed=11)
    print(
        f"{len(data):,} verdicts, {data['prompt_id'].nunique():,} prompts, {args.systems} "
        f"systems, {(data['winner'] == 'tie').mean():.0%} ties"
    )

    fit_s, fit = timed(
        lambda: fit_bradley_terry(data, resamples=args.resamples, seed=1, interval="bootstrap")
    )
    sandwich_s, sandwich = timed(lambda: fit_bradley_terry(data, interval="sandwich"))
    print(f"kit, {args.resamples:,} bootstrap resamples: {fit_s:8.1f} s (aim <= 60 s)")
    print(f"kit, sandwich interval:            {sandwich_s:8.1f} s")
    low_b, high_b = fit.ci_low, fit.ci_high
    width = np.median((high_b - low_b) / (sandwich.ci_high - sandwich.ci_low))
    print(f"  median width bootstrap / sandwich: {width:.3f}")

    subset = data.iloc[: args.subset]
    old_s, _ = timed(lambda: dataframe_bootstrap(subset, args.subset_resamples, seed=1))
    per_resample = old_s / args.subset_resamples
    extrapolated = per_resample * args.resamples * len(data) / len(subset)
    print(
        f"before (DataFrame per resample): {per_resample:.2f} s per resample on "
        f"{len(subset):,} verdicts; {args.resamples:,} resamples of {len(data):,} verdicts "
        f"extrapolated: {extrapolated / 3600:.1f} h"
    )

    import choix

    decided = data[data["winner"] != "tie"]
    names = sorted(set(decided["system_a"]) | set(decided["system_b"]))
    index = {s: k for k, s in enumerate(names)}
    a = decided["system_a"].map(index).to_numpy()
    b = decided["system_b"].map(index).to_numpy()
    a_won = (decided["winner"] == "a").to_numpy()
    games = np.column_stack([np.where(a_won, a, b), np.where(a_won, b, a)])
    choix_s, reference = timed(
        lambda: choix.ilsr_pairwise(len(names), games, alpha=0.0, max_iter=10_000, tol=1e-12)
    )
    kit_s, mine = timed(lambda: fit_bradley_terry(decided, resamples=0))
    reference = reference - reference.mean()
    print(
        f"choix.ilsr_pairwise fit ({len(decided):,} decided verdicts): {choix_s:.1f} s; "
        f"kit's fit of the same: {kit_s:.1f} s; max |strength difference| "
        f"{np.abs(reference - mine.strength).max():.1e}"
    )
    print(
        f"ratios: kit 1,000-resample bootstrap / before {fit_s / extrapolated:.5f} "
        f"({extrapolated / fit_s:,.0f}x faster); kit bootstrap / choix fit "
        f"{fit_s / choix_s:.2f}; kit fit / choix fit {kit_s / choix_s:.2f}; "
        f"sandwich / bootstrap {sandwich_s / fit_s:.2f}"
    )


if __name__ == "__main__":
    main()
