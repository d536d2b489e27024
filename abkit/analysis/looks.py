"""Every daily look of a metric in one pass: the per-user sums through each day, from one scan.

A look at day d reads the rows up to the end of d (UTC). Each user's sums change only on the
days the user appears, so the per-user aggregates of the heavy pass
(:func:`abkit.analysis.user_pass.pass_sql`) are taken per (user, day), accumulated over the
user's days with window functions (a sum, count or ``count_if`` by SUM; ``min`` / ``max`` by
MIN / MAX), and each user's running state is repeated on the looks from its day until the day
before its next one. The arm sums of every look are then one GROUP BY (look, arm) with the same arm
columns as a single look: the same numbers as ``aggregate(until=d)`` up to the order of
floating-point additions.

Only aggregates that accumulate so are taken: a plan whose per-user SQL holds anything else
(the order statistics of a quantile metric, capping bounds, CUPED covariates: all computed
from the rows of the look itself) gets ``None``, and the caller looks day by day instead.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from abkit.analysis.user_pass import PassScope, UserPass

__all__ = [
    "UTC_DAY",
    "cumulative_window",
    "daily_passes",
    "day_numbers",
    "look_day",
]

# the day of a row: its UTC calendar day (the days a look's ``until`` ends) as days since
# 1970-01-01; integer arithmetic on the instant, far cheaper than a time-zone conversion
UTC_DAY = "CAST(floor(epoch_us(timestamp) / 86400000000) AS BIGINT)"
_EPOCH = datetime.date(1970, 1, 1)


def day_numbers(days: Sequence[datetime.date]) -> dict[int, datetime.date]:
    """Each date by its number in :data:`UTC_DAY` (days since 1970-01-01).

    >>> day_numbers([datetime.date(1970, 1, 2)])
    {1: datetime.date(1970, 1, 2)}
    """
    return {(day - _EPOCH).days: day for day in days}


_AGGREGATES = r"(?:sum|count|count_if|min|max|avg|arg_max|arg_min|list|quantile\w*|mode|first)"
_ONE = re.compile(
    r"(?:coalesce\((sum|count|count_if)\((.*)\), 0\)|(sum|count|count_if|min|max)\((.*)\))", re.S
)
_WINDOW = {"sum": "sum", "count": "sum", "count_if": "sum", "min": "min", "max": "max"}


def cumulative_window(sql: str) -> str | None:
    """The window function that accumulates a per-user aggregate over days, or None when the
    aggregate does not accumulate (fail closed: anything but one sum, count, count_if, min or
    max, optionally as ``coalesce(..., 0)``).

    >>> cumulative_window("coalesce(sum(completed), 0)"), cumulative_window("count(*)")
    ('sum', 'sum')
    >>> cumulative_window("max(liked)"), cumulative_window("sum(a) / count(b)")
    ('max', None)
    """
    match = _ONE.fullmatch(sql.strip())
    if match is None:
        return None
    name = match.group(1) or match.group(3)
    inner = match.group(2) if match.group(1) else match.group(4)
    if (
        re.search(_AGGREGATES + r"\s*\(", inner)
        or inner.count("(") != inner.count(")")
        or re.match(r"\s*distinct\b", inner, re.I)  # distinct counts do not add up over days
    ):
        return None
    return _WINDOW[name]


def daily_passes(
    scope: PassScope, days: Sequence[datetime.date], user_days: str = ""
) -> dict[datetime.date, UserPass] | None:
    """The heavy pass at the end of each of ``days`` (UTC dates), from one query; None when
    the plan's per-user aggregates do not accumulate over days (see the module's docstring).
    ``user_days``: SQL of the per-(user, day) aggregates (``uid``, ``day`` and each alias),
    when they are stored (:mod:`abkit.analysis.rollup`); by default taken from the log."""
    parts = scope.sql()
    if parts.covariates.layouts:
        return None
    user_cols = {sql: alias for sql, alias in parts.user_cols.items() if alias != "uid"}
    windows = {alias: cumulative_window(sql) for sql, alias in user_cols.items()}
    if any(window is None for window in windows.values()):
        return None
    per_day = ", ".join(f"{sql} AS {alias}" for sql, alias in user_cols.items())
    running = ", ".join(f"{windows[alias]}({alias}) OVER w AS {alias}" for alias in windows)
    numbers = day_numbers(days)
    first, last = min(numbers), max(numbers)
    user_days = user_days or (
        f"SELECT user_id AS uid, {UTC_DAY} AS day, {per_day} "
        f"FROM ({parts.rows} WHERE {scope.where}) GROUP BY user_id, day"
    )
    sql = f"""
        WITH user_days AS ({user_days}), running AS (
            SELECT uid, day, lead(day) OVER (PARTITION BY uid ORDER BY day) AS next_day,
                {running}
            FROM user_days
            WINDOW w AS (PARTITION BY uid ORDER BY day ROWS UNBOUNDED PRECEDING)
        ), states AS (  -- each user's running state on every look from its day to its next
            SELECT unnest(range(greatest(day, {first}),
                least(coalesce(next_day, {last + 1}), {last + 1}))) AS look, *
            FROM running WHERE day <= {last}
        )
        SELECT look, {parts.arm_key} AS arm, {", ".join(parts.arm_cols)}
        FROM states WHERE look IN ({", ".join(map(str, numbers))}) GROUP BY look, arm
    """
    cursor = scope.source.connection.execute(sql)
    columns = [d[0] for d in cursor.description]
    by_look: dict[datetime.date, list[dict[str, Any]]] = {}
    for values in cursor.fetchall():
        row = dict(zip(columns, values, strict=True))
        by_look.setdefault(numbers[int(row.pop("look"))], []).append(row)
    return {day: scope.read(by_look.get(day, [])) for day in days}


def look_day(cut: pd.Timestamp | None) -> int | None | bool:
    """The UTC day (days since 1970-01-01) a look's cut-off ends, None for no cut-off, False
    when the cut-off is not the last microsecond of a UTC day (the rollup holds whole days).

    >>> look_day(pd.Timestamp("1970-01-02 23:59:59.999999", tz="UTC"))
    1
    >>> look_day(pd.Timestamp("1970-01-02 18:00", tz="UTC"))
    False
    """
    if cut is None:
        return None
    following = cut.tz_convert("UTC") + pd.Timedelta(microseconds=1)
    if following != following.floor("D"):
        return False
    return next(iter(day_numbers([following.date()]))) - 1
