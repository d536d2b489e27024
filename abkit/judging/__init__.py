"""LLM judges with honest uncertainty: judge files read into one verdict table
(:mod:`.judgments`), pairwise win rates, position and length bias (:mod:`.pairwise`),
Bradley–Terry strengths and rank intervals at leaderboard scale (:mod:`.bradley_terry`), judge
drift by arm and week (:mod:`.drift`), label budgets read from a judged log
(:mod:`.label_plan`), PPI by stratum (:mod:`.strata`), graded comparisons (:mod:`.graded`),
judge simulation (:mod:`.simulation`) and the findings notebook 05 writes (:mod:`.findings`).
The estimators on sufficient statistics (prediction-powered inference, its label budget,
McNemar, the sign test) are in :mod:`abkit.stats.ppi`, :mod:`abkit.stats.ppi_budget` and
:mod:`abkit.stats.paired`.

May import: core, stats, plan, serve, analysis. ``from abkit import judging`` gives the names
below.
"""

from abkit.judging.bradley_terry import (
    MIN_PROMPTS_FOR_INTERVAL,
    BradleyTerry,
    PairCounts,
    beats,
    bradley_terry_strengths,
    fit_bradley_terry,
    pair_counts,
)
from abkit.judging.drift import JudgeDrift, judge_drift
from abkit.judging.findings import (
    judge_findings,
    leaderboard_sentence,
    length_effect_sentence,
    position_sentence,
    preference_sentence,
    preference_table,
)
from abkit.judging.graded import GradedComparison, compare_graded
from abkit.judging.judgments import (
    VERDICTS,
    JudgmentTable,
    read_judgment_table,
    read_judgments,
    to_kit_shape,
)
from abkit.judging.label_plan import design_effect_of_labels, label_plan
from abkit.judging.pairwise import (
    LengthControlled,
    SwapReport,
    WinRates,
    length_controlled_strengths,
    swap_check,
    swap_report,
    win_rates,
)
from abkit.judging.simulation import (
    add_judge_labels,
    simulate_judge_scores,
    simulate_pairwise,
    simulate_pointwise,
)
from abkit.judging.strata import stratified_judged

__all__ = [
    "MIN_PROMPTS_FOR_INTERVAL",
    "VERDICTS",
    "BradleyTerry",
    "JudgeDrift",
    "JudgmentTable",
    "PairCounts",
    "GradedComparison",
    "LengthControlled",
    "SwapReport",
    "WinRates",
    "add_judge_labels",
    "beats",
    "bradley_terry_strengths",
    "compare_graded",
    "design_effect_of_labels",
    "fit_bradley_terry",
    "judge_drift",
    "judge_findings",
    "length_controlled_strengths",
    "label_plan",
    "leaderboard_sentence",
    "length_effect_sentence",
    "position_sentence",
    "preference_sentence",
    "pair_counts",
    "preference_table",
    "read_judgment_table",
    "read_judgments",
    "simulate_judge_scores",
    "simulate_pairwise",
    "simulate_pointwise",
    "stratified_judged",
    "swap_check",
    "swap_report",
    "to_kit_shape",
    "win_rates",
]
