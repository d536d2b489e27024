"""CUPED through the engine: the covariate sources, the one-pass sums, post-treatment refusals.

The engine's numbers are checked against an independent path: per-user tables built with pandas
groupby, the window applied in pandas, then :func:`abkit.stats.cuped.cuped_test` (itself checked
against GrowthBook, tea-tasting and statsmodels in test_cuped.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abkit.analysis.results import analyze
from abkit.serve.events import LogValidationError
from abkit.stats.cuped import Moments, Value, cuped_test
from abkit.teaching.simulate import SimulationConfig, simulate_dialogs, simulate_pre_period

CONFIG = SimulationConfig(
    n_users=3000, seed=41, split=0.3, effects={"treatment": {"completion": 0.03}}
)
DAYS = 21.0


@pytest.fixture(scope="module")
def logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate_dialogs(CONFIG), simulate_pre_period(CONFIG, days=28, stability=0.9)


def plan(*metrics: dict, **settings) -> dict:
    return {"split": 0.3, "pre_period_days": DAYS, "metrics": list(metrics), **settings}


COMPLETION = {
    "name": "completion",
    "kind": "ratio",
    "column": "completed",
    "role": "primary",
    "covariate": "pre_period",
}


def _expected_ratio(log: pd.DataFrame, pre: pd.DataFrame, column: str):
    """Per-user sums in pandas, the pre-period window in pandas, then cuped_test."""
    post = log.groupby("user_id").agg(
        y=(column, "sum"),
        x=(column, "count"),
        first=("timestamp", "min"),
        variant=("variant", "first"),
    )
    joined = pre.merge(post[["first"]], left_on="user_id", right_index=True)
    start = joined["first"] - pd.Timedelta(days=DAYS)
    window = joined[(joined["timestamp"] < joined["first"]) & (joined["timestamp"] >= start)]
    before = window.groupby("user_id").agg(yp=(column, "sum"), xp=(column, "count"))
    users = post.join(before, how="left").fillna({"yp": 0.0, "xp": 0.0})
    users["none"] = (users["xp"] == 0).astype(float)
    parts = ["y", "x", "yp", "xp", "none"]
    arms = [
        Moments.of(users.loc[users["variant"] == v, parts].to_numpy(float))
        for v in ("control", "treatment")
    ]
    return cuped_test(*arms, Value(0, 1), [Value(2, 3), Value(4)]), users


def test_pre_period_ratio_matches_an_independent_computation(logs) -> None:
    log, pre = logs
    result = analyze(log, plan=plan(COMPLETION), pre_period=pre)
    expected, users = _expected_ratio(log, pre, "completed")
    row = result.table.set_index("metric").loc["completion"]
    assert row["effect"] == pytest.approx(expected.test.estimate, rel=1e-9)
    assert row["se"] == pytest.approx(expected.test.se, rel=1e-9)
    assert row["relative_effect"] == pytest.approx(expected.relative.estimate, rel=1e-9)
    assert row["covariate"] == "pre_period"
    assert row["n_control"] + row["n_treatment"] == len(users)  # no user dropped
    assert 0.05 < row["variance_reduction"] < 0.9
    assert row["unadjusted_effect"] == pytest.approx(expected.unadjusted.estimate, rel=1e-9)
    assert row["method"].endswith("CUPED")
    gate = result.health.table.set_index("gate").loc["covariates: pre-period"]
    without = int(users["none"].sum())
    assert f"{without:,} without history kept with an indicator covariate" in gate["detail"]


def test_pre_period_rows_after_first_exposure_are_left_out_and_counted(logs) -> None:
    log, pre = logs
    # the experiment's own dialogs handed over as "pre-period": all post-treatment
    leaked = pd.concat([pre, log[pre.columns]], ignore_index=True)
    leaked["dialog_id"] = leaked["dialog_id"] + leaked.index.astype(str)
    result = analyze(log, plan=plan(COMPLETION), pre_period=leaked)
    clean = analyze(log, plan=plan(COMPLETION), pre_period=pre)
    a, b = (r.table.set_index("metric").loc["completion"] for r in (result, clean))
    assert a["effect"] == pytest.approx(b["effect"], rel=1e-12)
    gate = result.health.table.set_index("gate").loc["covariates: pre-period"]
    assert f"{len(log):,} pre-period row(s) at or after a user's first exposure" in gate["detail"]


def test_user_mean_and_proportion_with_a_users_table(logs) -> None:
    log, pre = logs
    history = pre.groupby("user_id").agg(
        past_csat=("csat", "sum"), past_return=("returned_7d", "max")
    )
    history = history.reset_index().assign(measured_at=pd.Timestamp(CONFIG.start, tz="UTC"))
    metrics = (
        {
            "name": "csat",
            "kind": "user_mean",
            "column": "csat",
            "covariate": "past_csat",
            "role": "primary",
        },
        {
            "name": "return",
            "kind": "user_proportion",
            "column": "returned_7d",
            "covariate": "past_return",
        },
    )
    result = analyze(log, plan=plan(*metrics), users=history)
    post = log.groupby("user_id").agg(
        v=("csat", lambda s: s.sum(min_count=1)),
        p=("returned_7d", "max"),
        variant=("variant", "first"),
    )
    users = post.join(history.set_index("user_id"), how="left")
    table = result.table.set_index("metric")
    for name, value, covariate in (("csat", "v", "past_csat"), ("return", "p", "past_return")):
        sample = users[users[value].notna()]
        parts = np.column_stack(
            [
                (sample[value] > 0).astype(float) if name == "return" else sample[value],
                sample[covariate].fillna(0.0),
                sample[covariate].isna().astype(float),
            ]
        )
        arms = [
            Moments.of(parts[(sample["variant"] == v).to_numpy()]) for v in ("control", "treatment")
        ]
        expected = cuped_test(*arms, Value(0), [Value(1), Value(2)], welch=name == "csat")
        assert table.loc[name, "effect"] == pytest.approx(expected.test.estimate, rel=1e-9)
        assert table.loc[name, "p_value"] == pytest.approx(expected.test.p_value, rel=1e-9)
    assert "covariates: users table" in set(result.health.table["gate"])


def test_report_mode_decides_on_the_unadjusted_estimate(logs) -> None:
    log, pre = logs
    decided = analyze(log, plan=plan(COMPLETION), pre_period=pre).table.iloc[0]
    reported = analyze(log, plan=plan(COMPLETION, cuped="report"), pre_period=pre).table.iloc[0]
    plain = analyze(log, plan=plan({**COMPLETION, "covariate": ""})).table.iloc[0]
    assert reported["effect"] == pytest.approx(plain["effect"], rel=1e-12)
    assert reported["p_value"] == pytest.approx(plain["p_value"], rel=1e-12)
    assert reported["cuped_effect"] == pytest.approx(decided["effect"], rel=1e-12)
    assert decided["unadjusted_effect"] == pytest.approx(plain["effect"], rel=1e-12)


def _history(log: pd.DataFrame) -> pd.DataFrame:
    users = log.groupby("user_id", as_index=False).agg(first=("timestamp", "min"))
    return users.assign(past=1.0, measured_at=pd.Timestamp(CONFIG.start, tz="UTC"))


def test_post_treatment_covariate_is_refused(logs) -> None:
    log, _ = logs
    users = _history(log)
    users.loc[3, "measured_at"] = users.loc[3, "first"] + pd.Timedelta(hours=1)
    metric = {**COMPLETION, "covariate": "past"}
    with pytest.raises(LogValidationError, match="post-treatment covariate: 1 user"):
        analyze(log, plan=plan(metric), users=users.drop(columns="first"))
    users.loc[3, "measured_at"] = pd.NaT
    with pytest.raises(LogValidationError, match="1 user.s. have no measured_at"):
        analyze(log, plan=plan(metric), users=users.drop(columns="first"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda u: u.drop(columns="measured_at"),
            r"missing required column\(s\) \['measured_at'\]",
        ),
        (lambda u: pd.concat([u, u.head(2)]), "2 row.s. repeat a user_id"),
        (lambda u: u.assign(past=np.where(u.index == 5, np.inf, 1.0)), "outside finite numbers"),
        (lambda u: u.drop(columns="past"), r"lacks covariate column\(s\) \['past'\]"),
    ],
)
def test_bad_users_tables_are_refused(logs, change, message) -> None:
    log, _ = logs
    users = change(_history(log).drop(columns="first"))
    with pytest.raises((LogValidationError, ValueError), match=message):
        analyze(log, plan=plan({**COMPLETION, "covariate": "past"}), users=users)


def test_missing_sources_and_bad_declarations_are_named(logs, tmp_path) -> None:
    log, pre = logs
    with pytest.raises(ValueError, match="covariate 'pre_period' but no pre-period log"):
        analyze(log, plan=plan(COMPLETION))
    with pytest.raises(ValueError, match="come from a users table, but none was given"):
        analyze(log, plan=plan({**COMPLETION, "covariate": "past"}))
    with pytest.raises(ValueError, match="CUPED is for ratio, user_mean and user_proportion"):
        analyze(
            log,
            plan=plan(
                {
                    "name": "p95",
                    "kind": "quantile",
                    "column": "latency_ms",
                    "quantile": 0.95,
                    "covariate": "pre_period",
                    "role": "primary",
                }
            ),
        )
    bad = pre.assign(completed=np.where(pre.index == 0, 3, pre["completed"]))
    with pytest.raises(LogValidationError, match="pre-period log DataFrame: column 'completed'"):
        analyze(log, plan=plan(COMPLETION), pre_period=bad)
    with pytest.raises(FileNotFoundError, match="pre_period == "):
        analyze(log, plan=plan(COMPLETION), pre_period=tmp_path / "nothing.parquet")
    # the plan's path, from a file
    path = tmp_path / "pre.parquet"
    pre.to_parquet(path, index=False)
    by_path = analyze(log, plan=plan(COMPLETION, pre_period_log=str(path)))
    by_frame = analyze(log, plan=plan(COMPLETION), pre_period=pre)
    assert by_path.table.iloc[0]["effect"] == pytest.approx(by_frame.table.iloc[0]["effect"])


def test_bundled_cuped_plan_by_api_and_cli_and_cwd(tmp_path, monkeypatch) -> None:
    """The plan file's relative paths are read from its folder, from any working directory."""
    import json

    from kit_cli import abkit

    from abkit.core.paths import DATA_DIR
    from abkit.plan.experiment_plan import load_plan

    log, plan_path = DATA_DIR / "example_dialogs.parquet", DATA_DIR / "example_cuped_plan.yaml"
    monkeypatch.chdir(tmp_path)
    api = analyze(log, plan=load_plan(plan_path))
    done = abkit("analyze", str(log), "--plan", str(plan_path), "--json")
    assert done.returncode == 0, done.stderr
    cli = pd.DataFrame(json.loads(done.stdout)["results"]).set_index("metric")
    table = api.table.set_index("metric")
    for metric in ("task_completion", "csat", "turns", "tokens_per_dialog"):
        for key in ("effect", "p_value", "cuped_effect", "unadjusted_effect", "variance_reduction"):
            # DuckDB sums floats in parallel: the last digits vary between runs
            assert cli.loc[metric, key] == pytest.approx(table.loc[metric, key], rel=1e-9)
    cuped = api.cuped_table()
    assert list(cuped["metric"]) == ["task_completion", "csat", "turns", "tokens_per_dialog"]
    assert (cuped["variance_reduction"].iloc[:3] > 0.03).all()
    assert api.decision.verdict == "ship"
    text = abkit("analyze", str(log), "--plan", str(plan_path))
    assert "CUPED: unadjusted and adjusted estimates (decided on: CUPED)" in text.stdout


