"""abkit.design.sample_size against independent references.

Sources:
- ``../shared/reference/public_cases.md`` D1 (statsmodels test_power.py, R pwr), D2 (R
  power.prop.test quoted in statsmodels PRs #8676 and #4091), D3 (Ambrosia test_designer.py).
- ``tests/reference/design_reference.R`` and its committed output ``design_reference.csv``
  (R 4.2 ``power.prop.test`` and package ``pwr``).
- statsmodels ``power_proportions_2indep`` for the pooled test with unequal allocation.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from abkit.design.planning import MetricGoal, mde_by_duration, power_curve, sample_size_for_metrics
from abkit.design.sample_size import (
    compare_methods,
    design_effect,
    duration_days,
    plan_clustered,
    solve_design,
)

R_VALUES = {
    row["case"]: float(row["value"])
    for row in csv.DictReader(
        (Path(__file__).parents[1] / "reference" / "design_reference.csv").open()
    )
}


# ----------------------------------------------------------------- public reference cases


def test_d1_t_test_power_matches_r_pwr() -> None:
    # D1: t-test power, d = 1, n1 = n2 = 30, alpha 0.05 two-sided -> 0.967708258242517
    design = solve_design("mean", 0.0, mde=1.0, n_total=60, sd_control=1.0, method="t")
    assert design.power == pytest.approx(0.967708258242517, abs=1e-10)


def test_d1_normal_power_matches_r_pwr() -> None:
    # D1: normal power, d = 0.3, n1 = n2 = 80 -> 0.475100870572638
    design = solve_design("mean", 0.0, mde=0.3, n_total=160, sd_control=1.0, method="z")
    assert design.power == pytest.approx(0.475100870572638, abs=1e-10)


@pytest.mark.parametrize(
    ("p1", "p2", "expected_per_group"),
    [(0.03, 0.02, 3825.15), (0.10, 0.105, 57763)],
)
def test_d2_pooled_n_matches_power_prop_test(
    p1: float, p2: float, expected_per_group: float
) -> None:
    design = solve_design("proportion", p1, mde=p2 - p1, power=0.8, method="pooled")
    assert design.n_total_exact / 2 == pytest.approx(expected_per_group, abs=0.6)
    assert design.n_control == design.n_treatment == math.ceil(expected_per_group - 1e-9)


def test_d3_cohen_h_relative_effect_gives_603_per_group() -> None:
    design = solve_design("proportion", 0.4, mde=0.2, relative=True, power=0.8, method="cohen_h")
    assert design.mde == pytest.approx(0.08)
    assert design.n_control == design.n_treatment == 603


# ----------------------------------------------------------------- R script values


@pytest.mark.parametrize(
    ("case", "p1", "p2", "power", "alpha"),
    [
        ("prop_n_003_002", 0.03, 0.02, 0.8, 0.05),
        ("prop_n_010_0105", 0.10, 0.105, 0.8, 0.05),
        ("prop_n_075_080", 0.75, 0.80, 0.8, 0.05),
        ("prop_n_050_075_a01_p09", 0.50, 0.75, 0.9, 0.01),
        ("prop_n_0713_0789", 0.713, 0.789, 0.8, 0.05),
    ],
)
def test_pooled_n_matches_r(case: str, p1: float, p2: float, power: float, alpha: float) -> None:
    design = solve_design("proportion", p1, mde=p2 - p1, power=power, alpha=alpha)
    assert design.n_total_exact / 2 == pytest.approx(R_VALUES[case], rel=1e-6)


def test_pooled_power_matches_r_help_example() -> None:
    design = solve_design("proportion", 0.5, mde=0.25, n_total=100)
    assert design.power == pytest.approx(R_VALUES["prop_power_help"], abs=1e-9)
    design = solve_design("proportion", 0.75, mde=0.05, n_total=2000)
    assert design.power == pytest.approx(R_VALUES["prop_power_075_n1000"], abs=1e-9)


@pytest.mark.parametrize(
    ("case", "p1", "n_per_group", "power"),
    [("prop_p2_help", 0.5, 50, 0.9), ("prop_p2_075_n1500", 0.75, 1500, 0.8)],
)
def test_pooled_mde_matches_r_p2(case: str, p1: float, n_per_group: int, power: float) -> None:
    design = solve_design("proportion", p1, n_total=2 * n_per_group, power=power)
    assert p1 + design.mde == pytest.approx(R_VALUES[case], abs=1e-6)


def test_cohen_h_unequal_groups_matches_pwr_2p2n() -> None:
    design = solve_design("proportion", 0.75, mde=0.05, n_total=3500, split=0.2, method="cohen_h")
    assert (design.n_control, design.n_treatment) == (2800, 700)
    assert design.power == pytest.approx(R_VALUES["cohen_h_unequal_power"], abs=1e-9)


def test_cohen_h_equal_n_matches_pwr_2p() -> None:
    design = solve_design("proportion", 0.40, mde=0.08, power=0.8, method="cohen_h")
    assert design.n_total_exact / 2 == pytest.approx(R_VALUES["cohen_h_equal_n"], rel=1e-6)


def test_t_unequal_groups_matches_pwr_t2n() -> None:
    design = solve_design(
        "mean", 3.0, mde=0.15, n_total=2000, split=0.2, sd_control=1.0, method="t"
    )
    assert design.power == pytest.approx(R_VALUES["t_unequal_power"], abs=1e-9)


def test_t_equal_n_matches_pwr_t() -> None:
    design = solve_design("mean", 3.0, mde=0.2, power=0.8, sd_control=1.0, method="t")
    assert design.n_total_exact / 2 == pytest.approx(R_VALUES["t_equal_n"], rel=1e-6)


def test_normal_power_matches_pwr_norm() -> None:
    design = solve_design("mean", 0.0, mde=0.3, n_total=160, sd_control=1.0, method="z")
    assert design.power == pytest.approx(R_VALUES["norm_power"], abs=1e-9)


# ----------------------------------------------------------------- statsmodels cross-checks


@pytest.mark.parametrize(
    ("baseline", "mde", "split", "n_total"),
    [(0.75, 0.05, 0.2, 3479), (0.30, -0.04, 0.5, 4000), (0.05, 0.01, 0.1, 50000)],
)
def test_pooled_unequal_allocation_matches_statsmodels(
    baseline: float, mde: float, split: float, n_total: int
) -> None:
    design = solve_design("proportion", baseline, mde=mde, n_total=n_total, split=split)
    reference = power_proportions_2indep(
        diff=mde,
        prop2=baseline,
        nobs1=design.n_treatment,
        ratio=design.n_control / design.n_treatment,
        alpha=0.05,
    )
    # statsmodels adds the far tail, which R's power.prop.test (strict = FALSE) leaves out.
    assert design.power == pytest.approx(reference.power, abs=1e-5)


def test_seed_method_reproduces_the_seed_function() -> None:
    # The seed: effect_size = mde / sqrt(p(1-p)); TTestIndPower().solve_power(...); ceil.
    expected = math.ceil(
        TTestIndPower().solve_power(
            effect_size=0.05 / math.sqrt(0.75 * 0.25), alpha=0.05, power=0.8
        )
    )
    design = solve_design("proportion", 0.75, mde=0.05, power=0.8, method="seed")
    assert design.n_control == design.n_treatment == expected == 1179


def test_seed_worked_example_is_above_the_stated_range() -> None:
    # The seed claims "~500-1000 per group" for 75 % -> 80 %: every method needs more.
    table = compare_methods("proportion", 0.75, mde=0.05, power=0.8)
    assert table.set_index("method")["n_control"].to_dict() == {
        "pooled": 1094,
        "cohen_h": 1092,
        "seed": 1179,
    }


def test_unequal_split_costs_about_one_over_four_s_one_minus_s() -> None:
    # Equal variances: an 80/20 split needs 1/(4 * 0.8 * 0.2) = 1.5625 times the 50/50 total.
    even = solve_design("mean", 0.0, mde=0.1, power=0.8, sd_control=1.0, split=0.5)
    skewed = solve_design("mean", 0.0, mde=0.1, power=0.8, sd_control=1.0, split=0.2)
    assert skewed.n_total_exact / even.n_total_exact == pytest.approx(1.5625, rel=1e-6)


def test_two_variances_mean_formula() -> None:
    # n_total = (z_a + z_b)^2 (sd_c^2/(1-s) + sd_t^2/s) / delta^2; the closed form ignores the
    # far tail, which the solver counts (as R pwr.norm.test), hence a relative gap of ~2e-6.
    z = 1.959963984540054 + 0.8416212335729143
    expected = z**2 * (1.0**2 / 0.7 + 1.5**2 / 0.3) / 0.2**2
    design = solve_design(
        "mean", 4.0, mde=0.2, power=0.8, split=0.3, sd_control=1.0, sd_treatment=1.5
    )
    assert design.n_total_exact == pytest.approx(expected, rel=1e-5)
    assert design.n_total_exact < expected


def test_solving_each_unknown_round_trips() -> None:
    n = solve_design("proportion", 0.2, mde=0.03, power=0.85, split=0.3)
    power = solve_design("proportion", 0.2, mde=0.03, n_total=n.n_total, split=0.3)
    mde = solve_design("proportion", 0.2, n_total=n.n_total, power=power.power, split=0.3)
    assert power.power >= 0.85
    assert mde.mde == pytest.approx(0.03, abs=1e-6)


def test_relative_mde_is_a_share_of_the_baseline() -> None:
    design = solve_design("proportion", 0.75, mde=0.05, relative=True, power=0.8)
    assert design.mde == pytest.approx(0.0375)
    assert design.relative_mde == pytest.approx(0.05)


# ----------------------------------------------------------------- clustering, duration, several


def test_design_effect_kish() -> None:
    assert design_effect(1, 0.9) == 1.0
    assert design_effect(4, 0.2) == pytest.approx(1.6)


def test_clustered_plan_inflates_dialogs_and_counts_days() -> None:
    design = solve_design("proportion", 0.75, mde=0.05, power=0.8, split=0.2)
    plan = plan_clustered(
        design,
        dialogs_per_user=3,
        intra_user_correlation=0.2,
        daily_dialogs=1000,
        traffic_share=0.5,
    )
    assert plan.design_effect == pytest.approx(1.4)
    assert plan.dialogs_control == math.ceil(design.n_control * 1.4)
    assert plan.dialogs_treatment == math.ceil(design.n_treatment * 1.4)
    assert plan.users_total == math.ceil(plan.dialogs_total / 3)
    assert plan.days == math.ceil(plan.dialogs_total / 500)


def test_duration_days() -> None:
    assert duration_days(10_000, 1_000, 0.5) == 20
    assert duration_days(10_001, 1_000, 0.5) == 21


def test_several_metrics_take_the_largest() -> None:
    table = sample_size_for_metrics(
        [
            MetricGoal("completion", "proportion", 0.75, 0.05),
            MetricGoal("csat", "mean", 3.8, 0.1, sd_control=1.1),
        ],
        split=0.2,
    )
    assert table.loc[table["binding"], "name"].tolist() == ["csat"]
    assert (
        table["n_total"].max()
        == solve_design("mean", 3.8, mde=0.1, power=0.8, split=0.2, sd_control=1.1).n_total
    )


def test_power_curve_increases_and_mde_shrinks_with_days() -> None:
    curve = power_curve("proportion", 0.75, 0.05, [500, 1000, 2000, 4000], split=0.2)
    for _, group in curve.groupby("method"):
        assert np.all(np.diff(group["power"]) > 0)
    by_days = mde_by_duration(
        "proportion",
        0.75,
        [7, 14, 28],
        daily_dialogs=500,
        split=0.2,
        dialogs_per_user=3,
        intra_user_correlation=0.2,
    )
    assert np.all(np.diff(by_days["mde"]) < 0)
    # 28 days of 500 dialogs / DE 1.4 = 10,000 effective units
    assert by_days["effective_n"].iloc[-1] == 10_000


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"baseline": 1.2}, ValueError, r"baseline == 1.2, must be in \(0, 1\)"),
        ({"baseline": 0.0}, ValueError, r"baseline == 0.0, must be in \(0, 1\)"),
        ({"baseline": "0.75"}, TypeError, r"baseline == '0.75' \(str\), must be a number"),
        ({"mde": 0.3}, ValueError, r"mde == 0.3 .*treatment rate of 1.05, must be in \(0, 1\)"),
        ({"mde": 0.5, "relative": True}, ValueError, r"mde == 0.5 \(relative MDE\)"),
        ({"mde": 0}, ValueError, r"mde == 0, must be non-zero"),
        ({"alpha": 1.2}, ValueError, r"alpha == 1.2, must be in \(0, 1\)"),
        ({"power": 0.0}, ValueError, r"power == 0.0, must be in \(0, 1\)"),
        ({"power": 0.01}, ValueError, r"power == 0.01, must be greater than alpha == 0.05"),
        ({"split": 1.0}, ValueError, r"split == 1.0, must be in \(0, 1\)"),
        ({"split": True}, TypeError, r"split == True \(bool\), must be a number"),
        ({"method": "exact"}, ValueError, r"method == 'exact', must be one of 'pooled'"),
        ({"mde": float("nan")}, ValueError, r"mde == nan, must be a finite number"),
    ],
)
def test_bad_input_names_parameter_value_and_rule(kwargs: dict, error: type, pattern: str) -> None:
    arguments = {"metric": "proportion", "baseline": 0.75, "mde": 0.05, "power": 0.8} | kwargs
    with pytest.raises(error, match=pattern):
        solve_design(**arguments)


def test_bad_input_elsewhere() -> None:
    with pytest.raises(ValueError, match=r"exactly one of mde, n_total, power must be None"):
        solve_design("proportion", 0.75, mde=0.05, power=0.8, n_total=1000)
    with pytest.raises(ValueError, match=r"metric == 'ratio', must be one of"):
        solve_design("ratio", 0.75, mde=0.05, power=0.8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sd_control == None"):
        solve_design("mean", 3.0, mde=0.1, power=0.8)
    with pytest.raises(ValueError, match=r"sd_control == -1.0, must be in \(0, inf\)"):
        solve_design("mean", 3.0, mde=0.1, power=0.8, sd_control=-1.0)
    with pytest.raises(ValueError, match=r"method == 't' assumes one common SD"):
        solve_design("mean", 3.0, mde=0.1, power=0.8, sd_control=1.0, sd_treatment=2.0, method="t")
    with pytest.raises(
        ValueError, match=r"n_total == 10 with split == 0.05 leaves 10 control and 0"
    ):
        solve_design("proportion", 0.75, mde=0.05, n_total=10, split=0.05)
    with pytest.raises(TypeError, match=r"n_total == 100.5 \(float\), must be an integer"):
        solve_design("proportion", 0.75, mde=0.05, n_total=100.5)
    with pytest.raises(ValueError, match=r"power == 0.99 cannot be reached with n_total == 20"):
        solve_design("proportion", 0.75, n_total=20, power=0.99)
    with pytest.raises(ValueError, match=r"daily_eligible == -5, must be in \(0, inf\)"):
        duration_days(1000, -5)
    with pytest.raises(ValueError, match=r"intra_user_correlation == 1.5, must be in \[0, 1\]"):
        design_effect(3, 1.5)
    with pytest.raises(ValueError, match=r"dialogs_per_user == 0.5, must be in \[1, inf\)"):
        design_effect(0.5, 0.1)


@pytest.mark.parametrize(
    ("case", "baseline", "mde", "split", "method"),
    [
        ("cohen_h_80_20_total", 0.75, 0.05, 0.2, "cohen_h"),
        ("pooled_80_20_total", 0.75, 0.05, 0.2, "pooled"),
        ("pooled_90_10_total_0713", 0.713, 0.076, 0.1, "pooled"),
    ],
)
def test_unequal_split_totals_match_r(
    case: str, baseline: float, mde: float, split: float, method: str
) -> None:
    # R: uniroot over pwr.2p2n.test, and Fleiss, Levin & Paik eq. 4.19 written out in R.
    design = solve_design("proportion", baseline, mde=mde, power=0.8, split=split, method=method)
    assert design.n_total_exact == pytest.approx(R_VALUES[case], rel=1e-8)


def test_t_csat_matches_pwr_t() -> None:
    design = solve_design("mean", 3.8, mde=0.1, power=0.8, sd_control=1.1, method="t")
    assert design.n_total_exact / 2 == pytest.approx(R_VALUES["t_csat_n"], rel=1e-8)


def test_design_uses_the_plans_primary_family() -> None:
    # two primaries under Holm: each designed at alpha / 2; Cohen's h n against statsmodels
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    from abkit.experiment.settings import DesignSettings

    settings = DesignSettings(plan_file="tests/plans/two_primaries.yaml")
    assert settings.test_alpha == 0.025 and settings.experiment_plan.n_primary == 2
    table = compare_methods(**settings.solve_arguments()).set_index("method")
    n_control = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(0.80, 0.75), alpha=0.025, power=0.8, ratio=0.25
    )
    assert table.loc["cohen_h", "n_control"] == math.ceil(n_control)
    assert DesignSettings().test_alpha == 0.05  # default plan: one primary
    none = DesignSettings(plan_file="tests/plans/two_primaries.yaml")
    assert dataclasses.replace(none.experiment_plan, correction="none").alpha_per_primary == 0.05


@pytest.mark.parametrize(
    ("n_c", "n_t", "alpha"), [(30, 30, 0.05), (800, 200, 0.05), (57, 13, 0.01)]
)
def test_power_functions_equal_statsmodels(n_c, n_t, alpha) -> None:
    """The normal and (noncentral) t powers are written out (no statsmodels import at start-up):
    statsmodels' NormalIndPower / TTestIndPower give the same numbers."""
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    from abkit.design.sample_size import _power_cohen_h, _power_mean_t, _power_seed

    p1, p2 = 0.75, 0.8
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    ratio = n_t / n_c
    expected = NormalIndPower().power(effect_size=abs(h), nobs1=n_c, alpha=alpha, ratio=ratio)
    assert _power_cohen_h(p1, p2, n_c, n_t, alpha) == pytest.approx(expected, rel=1e-12)
    d = (p2 - p1) / math.sqrt(p1 * (1 - p1))
    expected = TTestIndPower().power(effect_size=d, nobs1=n_c, alpha=alpha, ratio=ratio)
    assert _power_seed(p1, p2, n_c, n_t, alpha) == pytest.approx(expected, rel=1e-10)
    expected = TTestIndPower().power(effect_size=0.1 / 1.1, nobs1=n_c, alpha=alpha, ratio=ratio)
    assert _power_mean_t(0.1, 1.1, 1.1, n_c, n_t, alpha) == pytest.approx(expected, rel=1e-10)
