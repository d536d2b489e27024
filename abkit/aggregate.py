"""Aggregation: a dialog log -> per-user sums -> per-variant sufficient statistics.

A pandas DataFrame is aggregated with pandas; a Parquet / CSV file or a DuckDB table inside
DuckDB, where only per-variant sums (and the latency values the quantile method orders) come
back into Python. Both give the same :class:`ArmStatistics` (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from abkit.events import DIALOG_SCHEMA, LogValidationError, validate
from abkit.metrics import PER_DIALOG, PER_RATED, Metric
from abkit.stats import MeanStats, QuantileOrder, RatioStats, quantile_order_statistics

__all__ = ["ArmStatistics", "arm_statistics", "file_columns", "log_variants"]

# --------------------------------------------------------------------------- sufficient stats


@dataclass(frozen=True)
class ArmStatistics:
    """What the tests need from one arm, whichever engine aggregated it.

    Attributes:
        users: distinct users (the randomization unit; used for the SRM check).
        ratios: ratio metric name -> per-user sums (:class:`RatioStats`).
        user_means: user_mean metric name -> :class:`MeanStats` of per-user sums.
        user_counts: user_proportion metric name -> (users with the event, users).
        ordinal_user_means: ordinal metric name -> per-user means (for Mann–Whitney).
        quantiles: quantile metric name -> (:class:`QuantileOrder`, per-user indicator sums).
    """

    users: int
    ratios: dict[str, RatioStats] = field(default_factory=dict)
    user_means: dict[str, MeanStats] = field(default_factory=dict)
    user_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    ordinal_user_means: dict[str, np.ndarray] = field(default_factory=dict)
    quantiles: dict[str, tuple[QuantileOrder, RatioStats]] = field(default_factory=dict)


def _ratio_parts_pandas(log: pd.DataFrame, metric: Metric) -> tuple[pd.Series, pd.Series]:
    """Per-dialog numerator y and denominator x of a ratio metric."""
    y = log[metric.column].astype(float)
    if metric.denominator == PER_DIALOG:
        x = pd.Series(1.0, index=log.index)
    elif metric.denominator == PER_RATED:
        x = y.notna().astype(float)
    else:
        x = sum(log[column].astype(float).fillna(0.0) for column in metric.denominator)
    return y.fillna(0.0), x


def _ratio_stats(y: np.ndarray, x: np.ndarray) -> RatioStats:
    return RatioStats(
        int(y.size), float(y.sum()), float(x.sum()), float(y @ y), float(x @ x), float(x @ y)
    )


def _arm_statistics_pandas(
    log: pd.DataFrame, metrics: Sequence[Metric], variant: str, alpha: float
) -> ArmStatistics:
    arm = log[log["variant"] == variant]
    users = arm.groupby("user_id", sort=True)
    result = ArmStatistics(users=int(users.ngroups))
    parts: dict[str, pd.Series] = {}
    for metric in metrics:
        if metric.kind == "ratio":
            y, x = _ratio_parts_pandas(arm, metric)
            parts[f"y:{metric.name}"], parts[f"x:{metric.name}"] = y, x
    per_user = (
        pd.DataFrame(parts).groupby(arm["user_id"], sort=True).sum() if parts else pd.DataFrame()
    )
    for metric in metrics:
        if metric.kind == "ratio":
            y_u = per_user[f"y:{metric.name}"].to_numpy()
            x_u = per_user[f"x:{metric.name}"].to_numpy()
            result.ratios[metric.name] = _ratio_stats(y_u, x_u)
            if metric.ordinal:
                with np.errstate(invalid="ignore", divide="ignore"):
                    means = y_u / x_u
                result.ordinal_user_means[metric.name] = means[x_u > 0]
        elif metric.kind == "user_proportion":
            ever = users[metric.column].max().fillna(0)
            result.user_counts[metric.name] = (int((ever > 0).sum()), int(ever.size))
        elif metric.kind == "user_mean":
            result.user_means[metric.name] = MeanStats.of(users[metric.column].sum().to_numpy())
        else:
            present = arm[arm[metric.column].notna()]
            assert metric.quantile is not None
            order = quantile_order_statistics(
                present[metric.column].to_numpy(float), metric.quantile, alpha=alpha
            )
            below = (present[metric.column] <= order.estimate).astype(float)
            sums = pd.DataFrame({"i": below, "m": 1.0}).groupby(present["user_id"]).sum()
            result.quantiles[metric.name] = (
                order,
                _ratio_stats(sums["i"].to_numpy(), sums["m"].to_numpy()),
            )
    return result


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ratio_sql(metric: Metric) -> tuple[str, str]:
    """SQL for the per-dialog numerator and denominator of a ratio metric."""
    column = _quoted(metric.column)
    y = f"COALESCE(CAST({column} AS DOUBLE), 0)"
    if metric.denominator == PER_DIALOG:
        x = "1.0"
    elif metric.denominator == PER_RATED:
        x = f"CASE WHEN {column} IS NULL THEN 0.0 ELSE 1.0 END"
    else:
        x = " + ".join(f"COALESCE(CAST({_quoted(c)} AS DOUBLE), 0)" for c in metric.denominator)
    return y, x


def _arm_statistics_duckdb(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    metrics: Sequence[Metric],
    variants: Sequence[str],
    alpha: float,
) -> dict[str, ArmStatistics]:
    """Aggregate in DuckDB: one pass to per-user sums, then per-variant sums of those."""
    user_columns, variant_columns = [], ["count(*) AS users"]
    for index, metric in enumerate(metrics):
        if metric.kind == "ratio":
            y, x = _ratio_sql(metric)
            user_columns += [f"sum({y}) AS y{index}", f"sum({x}) AS x{index}"]
            variant_columns += [
                f"count(*) AS n{index}",
                f"sum(y{index}) AS sy{index}",
                f"sum(x{index}) AS sx{index}",
                f"sum(y{index}*y{index}) AS syy{index}",
                f"sum(x{index}*x{index}) AS sxx{index}",
                f"sum(x{index}*y{index}) AS sxy{index}",
            ]
        elif metric.kind == "user_proportion":
            user_columns.append(f"max(CAST({_quoted(metric.column)} AS DOUBLE)) AS p{index}")
            variant_columns += [f"count_if(p{index} > 0) AS pk{index}"]
        elif metric.kind == "user_mean":
            user_columns.append(f"sum(CAST({_quoted(metric.column)} AS DOUBLE)) AS m{index}")
            variant_columns += [
                f"sum(m{index}) AS ms{index}",
                f"sum(m{index}*m{index}) AS mss{index}",
            ]
    select_users = ", ".join(["variant", *user_columns])
    per_user_sql = f"SELECT {select_users} FROM {source} GROUP BY variant, user_id"
    connection.execute(f"CREATE OR REPLACE TEMP TABLE per_user AS {per_user_sql}")
    rows = connection.execute(
        f"SELECT variant, {', '.join(variant_columns)} FROM per_user GROUP BY variant"
    ).fetchall()
    names = ["variant", *(c.rsplit(" AS ", 1)[1] for c in variant_columns)]
    found = {row[0]: dict(zip(names, row, strict=True)) for row in rows}
    result: dict[str, ArmStatistics] = {}
    for variant in variants:
        values = found.get(variant, {"users": 0})
        arm = ArmStatistics(users=int(values["users"]))
        for index, metric in enumerate(metrics):
            if metric.kind == "ratio":
                arm.ratios[metric.name] = RatioStats(
                    int(values.get(f"n{index}", 0)),
                    *(
                        float(values.get(f"{key}{index}") or 0.0)
                        for key in ("sy", "sx", "syy", "sxx", "sxy")
                    ),
                )
                if metric.ordinal:
                    arm.ordinal_user_means[metric.name] = connection.execute(
                        f"SELECT y{index} / x{index} AS v FROM per_user "
                        f"WHERE variant = ? AND x{index} > 0",
                        [variant],
                    ).fetchnumpy()["v"]
            elif metric.kind == "user_proportion":
                arm.user_counts[metric.name] = (int(values.get(f"pk{index}", 0)), arm.users)
            elif metric.kind == "user_mean":
                arm.user_means[metric.name] = MeanStats(
                    arm.users,
                    float(values.get(f"ms{index}") or 0.0),
                    float(values.get(f"mss{index}") or 0.0),
                )
        result[variant] = arm
    _quantiles_duckdb(connection, source, metrics, variants, result, alpha)
    return result


def _quantiles_duckdb(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    metrics: Sequence[Metric],
    variants: Sequence[str],
    result: dict[str, ArmStatistics],
    alpha: float,
) -> None:
    """Quantile metrics: order statistics from the column's values, indicator sums in SQL."""
    by_column: dict[str, list[Metric]] = {}
    for metric in metrics:
        if metric.kind == "quantile":
            by_column.setdefault(metric.column, []).append(metric)
    for column, group in by_column.items():
        quoted = _quoted(column)
        for variant in variants:
            values = connection.execute(
                f"SELECT CAST({quoted} AS DOUBLE) AS v FROM {source} "
                f"WHERE variant = ? AND {quoted} IS NOT NULL",
                [variant],
            ).fetchnumpy()["v"]
            orders = [
                quantile_order_statistics(values, m.quantile or 0.5, alpha=alpha) for m in group
            ]
            finite = [(k, order) for k, order in enumerate(orders) if math.isfinite(order.estimate)]
            sums = {k: RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0) for k in range(len(orders))}
            if finite:
                below = ", ".join(
                    f"count_if({quoted} <= {float(order.estimate)!r}) AS i{k}"
                    for k, order in finite
                )
                parts = ", ".join(
                    f"count(*), sum(i{k}), sum(m), sum(i{k}*i{k}), sum(m*m), sum(i{k}*m)"
                    for k, _ in finite
                )
                row = connection.execute(
                    f"SELECT {parts} FROM (SELECT {below}, count(*) AS m FROM {source} "
                    f"WHERE variant = ? AND {quoted} IS NOT NULL GROUP BY user_id)",
                    [variant],
                ).fetchone()
                for j, (k, _) in enumerate(finite):
                    chunk = row[6 * j : 6 * j + 6]
                    sums[k] = RatioStats(int(chunk[0]), *(float(v or 0.0) for v in chunk[1:]))
            for k, (metric, order) in enumerate(zip(group, orders, strict=True)):
                result[variant].quantiles[metric.name] = (order, sums[k])


