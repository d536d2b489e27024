"""Judge files as teams have them, read into the kit's one shape of pairwise verdicts.

The kit's shape (what :mod:`.pairwise` and :mod:`.bradley_terry` read): one row per verdict with
``prompt_id``, ``system_a``, ``system_b``, ``winner`` (``a``, ``b`` or ``tie``) and, optionally,
``shown_first`` (``a`` or ``b``: whose response the judge saw first) and ``length_a`` /
``length_b``. Files come in two shapes, both accepted:

- **pair**: prompt, system a, system b, winner (Chatbot Arena's ``model_a`` / ``model_b`` /
  ``winner``; AlpacaEval's annotations), with an optional column saying which was shown first;
- **shown**: prompt, the system shown first, the system shown second, and a verdict naming a
  position (``first`` / ``second`` / ``tie``): the order is the file's. Each unordered pair is
  written the way round of its first row in the file, and ``shown_first`` says which of the
  two came first in each verdict.

:func:`read_judgment_table` renames the file's columns by a column map (as for dialog logs),
detects the shape, reads verdict spellings case-insensitively through a declared mapping, and
checks every row (:func:`check_comparisons`). Every refusal names the column and shows a row
that would be accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from abkit.core.params import shorten

__all__ = [
    "JUDGMENT_COLUMNS",
    "VERDICTS",
    "JudgmentTable",
    "Shape",
    "check_comparisons",
    "read_judgment_table",
    "read_judgments",
    "to_kit_shape",
]

VERDICTS = ("a", "b", "tie")
POSITIONS = ("first", "second", "tie")
Shape = Literal["auto", "pair", "shown"]
SHAPES: tuple[str, ...] = get_args(Shape)
# the kit's names of the columns a judge file may have (keys of a column map)
JUDGMENT_COLUMNS = (
    "prompt_id",
    "system_a",
    "system_b",
    "winner",
    "shown_first",
    "first_system",
    "second_system",
    "verdict",
    "length_a",
    "length_b",
    "length_first",
    "length_second",
)
# spellings read without a declared mapping (compared lower-case, stripped)
DEFAULT_VERDICTS: dict[str, str] = {
    "a": "a",
    "b": "b",
    "tie": "tie",
    "model_a": "a",
    "model_b": "b",
    "tie (bothbad)": "tie",
    "draw": "tie",
}
DEFAULT_POSITIONS: dict[str, str] = {
    "first": "first",
    "second": "second",
    "tie": "tie",
    "1": "first",
    "2": "second",
    "left": "first",
    "right": "second",
    "draw": "tie",
}
_EXAMPLE = {
    "pair": "prompt_id=17, system_a='ft-v2', system_b='base', winner='a' (shown_first='b')",
    "shown": "prompt_id=17, first_system='base', second_system='ft-v2', verdict='second'",
}


def _example(shape: str) -> str:
    return f"an accepted row: {_EXAMPLE[shape]}"


def check_comparisons(comparisons: pd.DataFrame, extra: tuple[str, ...] = ()) -> None:
    """Refuse verdicts the kit cannot count honestly: missing columns or values, winners other
    than a / b / tie, a system against itself, or the same prompt, pair and order judged twice
    (it would count twice). Without ``shown_first``, two verdicts per prompt and pair are
    allowed (one per order)."""
    needed = ("prompt_id", "system_a", "system_b", "winner", *extra)
    missing = [c for c in needed if c not in comparisons.columns]
    if missing:
        raise ValueError(
            f"comparisons lack column(s) {missing}; they need {list(needed)} (winner: a, b or "
            f"tie); {_example('pair')}"
        )
    for column in needed:
        absent = comparisons[column].isna()
        if absent.any():
            raise ValueError(
                f"comparisons: column {column!r} has {int(absent.sum())} missing value(s), e.g. "
                f"row {comparisons.index[absent][0]!r}; every comparison needs {list(needed)}"
            )
    bad = sorted(set(comparisons["winner"].astype(str).unique()) - set(VERDICTS))
    if bad:
        raise ValueError(
            f"column 'winner' holds {shorten(bad)}; allowed: {list(VERDICTS)} (map other "
            f"spellings with verdicts=...); {_example('pair')}"
        )
    itself = (comparisons["system_a"] == comparisons["system_b"]).to_numpy()
    if itself.any():
        prompt, system = comparisons.loc[itself, ["prompt_id", "system_a"]].to_numpy().tolist()[0]
        raise ValueError(
            f"{int(itself.sum())} comparison(s) have system_a == system_b, e.g. prompt_id "
            f"{prompt!r} with {system!r} against itself: each comparison needs two systems"
        )
    order = ["shown_first"] if "shown_first" in comparisons.columns else []
    prompt, _ = pd.factorize(comparisons["prompt_id"])
    systems, _ = pd.factorize(pd.concat([comparisons["system_a"], comparisons["system_b"]]))
    a, b = systems[: len(comparisons)], systems[len(comparisons) :]
    n = int(systems.max()) + 1
    key = (prompt.astype(np.int64) * n + np.minimum(a, b)) * n + np.maximum(a, b)
    if order:
        key = key * 2 + (comparisons["shown_first"].astype(str).to_numpy() == "a")
    _, first_row, counts = np.unique(key, return_index=True, return_counts=True)
    limit = 1 if order else 2  # with no order column: one verdict per order at most
    repeated = counts > limit
    if repeated.any():
        row = comparisons.iloc[int(first_row[repeated][0])]
        pair = sorted([str(row["system_a"]), str(row["system_b"])])
        example = {"prompt_id": row["prompt_id"], "low": pair[0], "high": pair[1]}
        example.update({c: row[c] for c in order})
        raise ValueError(
            f"comparisons: {int((counts[repeated] - limit).sum())} duplicate verdict(s), e.g. "
            f"{shorten(example)} judged {int(counts[repeated][0])} times"
            f"{' in the same order' if order else ''}; each would count again. Keep one "
            "verdict per prompt, pair and order"
        )


@dataclass(frozen=True)
class JudgmentTable:
    """Verdicts in the kit's shape, what was read, and the lines to say about it."""

    comparisons: pd.DataFrame
    shape: Literal["pair", "shown"]
    has_order: bool
    has_lengths: bool
    notes: tuple[str, ...] = field(default=())


