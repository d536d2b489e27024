"""Fail closed (#27): a gate whose statistic cannot be computed is never a pass; CUPED says how
many users its covariate matched, with the same count the estimate uses; a covariate that
explains nearly all of the outcome is flagged as a likely leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abkit.analysis.results import analyze
from abkit.teaching.simulate import SimulationConfig, simulate_dialogs

CONFIG = SimulationConfig(n_users=3000, seed=43, split=0.5)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate_dialogs(CONFIG)


def _gate(result, name: str) -> pd.Series:
    return result.health.table.set_index("gate").loc[name]


def test_a_column_missing_in_one_arm_only_fails_its_gate(log) -> None:
    """0 % missing in control, 100 % in treatment: no variance in either arm, p = NaN."""
    broken = log.copy()
    broken.loc[broken["variant"] == "treatment", "turns"] = np.nan
    result = analyze(broken, plan={"split": 0.5, "primary": "task_completion"})
    gate = _gate(result, "missing turns")
    assert gate["status"] == "fail"
    assert "cannot be tested" in gate["detail"]
    assert result.decision.verdict == "invalid"


def test_a_column_missing_everywhere_warns(log) -> None:
    broken = log.assign(turns=np.nan)
    result = analyze(broken, plan={"split": 0.5, "primary": "task_completion"})
    assert _gate(result, "missing turns")["status"] == "warn"


def _users_table(log: pd.DataFrame, ids, values) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ids,
            "past": values,
            "measured_at": pd.Timestamp(CONFIG.start, tz="UTC") - pd.Timedelta(days=1),
        }
    )


CSAT_MEAN = {
    "name": "turns_per_user",
    "kind": "user_mean",
    "column": "turns",
    "covariate": "past",
    "role": "primary",
}


def test_a_users_table_that_matches_no_user_fails(log) -> None:
    ids = log["user_id"].drop_duplicates()
    strangers = _users_table(log, "x-" + ids.astype(str), np.arange(len(ids), dtype=float))
    result = analyze(log, plan={"split": 0.5, "metrics": [CSAT_MEAN]}, users=strangers)
    gate = _gate(result, "covariates: users table")
    assert gate["status"] == "fail"
    assert "no user of the log has a covariate value" in gate["detail"]
    assert result.decision.verdict == "invalid"


def test_the_gate_counts_users_with_a_value_as_the_estimate_does(log) -> None:
    ids = log["user_id"].drop_duplicates().reset_index(drop=True)
    values = np.arange(len(ids), dtype=float)
    values[::3] = np.nan  # in the table, but with no value: without history in the estimate
    table = _users_table(log, ids, values)
    result = analyze(log, plan={"split": 0.5, "metrics": [CSAT_MEAN]}, users=table)
    gate = _gate(result, "covariates: users table")
    per_user = log.groupby("user_id")["variant"].first()
    valued = set(ids[~np.isnan(values)])
    expected = [
        int(sum(1 for u in per_user.index[per_user == arm] if u in valued))
        for arm in ("control", "treatment")
    ]
    assert (
        f"users with a covariate value: control {expected[0]:,} of "
        f"{int((per_user == 'control').sum()):,}, treatment {expected[1]:,} of "
        f"{int((per_user == 'treatment').sum()):,}" in gate["detail"]
    )
    assert f"{len(ids):,} user(s) of the log found in the users table" in gate["detail"]
    assert gate["status"] == "pass"


def test_few_matched_users_warn(log) -> None:
    ids = log["user_id"].drop_duplicates().reset_index(drop=True)
    few = ids.iloc[: len(ids) // 10]
    table = _users_table(log, few, np.arange(len(few), dtype=float))
    result = analyze(log, plan={"split": 0.5, "metrics": [CSAT_MEAN]}, users=table)
    gate = _gate(result, "covariates: users table")
    assert gate["status"] == "warn" and "below 20%" in gate["detail"]


def test_a_covariate_that_is_the_outcome_is_flagged_as_a_leak(log) -> None:
    per_user = log.groupby("user_id")["turns"].sum()
    rng = np.random.default_rng(0)
    leak = per_user + rng.normal(0, 0.01, len(per_user))
    table = _users_table(log, per_user.index, leak.to_numpy())
    result = analyze(log, plan={"split": 0.5, "metrics": [CSAT_MEAN]}, users=table)
    row = result.table.set_index("metric").loc["turns_per_user"]
    assert row["variance_reduction"] > 0.999
    gate = _gate(result, "covariate leak turns_per_user")
    assert gate["status"] == "warn" and "of turns_per_user's variance (above 90%)" in gate["detail"]