# --------------------------------------------------------------------------- sources


def _source_sql(source: str | Path, table: str) -> tuple[duckdb.DuckDBPyConnection, str]:
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"events == '{path}': no such file or folder")
    connection = duckdb.connect()
    literal = "'" + str(path).replace("'", "''") + "'"
    suffix = path.suffix.lower()
    if suffix == ".parquet" or path.is_dir():
        pattern = (
            "'" + str(path / "*.parquet").replace("'", "''") + "'" if path.is_dir() else literal
        )
        return connection, f"read_parquet({pattern})"
    if suffix == ".csv":
        return (
            connection,
            f"read_csv({literal}, types={{'user_id': 'VARCHAR', 'dialog_id': 'VARCHAR'}})",
        )
    if suffix in (".duckdb", ".db", ".ddb"):
        connection.execute(f"ATTACH {literal} AS source (READ_ONLY)")
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'source'"
            ).fetchall()
        }
        if table not in tables:
            raise ValueError(f"table == {table!r} not in {path}; it has {sorted(tables)}")
        return connection, f"source.{_quoted(table)}"
    raise ValueError(
        f"events == '{path}', must be a .parquet file (or folder), a .csv file or a "
        ".duckdb database"
    )


def _validate_in_duckdb(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    metrics: Sequence[Metric],
    variants: Sequence[str],
) -> list[str]:
    """The schema checks of :func:`abkit.events.validate`, run as SQL on the whole file."""
    described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    types = {row[0]: row[1] for row in described}
    required = [c.name for c in DIALOG_SCHEMA.columns if c.required]
    missing = [name for name in required if name not in types]
    if missing:
        raise LogValidationError(f"dialog log is invalid: missing required column(s) {missing}")
    numeric = (
        "DOUBLE",
        "FLOAT",
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "HUGEINT",
        "UBIGINT",
        "UINTEGER",
        "USMALLINT",
        "UTINYINT",
        "BOOLEAN",
        "DECIMAL",
    )
    problems = []
    for metric in metrics:
        for column in metric.columns:
            kind = types[column].split("(")[0]
            if kind not in numeric:
                problems.append(f"column '{column}' has type {types[column]}, must be numeric")
    if problems:
        raise LogValidationError("dialog log is invalid: " + "; ".join(problems))
    # Distinct 64-bit hashes are much cheaper to count than distinct strings; only when they
    # suggest a duplicate (or a hash collision) is the exact string count run.
    counts = connection.execute(
        f"SELECT count(*), count(user_id), count(DISTINCT hash(dialog_id)), count(dialog_id) "
        f"FROM {source}"
    ).fetchone()
    total, with_user, distinct_dialogs, with_dialog = counts
    if distinct_dialogs < with_dialog:
        distinct_dialogs = connection.execute(
            f"SELECT count(DISTINCT dialog_id) FROM {source}"
        ).fetchone()[0]
    if total == 0:
        problems.append("the log has no rows")
    if with_user < total:
        problems.append(f"column 'user_id' has {total - with_user} null value(s), none allowed")
    if with_dialog < total:
        problems.append(f"column 'dialog_id' has {total - with_dialog} null value(s)")
    if distinct_dialogs < with_dialog:
        problems.append(
            f"{with_dialog - distinct_dialogs} rows repeat a dialog_id; each must be unique"
        )
    labels = {
        row[0] for row in connection.execute(f"SELECT DISTINCT variant FROM {source}").fetchall()
    }
    unknown = sorted(str(label) for label in labels - set(variants))
    if unknown:
        problems.append(f"unknown variant label(s) {unknown}, expected {list(variants)}")
    return problems