def _spellings(
    values: pd.Series, column: str, declared: Mapping[str, str] | None, allowed: tuple[str, ...]
) -> pd.Series:
    defaults = DEFAULT_POSITIONS if allowed == POSITIONS else DEFAULT_VERDICTS
    table = {str(k).strip().lower(): v for k, v in (declared or defaults).items()}
    wrong = sorted({v for v in table.values() if v not in allowed})
    if wrong:
        raise ValueError(f"verdicts maps to {wrong}; each spelling must map to one of {allowed}")
    text = values.astype("string").str.strip().str.lower()
    mapped = text.map(table)
    unknown = values[mapped.isna() & values.notna()]
    if len(unknown):
        shown = sorted(map(str, unknown.unique()))[:5]
        raise ValueError(
            f"column {column!r} holds {len(unknown):,} verdict(s) spelt {shown}, not in the "
            f"mapping {shorten(table)}: declare them (notebook 05: judge_verdicts, abkit judge: "
            f"--verdicts), e.g. {{{shown[0]!r}: {allowed[0]!r}}} (each to one of "
            f"{list(allowed)}); {_example(_shape_of(allowed))}"
        )
    return mapped.astype(object)


def _shape_of(allowed: tuple[str, ...]) -> str:
    return "shown" if allowed == POSITIONS else "pair"


