"""What notebook 05 says in words: the preference table and the findings, each sentence taking its
direction from the signed value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from abkit.judging.bradley_terry import BradleyTerry, beats
from abkit.judging.drift import JudgeDrift
from abkit.judging.graded import GradedComparison
from abkit.judging.pairwise import LengthControlled, SwapReport, WinRates

__all__ = [
    "judge_findings",
    "leaderboard_sentence",
    "length_effect_sentence",
    "position_sentence",
    "preference_sentence",
    "preference_table",
]


def preference_table(raw: BradleyTerry, controlled: LengthControlled | None = None) -> pd.DataFrame:
    """Raw and length-controlled Bradley–Terry side by side, one row per system: strengths
    (log scale, mean zero), and as probabilities of beating an average system (one of strength
    zero), logistic(θ), with the raw fit's interval mapped the same way; the rank and its
    simultaneous interval. Without a length-controlled fit (no lengths), its columns are NaN.

    Columns: system, strength, ci_low, ci_high, win_probability, win_ci_low, win_ci_high,
    rank, rank_low, rank_high, controlled_strength, controlled_win_probability.
    """
    if controlled is not None and raw.systems != controlled.systems:
        raise ValueError(f"the fits cover different systems: {raw.systems} / {controlled.systems}")

    def logistic(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))

    rank, rank_low, rank_high = raw.ranks()
    fair = np.full(len(raw.systems), np.nan) if controlled is None else controlled.strength
    return pd.DataFrame(
        {
            "system": raw.systems,
            "strength": raw.strength,
            "ci_low": raw.ci_low,
            "ci_high": raw.ci_high,
            "win_probability": logistic(raw.strength),
            "win_ci_low": logistic(raw.ci_low),
            "win_ci_high": logistic(raw.ci_high),
            "rank": rank,
            "rank_low": rank_low,
            "rank_high": rank_high,
            "controlled_strength": fair,
            "controlled_win_probability": logistic(fair),
        }
    ).sort_values("strength", ascending=False, ignore_index=True)


def preference_sentence(a: str, b: str, p_a: float, *, fair: float | None = None) -> str:
    """Who the judge prefers in a pair, its direction taken from the sign of P(a beats b) − ½
    and the probability stated for the preferred system against the other one.

    Examples:
        >>> preference_sentence("ft", "base", 0.4)
        'The judge prefers base to ft: P(base beats ft) = 60.0%.'
        >>> preference_sentence("ft", "base", 0.66, fair=0.6)
        'The judge prefers ft to base: P(ft beats base) = 66.0%; at equal response length 60.0%.'
    """
    flip = p_a < 0.5  # state it for the preferred system
    first, second = (b, a) if flip else (a, b)
    p = 1 - p_a if flip else p_a
    q = None if fair is None else (1 - fair if flip else fair)
    text = f"The judge prefers {first} to {second}: P({first} beats {second}) = {p:.1%}"
    if q is not None:
        text += f"; at equal response length {q:.1%}"
    return text + "."


def position_sentence(swap: SwapReport, alpha: float) -> str:
    """The swap check in words; the side favoured is read from the first position's share.

    Examples:
        >>> swap = SwapReport(100, 20, 0.2, 0.41, (0.35, 0.47), 0.004)
        >>> position_sentence(swap, 0.05).split(": ")[-1]
        'the judge favours the response shown second, so every pair must be judged in both orders.'
    """
    from abkit.core.formatting import p_phrase

    side = "first" if swap.first_position_share > 0.5 else "second"
    verdict = (
        f"the judge favours the response shown {side}, so every pair must be judged in both orders."
        if swap.position_bias_p < alpha
        else "no position bias is detectable at this size."
    )
    return (
        f"The verdict flips with the order of the two responses in {swap.inconsistency_rate:.0%} "
        f"of pairs ({swap.inconsistent} of {swap.pairs}); the response shown first wins "
        f"{swap.first_position_share:.1%} of decided verdicts ({p_phrase(swap.position_bias_p)} "
        f"against 50 %): {verdict}"
    )


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


def leaderboard_sentence(preferences: pd.DataFrame) -> str:
    """The top of a leaderboard of several systems, with what its rank intervals allow."""
    top = preferences.iloc[0]
    tied = preferences[preferences["rank_low"] <= 1]
    text = (
        f"Over {len(preferences)} systems the judge ranks {top['system']} first: it beats an "
        f"average system with probability {top['win_probability']:.1%}"
    )
    if np.isnan(top["rank_high"]):
        return text + "."
    if len(tied) > 1:
        others = ", ".join(map(str, tied["system"].iloc[1:4]))
        more = "" if len(tied) <= 4 else f" and {len(tied) - 4} more"
        return (
            text + f", but its simultaneous rank interval is 1 to {int(top['rank_high'])}: "
            f"{others}{more} may be first as well."
        )
    return text + ", and no other system's rank interval reaches first place."


def judge_findings(
    swap: SwapReport | None,
    wins: WinRates | None,
    preferences: pd.DataFrame,
    graded: GradedComparison | None = None,
    judged: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
    skipped: tuple[str, ...] = (),
    drift: JudgeDrift | None = None,
) -> list[str]:
    """Plain sentences from notebook 05's results, each carrying its numbers: position bias,
    the paired win rate, who the judge prefers (against whom) and what length control changes,
    the leaderboard's top when there are several systems, paired vs unpaired grading and what
    the judge alone would have claimed online, and whether the judge errs alike in every arm and
    week (``drift``). ``skipped``: the checks that could not be computed, said as such (never a
    pass)."""
    from abkit.core.formatting import p_phrase

    lines = [] if swap is None else [position_sentence(swap, alpha)]
    if wins is not None:
        sign = wins.sign_test
        lines.append(
            f"Paired by prompt, {wins.system_a} scores {wins.score:.1%} against {wins.system_b} "
            f"(95 % CI {wins.score_ci[0]:.1%} to {wins.score_ci[1]:.1%}; sign test over prompts "
            f"{p_phrase(sign.p_value)})."
        )
        top = preferences.set_index("system")
        a, b = wins.system_a, wins.system_b
        raw = beats(top.loc[a, "strength"], top.loc[b, "strength"])
        controlled = top.loc[[a, b], "controlled_strength"]
        fair = None if controlled.isna().any() else beats(*controlled)
        sentence = preference_sentence(a, b, raw, fair=fair)
        if fair is not None:  # "it": the preferred system's probability, raw and at equal length
            p_raw, p_fair = (raw, fair) if raw >= 0.5 else (1 - raw, 1 - fair)
            sentence += " " + length_effect_sentence(p_raw, p_fair)
        lines.append(sentence)
    else:
        lines.append(leaderboard_sentence(preferences))
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
    if drift is not None:
        lines.extend(drift.sentences())
    lines.extend(f"Not checked: {reason}" for reason in skipped)
    return lines
