"""Every daily look in one pass (abkit.analysis.looks) gives what a look per day gives."""

from __future__ import annotations

import pandas as pd
import pytest

import abkit.analysis.results as results
from abkit.analysis.looks import cumulative_window
from abkit.core.paths import DATA_DIR
from abkit.plan.experiment_plan import load_plan
from abkit.teaching.simulate import simulate_dialogs


def both_ways(monkeypatch, events, plan, metric, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one pass, a look per day): the second with the one-pass path switched off."""
    calls = []
    original = results.aggregate_daily

    def spy(*args, **kwargs):
        found = original(*args, **kwargs)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(results, "aggregate_daily", spy)
    one_pass = results.cumulative_effects(events, plan, metric, **kw)
    assert calls == [True], "the one-pass path was not taken"
    monkeypatch.setattr(results, "aggregate_daily", lambda *a, **k: None)
    per_day = results.cumulative_effects(events, plan, metric, **kw)
    return one_pass, per_day


@pytest.mark.parametrize(
    ("log", "spec", "metric", "kw"),
    [
        ("example_dialogs.parquet", {"split": 0.2}, "task_completion", {}),
        ("example_dialogs.parquet", {"split": 0.2}, "csat", {}),
        ("example_dialogs.parquet", {"split": 0.2}, "like_rate", {}),
        ("example_dialogs.parquet", {"split": 0.2}, "tokens_per_dialog", {}),
        ("scenario_srm.parquet", {"split": 0.5}, "task_completion", {}),
        ("example_abn_dialogs.parquet", "example_abn_plan.yaml", "task_completion",
         {"candidate": "ft-v2"}),
    ],
)  # fmt: skip
def test_one_pass_equals_a_look_per_day(monkeypatch, log, spec, metric, kw) -> None:
    plan = load_plan(DATA_DIR / spec if isinstance(spec, str) else spec)
    if "candidate" in kw and kw["candidate"] not in plan.candidates:
        kw = {"candidate": plan.candidates[-1]}
    one_pass, per_day = both_ways(monkeypatch, DATA_DIR / log, plan, metric, **kw)
    assert len(one_pass) >= 10
    pd.testing.assert_frame_equal(one_pass, per_day, check_exact=False, rtol=1e-9, atol=1e-12)


def test_crossovers_and_an_arm_that_starts_late(monkeypatch) -> None:
    """Users who switch arms on a later day leave the comparison from that look on; the
    treatment's first rows arrive on day 3."""
    log = simulate_dialogs(n_users=600, days=10, split=0.5, seed=7)
    start = log["timestamp"].min().floor("D")
    late = (log["variant"] == "treatment") & (log["timestamp"] < start + pd.Timedelta(days=2))
    log = log[~late].copy()
    switch = log["user_id"].isin(log["user_id"].drop_duplicates().head(15))
    later = log["timestamp"] >= start + pd.Timedelta(days=6)
    log.loc[switch & later, "variant"] = "control"  # seen in both arms from day 7 on
    plan = load_plan({"split": 0.5, "crossover_max_share": 0.2})
    one_pass, per_day = both_ways(monkeypatch, log, plan, "task_completion")
    pd.testing.assert_frame_equal(one_pass, per_day, check_exact=False, rtol=1e-9, atol=1e-12)


def test_looks_that_need_their_own_context_are_taken_day_by_day(monkeypatch) -> None:
    plan = load_plan({"split": 0.2})  # latency_p95: a quantile, whose order statistics are
    calls = []  # the look's own
    original = results.aggregate_daily
    monkeypatch.setattr(
        results, "aggregate_daily", lambda *a, **k: calls.append(original(*a, **k)) or None
    )
    results.cumulative_effects(DATA_DIR / "example_dialogs.parquet", plan, "latency_p95")
    assert calls == [None]


def test_only_aggregates_that_accumulate_are_taken() -> None:
    assert cumulative_window("count_if(x > 0)") == "sum"
    assert cumulative_window("coalesce(sum(CASE WHEN a THEN b END), 0)") == "sum"
    assert cumulative_window("min(arm)") == "min"
    for sql in ("avg(x)", "sum(x) / count(y)", "coalesce(max(x), 0)", "quantile_cont(x, 0.5)",
                "count(DISTINCT x) + sum(y)", "count(DISTINCT x)", "user_id"):  # fmt: skip
        assert cumulative_window(sql) is None, sql