def _detect(columns: set[str], shape: Shape) -> Literal["pair", "shown"]:
    pair = {"system_a", "system_b"} <= columns
    shown = {"first_system", "second_system"} <= columns
    if shape == "pair" or (shape == "auto" and pair and not shown):
        return "pair"
    if shape == "shown" or (shape == "auto" and shown and not pair):
        return "shown"
    if pair and shown:
        raise ValueError(
            "the judge file has both system_a/system_b and first_system/second_system: say "
            "which shape it is (judge_shape='pair' or 'shown')"
        )
    raise ValueError(
        f"the judge file has columns {sorted(columns)[:12]}: it needs either system_a, "
        "system_b and winner (pair shape) or first_system, second_system and verdict (shown "
        "shape); map your names (notebook 05: judge_columns={'model_a': 'system_a', ...}; abkit "
        "judge: --column-map model_a=system_a,...). "
        f"{_example('pair')}; or {_example('shown')}"
    )


def to_kit_shape(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    verdicts: Mapping[str, str] | None = None,
    shape: Shape = "auto",
) -> JudgmentTable:
    """A judge table in the kit's shape (see the module docstring).

    ``columns`` maps the file's column names to the kit's (:data:`JUDGMENT_COLUMNS`), as a
    dialog log's column map does; ``verdicts``
    maps the file's spellings (case-insensitive) to ``a`` / ``b`` / ``tie`` (pair shape) or
    ``first`` / ``second`` / ``tie`` (shown shape).

    Examples:
        >>> file = pd.DataFrame({"q": [1, 1], "left": ["x", "y"], "right": ["y", "x"],
        ...                      "pick": ["Left", "TIE"]})
        >>> table = to_kit_shape(file, columns={"q": "prompt_id", "left": "first_system",
        ...                      "right": "second_system", "pick": "verdict"})
        >>> table.comparisons[["system_a", "system_b", "shown_first", "winner"]].values.tolist()
        [['x', 'y', 'a', 'a'], ['x', 'y', 'b', 'tie']]
    """
    if shape not in SHAPES:
        raise ValueError(f"judge_shape == {shape!r}; allowed: {list(SHAPES)}")
    columns = dict(columns or {})
    unknown = sorted(set(columns.values()) - set(JUDGMENT_COLUMNS))
    if unknown:
        raise ValueError(
            f"the column map maps to {unknown}: it maps your column names to the kit's, "
            f"{list(JUDGMENT_COLUMNS)}, e.g. {{'model_a': 'system_a'}}"
        )
    absent = [name for name in columns if name not in frame.columns]
    if absent:
        raise ValueError(
            f"the column map names column(s) {absent} that the file does not have; it has "
            f"{list(map(str, frame.columns))[:12]}"
        )
    renamed = frame.rename(columns=columns)
    source = {kit: yours for yours, kit in columns.items()}  # to name the file's column
    detected = _detect(set(map(str, renamed.columns)), shape)
    notes: list[str] = []
    if detected == "pair":
        needed = ("prompt_id", "system_a", "system_b", "winner")
        _need(renamed, needed, "pair")
        out = renamed[[c for c in (*needed, "shown_first", "length_a", "length_b")
                       if c in renamed.columns]].copy()  # fmt: skip
        out["winner"] = _spellings(renamed["winner"], source.get("winner", "winner"),
                                   verdicts, VERDICTS)  # fmt: skip
        if "shown_first" in out.columns:
            out["shown_first"] = _shown_first(renamed["shown_first"], source)
    else:
        needed = ("prompt_id", "first_system", "second_system", "verdict")
        _need(renamed, needed, "shown")
        position = _spellings(renamed["verdict"], source.get("verdict", "verdict"),
                              verdicts, POSITIONS)  # fmt: skip
        out = _from_shown(renamed, position)
    has_lengths = {"length_a", "length_b"} <= set(out.columns)
    if not has_lengths:
        notes.append("no response lengths (length_a / length_b): length control is skipped")
    has_order = "shown_first" in out.columns
    if not has_order:
        notes.append(
            "no column says which response was shown first: the position-bias check is skipped"
        )
    out = out.reset_index(drop=True)
    for text in ("system_a", "system_b"):
        out[text] = out[text].astype(str)
    check_comparisons(out)
    return JudgmentTable(out, detected, has_order, has_lengths, tuple(notes))


