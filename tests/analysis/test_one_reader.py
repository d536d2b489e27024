"""One reader (#27): the public read_log reads a dialog log with the analysis's reader, so a
';' CSV, epoch seconds written as text, decimal commas and Latin-1 are read or refused the same
way, with the same kind of message naming the file or column."""

from __future__ import annotations

import pandas as pd
import pytest

from abkit.analysis.log_source import read_log
from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR
from abkit.serve.event_store import EventStore
from abkit.serve.events import EventValidationError, LogValidationError


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return read_log(DATA_DIR / "example_dialogs.parquet").head(3000)


def test_a_semicolon_csv_and_epoch_text_read_as_the_analysis_reads_them(log, tmp_path) -> None:
    semi = tmp_path / "semi.csv"
    log.to_csv(semi, sep=";", index=False)
    epoch = tmp_path / "epoch.csv"
    seconds = log["timestamp"].astype("int64") // 10**6
    log.assign(timestamp=seconds.astype(str)).to_csv(epoch, index=False)
    for path in (semi, epoch):
        frame = read_log(path)
        assert len(frame) == len(log)
        assert frame["timestamp"].min() == log["timestamp"].min()  # not 1970
        assert analyze(path, split=0.2).engine.first == frame["timestamp"].min()
    pd.testing.assert_series_equal(read_log(semi)["csat"], log["csat"], check_dtype=False)


def test_decimal_commas_and_latin1_are_refused_naming_column_or_file(log, tmp_path) -> None:
    comma = tmp_path / "comma.csv"
    log.to_csv(comma, sep=";", decimal=",", index=False)
    with pytest.raises(LogValidationError, match=r"column 'csat' .*'3,0'"):
        read_log(comma)
    latin = tmp_path / "latin.csv"
    log.assign(model_version="café").to_csv(latin, index=False, encoding="latin-1")
    for read in (read_log, lambda p: analyze(p, split=0.2)):
        with pytest.raises(LogValidationError, match=r"'.*latin.csv' is not UTF-8 text"):
            read(latin)


def test_a_column_map_onto_a_missing_column_names_it(log, tmp_path) -> None:
    with pytest.raises(LogValidationError, match=r"column_map names column\(s\) \['customer'\]"):
        read_log(DATA_DIR / "example_dialogs.parquet", column_map={"customer": "user_id"})


def test_an_out_of_range_outcome_names_the_outcome(tmp_path) -> None:
    store = EventStore(tmp_path / "events.csv")
    event = {
        "event_id": "e1",
        "dialog_id": "d1",
        "user_id": "u1",
        "variant": "control",
        "experiment": "exp",
        "timestamp": pd.Timestamp("2026-01-05", tz="UTC"),
        "event_type": "outcome",
        "outcome": "csat",
        "value": 9.0,
    }
    with pytest.raises(EventValidationError, match=r"value \(outcome 'csat'\) == 9.0, must be"):
        store.append(event)
