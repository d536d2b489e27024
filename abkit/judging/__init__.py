"""LLM judges with honest uncertainty: pairwise win rates, Bradley-Terry strengths, position
and length bias (:mod:`.pairwise`), graded comparisons (:mod:`.graded`), judge simulation
(:mod:`.simulation`) and the findings notebook 05 writes (:mod:`.findings`). The estimators
on sufficient statistics (prediction-powered inference, McNemar, the sign test) are in
:mod:`abkit.stats.ppi` and :mod:`abkit.stats.paired`.

May import: core, stats, plan, serve, analysis. ``from abkit import judging`` gives the names
below.
"""

from abkit.judging.findings import judge_findings, length_effect_sentence, preference_table
from abkit.judging.graded import GradedComparison, compare_graded
from abkit.judging.pairwise import (
    VERDICTS,
    BradleyTerry,
    LengthControlled,
    SwapReport,
    WinRates,
    beats,
    bradley_terry_strengths,
    fit_bradley_terry,
    length_controlled_strengths,
    read_judgments,
    swap_report,
    win_rates,
)
from abkit.judging.simulation import (
    add_judge_labels,
    simulate_judge_scores,
    simulate_pairwise,
    simulate_pointwise,
)

__all__ = [
    "VERDICTS",
    "BradleyTerry",
    "GradedComparison",
    "LengthControlled",
    "SwapReport",
    "WinRates",
    "add_judge_labels",
    "beats",
    "bradley_terry_strengths",
    "compare_graded",
    "fit_bradley_terry",
    "judge_findings",
    "length_controlled_strengths",
    "length_effect_sentence",
    "preference_table",
    "read_judgments",
    "simulate_judge_scores",
    "simulate_pairwise",
    "simulate_pointwise",
    "swap_report",
    "win_rates",
]
