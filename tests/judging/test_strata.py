"""Stratified PPI on a judged log (abkit.judging.strata): its unstratified rows are the engine's
PPI (notebook 03 / 05), a stratum too small is named, and by simulation the stratified interval
covers at 95 % and is narrower where the judge's quality differs by stratum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import slow_scale

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR
from abkit.judging.simulation import add_judge_labels
from abkit.judging.strata import stratified_judged
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.metrics import Metric
from abkit.teaching.calibration import binomial_interval

SCENARIO = pd.read_parquet(DATA_DIR / "scenario_segments.parquet")
RATES = {"control": 0.6, "treatment": 0.63}


def _judged(seed: int, label_share: float = 0.08) -> pd.DataFrame:
    """The segments scenario with a judge that is 95 % accurate on billing and 60 % elsewhere."""
    parts = [
        add_judge_labels(
            part,
            helpful_rate=RATES,
            accuracy=0.95 if good else 0.6,
            label_share=label_share,
            user_sd=0.0,
            seed=seed + good,
        )  # fmt: skip
        for good, part in SCENARIO.groupby(SCENARIO["intent"] == "billing")
    ]
    return pd.concat(parts).sort_values(["timestamp", "dialog_id"], ignore_index=True)


def test_the_unstratified_rows_are_the_engines_ppi() -> None:
    log = _judged(1)
    table = stratified_judged(log, judge="judge_helpful", label="human_helpful", stratum="intent")
    metric = Metric("helpful", "judged", "human_helpful", judge="judge_helpful", role="primary")
    engine = analyze(log, plan=ExperimentPlan(split=0.2, metrics=(metric,))).judged_table()
    ppi = engine[engine["estimator"] == "prediction-powered"].set_index("quantity")
    mine = table[table["stratum"] == "all, unstratified"].set_index("quantity")
    for quantity in ("control", "treatment", "difference"):
        assert mine.loc[quantity, "estimate"] == pytest.approx(ppi.loc[quantity, "estimate"])
        assert mine.loc[quantity, "width"] == pytest.approx(ppi.loc[quantity, "width"])
    weights = table[~table["stratum"].str.startswith("all")].groupby("quantity")["weight"].sum()
    assert weights.to_numpy() == pytest.approx([1.0, 1.0])


def test_a_stratum_with_too_few_labels_is_named() -> None:
    log = _judged(2)
    first = log.groupby("user_id")["intent"].transform("first")  # the log is in time order
    log.loc[(first == "login") & (log["variant"] == "treatment"), "human_helpful"] = np.nan
    with pytest.raises(ValueError, match=r"stratum 'login' of arm 'treatment' has \d+ user\(s\) "
                                         r"and 0 labeled dialog"):  # fmt: skip
        stratified_judged(log, judge="judge_helpful", label="human_helpful", stratum="intent")


@pytest.mark.slow
def test_stratified_intervals_cover_and_are_narrower_than_one_ppi() -> None:
    runs = max(60, int(240 * slow_scale()))
    truth = RATES["treatment"] - RATES["control"]
    covered, ratio = 0, []
    for run in range(runs):
        table = stratified_judged(_judged(100 + 2 * run), judge="judge_helpful",
                                  label="human_helpful", stratum="intent")  # fmt: skip
        rows = table[table["quantity"] == "difference"].set_index("stratum")
        low, high = rows.loc["all, stratified", ["ci_low", "ci_high"]]
        covered += low <= truth <= high
        ratio.append(rows.loc["all, stratified", "width"] / rows.loc["all, unstratified", "width"])
    low_count, high_count = binomial_interval(runs, 0.95)
    assert low_count <= covered <= high_count, (covered, runs)
    assert np.mean(ratio) < 0.97, np.mean(ratio)
