"""Per-user totals kept beside a rollup, so that a look at the whole log reads one row per user
and the newer parts' rows instead of every (user, day) row of every part.

A look at the whole log needs each user's sums over all days (the delta method's per-user
squares and products do not add over days), so without this it groups every stored
(user, day) row by user: 5.9M rows for 10M dialogs over 14 days, 0.8 s on 2 cores, growing
with the days. The totals of a set of parts S are the same aggregates combined over S's rows
(sums summed, minima and maxima taken: :func:`abkit.analysis.looks.cumulative_window`, as every
look combines them), with each user's first day. Combined with the rows of the parts added
since, they give the larger set's totals: these combinations are associative, NULLs included
(a sum of no values stays NULL); sums of non-integer values may differ in the last bits, as
everywhere in the rollup (another order of additions).

Kept in ``totals/``: ``{aggregates}-{parts}.parquet`` and a ``.json`` beside it listing the
parts' keys and the users, written after the table (a table without its list is never read).
Used only when every part of S is still in the rollup with the same key (a changed or removed
part has another key or none, so its totals are never read). New totals are written at a look
whose newer parts hold as many (user, day) rows as the kept totals hold users, or more, so a
daily look mostly adds a day or two of rows instead of rewriting a row per user; older totals
are then removed (the set of aggregates only grows, so a smaller set's are never read again).

Measured on the 10M-dialog benchmark log (1M users, 14 daily parts): the whole-log pass after
one more day's part takes 0.31 s instead of 0.79 s (``benchmarks/bench_looks.py``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from abkit.analysis.log_source import sql_text
from abkit.analysis.looks import cumulative_window
from abkit.analysis.parts import read_json, write_json
from abkit.analysis.rollup_tables import table_file, users_set

__all__ = ["whole_log_rows"]

_REWRITE_SHARE = 1.0  # newer parts' rows, as a share of the totals' rows, that rewrite them


def _combined(aggregates: Mapping[str, str]) -> str:
    """Each stored aggregate combined over rows, under its own name."""
    columns = []
    for sql, stored in sorted(aggregates.items(), key=lambda item: item[1]):
        window = cumulative_window(sql)
        if window is None:
            raise ValueError(f"aggregate {sql!r} does not combine over rows")
        columns.append(f"{window}({stored}) AS {stored}")
    return ", ".join(columns)


def _parts_name(keys: Sequence[str]) -> str:
    return hashlib.md5("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def _kept(folder: Path, aggregates: Mapping[str, str], keys: Sequence[str]) -> tuple[Any, ...]:
    """The kept totals covering the most rows whose parts are all among ``keys``: (table path,
    its parts' keys, its rows), or () when none."""
    current, best = set(keys), ()
    for listing in sorted((folder / "totals").glob(f"{users_set(aggregates)}-*.json")):
        found = read_json(listing)
        table = listing.with_suffix(".parquet")
        if not isinstance(found, dict) or not table.is_file():
            continue
        covered = set(found.get("keys", ()))
        if covered and covered <= current and (not best or found["rows"] > best[2]):
            best = (table, covered, int(found["rows"]))
    return best


def whole_log_rows(
    connection: Any, folder: Path, aggregates: Mapping[str, str], keys: Sequence[str]
) -> tuple[str, bool]:
    """A SQL relation of (``uid``, ``day``, each stored aggregate) whose rows, combined by user,
    give the whole log's per-user aggregates of the parts ``keys``: kept totals plus the
    ``users`` rows of the parts added since (written as new totals when those are many), or
    every part's ``users`` rows when no totals are kept and none can be written; and whether
    it is already one row per user (totals of exactly these parts: nothing to combine)."""

    def users_of(chosen: Sequence[str]) -> str:
        paths = [sql_text(str(table_file(folder, "users", k, aggregates))) for k in chosen]
        return f"read_parquet([{', '.join(paths)}])"

    columns = ", ".join(sorted(aggregates.values()))
    kept = _kept(folder, aggregates, keys)
    newer = [k for k in keys if not kept or k not in kept[1]]
    if kept and not newer:
        return f"read_parquet({sql_text(str(kept[0]))})", True
    parts = [f"SELECT uid, day, {columns} FROM {users_of(newer)}"]
    if kept:
        parts.insert(0, f"SELECT uid, day, {columns} FROM read_parquet({sql_text(str(kept[0]))})")
    rows = f"({' UNION ALL '.join(parts)})"
    if kept:
        added = connection.execute(f"SELECT count(*) FROM {users_of(newer)}").fetchone()[0]
        if added < _REWRITE_SHARE * kept[2]:
            return rows, False
    name = f"{users_set(aggregates)}-{_parts_name(keys)}"
    target = folder / "totals" / f"{name}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        connection.execute(
            f"COPY (SELECT uid, min(day) AS day, {_combined(aggregates)} FROM {rows} "
            f"GROUP BY uid) TO {sql_text(str(temporary))} (FORMAT parquet)"
        )
        counted = connection.execute(
            f"SELECT count(*) FROM read_parquet({sql_text(str(temporary))})"
        )
        written = int(counted.fetchone()[0])
        os.replace(temporary, target)
    except (OSError, duckdb.IOException):  # a read-only or full disk: the rows as they are
        temporary.unlink(missing_ok=True)
        return rows, False
    write_json(target.with_suffix(".json"), {"keys": sorted(keys), "rows": written})
    for older in (folder / "totals").glob("*.json"):  # of these or of fewer aggregates
        if older.stem != name:
            older.unlink(missing_ok=True)
            older.with_suffix(".parquet").unlink(missing_ok=True)
    return f"read_parquet({sql_text(str(target))})", True
