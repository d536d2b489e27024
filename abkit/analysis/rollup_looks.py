"""Every daily look of a rollup from one query: each arm's sums as increments per day.

An arm column of the heavy pass (:func:`abkit.analysis.user_pass.pass_sql`) that is a sum over
users of a function of each user's running state (``count(*)``, ``count(e)``, ``sum(e)``,
``count_if(c)``) changes on day *d* only through the users seen that day: by their state after
*d*, in the arm it puts them in, less their state before *d*, in the arm it put them in then
(a user seen in a second arm moves to the crossover key). So the per-(user, day) aggregates of
the rollup give, in one pass of window functions, each (day, arm)'s increment, and the look
through day *d* is the sum of the increments of the days up to *d*: the same sums as a pass
over the users of that look (integer sums exactly; others up to the order of additions).

``max(e)`` (the heavy-user gate's largest count) is a running maximum when no user ever changes
arm; the gate's example user (``arg_max``) is left None, and a look with a heavy user (whose
gate shows that example) is left to the pass over users. ``count_if(e > c)`` beside ``max(e)``
(the gate's count of heavy users, ``c`` the threshold, which grows with the log's days) is not
summed: it is 0 while the running maximum is at most ``c``, and a look where it is not is left
to the pass over users; so the increments do not depend on ``c``, and the kept increments of a
folder serve its next look when a day's part is added. Anything else (an ordinal metric's
per-user lists) has no increment: :func:`increments_sql` gives None and the look takes the pass
over users.

May import what :mod:`abkit.analysis.rollup` imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from abkit.analysis.user_pass import PassSql

__all__ = ["Increment", "accumulate", "increments_sql", "single_call"]

Increment = Literal["add", "max", "example", "above"]
_NAME = re.compile(r"^(.*) AS (\w+)$", re.S)
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.S)
_ABOVE = re.compile(r"^(.*) > (\d+(?:\.\d*)?)$", re.S)  # e > c, c a non-negative number


def single_call(sql: str) -> tuple[str, str] | None:
    """``(function, argument text)`` when ``sql`` is one call spanning the whole text.

    >>> single_call("sum(a*b)"), single_call("sum(a) + sum(b)")
    (('sum', 'a*b'), None)
    """
    match = _CALL.match(sql.strip())
    if match is None:
        return None
    depth = 0
    for character in match.group(2):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth < 0:
            return None  # the first call closes before the end: sum(a) + sum(b)
    return (match.group(1), match.group(2)) if depth == 0 else None


def _increment(column: str) -> tuple[str, str, Increment] | None:
    """``(name, SQL over the signed rows, kind)`` of one arm column; None when it has none."""
    named = _NAME.match(column.strip())
    call = single_call(named.group(1)) if named else None
    if call is None:
        return None
    function, argument = call
    name = named.group(2)
    if function == "count" and argument == "*":
        return name, "sum(sign)", "add"
    if function == "count":
        return name, f"sum(sign * CAST(({argument}) IS NOT NULL AS INTEGER))", "add"
    if function == "sum":
        return name, f"sum(sign * ({argument}))", "add"
    if function == "count_if":
        return name, f"sum(sign * CAST(({argument}) AS INTEGER))", "add"
    if function == "max":
        return name, f"max(CASE WHEN sign = 1 THEN {argument} END)", "max"
    if function == "arg_max" and argument.count(",") == 1:
        value, by = argument.split(",")
        example = f"arg_max(CASE WHEN sign = 1 THEN {value} END, CASE WHEN sign = 1 THEN {by} END)"
        return name, example, "example"
    return None


def _above(column: str, maxima: Mapping[str, str]) -> tuple[str, str, float] | None:
    """``(name, the max column, c)`` of a ``count_if(e > c) AS name`` beside ``max(e)``."""
    named = _NAME.match(column.strip())
    call = single_call(named.group(1)) if named else None
    if call is None or call[0] != "count_if":
        return None
    compared = _ABOVE.match(call[1].strip())
    if compared is None or compared.group(1).strip() not in maxima:
        return None
    return named.group(2), maxima[compared.group(1).strip()], float(compared.group(2))


def increments_sql(
    parts: PassSql, user_days: str, window_of: Mapping[str, str]
) -> tuple[str, dict[str, Increment], dict[str, tuple[str, float]]] | None:
    """The query of each (day, arm)'s increments of the arm columns of ``parts``, from
    ``user_days`` (``uid``, ``day`` and each per-user alias, one row per user and day; each
    alias accumulates over days by ``window_of[alias]``: sum, min or max), with each column's
    kind and, for each ``count_if(e > c)`` beside ``max(e)``, that max column and ``c`` (not
    in the query); None when an arm column has no increment."""
    found, above = [], {}
    maxima = {}
    for column in parts.arm_cols:
        named = _NAME.match(column.strip())
        call = single_call(named.group(1)) if named else None
        if call is not None and call[0] == "max":
            maxima[call[1].strip()] = named.group(2)
    for column in parts.arm_cols:
        bound = _above(column, maxima)
        if bound is not None:
            above[bound[0]] = bound[1:]
            continue
        found.append(_increment(column))
    if any(item is None for item in found):
        return None
    aliases = [a for a in parts.user_cols.values() if a != "uid"]

    def before(alias: str) -> str:  # the state before the day: a sum less the day's own part
        if window_of[alias] == "sum":  # in parentheses: Spark reads "OVER w - a" as a name
            return f"(sum({alias}) OVER w) - {alias}"
        return f"{window_of[alias]}({alias}) OVER b"

    running = ", ".join(
        f'{window_of[a]}({a}) OVER w AS {a}, {before(a)} AS "before {a}"' for a in aliases
    )
    now_row = ", ".join(aliases)
    before_row = ", ".join(f'"before {a}" AS {a}' for a in aliases)
    columns = ", ".join(f"{sql} AS {name}" for name, sql, _ in found)  # type: ignore[misc]
    sql = f"""
        WITH running AS (  -- each user's state after each of its days, and before it
            SELECT uid, day, {running}, row_number() OVER w AS seen FROM ({user_days})
            WINDOW w AS (PARTITION BY hash(uid), uid ORDER BY day ROWS UNBOUNDED PRECEDING),
                b AS (PARTITION BY hash(uid), uid ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING
                      AND 1 PRECEDING)
        ), signed AS (
            SELECT day, uid, 1 AS sign, {now_row} FROM running
            UNION ALL
            SELECT day, uid, -1 AS sign, {before_row} FROM running WHERE seen > 1
        )
        SELECT day, {parts.arm_key} AS arm, {columns} FROM signed GROUP BY day, arm
    """
    kinds: dict[str, Increment] = {name: kind for name, _, kind in found}  # type: ignore[misc]
    return sql, kinds | dict.fromkeys(above, "above"), above


def accumulate(
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, Increment],
    n_arms: int,
    days: Sequence[int],
    above: Mapping[str, tuple[str, float]] | None = None,
) -> dict[int, list[dict[str, Any]]] | None:
    """Each look's arm rows (``arm`` and each column, arms without users left out) from the
    increments ``rows``, for each of ``days``; None when a running maximum is not exact (a
    user changed arm). ``above``: each ``count_if(e > c)`` column's max column and ``c``
    (0 while that maximum is at most ``c``). A look with a heavy user is left out (the gate
    then shows an example user, which increments do not keep; and their count is not
    kept): its caller takes the pass over users."""
    above = above or {}
    by_day: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(int(row["day"]), []).append(row)
    if "max" in kinds.values() and any(int(row["arm"]) == n_arms for row in rows):
        return None
    state: dict[int, dict[str, Any]] = {}
    looks: dict[int, list[dict[str, Any]]] = {}
    wanted = sorted(days)
    pending = sorted(by_day)
    position = 0
    for day in wanted:
        while position < len(pending) and pending[position] <= day:
            for row in by_day[pending[position]]:
                arm = state.setdefault(int(row["arm"]), {})
                for name, kind in kinds.items():
                    if kind == "above":
                        continue
                    value = row[name]
                    if kind == "example":  # shown only with a heavy user: not kept
                        arm[name] = None
                    elif value is None:
                        continue
                    elif kind == "add":
                        arm[name] = arm[name] + value if arm.get(name) is not None else value
                    elif arm.get(name) is None or value > arm[name]:
                        arm[name] = value  # a running maximum
            position += 1
        for arm in state.values():
            for name, (largest, bound) in above.items():
                arm[name] = 0 if arm.get(largest) is None or arm[largest] <= bound else None
        if any(
            (arm.get("heavy_users") or 0) > 0 or any(arm.get(name) is None for name in above)
            for arm in state.values()
        ):
            continue
        looks[day] = [
            {"arm": key, **values}
            for key, values in sorted(state.items())
            if (values.get("users") or 0) > 0
        ]
    return looks
