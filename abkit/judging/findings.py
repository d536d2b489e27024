"""What notebook 05 says in words: the preference table and the findings, each sentence taking its
direction from the signed value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from abkit.judging.bradley_terry import BradleyTerry, beats
from abkit.judging.graded import GradedComparison
from abkit.judging.pairwise import LengthControlled, SwapReport, WinRates

__all__ = [
    "judge_findings",
    "length_effect_sentence",
    "preference_table",
]


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
    from abkit.core.formatting import p_phrase

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
