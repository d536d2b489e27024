"""What the rollup of a log folder (:mod:`abkit.analysis.rollup`) stores per part, and how it
is computed: the SQL of each table over one part (DuckDB) or over several parts at once, keyed
by part (Spark: one job per table for a folder of many files), the files it is kept in, and the
row count that every new part's census must match (fail closed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tqdm import tqdm

from abkit.analysis.checks import census_columns
from abkit.analysis.log_source import NUMERIC_TYPE, LogSource, sql_text
from abkit.analysis.looks import UTC_DAY
from abkit.analysis.metric_kinds import quoted
from abkit.analysis.spark_source import SparkConnection
from abkit.analysis.user_pass import arm_row_columns
from abkit.core.duckdb_session import utc
from abkit.plan.experiment_plan import ExperimentPlan

__all__ = [
    "PART_VIEW",
    "ROLLUP_TABLES",
    "build_sql",
    "check_rows",
    "drop_part",
    "is_complete",
    "on_spark",
    "roll_up",
    "table_file",
    "users_set",
]

ROLLUP_TABLES = ("census", "users", "ranges", "hashes")
PART_VIEW = "part_log"  # the view of one part while its tables are computed


def on_spark(source: LogSource) -> bool:
    """Whether the log is read on Spark (:class:`abkit.analysis.spark_source.SparkConnection`)."""
    return isinstance(source.connection, SparkConnection)


def _analysed_rows(source: LogSource, plan: ExperimentPlan) -> str:
    """The rows a valid census analyses (:class:`Census` ``where``), written without the
    census: the plan's experiment, the plan's labels."""
    where = "TRUE"
    if plan.experiment and "experiment" in source.columns:
        where = f"experiment = {sql_text(plan.experiment)}"
    return where + f" AND variant IN ({', '.join(sql_text(label) for label in plan.labels)})"


def _value_columns(source: LogSource) -> list[str]:
    """The log's numeric columns other than ids and times: every column a plan may check."""
    skipped = {"user_id", "dialog_id", "variant", "experiment", "timestamp", "measured_at"}
    return [c for c in source.columns if c not in skipped and NUMERIC_TYPE.match(source.types[c])]


def build_sql(
    source: LogSource, plan: ExperimentPlan, aggregates: Mapping[str, str], keyed: bool = False
) -> dict:
    """The SQL of each rollup table over one part (the view :data:`PART_VIEW`), or, ``keyed``,
    over several with each row's part in ``abkit_key`` (Spark). The census and the ranges cover
    every value column (any plan's metrics); the per-user aggregates, the set ``aggregates``
    that the plans analysed so far need."""
    where = _analysed_rows(source, plan)
    key = "abkit_key, " if keyed else ""
    rows = f"SELECT *, {arm_row_columns(plan)} FROM {PART_VIEW}"
    per_user = ", ".join(f"{sql} AS {name}" for sql, name in aggregates.items())
    values = _value_columns(source)
    census = census_columns(source, [(c, f"known:{c}") for c in values])
    ranges = ["count(*) AS total_rows", "min(timestamp) AS first", "max(timestamp) AS last"]
    for column in values:
        name = quoted(column)
        ranges += [
            f"min({name}) AS {quoted('lo:' + column)}",
            f"max({name}) AS {quoted('hi:' + column)}",
            f"count_if(NOT isfinite({name})) AS {quoted('nf:' + column)}",
            f"max({name} - floor({name})) AS {quoted('fr:' + column)}",
        ]
    return {
        "census": f"SELECT {key}{census} FROM {PART_VIEW} GROUP BY ALL",
        "users": f"SELECT {key}user_id AS uid, {UTC_DAY} AS day, {per_user} "
        f"FROM ({rows} WHERE {where}) GROUP BY ALL",
        "ranges": f"SELECT {key}{UTC_DAY} AS day, variant, {', '.join(ranges)} FROM {PART_VIEW} "
        f"WHERE {where} GROUP BY ALL",
        "hashes": f"SELECT {key}hash(dialog_id) AS h FROM {PART_VIEW} WHERE {where}",
    }


