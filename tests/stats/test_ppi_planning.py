"""PPI planning and strata (abkit.stats.ppi_budget, abkit.stats.ppi.ppi_stratified) against
ppi-python (tests/reference/ppi_budget_reference.py, ppi_stratified_reference.py; values
committed) and by simulation (fixed seeds, binomial bounds)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import slow_scale
from scipy import stats as sps

from abkit.judging.simulation import simulate_judge_scores
from abkit.stats.ppi import ppi_mean, ppi_mean_difference, ppi_stratified
from abkit.stats.ppi_budget import label_budget, pilot_quantities
from abkit.teaching.calibration import binomial_interval

REFERENCE = Path(__file__).parents[1] / "reference"
Z = float(sps.norm.isf(0.025))


@pytest.mark.parametrize(
    "row", pd.read_csv(REFERENCE / "ppi_budget_reference.csv").to_dict("records")
)
def test_labels_per_arm_equal_ppi_pythons_power_analysis(row) -> None:
    """ppi_power's n for an arm of N dialogs at the human-only size n₀: the kit's budget for
    the width n₀ labels alone would give (equal arms, σ = 0.5)."""
    n, share = int(row["dialogs"]), row["effective_n"] / row["dialogs"]
    width = 2 * Z * 0.5 * math.sqrt(2 / n / share)  # the human-only width at share
    budget = label_budget(width, dialogs_control=n, dialogs_treatment=n, sd_label=0.5,
                          rho=row["rho"])  # fmt: skip
    assert budget.label_share * n == pytest.approx(row["labels"], abs=0.5)
    assert budget.human_only_labels == pytest.approx(2 * row["effective_n"], abs=1)


def test_a_target_out_of_reach_says_the_narrowest_width() -> None:
    match = (
        r"target_width == 0.01 is out of reach: with every dialog labeled the interval is 0.0392"
    )
    with pytest.raises(ValueError, match=match):
        label_budget(0.01, dialogs_control=5_000, dialogs_treatment=5_000, sd_label=0.5, rho=0.8)


def test_the_predicted_width_is_within_10_percent_of_the_realised_one() -> None:
    """Plan from a pilot (judge accuracy 85 %, 500 dialogs, 100 labeled), then run 300
    experiments of 8,000 dialogs per arm at the planned share: the mean width of the PPI
    interval of the difference is within 10 % of the target."""
    labels, judged, unlabeled = simulate_judge_scores(100, 400, rate=0.6, accuracy=0.85, seed=1)
    sd, rho, sd_judge = pilot_quantities(labels, judged, np.concatenate([judged, unlabeled]))
    arm = 8_000
    budget = label_budget(0.04, dialogs_control=arm, dialogs_treatment=arm, sd_label=sd, rho=rho,
                          sd_judge=sd_judge)  # fmt: skip
    per_arm = budget.labels_control
    widths = []
    for k in range(300):
        arms = [
            simulate_judge_scores(
                per_arm, arm - per_arm, rate=r, accuracy=0.85, seed=10 + 2 * k + j
            )
            for j, r in enumerate((0.6, 0.63))
        ]
        fit = ppi_mean_difference(arms[1], arms[0])
        widths.append(fit.ci_high - fit.ci_low)
    realised = float(np.mean(widths))
    assert abs(realised - budget.target_width) <= 0.1 * budget.target_width, (realised, budget)
    assert budget.labels < budget.human_only_labels and budget.judge_only_width < 0.04


def test_stratified_ppi_combines_ppi_pythons_strata() -> None:
    data = pd.read_csv(REFERENCE / "ppi_stratified_data.csv")
    expected = pd.read_csv(REFERENCE / "ppi_stratified_reference.csv").set_index("stratum")
    lab, unl = data[data["labeled"] == 1], data[data["labeled"] == 0]
    combined, table = ppi_stratified(
        lab["y"], lab["y_hat"], unl["y_hat"], lab["stratum"], unl["stratum"]
    )
    table = table.set_index("stratum")
    for stratum in table.index:
        assert table.loc[stratum, "weight"] == pytest.approx(expected.loc[stratum, "weight"])
        assert table.loc[stratum, "estimate"] == pytest.approx(
            expected.loc[stratum, "estimate"], abs=1e-10
        )
        assert table.loc[stratum, "se"] == pytest.approx(expected.loc[stratum, "se"], rel=1e-6)
    assert combined.estimate == pytest.approx(expected.loc["combined", "estimate"], abs=1e-10)
    assert combined.se == pytest.approx(expected.loc["combined", "se"], rel=1e-6)


def test_a_stratum_without_enough_labels_is_named() -> None:
    with pytest.raises(ValueError, match=r"stratum 'b' has 1 labeled and 2 unlabeled item"):
        ppi_stratified([1, 0, 1], [1, 0, 1], [1, 0, 1, 0], ["a", "a", "b"], ["a", "a", "b", "b"])


@pytest.mark.slow
def test_stratified_ppi_covers_and_is_narrower_where_the_judge_differs_by_stratum() -> None:
    """1,000 data sets (CI: reduced) of two strata, the judge 95 % accurate in one and 60 % in
    the other: the stratified interval covers the true mean at 95 % (99 % binomial band), and
    is narrower on average than one PPI++ over both."""
    runs = max(200, int(1000 * slow_scale()))
    rng = np.random.default_rng(5)
    truth = 0.5 * 0.7 + 0.5 * 0.4
    covered, narrower = 0, []
    for _ in range(runs):
        parts = []
        for stratum, rate, accuracy in (("good", 0.7, 0.95), ("poor", 0.4, 0.6)):
            y = rng.random(2_000) < rate
            y_hat = np.where(rng.random(2_000) < accuracy, y, ~y)
            labeled = rng.random(2_000) < 0.05
            part = {"s": stratum, "y": y.astype(float), "y_hat": y_hat.astype(float)}
            parts.append(pd.DataFrame({**part, "labeled": labeled}))
        data = pd.concat(parts)
        lab, unl = data[data["labeled"]], data[~data["labeled"]]
        fit, _ = ppi_stratified(lab["y"], lab["y_hat"], unl["y_hat"], lab["s"], unl["s"])
        whole = ppi_mean(lab["y"], lab["y_hat"], unl["y_hat"])
        covered += fit.ci_low <= truth <= fit.ci_high
        narrower.append((fit.ci_high - fit.ci_low) / (whole.ci_high - whole.ci_low))
    low, high = binomial_interval(runs, 0.95)
    assert low <= covered <= high, covered
    assert np.mean(narrower) < 0.97, np.mean(narrower)


@pytest.mark.parametrize(("share", "rho"), [(0.5, 0.3), (0.1, 0.8), (0.05, 0.95)])
def test_the_design_trade_and_the_budget_are_one_formula(share, rho) -> None:
    """Notebook 01's dialogs at a label share (dialogs_for_share) and notebook 05's share for a
    width (label_budget, checked against ppi-python above) agree: at the dialogs the trade
    gives, the budget for the fully-labeled design's width is that share."""
    from abkit.stats.ppi_budget import dialogs_for_share

    fully = 4_000
    width = 2 * Z * 0.5 * math.sqrt(2 / fully)
    dialogs = round(dialogs_for_share(share, rho, fully))
    budget = label_budget(width, dialogs_control=dialogs, dialogs_treatment=dialogs,
                          sd_label=0.5, rho=rho)  # fmt: skip
    assert budget.label_share == pytest.approx(share, rel=1e-3)