def arm_statistics(
    events: pd.DataFrame | str | Path,
    metrics: Sequence[Metric],
    variants: Sequence[str],
    *,
    table: str = "dialogs",
    alpha: float = 0.05,
    column_map: Mapping[str, str] | None = None,
) -> dict[str, ArmStatistics]:
    """Per-variant sufficient statistics: pandas for a DataFrame, DuckDB for a file or table."""
    if isinstance(events, pd.DataFrame):
        log = validate(events, variants=None, column_map=column_map)
        _check_metric_columns(log.columns, metrics)
        return {v: _arm_statistics_pandas(log, metrics, v, alpha) for v in variants}
    if column_map:
        raise ValueError(
            "column_map applies to DataFrames; rename the columns of a file first "
            "or read it with abkit.events.read_log(..., column_map=...)"
        )
    connection, source = _source_sql(events, table)
    with connection:
        columns = [
            row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        ]
        _check_metric_columns(columns, metrics)
        problems = _validate_in_duckdb(connection, source, metrics, list(variants))
        problems = [p for p in problems if not p.startswith("unknown variant")]
        if problems:
            raise LogValidationError("dialog log is invalid: " + "; ".join(problems))
        return _arm_statistics_duckdb(connection, source, metrics, variants, alpha)


def _check_metric_columns(columns: Sequence[str], metrics: Sequence[Metric]) -> None:
    present = set(columns)
    for metric in metrics:
        missing = [c for c in metric.columns if c not in present]
        if missing:
            raise LogValidationError(
                f"metric {metric.name!r} needs column(s) {missing}, which "
                f"the log does not have; its columns are {sorted(present)}"
            )


def log_variants(
    events: pd.DataFrame | str | Path, table: str, column_map: Mapping[str, str] | None
) -> list[str]:
    if isinstance(events, pd.DataFrame):
        frame = events.rename(columns=dict(column_map or {}))
        if "variant" not in frame.columns:
            raise LogValidationError(
                "dialog log is invalid: missing required column(s) ['variant']"
            )
        return sorted(str(v) for v in frame["variant"].dropna().unique())
    connection, source = _source_sql(events, table)
    with connection:
        return sorted(
            str(row[0])
            for row in connection.execute(
                f"SELECT DISTINCT variant FROM {source} WHERE variant IS NOT NULL"
            ).fetchall()
        )


def file_columns(events: str | Path, table: str) -> list[str]:
    connection, source = _source_sql(events, table)
    with connection:
        return [row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