def _shown_first(values: pd.Series, source: Mapping[str, str]) -> pd.Series:
    side = values.astype("string").str.strip().str.lower()
    wrong = values[~side.isin(["a", "b"]).fillna(False).astype(bool)]
    if len(wrong):
        raise ValueError(
            f"column {source.get('shown_first', 'shown_first')!r} holds "
            f"{sorted(map(str, wrong.unique()))[:5]}: it says whose response was shown first, "
            f"'a' or 'b'; {_example('pair')}"
        )
    return side.astype(object)


def _need(frame: pd.DataFrame, needed: tuple[str, ...], shape: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the judge file ({shape} shape) lacks column(s) {missing}; map them with the column "
            f"map; {_example(shape)}"
        )


def _from_shown(frame: pd.DataFrame, position: pd.Series) -> pd.DataFrame:
    """Shown-shape rows as pair-shape rows: each unordered pair the way round of its first row."""
    first = frame["first_system"].astype(str).to_numpy()
    second = frame["second_system"].astype(str).to_numpy()
    low, high = np.where(first < second, first, second), np.where(first < second, second, first)
    key = pd.Series(low, dtype=object) + "\x00" + pd.Series(high, dtype=object)
    leader = pd.Series(first).groupby(key.to_numpy()).transform("first").to_numpy()
    keep = first == leader  # this row shows the pair the way round of its first row
    system_a = np.where(keep, first, second)
    system_b = np.where(keep, second, first)
    verdict = position.to_numpy()
    winner = np.where(verdict == "tie", "tie", np.where((verdict == "first") == keep, "a", "b"))
    out = pd.DataFrame(
        {
            "prompt_id": frame["prompt_id"].to_numpy(),
            "system_a": system_a,
            "system_b": system_b,
            "winner": winner,
            "shown_first": np.where(keep, "a", "b"),
        }
    )
    if {"length_first", "length_second"} <= set(frame.columns):
        out["length_a"] = np.where(keep, frame["length_first"], frame["length_second"])
        out["length_b"] = np.where(keep, frame["length_second"], frame["length_first"])
    return out


def read_judgments(path: str | Path, parameter: str) -> pd.DataFrame:
    """A table of judge outputs (.csv or .parquet; relative: to the kit), or a one-line error
    naming ``parameter``, the path and what is allowed."""
    from abkit.core.paths import in_kit

    resolved = in_kit(path)
    if resolved.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"{parameter} == {str(path)!r}: must be a .csv or .parquet file")
    if not resolved.is_file():
        raise FileNotFoundError(f"{parameter} == {str(path)!r}: no such file ({resolved})")
    if resolved.suffix.lower() == ".parquet":
        return pd.read_parquet(resolved)
    try:
        return pd.read_csv(resolved)
    except UnicodeDecodeError:
        raise ValueError(
            f"{parameter} == {str(path)!r} is not UTF-8 text: re-save it as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{parameter} == {str(path)!r} is empty") from None


def read_judgment_table(
    path: str | Path,
    parameter: str,
    *,
    columns: Mapping[str, str] | None = None,
    verdicts: Mapping[str, str] | None = None,
    shape: Shape = "auto",
) -> JudgmentTable:
    """:func:`read_judgments` then :func:`to_kit_shape`; a refusal names ``parameter``."""
    frame = read_judgments(path, parameter)
    try:
        return to_kit_shape(frame, columns=columns, verdicts=verdicts, shape=shape)
    except ValueError as error:
        raise ValueError(f"{parameter} == {str(path)!r}: {error}") from None
