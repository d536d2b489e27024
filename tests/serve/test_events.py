"""abkit.serve.events: stores lose and duplicate nothing under threads; reading validates
clearly."""

from __future__ import annotations

import pandas as pd
import pytest

from abkit.analysis.log_source import read_log
from abkit.serve.event_store import EventStore
from abkit.serve.events import (
    DIALOG_SCHEMA,
    EVENT_SCHEMA,
    LogValidationError,
    fold_dialogs,
    validate,
    write_log,
)
from abkit.teaching.simulate import simulate_dialogs

START = pd.Timestamp("2026-01-05", tz="UTC")


def exposure(thread: int, index: int) -> dict:
    return {
        "event_id": f"t{thread}-e{index}",
        "timestamp": START + pd.Timedelta(seconds=index),
        "experiment": "exp",
        "user_id": f"u{index % 500}",
        "dialog_id": f"t{thread}-d{index // 2}",
        "variant": "treatment" if thread % 2 else "control",
        "model_version": "v",
        "event_type": "exposure",
        "status": "ok",
        "latency_ms": float(index),
        "tokens_out": 10.0,
    }


def test_store_refuses_fields_it_would_drop(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['latency'\]"):
        EventStore(tmp_path / "x.csv").append({**exposure(0, 0), "latency": 3})


@pytest.mark.parametrize("name", ["log.parquet", "log.csv", "log.duckdb"])
def test_dialog_log_round_trips_through_every_format(tmp_path, name: str) -> None:
    dialogs = simulate_dialogs(n_users=300, seed=3)
    back = read_log(write_log(dialogs, tmp_path / name))
    assert len(back) == len(dialogs)
    merged = back.set_index("dialog_id").loc[dialogs["dialog_id"]]
    for column in ("completed", "turns", "likes"):
        assert merged[column].tolist() == dialogs[column].tolist()
    assert merged["latency_ms"].to_numpy() == pytest.approx(dialogs["latency_ms"].to_numpy())
    assert merged["csat"].isna().tolist() == dialogs["csat"].isna().tolist()


def test_fold_dialogs_turns_events_into_one_row_per_dialog() -> None:
    rows = [
        {**exposure(0, 0), "dialog_id": "d1", "latency_ms": 100.0},
        {
            **exposure(0, 1),
            "dialog_id": "d1",
            "user_id": "u0",
            "latency_ms": 300.0,
            "status": "error",
        },
        {**exposure(0, 2), "dialog_id": "d2", "latency_ms": 50.0},
    ]
    outcome = {
        "experiment": "exp",
        "user_id": "u0",
        "variant": "control",
        "model_version": "v",
        "event_type": "outcome",
    }
    rows += [
        {
            **outcome,
            "event_id": "o1",
            "timestamp": START,
            "dialog_id": "d1",
            "outcome": "resolved",
            "value": 1.0,
        },
        {
            **outcome,
            "event_id": "o2",
            "timestamp": START,
            "dialog_id": "d1",
            "outcome": "like",
            "value": 1.0,
        },
        {
            **outcome,
            "event_id": "o3",
            "timestamp": START,
            "dialog_id": "d1",
            "outcome": "like",
            "value": 1.0,
        },
        {
            **outcome,
            "event_id": "o4",
            "timestamp": START,
            "dialog_id": "d2",
            "outcome": "csat",
            "value": 4.0,
        },
    ]
    events = validate(pd.DataFrame(rows), EVENT_SCHEMA)
    dialogs = fold_dialogs(events).set_index("dialog_id")
    assert dialogs.loc["d1", "turns"] == 2 and dialogs.loc["d2", "turns"] == 1
    assert dialogs.loc["d1", "latency_ms"] == 200.0
    assert dialogs.loc["d1", "error"] == 1 and dialogs.loc["d2", "error"] == 0
    assert dialogs.loc["d1", "likes"] == 2 and dialogs.loc["d2", "likes"] == 0
    assert dialogs.loc["d1", "completed"] == 1 and pd.isna(dialogs.loc["d2", "completed"])
    assert dialogs.loc["d2", "csat"] == 4.0
    validate(dialogs.reset_index(), DIALOG_SCHEMA)


def test_fold_dialogs_refuses_a_dialog_of_two_arms_and_counts_orphan_outcomes() -> None:
    """A dialog whose exposures name two variants (or users) cannot be placed: refused, where
    the first row's arm used to be taken; outcomes of a dialog never exposed are left out with
    a warning that counts them, where they used to vanish."""
    first, second = {**exposure(0, 0), "dialog_id": "d1"}, {**exposure(1, 1), "dialog_id": "d1"}
    with pytest.raises(
        LogValidationError,
        match=r"1 dialog\(s\) have exposure events of more "
        r"than one user or variant, e.g. dialog 'd1': users \['u0', 'u1'\], "
        r"variants \['control', 'treatment'\]",
    ):
        fold_dialogs(validate(pd.DataFrame([first, second]), EVENT_SCHEMA))
    orphan = {
        **exposure(0, 2),
        "event_id": "o1",
        "dialog_id": "lost",
        "event_type": "outcome",
        "outcome": "resolved",
        "value": 1.0,
    }
    events = validate(pd.DataFrame([first, orphan, {**orphan, "event_id": "o2"}]), EVENT_SCHEMA)
    with pytest.warns(
        UserWarning,
        match=r"2 outcome event\(s\) of 1 dialog\(s\) with no "
        r"exposure event, e.g. dialog 'lost', are left out",
    ):
        folded = fold_dialogs(events)
    assert folded["dialog_id"].tolist() == ["d1"]


@pytest.fixture
def dialogs() -> pd.DataFrame:
    return simulate_dialogs(n_users=50, seed=1)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda d: d.drop(columns=["user_id"]), r"missing required column\(s\) \['user_id'\]"),
        (
            lambda d: d.assign(turns="many"),
            r"column 'turns' must be numeric, found 'many' in row 0",
        ),
        (lambda d: d.assign(completed=2), r"column 'completed' is a 0/1 flag, found 2"),
        (
            lambda d: d.assign(variant=["treatmnet"] + d["variant"].tolist()[1:]),
            r"unknown variant label\(s\) \['treatmnet'\] in 1 row\(s\), "
            r"allowed: \['control', 'treatment'\]",
        ),
        (
            lambda d: d.assign(dialog_id=["dupe", "dupe"] + d["dialog_id"].tolist()[2:]),
            r"2 rows share a duplicate dialog_id \(e.g. \['dupe'\]\)",
        ),
        (
            lambda d: d.assign(user_id=[None] + d["user_id"].tolist()[1:]),
            r"column 'user_id' has 1 null value\(s\) \(rows \[0\]\), none allowed",
        ),
        (lambda d: d.assign(user_id=1.5), r"column 'user_id' has dtype float64, must hold text"),
        (
            lambda d: d.assign(timestamp="yesterday"),
            r"column 'timestamp' cannot be read as timestamps",
        ),
        (lambda d: d.iloc[0:0], r"the log has no rows"),
    ],
)
def test_validation_names_the_problem(dialogs: pd.DataFrame, change, pattern: str) -> None:
    with pytest.raises(LogValidationError, match=pattern):
        validate(change(dialogs))


def test_column_map_renames_a_users_own_log(dialogs: pd.DataFrame) -> None:
    theirs = dialogs.rename(columns={"user_id": "customer", "variant": "arm"})
    mapped = validate(theirs, column_map={"customer": "user_id", "arm": "variant"})
    assert mapped["user_id"].tolist() == dialogs["user_id"].tolist()
    with pytest.raises(LogValidationError, match=r"column_map names column\(s\) \['client'\]"):
        validate(theirs, column_map={"client": "user_id"})
    with pytest.raises(LogValidationError, match=r"column_map maps to \['uid'\]"):
        validate(theirs, column_map={"customer": "uid"})


def test_read_log_errors(tmp_path, dialogs: pd.DataFrame) -> None:
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        read_log(tmp_path / "none.parquet")
    with pytest.raises(ValueError, match=r"must end in .parquet"):
        write_log(dialogs, tmp_path / "log.xlsx")
    path = write_log(dialogs, tmp_path / "log.duckdb", table="dialogs")
    with pytest.raises(ValueError, match=r"table == 'other' not in"):
        read_log(path, table="other")
