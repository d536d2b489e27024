"""What the parts of a folder log hold, read from their Parquet footers (no rows are read).

A folder's parts are read together by column name, so two things can go wrong silently:

- a column written as text in some parts and as a number or a time in others would be read as
  text everywhere (for an id, 123 and '000123' would be two users): refused;
- a column some parts lack (written later, or renamed in one part) is NULL in those parts'
  rows. For a column every row needs (ids, arm, time, experiment) that is refused, naming the
  parts; for a metric's column the rows there are missing values, which the analysis reports
  as a health warning naming the parts and their rows (:class:`AbsentColumn`).

DuckDB and Spark logs use the same rules: both read the footers with DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abkit.core.duckdb_session import shared_cursor
from abkit.serve.events import LogValidationError

__all__ = ["AbsentColumn", "check_folder_schemas", "check_part_schemas", "refuse_absent_keys"]


@dataclass(frozen=True)
class AbsentColumn:
    """A column that some parts of a folder log have and others lack.

    Attributes:
        column: the log's own name of the column.
        parts: file names of the parts without it (sorted).
        rows: rows in those parts (from their footers).
        of_parts: parts in the folder.
        others: columns those parts have that some other parts lack (a rename shows here).
    """

    column: str
    parts: tuple[str, ...]
    rows: int
    of_parts: int
    others: tuple[str, ...] = ()

    def describe(self) -> str:
        """Where the column is absent, for messages.

        >>> AbsentColumn("csat", ("d18.parquet",), 2644, 14, ("rating",)).describe()
        "absent from 1 of 14 parts (d18.parquet; 2,644 rows), which have ['rating'] instead"
        """
        shown = ", ".join(self.parts[:3]) + (", ..." if len(self.parts) > 3 else "")
        instead = f", which have {list(self.others)} instead" if self.others else ""
        return (
            f"absent from {len(self.parts)} of {self.of_parts} parts ({shown}; "
            f"{self.rows:,} rows){instead}"
        )


def check_part_schemas(
    connection: Any, glob: str, name: str, label: str, text_columns: frozenset[str]
) -> dict[str, AbsentColumn]:
    """Refuse a column that is text in some parts and a number or time in others; return the
    columns some parts lack, by the log's own name. ``glob`` is a SQL string literal of the
    parts' paths, read with DuckDB's ``parquet_schema`` and ``parquet_file_metadata``."""
    schema = connection.execute(
        "SELECT name, file_name, coalesce(converted_type IN ('UTF8', 'ENUM', 'JSON') OR "
        "logical_type LIKE 'StringType%' OR logical_type LIKE 'EnumType%', false) AS is_text "
        f"FROM parquet_schema({glob}) WHERE coalesce(num_children, 0) = 0"
    ).fetchall()
    rows = dict(
        connection.execute(
            f"SELECT file_name, num_rows FROM parquet_file_metadata({glob})"
        ).fetchall()
    )
    kinds: dict[str, dict[str, bool]] = {}
    for column, file, is_text in schema:
        kinds.setdefault(column, {})[file] = bool(is_text)
    for column in sorted(kinds):
        text = sorted(f for f, is_text in kinds[column].items() if is_text)
        other = sorted(f for f, is_text in kinds[column].items() if not is_text)
        if text and other:
            why = (
                ": an id written as a number in one part and as text in another (123 and "
                "'000123') would name two users or dialogs"
                if column in text_columns
                else ""
            )
            raise LogValidationError(
                f"{name} == '{label}': column '{column}' is text in {len(text)} of "
                f"{len(text) + len(other)} parts (e.g. {Path(text[0]).name}) and a number or "
                f"time in the others (e.g. {Path(other[0]).name}){why}; write it with one "
                "type in every part"
            )
    files = sorted(rows)
    lacking = {c: [f for f in files if f not in held] for c, held in kinds.items()}
    patchy = {c: lost for c, lost in lacking.items() if lost}
    absent = {}
    for column, lost in sorted(patchy.items()):
        others = sorted(c for c in patchy if c != column and any(f in kinds[c] for f in lost))
        absent[column] = AbsentColumn(
            column,
            tuple(Path(f).name for f in lost),
            int(sum(rows[f] for f in lost)),
            len(files),
            tuple(others),
        )
    return absent


def refuse_absent_keys(
    absent: Mapping[str, AbsentColumn], keys: Mapping[str, str], what: str, label: str
) -> None:
    """Refuse a folder log some of whose parts lack a column every row needs. ``keys`` maps
    each such canonical name (``user_id``, ...) to the log's own name of it."""
    for key, column in keys.items():
        if column in absent:
            own = f"'{column}' (the log's {key})" if column != key else f"'{column}'"
            raise LogValidationError(
                f"{what} {label} is invalid: column {own} is {absent[column].describe()}; "
                "every row needs it: write it under one name in every part"
            )


def check_folder_schemas(
    path: Path, name: str, text_columns: frozenset[str]
) -> dict[str, AbsentColumn]:
    """:func:`check_part_schemas` over every ``.parquet`` file under a local folder (as Spark
    reads it, subfolders included); nothing for a file or a folder without one."""
    if not path.is_dir() or next(path.rglob("*.parquet"), None) is None:
        return {}
    glob = "'" + str(path.resolve() / "**" / "*.parquet").replace("'", "''") + "'"
    with shared_cursor() as connection:
        return check_part_schemas(connection, glob, name, str(path), text_columns)
