"""One time model (#27): timestamps written without a zone are UTC, or the plan's ``timezone``,
whatever the machine's ``TZ``; a look selects the same rows on DuckDB and Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from abkit.analysis.log_source import read_log
from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR

ABKIT = str(Path(sys.executable).parent / "abkit")


@pytest.fixture(scope="module")
def naive_log(tmp_path_factory) -> Path:
    """The bundled log with naive timestamps, shifted so many rows fall within an hour of
    midnight UTC (where a machine in Tokyo, UTC+9, would put them on another day)."""
    log = read_log(DATA_DIR / "example_dialogs.parquet")
    log["timestamp"] = log["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    folder = tmp_path_factory.mktemp("naive")
    log.to_parquet(folder / "naive.parquet")
    log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        folder / "naive.csv", index=False
    )
    return folder / "naive.parquet"


def _rows(log: Path, tz: str, *extra: str) -> int:
    done = subprocess.run(
        [ABKIT, "analyze", str(log), "--split", "0.2", "--until", "2026-01-08", "--json", *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": tz},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["n_rows"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_look_selects_the_same_rows_under_any_machine_time_zone(naive_log, suffix) -> None:
    log = naive_log.with_suffix(suffix)
    frame = pd.read_parquet(naive_log)
    expected = int((frame["timestamp"] < pd.Timestamp("2026-01-09")).sum())  # through Jan 8, UTC
    assert _rows(log, "UTC") == expected
    assert _rows(log, "Asia/Tokyo") == expected
    assert _rows(log, "America/Los_Angeles") == expected


def test_the_plans_timezone_places_naive_timestamps(naive_log, tmp_path) -> None:
    frame = pd.read_parquet(naive_log)
    # naive times are Paris wall-clock times: one hour ahead of UTC in January
    instants = frame["timestamp"].dt.tz_localize("Europe/Paris").dt.tz_convert("UTC")
    expected = int((instants < pd.Timestamp("2026-01-09", tz="UTC")).sum())
    assert expected != int((frame["timestamp"] < pd.Timestamp("2026-01-09")).sum())
    for suffix in (".parquet", ".csv"):
        result = analyze(
            naive_log.with_suffix(suffix),
            plan={"split": 0.2, "timezone": "Europe/Paris"},
            until=pd.Timestamp("2026-01-08 23:59:59.999999", tz="UTC"),
        )
        assert result.engine.rows == expected, suffix
    plan = tmp_path / "plan.yaml"
    plan.write_text("split: 0.2\ntimezone: Europe/Paris\n")
    assert _rows(naive_log, "Asia/Tokyo", "--plan", str(plan)) == expected


def test_timestamps_with_an_offset_are_instants_whatever_the_plans_zone(tmp_path) -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet").head(2000)
    text = log.assign(timestamp=log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
    text.to_csv(tmp_path / "offset.csv", index=False)
    plain = analyze(tmp_path / "offset.csv", plan={"split": 0.2})
    paris = analyze(tmp_path / "offset.csv", plan={"split": 0.2, "timezone": "Europe/Paris"})
    assert plain.engine.first == paris.engine.first == log["timestamp"].min()


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match=r"timezone == 'CEST', must be an IANA time zone"):
        analyze(DATA_DIR / "example_dialogs.parquet", plan={"split": 0.2, "timezone": "CEST"})