def check_rows(connection: Any, folder: Path, expected: Mapping[str, int]) -> None:
    """Fail closed: each new part's census counts the rows of its Parquet footer, or its
    tables are dropped and the look scans the log (an OSError, as for a folder that cannot be
    kept). ``connection``: where the stored tables are queried."""
    files = ", ".join(sql_text(str(table_file(folder, "census", key, {}))) for key in expected)
    found = connection.execute(
        f"SELECT abkit_part, CAST(sum(rows) AS BIGINT) FROM read_parquet([{files}], "
        "filename = 'abkit_part') GROUP BY abkit_part"
    ).fetchall()
    counted = {Path(urlparse(str(name)).path).stem: int(rows) for name, rows in found}
    wrong = {key: rows for key, rows in expected.items() if counted.get(key, 0) != rows}
    for key in wrong:
        drop_part(folder, key)
    if wrong:
        key, rows = next(iter(wrong.items()))
        raise OSError(
            f"the rollup of a part counted {counted.get(key, 0):,} rows where its footer says "
            f"{rows:,} ({len(wrong)} part(s))"
        )


def users_set(aggregates: Mapping[str, str]) -> str:
    """A name for the set of per-user aggregates the ``users`` files hold."""
    return hashlib.md5(" ".join(sorted(aggregates.values())).encode()).hexdigest()[:12]


def table_file(folder: Path, table: str, key: str, aggregates: Mapping[str, str]) -> Path:
    """Where a part's table is stored (the ``users`` table: per set of aggregates)."""
    name = f"{key}-{users_set(aggregates)}" if table == "users" else key
    return folder / table / f"{name}.parquet"


def drop_part(folder: Path, key: str) -> None:
    for table in ROLLUP_TABLES:
        for path in (folder / table).glob(f"{key}*.parquet"):
            path.unlink(missing_ok=True)


def is_complete(folder: Path, key: str, aggregates: Mapping[str, str], tables: Any) -> bool:
    return all(table_file(folder, table, key, aggregates).is_file() for table in tables)


_PROGRESS_ROWS = 2_000_000  # a build longer than about 2 s shows its progress


def roll_up(
    events: str | Path,
    source: LogSource,
    build: Mapping[str, str],
    folder: Path,
    parts: Mapping[str, str],
    aggregates: Mapping[str, str],
    rows: int = 0,
) -> None:
    """Compute and store the missing tables of ``parts`` (name -> key), each file written
    whole then renamed. DuckDB: one part at a time (the view :data:`PART_VIEW` over the part
    alone, so only that file is read), with a progress bar on stderr from
    :data:`_PROGRESS_ROWS` rows (about 1 s per million dialogs on 2 cores). Spark: every part
    at once, one job per table, the rows keyed by part (``build`` from ``build_sql(keyed=True)``).
    """
    if on_spark(source):  # every part's table in one job (a folder of many small files)
        where = {str(Path(events).expanduser() / name): key for name, key in parts.items()}
        source.connection.view_of_parts(PART_VIEW, "raw_log", where, source.select)
        for table, sql in build.items():
            targets = {key: table_file(folder, table, key, aggregates) for key in parts.values()}
            missing = {key: path for key, path in targets.items() if not path.is_file()}
            if missing:
                source.connection.write_parts(sql, missing)
        return
    base = source.statistics
    if not base.endswith(")"):
        raise ValueError(f"unexpected Parquet relation {base!r}")
    with_part = base[:-1] + ", filename = 'abkit_part')"
    cursor = utc(source.connection.cursor())
    try:
        shown = tqdm(
            parts.items(),
            total=len(parts),
            desc=f"rolling up {len(parts)} log part(s), {rows:,} rows",
            unit="part",
            disable=rows < _PROGRESS_ROWS,
        )
        for name, key in shown:
            path = sql_text(str(Path(events).expanduser() / name))
            cursor.execute(
                f"CREATE OR REPLACE TEMP VIEW {PART_VIEW} AS SELECT {source.select} FROM "
                f"{with_part} WHERE abkit_part = {path}"
            )
            for table, sql in build.items():
                target = table_file(folder, table, key, aggregates)
                if target.is_file():
                    continue
                temporary = target.with_suffix(f".{os.getpid()}.tmp")
                cursor.execute(f"COPY ({sql}) TO {sql_text(str(temporary))} (FORMAT parquet)")
                os.replace(temporary, target)
    finally:
        cursor.close()
