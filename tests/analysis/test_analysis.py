"""abkit.analysis.results: engines agree, decisions follow the rule, rows match independent fits,
bad input is refused clearly or marked NaN with its reason."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from abkit.analysis.results import ab_significance_test, analyze
from abkit.core.paths import DATA_DIR
from abkit.plan.metrics import Metric, metrics_by_name
from abkit.serve.events import LogValidationError, write_log
from abkit.teaching.simulate import EXAMPLE_CONFIG, SimulationConfig, simulate_dialogs

EXAMPLE = DATA_DIR / "example_dialogs.parquet"


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return simulate_dialogs(EXAMPLE_CONFIG)


def numbers(table: pd.DataFrame) -> np.ndarray:
    return table.select_dtypes("number").to_numpy(float)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".duckdb"])
def test_duckdb_and_pandas_give_the_same_numbers(
    example: pd.DataFrame, tmp_path, suffix: str
) -> None:
    in_pandas = analyze(example, split=0.2)
    in_duckdb = analyze(write_log(example, tmp_path / f"log{suffix}"), split=0.2)
    assert in_pandas.table["metric"].tolist() == in_duckdb.table["metric"].tolist()
    np.testing.assert_allclose(
        numbers(in_duckdb.table), numbers(in_pandas.table), rtol=1e-9, atol=1e-12, equal_nan=True
    )
    assert in_duckdb.decision == in_pandas.decision


def test_bundled_log_is_a_clear_win() -> None:
    result = analyze(EXAMPLE, split=0.2)
    assert result.decision.verdict == "ship"
    assert not result.srm.mismatch
    row = result.table.set_index("metric").loc["task_completion"]
    assert row["significant"] and row["improved"] and row["ci_low"] > 0
    assert set(result.seed_table().columns) == {
        "metric",
        "control",
        "treatment",
        "p_value",
        "significant",
    }


def test_ratio_row_matches_cluster_robust_regression(example: pd.DataFrame) -> None:
    # delta method = cluster-robust (HC0) OLS of completed on a treatment dummy, each arm's
    # variance scaled by n/(n-1) (see test_stats); checked here on the whole analysis path
    row = analyze(example, split=0.2).table.set_index("metric").loc["task_completion"]
    treated = (example["variant"] == "treatment").to_numpy(float)
    fit = sm.OLS(example["completed"].to_numpy(float), sm.add_constant(treated)).fit(
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(example["user_id"])[0], "use_correction": False},
    )
    assert row["effect"] == pytest.approx(fit.params[1], rel=1e-10)
    assert row["se"] == pytest.approx(fit.bse[1], rel=2e-3)


def test_guardrail_breach_means_dont_ship() -> None:
    slow = simulate_dialogs(
        n_users=12_000,
        split=0.2,
        seed=5,
        effects={"treatment": {"completion": 0.07, "latency": 0.35}},
    )
    result = analyze(slow, split=0.2)
    guard = result.table.set_index("metric").loc["latency_p95"]
    assert guard["guardrail"] == "breach"
    assert result.decision.verdict == "don't ship"
    assert any("latency_p95" in reason for reason in result.decision.reasons)


def test_srm_makes_the_result_invalid() -> None:
    config = SimulationConfig(
        n_users=12_000, seed=6, effects={"treatment": {"completion": 0.07, "error_rate": 0.1}}
    )
    buggy = simulate_dialogs(config, unlogged_error_arm="treatment")
    result = analyze(buggy, split=0.2)
    assert result.srm.mismatch
    assert result.decision.verdict == "invalid"


def test_no_effect_means_keep_running() -> None:
    result = analyze(simulate_dialogs(n_users=3000, seed=8, split=0.5), split=0.5)
    assert result.decision.verdict == "keep running"


def test_corrections_run_per_family(example: pd.DataFrame) -> None:
    # primaries: plan.correction among themselves; secondaries: BH among themselves;
    # guardrails and monitors: raw p (statsmodels multipletests as the reference)
    from statsmodels.stats.multitest import multipletests

    two = metrics_by_name(["task_completion", "csat", "turns", "like_rate", "latency_p95"])
    two[1] = dataclasses.replace(two[1], role="primary")
    for correction, name in (("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "fdr_bh")):
        table = analyze(example, split=0.2, metrics=two, correction=correction).table
        primary = table["role"] == "primary"
        np.testing.assert_allclose(
            table.loc[primary, "p_adjusted"],
            multipletests(table.loc[primary, "p_value"], method=name)[1],
        )
        secondary = table["role"] == "secondary"
        np.testing.assert_allclose(
            table.loc[secondary, "p_adjusted"],
            multipletests(table.loc[secondary, "p_value"], method="fdr_bh")[1],
        )
        rest = ~(primary | secondary)
        assert (table.loc[rest, "p_adjusted"] == table.loc[rest, "p_value"]).all()


def test_user_level_metrics_use_z_welch_and_fisher() -> None:
    small = simulate_dialogs(n_users=40, seed=2, split=0.5, return_rate=0.05)
    metrics = [
        *metrics_by_name(["return_7d"]),
        Metric("completed_per_user", "user_mean", "completed"),
    ]
    table = analyze(small, split=0.5, metrics=metrics, primary="return_7d").table.set_index(
        "metric"
    )
    assert table.loc["return_7d", "method"] == "Fisher exact test"
    per_user = small.groupby(["variant", "user_id"])["completed"].sum()
    welch = sps.ttest_ind(per_user["treatment"], per_user["control"], equal_var=False)
    assert table.loc["completed_per_user", "p_value"] == pytest.approx(welch.pvalue, rel=1e-9)


def test_seed_significance_test_is_kept_without_its_crash() -> None:
    result = ab_significance_test([0, 0, 0, 0], [1, 0, 1, 1])
    assert math.isnan(result["relative_lift_pct"]) and "note" in result
    reference = sps.ttest_ind([0, 1, 1, 0, 1], [1, 1, 1, 0, 1])
    assert ab_significance_test([0, 1, 1, 0, 1], [1, 1, 1, 0, 1])["p_value"] == pytest.approx(
        reference.pvalue
    )


# ------------------------------------------------------------------ bad input


def test_unknown_labels_and_empty_arms(example: pd.DataFrame) -> None:
    with pytest.raises(
        ValueError,
        match=r"treatment == 'v2': no rows with that variant label; "
        r"the log has \{'control': \d+, 'treatment': \d+\}",
    ):
        analyze(example, split=0.2, treatment="v2")
    control_only = example[example["variant"] == "control"]
    with pytest.raises(ValueError, match=r"treatment == 'treatment': no rows"):
        analyze(control_only, split=0.2)
    with pytest.raises(ValueError, match=r"control == treatment"):
        analyze(example, split=0.2, treatment="control")
    with pytest.raises(ValueError, match=r"split == 1.2"):
        analyze(example, split=1.2)
    with pytest.raises(ValueError, match=r"correction == 'bonferoni'"):
        analyze(example, split=0.2, correction="bonferoni")


def test_missing_column_and_wrong_type(example: pd.DataFrame, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"metric 'csat' needs column\(s\) \['csat'\]"):
        analyze(example.drop(columns="csat"), split=0.2, metrics=metrics_by_name(["csat"]))
    bad = example.assign(turns="three")
    with pytest.raises(
        LogValidationError, match=r"column 'turns' has type VARCHAR, must be numeric"
    ):
        analyze(bad, split=0.2)
    with pytest.raises(
        LogValidationError, match=r"column 'turns' has type VARCHAR, must be numeric"
    ):
        analyze(write_log(bad, tmp_path / "bad.parquet"), split=0.2)
    dupes = pd.concat([example, example.head(3)])
    with pytest.raises(LogValidationError, match=r"3 row\(s\) repeat a dialog_id"):
        analyze(write_log(dupes, tmp_path / "dupes.parquet"), split=0.2)


def test_all_missing_metric_zero_variance_and_zero_control_are_explicit_nans(
    example: pd.DataFrame,
) -> None:
    odd = example.assign(csat=np.nan, error=0)
    odd.loc[odd["variant"] == "control", "completed"] = 0
    table = analyze(odd, split=0.2).table.set_index("metric")
    assert math.isnan(table.loc["csat", "p_value"])
    assert "denominator of csat is 0" in table.loc["csat", "note"]
    assert math.isnan(table.loc["error_rate", "p_value"])
    assert "zero variance" in table.loc["error_rate", "note"]
    assert math.isnan(table.loc["task_completion", "relative_effect"])
    assert "control value is 0" in table.loc["task_completion", "note"]
    assert table.loc["task_completion", "effect"] > 0


def test_default_metrics_follow_the_columns(example: pd.DataFrame) -> None:
    minimal = example[["dialog_id", "user_id", "variant", "timestamp", "completed"]]
    table = analyze(minimal, split=0.2).table
    assert table["metric"].tolist() == ["task_completion"]
    renamed = minimal.rename(columns={"user_id": "customer"})
    mapped = analyze(renamed, split=0.2, column_map={"customer": "user_id"}).table
    assert mapped["p_value"].tolist() == table["p_value"].tolist()
