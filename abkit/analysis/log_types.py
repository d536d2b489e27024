"""How a log's column types are read: DuckDB's numeric and whole-number type names, and the one
rule that turns a time column into an instant (TIMESTAMPTZ), used by the view of every log
(:func:`abkit.analysis.log_source.create_view`) on DuckDB and, transpiled, on Spark.
"""

from __future__ import annotations

import re
from typing import Any

from abkit.analysis.metric_kinds import quoted
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.serve.events import LogValidationError

__all__ = ["INTEGER_TYPE", "NUMERIC_TYPE", "timestamp_sql"]

_WHOLE_TYPES = (
    r"BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|UHUGEINT|BOOLEAN"
)
NUMERIC_TYPE = re.compile(rf"^(DOUBLE|FLOAT|REAL|{_WHOLE_TYPES}|DECIMAL.*)$")
# Types that hold whole numbers only (no fraction, NaN or infinity), read as DOUBLE in the view.
INTEGER_TYPE = re.compile(rf"^({_WHOLE_TYPES}|DECIMAL\(\d+,\s*0\))$")
# Epoch seconds from 2001 to 2286, milliseconds over the same years.
_EPOCH_RANGES = {"s": (1e9, 1e10), "ms": (1e12, 1e13)}


def timestamp_sql(
    connection: Any,
    raw: str,
    column: str,
    kind: str,
    plan: ExperimentPlan,
    key: str = "timestamp",
) -> str:
    """An expression giving the timestamp as TIMESTAMPTZ; epoch numbers read as s or ms;
    a timestamp written without a zone (a naive datetime, a date, text without an offset) is
    in the plan's ``timezone`` (UTC by default), never in the machine's."""
    name = quoted(column)
    zone = plan.timezone.replace("'", "")
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({name} AS TIMESTAMPTZ)"
    if kind.startswith("TIMESTAMP") or kind == "DATE":  # naive: in the plan's zone
        return f"timezone('{zone}', CAST({name} AS TIMESTAMP))"
    if NUMERIC_TYPE.match(kind) or kind == "VARCHAR":
        number = name if kind != "VARCHAR" else f"TRY_CAST(trim({name}) AS DOUBLE)"
        low, high, text_rows, numeric_rows = connection.execute(
            f"SELECT min({number}), max({number}), count({name}), count({number}) FROM {raw}"
        ).fetchone()
        if kind == "VARCHAR" and numeric_rows < text_rows:
            if numeric_rows:
                raise LogValidationError(
                    f"column '{key}' mixes numbers and text ({numeric_rows:,} of "
                    f"{text_rows:,} values are numbers); write one format"
                )
            return _text_timestamp_sql(connection, raw, name, key, zone)
        if low is None:
            return "CAST(NULL AS TIMESTAMPTZ)"
        unit = plan.timestamp_unit
        if unit == "auto":
            unit = next((u for u, (a, b) in _EPOCH_RANGES.items() if a <= low and high < b), "")
            if not unit:
                raise LogValidationError(
                    f"column '{key}' holds numbers from {low:.6g} to {high:.6g}: neither "
                    "epoch seconds (1e9 to 1e10) nor epoch milliseconds (1e12 to 1e13); write "
                    "timestamps, or set the plan's timestamp_unit to 's' or 'ms'"
                )
        scale = 1.0 if unit == "s" else 1000.0
        return f"to_timestamp(CAST({number} AS DOUBLE) / {scale})"
    raise LogValidationError(
        f"column '{key}' has type {kind}, must be a timestamp, a date, epoch seconds or "
        "milliseconds, or text in ISO 8601"
    )


# Text that ends in a zone or offset after a time (Z, +01, +01:00, -0500): an instant already.
_OFFSET_PATTERN = (
    r"[0-9]:[0-9][0-9](:[0-9][0-9]([.,][0-9]+)?)? *(Z|z|UTC|[+-][0-9][0-9](:?[0-9][0-9])?)$"
)


def _text_timestamp_sql(
    connection: Any,
    raw: str,
    name: str,
    key: str = "timestamp",
    zone: str = "UTC",
) -> str:
    # the session is UTC: text without an offset is read as UTC, or moved to the plan's zone
    expression = f"TRY_CAST({name} AS TIMESTAMPTZ)"
    if zone != "UTC":
        expression = (
            f"CASE WHEN regexp_matches(trim({name}), '{_OFFSET_PATTERN}') THEN {expression} "
            f"ELSE timezone('{zone}', TRY_CAST({name} AS TIMESTAMP)) END"
        )
    bad, example = connection.execute(
        f"SELECT count(*), any_value({name}) FROM {raw} "
        f"WHERE {name} IS NOT NULL AND {expression} IS NULL"
    ).fetchone()
    if bad:
        raise LogValidationError(
            f"column '{key}': {bad:,} value(s) cannot be read as timestamps, e.g. "
            f"{example!r}; write ISO 8601 (2026-01-05 10:00:00+00) or epoch seconds"
        )
    return expression
