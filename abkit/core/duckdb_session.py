"""DuckDB connections with the kit's one time model: the session time zone is UTC.

DuckDB reads the machine's time zone (``TZ``) into each connection: a naive timestamp cast to
TIMESTAMPTZ, a day boundary, a timestamp handed back to Python would then depend on where the
kit runs, and DuckDB would disagree with Spark (whose session the kit sets to UTC too). Every
DuckDB connection the kit opens comes from :func:`connect` or passes through :func:`utc`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["connect", "utc"]

SESSION_TIME_ZONE = "UTC"


def utc(connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Set ``connection``'s time zone to UTC (a cursor does not inherit its parent's) and
    return it."""
    connection.execute(f"SET TimeZone = '{SESSION_TIME_ZONE}'")
    return connection


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with the session time zone UTC.

    >>> connect().execute("SELECT current_setting('TimeZone')").fetchone()
    ('UTC',)
    """
    return utc(duckdb.connect(str(database), read_only=read_only))
