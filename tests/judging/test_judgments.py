"""Judge files as teams have them (abkit.judging.judgments): column maps, the pair and the
shown shape, verdict spellings, optional columns, and refusals that name the column and show an
accepted row."""

from __future__ import annotations

import pandas as pd
import pytest

from abkit.judging.bradley_terry import fit_bradley_terry
from abkit.judging.judgments import read_judgment_table, to_kit_shape
from abkit.judging.pairwise import swap_report, win_rates
from abkit.judging.simulation import simulate_pairwise

KIT = simulate_pairwise(60, {"ft": 0.5, "base": 0.0}, accuracy=0.9, position_bias=0.1, seed=4)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The kit's verdicts written as (prompt, shown first, shown second, verdict by position)."""
    a_first = frame["shown_first"] == "a"
    first = frame["system_a"].where(a_first, frame["system_b"])
    second = frame["system_b"].where(a_first, frame["system_a"])
    by_position = (frame["winner"] == "a") == a_first
    verdict = pd.Series("Right", index=frame.index).where(~by_position, "LEFT")
    return pd.DataFrame(
        {
            "question": frame["prompt_id"],
            "left_model": first,
            "right_model": second,
            "choice": verdict.where(frame["winner"] != "tie", "Tie"),
            "len_left": frame["length_a"].where(a_first, frame["length_b"]),
            "len_right": frame["length_b"].where(a_first, frame["length_a"]),
        }
    ).sample(frac=1.0, random_state=1)  # the file's own row order


def test_the_shown_shape_gives_the_kits_numbers() -> None:
    table = to_kit_shape(
        _shown(KIT),
        columns={
            "question": "prompt_id",
            "left_model": "first_system",
            "right_model": "second_system",
            "choice": "verdict",
            "len_left": "length_first",
            "len_right": "length_second",
        },
    )
    assert table.shape == "shown" and table.has_order and table.has_lengths and not table.notes
    mine = table.comparisons
    assert swap_report(mine) == swap_report(KIT)
    expected = win_rates(KIT)
    got = win_rates(mine)
    if got.system_a != expected.system_a:  # the pair written the other way round
        assert got.score == pytest.approx(1 - expected.score)
    else:
        assert got.score == pytest.approx(expected.score)
    assert fit_bradley_terry(mine, resamples=0).win_probability("ft", "base") == pytest.approx(
        fit_bradley_terry(KIT, resamples=0).win_probability("ft", "base")
    )


def test_an_arena_file_with_its_own_names_and_spellings_is_read() -> None:
    arena = pd.DataFrame(
        {
            "question_id": ["q1", "q2", "q3", "q4"],
            "model_a": ["gpt", "llama", "gpt", "mistral"],
            "model_b": ["llama", "mistral", "mistral", "gpt"],
            "winner": ["model_a", "TIE (BOTHBAD)", "Model_B", "tie"],
        }
    )
    table = to_kit_shape(
        arena, columns={"question_id": "prompt_id", "model_a": "system_a", "model_b": "system_b"}
    )
    assert table.comparisons["winner"].tolist() == ["a", "tie", "b", "tie"]
    assert not table.has_order and not table.has_lengths
    assert any("length control is skipped" in note for note in table.notes)
    assert any("position-bias check is skipped" in note for note in table.notes)


def test_declared_verdict_spellings_are_read_case_insensitively() -> None:
    frame = KIT.assign(winner=KIT["winner"].map({"a": "Cand", "b": "BASE", "tie": "same"}))
    table = to_kit_shape(frame, verdicts={"cand": "a", "base": "b", "Same": "tie"})
    assert table.comparisons["winner"].tolist() == KIT["winner"].tolist()


def test_an_unknown_spelling_names_the_column_and_shows_an_accepted_row() -> None:
    frame = KIT.rename(columns={"winner": "pick"}).assign(pick="left")
    with pytest.raises(ValueError) as refused:
        to_kit_shape(frame, columns={"pick": "winner"})
    message = str(refused.value)
    assert "column 'pick' holds" in message and "['left']" in message
    assert "e.g. {'left': 'a'}" in message and "an accepted row: prompt_id=17" in message


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"model_x": "system_a"}, r"column map names column\(s\) \['model_x'\] that the file"),
        ({"prompt_id": "question"}, r"column map maps to \['question'\]: it maps your column"),
    ],
)
def test_a_wrong_column_map_is_refused_by_name(columns, match) -> None:
    with pytest.raises(ValueError, match=match):
        to_kit_shape(KIT, columns=columns)


def test_a_file_of_neither_shape_names_both_and_an_example_of_each() -> None:
    with pytest.raises(ValueError) as refused:
        to_kit_shape(KIT.rename(columns={"system_a": "m1", "system_b": "m2"}))
    message = str(refused.value)
    assert "pair shape" in message and "shown shape" in message
    assert "first_system='base'" in message and "system_a='ft-v2'" in message


def test_a_file_with_both_shapes_must_say_which() -> None:
    both = KIT.assign(first_system=KIT["system_a"], second_system=KIT["system_b"])
    with pytest.raises(ValueError, match=r"say which shape it is \(judge_shape="):
        to_kit_shape(both)
    assert to_kit_shape(both, shape="pair").shape == "pair"


def test_a_shown_first_column_with_other_values_is_refused() -> None:
    with pytest.raises(ValueError, match=r"column 'shown_first' holds \['left'\]"):
        to_kit_shape(KIT.assign(shown_first="left"))


def test_reading_a_file_names_the_parameter(tmp_path) -> None:
    path = tmp_path / "judge.csv"
    KIT.rename(columns={"winner": "verdict_x"}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"^pairwise_file == '.*judge.csv': the judge file"):
        read_judgment_table(path, "pairwise_file")
    table = read_judgment_table(path, "pairwise_file", columns={"verdict_x": "winner"})
    assert len(table.comparisons) == len(KIT)