def test_variance_reduction_estimate_from_a_pre_period_log(logs) -> None:
    """Later half against earlier half, computed again in pandas with cuped.explained_variance."""
    from abkit.analysis.covariates import estimate_variance_reduction
    from abkit.plan.experiment_plan import load_plan
    from abkit.stats.cuped import explained_variance

    _, pre = logs
    estimate = estimate_variance_reduction(pre, load_plan({}))
    middle = pre["timestamp"].min() + (pre["timestamp"].max() - pre["timestamp"].min()) / 2
    late, early = pre[pre["timestamp"] >= middle], pre[pre["timestamp"] < middle]
    users = late.groupby("user_id").agg(y=("completed", "sum"), x=("completed", "count"))
    before = early.groupby("user_id").agg(yp=("completed", "sum"), xp=("completed", "count"))
    users = users.join(before, how="left").fillna(0.0)
    users["none"] = (users["xp"] == 0).astype(float)
    moments = Moments.of(users[["y", "x", "yp", "xp", "none"]].to_numpy(float))
    expected = explained_variance(moments, Value(0, 1), [Value(2, 3), Value(4)])
    assert estimate.metric == "task_completion"
    assert estimate.reduction == pytest.approx(expected, rel=1e-9)
    assert estimate.users == len(users)
    assert estimate.with_history == int((users["none"] == 0).sum())
    with pytest.raises(ValueError, match="metric == 'nope', not in the plan"):
        estimate_variance_reduction(pre, load_plan({}), "nope")
    with pytest.raises(ValueError, match="is a quantile: CUPED does not apply"):
        estimate_variance_reduction(pre, load_plan({}), "latency_p95")
