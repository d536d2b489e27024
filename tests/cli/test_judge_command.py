"""``abkit judge``: a judge file to a leaderboard, the same numbers as the library, and one-line
refusals that name what to change."""

from __future__ import annotations

import pandas as pd
import pytest
from kit_cli import abkit

from abkit.core.paths import DATA_DIR
from abkit.judging.bradley_terry import fit_bradley_terry
from abkit.judging.judgments import read_judgment_table

ARENA = str(DATA_DIR / "example_arena_votes.csv")
MAP = "question_id=prompt_id,model_a=system_a,model_b=system_b"


def test_an_arena_file_gives_the_librarys_leaderboard(tmp_path) -> None:
    out = tmp_path / "board" / "leaderboard.csv"
    done = abkit("judge", ARENA, "--column-map", MAP, "--interval", "sandwich", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (
        "6,000 verdicts on 6,000 prompts over 9 systems; sandwich intervals at 95%" in done.stdout
    )
    assert "note: no response lengths" in done.stdout
    assert "the judge ranks ft-v3 first" in done.stdout
    board = pd.read_csv(out)
    columns = {"question_id": "prompt_id", "model_a": "system_a", "model_b": "system_b"}
    pairs = read_judgment_table(ARENA, "file", columns=columns).comparisons
    expected = fit_bradley_terry(pairs, interval="sandwich").table()
    pd.testing.assert_series_equal(board["system"], expected["system"])
    assert board["strength"].to_numpy() == pytest.approx(expected["strength"].to_numpy())
    assert board["rank_high"].tolist() == expected["rank_high"].tolist()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((ARENA,), "--column-map model_a=system_a"),
        (
            (ARENA, "--column-map", MAP, "--verdicts", "left=a"),
            "--verdicts), e.g. {'model_a': 'a'}",
        ),
        (
            (ARENA, "--column-map", MAP, "--out", "board.txt"),
            "--out == 'board.txt': must name a .csv",
        ),
        ((ARENA, "--column-map", "question_id"), "is not YOURS=SCHEMA"),
    ],
)
def test_a_refusal_is_one_line_naming_what_to_change(args, said) -> None:
    done = abkit("judge", *args)
    last = done.stderr.strip().splitlines()[-1]  # argparse's usage lines may come first
    assert done.returncode == 2 and last.startswith("abkit judge: error:"), done.stderr
    assert said in last, last


def test_help_shows_examples() -> None:
    done = abkit("judge", "--help")
    assert done.returncode == 0 and "abkit judge data/example_arena_votes.csv" in done.stdout
