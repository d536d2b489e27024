"""One id rule (#27): what a missing user id is, decided by abkit.core.params.is_missing_id and
found
by the same SQL pre-filter on DuckDB and Spark; ids of several types across Parquet parts and
the experiment spelt in another letter case are refused; a user with more dialogs than a person
has is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abkit.analysis.log_source import read_log
from abkit.analysis.results import analyze
from abkit.core.duckdb_session import connect
from abkit.core.params import PLACEHOLDER_IDS, is_missing_id, odd_id_sql
from abkit.core.paths import DATA_DIR
from abkit.serve.events import LogValidationError

INVISIBLE = ["\u00a0", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u3000", "\u00ad", "\t"]


def _prefilter(ids: list[str]) -> list[bool]:
    with connect() as connection:
        frame = pd.DataFrame({"user_id": ids, "k": range(len(ids))})
        connection.register("ids", frame)
        rows = connection.execute(f"SELECT {odd_id_sql('user_id')} FROM ids ORDER BY k")
        return [bool(v) for (v,) in rows.fetchall()]


IDS = st.one_of(
    st.text(max_size=12),
    st.builds(
        lambda pad, core, end: pad + core + end,
        st.text(alphabet=INVISIBLE + [" "], max_size=3),
        st.sampled_from([*PLACEHOLDER_IDS, *(p.upper() for p in PLACEHOLDER_IDS), "u1", ""]),
        st.text(alphabet=INVISIBLE + [" "], max_size=3),
    ),
)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(IDS, min_size=1, max_size=30))
def test_the_sql_prefilter_finds_every_id_the_rule_refuses(ids) -> None:
    found = _prefilter(ids)
    for text, flagged in zip(ids, found, strict=True):
        if is_missing_id(text):
            assert flagged, repr(text)


def test_invisible_characters_and_placeholders_in_any_case_are_missing() -> None:
    for char in INVISIBLE:
        assert is_missing_id(char * 2) and is_missing_id(f"{char}N/A{char}")
        assert not is_missing_id(f"{char}u1")
    for text in ("N/A", "n/a", "NULL", "null ", "Anonymous", "-", "0", "#N/A", "GUEST"):
        assert is_missing_id(text), text
    for text in ("u0", "00", "nancy", "-1", "anonymous-42", "0x0"):
        assert not is_missing_id(text), text


def test_an_id_typed_differently_across_parquet_parts_is_refused(tmp_path) -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    numeric = log.iloc[:20000].assign(user_id=np.arange(20000) // 3 + 1)
    numeric.to_parquet(folder / "part-0.parquet")
    text = log.iloc[20000:].assign(user_id=[f"{i:06d}" for i in range(len(log) - 20000)])
    text.to_parquet(folder / "part-1.parquet")
    with pytest.raises(
        LogValidationError,
        match=r"column 'user_id' is text in 1 of 2 parts .*would name two users",
    ):
        analyze(folder, split=0.2)


@pytest.mark.parametrize("spelt", ["Support-Bot-V2", "support-bot-v2 ", "SUPPORT-BOT-V2"])
def test_rows_of_the_experiment_in_another_letter_case_are_refused(spelt) -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet").assign(experiment="support-bot-v2")
    log.loc[log.index[:500], "experiment"] = spelt
    with pytest.raises(
        LogValidationError,
        match=rf"500 row\(s\) of DataFrame name experiment\(s\) \{{'{spelt}': 500\}}.*only in "
        "letter case or spaces",
    ):
        analyze(log, plan={"split": 0.2, "experiment": "support-bot-v2"})


def test_a_user_with_more_dialogs_than_a_person_has_is_flagged() -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet")
    shared = log.index[log["variant"] == "treatment"][:1500]
    log.loc[shared, "user_id"] = "shared-kiosk"
    result = analyze(log, split=0.2)
    gate = result.health.table.set_index("gate").loc["dialogs per user"]
    assert gate["status"] == "warn"
    assert (
        "1 user(s) with more than 1,400 dialogs (100 per day): 'shared-kiosk' has 1,500"
        in (gate["detail"])
    )
    clean = analyze(DATA_DIR / "example_dialogs.parquet", split=0.2)
    gate = clean.health.table.set_index("gate").loc["dialogs per user"]
    assert gate["status"] == "pass" and gate["detail"].startswith("at most ")
