"""Does it last: each primary metric's effect by time since the user's first exposure, and a
test for a trend (a novelty effect wears off; a learning effect grows).

Each dialog falls in the exposure period ``floor((its time − the user's first dialog's time) /
period days)``; the period length is a fifth of the log's span (at least one day), so a
two-week log has five periods of three days. Per period, the metric over those dialogs, users as
the unit; across periods, the slope of the effect per period with a user-clustered standard
error (:func:`abkit.stats.trend.exposure_trend`), since one user's dialogs in different
periods are correlated. A slope against the direction of the whole experiment's effect at
level α is a **decaying** effect: a warning in the decision and the memo.

For ratio metrics (a per-dialog rate such as task completion); other kinds are listed with a
note and no test. Users seen in several arms are left out, as everywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from abkit.analysis.checks import as_utc, take_census, until_condition
from abkit.analysis.engine import open_source
from abkit.analysis.log_source import sql_text
from abkit.analysis.metric_kinds import KINDS, quoted
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.stats.trend import exposure_trend

__all__ = ["PERIOD_COLUMNS", "TREND_COLUMNS", "novelty_tables", "period_days_for"]

PERIOD_COLUMNS = [
    "variant",
    "metric",
    "period",
    "first_day",
    "control",
    "treatment",
    "effect",
    "ci_low",
    "ci_high",
]
TREND_COLUMNS = [
    "variant",
    "metric",
    "period_days",
    "periods",
    "slope",
    "se",
    "p_value",
    "decaying",
    "note",
]
PERIODS = 5  # the log's span is cut into this many exposure periods


def period_days_for(first: Any, last: Any) -> int:
    """The exposure period's length: a fifth of the log's span in whole days, at least 1.

    >>> period_days_for("2026-01-05", "2026-01-18 23:00")
    3
    """
    span = (as_utc(last) - as_utc(first)) / pd.Timedelta(days=1)
    return max(1, math.ceil(span / PERIODS))


def _user_period_matrices(
    events: Any, plan: ExperimentPlan, metric: Any, days: int, until: Any, table: str, spark: Any
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per arm (in the order of ``plan.labels``), the users × periods numerator and
    denominator sums of ``metric`` (0 where a user has no dialog in a period), users of one
    arm only, rows up to ``until``. Each dialog's period counts from its user's first dialog
    (a join on the users' first times); the sums are pivoted to one row per user in SQL, so
    no user id leaves the database."""
    with open_source(events, plan, table, spark) as source:
        census = take_census(source, plan)
        where = census.where + until_condition(until, census.first)
        sums = KINDS[metric.kind].user_sums(metric, {}, frozenset())
        arm = "CASE variant " + " ".join(
            f"WHEN {sql_text(label)} THEN {k}" for k, label in enumerate(plan.labels)
        )
        seconds = 86_400 * days
        read = ", ".join(quoted(c) for c in ("user_id", "variant", "timestamp", *metric.columns))
        periods = (
            f"SELECT user_id, min({arm} END) AS arm, max({arm} END) AS arm_high, period, "
            f"{sums['y']} AS y, {sums['x']} AS x FROM (SELECT *, CAST(floor((epoch(timestamp) "
            f"- epoch(first_seen)) / {seconds}) AS INTEGER) AS period FROM (SELECT {read} FROM log "
            f"WHERE {where}) JOIN (SELECT user_id, min(timestamp) AS first_seen FROM log WHERE "
            f"{where} GROUP BY user_id) USING (user_id)) GROUP BY user_id, period"
        )
        con = source.connection  # periods past the last one hold nothing (and are dropped)
        span = (as_utc(census.last) - as_utc(census.first)) / pd.Timedelta(seconds=seconds)
        count = int(math.floor(span)) + 1 if math.isfinite(span) else 0
        pivot = ", ".join(
            f"coalesce(sum({v}) FILTER (WHERE period = {p}), 0) AS {v}{p}"
            for v in ("y", "x")
            for p in range(count)
        )
        found = con.execute(  # users seen in several arms are left out
            f"SELECT min(arm) AS arm{', ' + pivot if pivot else ''} FROM ({periods}) "
            "GROUP BY user_id HAVING min(arm) = max(arm_high)"
        ).fetchnumpy()
    arms = np.asarray(found["arm"])

    def matrix(name: str) -> np.ndarray:  # users × periods, the users in the query's order
        columns = [np.asarray(found[f"{name}{p}"], dtype=float) for p in range(count)]
        return np.column_stack(columns) if columns else np.zeros((arms.size, 0))

    y, x = matrix("y"), matrix("x")
    return [(y[arms == k], x[arms == k]) for k in range(len(plan.labels))]


def novelty_tables(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    overall: pd.DataFrame,
    first: Any,
    last: Any,
    *,
    until: Any = None,
    table: str = "dialogs",
    spark: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-period effects, trends) of each primary metric and candidate of a resolved plan.

    ``overall`` is the results table (the direction a decay is judged against); ``first`` and
    ``last`` the analysed rows' period; ``until`` the look's cut, as for the analysis. Columns
    :data:`PERIOD_COLUMNS` and :data:`TREND_COLUMNS`."""
    days = period_days_for(first, last)
    periods, trends = [], []
    z = float(norm.isf(plan.alpha / 2))
    for metric in plan.metrics_with_role("primary"):
        if metric.kind != "ratio":
            for candidate in plan.candidates:
                trends.append(
                    {
                        "variant": candidate,
                        "metric": metric.name,
                        "period_days": days,
                        "periods": 0,
                        "decaying": False,
                        "note": f"no trend test: it reads ratio metrics, {metric.name} "
                        f"is {metric.kind}",
                    }
                )
            continue
        matrices = _user_period_matrices(events, plan, metric, days, until, table, spark)
        for k, candidate in enumerate(plan.candidates, start=1):
            found = exposure_trend(*matrices[0], *matrices[k])
            for j, period in enumerate(found.periods):
                periods.append(
                    {
                        "variant": candidate,
                        "metric": metric.name,
                        "period": int(period),
                        "first_day": int(period) * days,
                        "control": found.control[j],
                        "treatment": found.treatment[j],
                        "effect": found.effects[j],
                        "ci_low": found.effects[j] - z * found.ses[j],
                        "ci_high": found.effects[j] + z * found.ses[j],
                    }
                )
            rows = overall[(overall["metric"] == metric.name) & (overall["variant"] == candidate)]
            sign = float(np.sign(rows["effect"].iloc[0])) if len(rows) else 0.0
            decaying = bool(found.p_value < plan.alpha and np.sign(found.slope) == -sign != 0)
            note = (
                ""
                if math.isfinite(found.p_value)
                else "no trend test: fewer than two users in an arm, or fewer than two periods "
                "with a variance in both arms (cannot check, not a pass)"
            )
            trends.append(
                {
                    "variant": candidate,
                    "metric": metric.name,
                    "period_days": days,
                    "periods": int(found.periods.size),
                    "slope": found.slope,
                    "se": found.se,
                    "p_value": found.p_value,
                    "decaying": decaying,
                    "note": note,
                }
            )
    return (
        pd.DataFrame(periods, columns=PERIOD_COLUMNS),
        pd.DataFrame(trends, columns=TREND_COLUMNS),
    )
