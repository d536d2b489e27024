"""A/B/n analysis: several candidates against one control (Dunnett family, the choice)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from references import multcomp

from abkit.analysis.results import analyze
from abkit.plan.experiment_plan import ExperimentPlan, load_plan
from abkit.serve.events import LogValidationError

LOG = Path(__file__).parents[1] / "reference" / "dunnett_log.csv"
SPLIT = {"control": 260 / 600, "ft-v1": 190 / 600, "ft-v2": 150 / 600}
TOKENS = {"name": "tokens", "kind": "user_mean", "column": "tokens", "role": "primary"}
CSAT = {"name": "csat", "kind": "ratio", "column": "csat", "valid_range": [1, 5]}


def three_arm_plan(*metrics: dict, **settings) -> dict:
    return {"treatment": ["ft-v1", "ft-v2"], "split": SPLIT, "metrics": list(metrics), **settings}


@pytest.mark.parametrize(
    ("case", "metric"),
    [("welch", TOKENS), ("ratio", {**CSAT, "role": "primary"})],
)
def test_primary_family_equals_multcomp(case: str, metric: dict) -> None:
    expected = multcomp(case)
    result = analyze(LOG, plan=three_arm_plan(metric))
    rows = result.table.set_index("variant")
    for label in ("ft-v1", "ft-v2"):
        row = rows.loc[label]
        assert row["effect"] == pytest.approx(expected[(label, "estimate")], rel=1e-10)
        assert row["se"] == pytest.approx(expected[(label, "se")], rel=1e-10)
        assert row["p_dunnett"] == pytest.approx(expected[(label, "p_adjusted")], abs=2e-5)
        assert row["p_adjusted"] == row["p_dunnett"]  # one primary: the Dunnett p itself
        assert row["ci_low"] == pytest.approx(expected[(label, "ci_low")], abs=1e-5 * 300)
        assert row["ci_high"] == pytest.approx(expected[(label, "ci_high")], abs=1e-5 * 300)


def test_two_arm_results_unchanged_but_for_the_variant_column() -> None:
    log = pd.read_csv(LOG)
    two = log[log["variant"] != "ft-v2"]
    plan = {"treatment": "ft-v1", "split": 190 / 450, "metrics": [TOKENS, CSAT]}
    result = analyze(two, plan=plan)
    assert result.table["variant"].eq("ft-v1").all()
    assert result.table["p_dunnett"].isna().all()
    primary = result.table.iloc[0]
    assert primary["p_adjusted"] == primary["p_value"]  # one primary, one candidate: Holm = raw


def test_secondary_and_guardrail_keep_their_roles_per_candidate() -> None:
    guard = {**CSAT, "name": "csat_guard", "role": "guardrail", "margin": 0.5}
    secondary = {**CSAT, "role": "secondary"}
    result = analyze(LOG, plan=three_arm_plan(TOKENS, secondary, guard))
    table = result.table
    assert len(table) == 6 and set(table["variant"]) == {"ft-v1", "ft-v2"}
    sec = table[table["role"] == "secondary"]
    from abkit.stats.two_sample import adjust_p_values

    np.testing.assert_allclose(sec["p_adjusted"], adjust_p_values(sec["p_value"].to_numpy(), "bh"))
    guards = table[table["role"] == "guardrail"]
    assert guards["guardrail"].isin(["pass", "inconclusive", "breach"]).all()
    assert guards["p_dunnett"].isna().all()


def test_several_primaries_multiply_the_dunnett_p_by_their_number() -> None:
    result = analyze(LOG, plan=three_arm_plan(TOKENS, {**CSAT, "role": "primary"}))
    primaries = result.table[result.table["role"] == "primary"]
    np.testing.assert_allclose(primaries["p_adjusted"], np.minimum(2 * primaries["p_dunnett"], 1.0))


def test_decision_names_the_candidate_and_each_verdict() -> None:
    result = analyze(LOG, plan=three_arm_plan({**CSAT, "role": "primary"}))
    assert result.decision.verdict == "ship"
    assert result.decision.variant == "ft-v1"
    assert dict(result.decision.by_variant) == {"ft-v1": "ship", "ft-v2": "keep running"}
    assert "Dunnett" in " ".join(result.decision.reasons)
    summary = result.to_dict()
    assert summary["decision"]["variant"] == "ft-v1"
    assert summary["users"] == {"control": 260, "ft-v1": 190, "ft-v2": 150}


def test_two_passing_candidates_are_compared_with_each_other() -> None:
    log = pd.read_csv(LOG)
    better = log["variant"] == "ft-v2"
    log.loc[better, "csat"] = np.minimum(log.loc[better, "csat"] + 1, 5)
    result = analyze(log, plan=three_arm_plan({**CSAT, "role": "primary"}))
    assert result.decision.verdict == "ship"
    assert result.decision.variant == "ft-v2"
    assert "runner-up ft-v1" in result.decision.reasons[0]
    assert "significantly better" in result.decision.reasons[0]
    listed = analyze(log, plan=three_arm_plan({**CSAT, "role": "primary"}, choice="first_listed"))
    assert listed.decision.variant == "ft-v1"


def test_candidates_the_data_cannot_separate_are_said_to_be() -> None:
    log = pd.read_csv(LOG)
    twin = log[log["variant"] == "ft-v1"].copy()
    twin["variant"], twin["user_id"] = "ft-v2", twin["user_id"] + "-twin"
    twin["dialog_id"] = twin["dialog_id"] + "-twin"
    log = pd.concat([log[log["variant"] != "ft-v2"], twin], ignore_index=True)
    split = {"control": 260 / 640, "ft-v1": 190 / 640, "ft-v2": 190 / 640}
    plan = three_arm_plan({**CSAT, "role": "primary"}, split=split)
    result = analyze(log, plan=plan)
    assert result.decision.verdict == "ship"
    assert "cannot separate" in result.decision.reasons[0]


def test_srm_over_all_arms() -> None:
    wrong = {"control": 0.5, "ft-v1": 0.25, "ft-v2": 0.25}
    result = analyze(LOG, plan=three_arm_plan(TOKENS, split=wrong))
    gate = result.health.table.set_index("gate").loc["sample ratio"]
    assert result.srm.df == 2
    from scipy.stats import chisquare

    expected = chisquare([260, 190, 150], [300, 150, 150]).pvalue
    assert result.srm.p_value == pytest.approx(expected, rel=1e-12)
    assert gate["status"] == ("fail" if expected < 0.001 else "pass")


def test_users_in_two_candidates_are_crossovers() -> None:
    log = pd.read_csv(LOG)
    one = log[log["variant"] == "ft-v1"]["user_id"].iloc[0]
    moved = log[log["user_id"] == one].index[:1]
    log.loc[moved, "variant"] = "ft-v2"
    result = analyze(log, plan=three_arm_plan(TOKENS))
    gate = result.health.table.set_index("gate").loc["users in both arms"]
    assert gate["status"] == "warn" and "1 of 600 users" in gate["detail"]
    assert result.to_dict()["users"] == {"control": 260, "ft-v1": 189, "ft-v2": 150}


def test_refusals_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"split == 0.5 is one treatment share"):
        load_plan({"treatment": ["a", "b"]})
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        load_plan({"treatment": ["a", "b"], "split": {"control": 0.5, "a": 0.5}})
    with pytest.raises(ValueError, match="sums to 0.9"):
        load_plan({"treatment": ["a", "b"], "split": {"control": 0.5, "a": 0.2, "b": 0.2}})
    with pytest.raises(ValueError, match=r"treatment\[1\] == 'ft-v3': no rows"):
        analyze(
            LOG,
            plan={
                **three_arm_plan(TOKENS),
                "treatment": ["ft-v1", "ft-v3"],
                "split": {"control": 0.5, "ft-v1": 0.25, "ft-v3": 0.25},
            },
        )
    log = pd.read_csv(LOG)
    log.loc[:4, "variant"] = "ft-v9"
    with pytest.raises(LogValidationError, match=r"none of \['control', 'ft-v1', 'ft-v2'\]"):
        analyze(log, plan=three_arm_plan(TOKENS))


def test_plan_round_trips_and_pairs() -> None:
    plan = load_plan(three_arm_plan(TOKENS))
    again = load_plan(plan.to_dict())
    assert again == plan
    assert plan.pair("ft-v2").split == pytest.approx(150 / 410)
    assert ExperimentPlan(treatment=["x"], split={"control": 0.8, "x": 0.2}).split == 0.2


def test_quantile_metric_with_three_arms_equals_each_pair_alone() -> None:
    log = pd.read_csv(LOG)
    p50 = {
        "name": "p50",
        "kind": "quantile",
        "column": "tokens",
        "quantile": 0.5,
        "role": "primary",
    }
    three = analyze(log, plan=three_arm_plan(p50)).table.set_index("variant")
    for label in ("ft-v1", "ft-v2"):
        pair = log[log["variant"].isin(["control", label])]
        split = SPLIT[label] / (SPLIT["control"] + SPLIT[label])
        alone = analyze(pair, plan={"treatment": label, "split": split, "metrics": [p50]})
        row = alone.table.iloc[0]
        assert three.loc[label, "effect"] == row["effect"]
        assert three.loc[label, "se"] == pytest.approx(row["se"], rel=1e-12)
        assert three.loc[label, "p_value"] == pytest.approx(row["p_value"], rel=1e-12)
        assert math.isfinite(three.loc[label, "p_dunnett"])


def test_always_valid_with_candidates_is_bonferroni_over_them() -> None:
    from abkit.stats.sequential import confidence_sequence

    monitoring = {"kind": "always_valid", "planned_users": 600}
    plan = three_arm_plan({**CSAT, "role": "primary"}, monitoring=monitoring)
    result = analyze(LOG, plan=plan)
    fixed = analyze(LOG, plan=three_arm_plan({**CSAT, "role": "primary"})).table
    for (_, row), (_, raw) in zip(result.table.iterrows(), fixed.iterrows(), strict=True):
        sequence = confidence_sequence(raw["effect"], raw["se"], 600, planned_n=600, alpha=0.025)
        assert row["ci_low"] == pytest.approx(sequence.ci_low, rel=1e-12)
        assert row["p_value"] == pytest.approx(sequence.p_value, rel=1e-12)
        assert row["p_adjusted"] == pytest.approx(min(1.0, 2 * sequence.p_value), rel=1e-12)
        assert math.isnan(row["p_dunnett"])


def test_group_sequential_with_candidates_spends_alpha_over_k(tmp_path) -> None:
    from scipy.stats import norm

    monitoring = {"kind": "group_sequential", "planned_users": 600}
    plan = three_arm_plan({**CSAT, "role": "primary"}, monitoring=monitoring)
    result = analyze(LOG, plan=plan, looks_file=tmp_path / "looks.json")
    # one look at information fraction 1: the whole α/k (two-sided) is spent there
    assert result.monitoring.z_boundary == pytest.approx(norm.isf(0.05 / 2 / 2), rel=1e-6)
    z = (result.table["effect"] / result.table["se"]).abs()
    assert (result.table["significant"] == (z >= result.monitoring.z_boundary)).all()
    assert "per candidate (Bonferroni" in " ".join(result.decision.reasons)


def test_sequential_sample_ratio_over_three_arms_by_hand() -> None:
    from abkit.stats.sequential import sequential_srm_p_values

    monitoring = {"kind": "always_valid", "planned_users": 600}
    result = analyze(LOG, plan=three_arm_plan(TOKENS, monitoring=monitoring))
    log = pd.read_csv(LOG, parse_dates=["timestamp"])
    first = log.groupby("user_id").agg(day=("timestamp", "min"), variant=("variant", "first"))
    first["day"] = first["day"].dt.floor("D")
    daily = pd.crosstab(first["day"], first["variant"])[["control", "ft-v1", "ft-v2"]]
    expected = sequential_srm_p_values(daily.to_numpy(float), list(SPLIT.values()))[-1]
    detail = result.health.table.set_index("gate").loc["sample ratio", "detail"]
    assert f"always-valid p over {len(daily)} day(s) = {expected:.3g}" in detail


def test_cuped_with_candidates_equals_each_pair_alone() -> None:
    """CUPED with three arms: each candidate's adjusted row is that pair analysed alone (its
    own pooled θ), with the same pre-period log."""
    from abkit.core.paths import DATA_DIR

    log = pd.read_parquet(DATA_DIR / "example_abn_dialogs.parquet")
    pre = DATA_DIR / "example_pre_period.parquet"  # the same user ids u0 ... u11999
    metric = {
        "name": "completion",
        "kind": "ratio",
        "column": "completed",
        "role": "primary",
        "covariate": "pre_period",
    }
    shares = {"control": 0.5, "ft-v1": 0.25, "ft-v2": 0.25}
    plan = {"treatment": ["ft-v1", "ft-v2"], "split": shares, "metrics": [metric]}
    three = analyze(log, plan=plan, pre_period=pre).table.set_index("variant")
    for label in ("ft-v1", "ft-v2"):
        pair = log[log["variant"].isin(["control", label])]
        alone = analyze(
            pair, plan={"treatment": label, "split": 1 / 3, "metrics": [metric]}, pre_period=pre
        ).table.iloc[0]
        assert three.loc[label, "covariate"] == "pre_period"
        assert three.loc[label, "effect"] == pytest.approx(alone["effect"], rel=1e-10)
        assert three.loc[label, "se"] == pytest.approx(alone["se"], rel=1e-10)


def test_each_candidates_gates_name_it() -> None:
    from abkit.core.paths import DATA_DIR

    result = analyze(
        DATA_DIR / "example_abn_dialogs.parquet", plan=DATA_DIR / "example_abn_plan.yaml"
    )
    gates = result.health.table.set_index("gate")["detail"]
    assert gates["missing csat (ft-v1)"].startswith("12,497 control and 6,385 ft-v1 dialogs")
    assert " ft-v2 dialogs have no value" in gates["missing csat (ft-v2)"]
