"""For whom: every metric's effect within each segment the plan declares, and whether it differs
from the rest.

A plan's ``segments: [intent, language]`` names columns; a user belongs to the segment of their
**first dialog's** value (by time, then dialog id), so a segment is fixed per user and the
users stay the randomization unit: a per-dialog segment would split one user's correlated
dialogs between segments, and would let the treatment move users between segments when it
changes what they ask next. Users whose later dialogs carry other values are counted
(``changing``). A missing value is its own segment (``value`` None, shown as "(missing)").

For each column, segment value, candidate and metric (:func:`segment_table`):

- the effect, CI and p-value of the users in the segment, computed by the same engine and
  metric kinds as the whole experiment (CUPED where the metric declares it), and the
  segment's own sample-ratio p-value;
- the **interaction test**, segment vs rest: the segment's effect minus the effect among all
  other users, z = (D_s − D_r) / √(se_s² + se_r²) (the two groups of users are disjoint, so
  the estimates are independent); for a per-user mean it is the arm × segment coefficient of an
  OLS on per-user values, with each cell's own variance;
- **Benjamini–Hochberg** over the segment values of each (column, candidate, metric), for the
  effects' p-values and for the interaction p-values. Segments declared in the plan are
  confirmatory: a segment whose effect is significant at the BH level and goes the other way
  from the whole experiment's is flagged (``reversed``).

Segments are reported: the ship decision rests on the whole experiment.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import norm

from abkit.analysis.checks import first_values, take_census, until_condition
from abkit.analysis.comparison import metric_row
from abkit.analysis.engine import SegmentFilter, aggregate, open_source
from abkit.analysis.metric_kinds import quoted
from abkit.plan.experiment_plan import ExperimentPlan, Monitoring
from abkit.stats.two_sample import adjust_p_values

__all__ = ["SEGMENT_COLUMNS", "SegmentColumn", "segment_table"]

SegmentColumn = Literal[
    "column",
    "segment",
    "variant",
    "metric",
    "role",
    "control",
    "treatment",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "interaction_p",
    "interaction_p_adjusted",
    "rest_effect",
    "n_control",
    "n_treatment",
    "srm_p",
    "changing",
    "reversed",
    "note",
]
# Columns of segment_table, in order: declared once, in SegmentColumn.
SEGMENT_COLUMNS: list[str] = list(get_args(SegmentColumn))
MISSING = "(missing)"
# A segment column with more values than this is refused: each value is a pass over the log,
# and Benjamini–Hochberg over so many segments can find only enormous effects.
MAX_SEGMENT_VALUES = 50


def segment_values(
    events: Any,
    plan: ExperimentPlan,
    column: str,
    *,
    table: str = "dialogs",
    until: Any = None,
    spark: Any = None,
) -> pd.DataFrame:
    """The segments of ``column``: each value of the users' first dialogs (None: no value),
    with its users and how many of them have other values in later dialogs (a segment is fixed
    per user: they stay in their first dialog's). Columns value, users, changing; most users
    first."""
    with open_source(events, plan, table, spark) as source:
        resolved = plan.resolve(source.columns)
        census = take_census(source, resolved)
        where = census.where + until_condition(until, census.first)
        name = quoted(column)
        sql = (
            f"WITH f AS ({first_values(column, where)}), n AS (SELECT user_id, "
            f"count(DISTINCT CAST({name} AS VARCHAR)) + max(CASE WHEN {name} IS NULL THEN 1 "
            f"ELSE 0 END) AS k FROM log WHERE {where} GROUP BY user_id) SELECT f.v, count(*), "
            "sum(CASE WHEN n.k > 1 THEN 1 ELSE 0 END) FROM f JOIN n ON f.user_id = n.user_id "
            "WHERE f.r = 1 GROUP BY f.v ORDER BY 2 DESC, 1"
        )
        rows = source.connection.execute(sql).fetchall()
    return pd.DataFrame(
        [(v, int(n), int(k)) for v, n, k in rows], columns=["value", "users", "changing"]
    )


def _interaction(inside: dict[str, Any], rest: dict[str, Any]) -> float:
    """Two-sided p of "the segment's effect equals the rest's" (independent users)."""
    se = math.hypot(inside["se"], rest["se"])
    if not (se > 0 and math.isfinite(se)):
        return math.nan
    return float(2 * norm.sf(abs(inside["effect"] - rest["effect"]) / se))


def segment_table(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    overall: pd.DataFrame,
    *,
    table: str = "dialogs",
    until: Any = None,
    pre_period: Any = None,
    users: Any = None,
    spark: Any = None,
) -> pd.DataFrame:
    """One row per (segment column, value, candidate, metric) of a resolved ``plan`` with
    segments; ``overall`` is the whole experiment's results table (the direction a reversal
    is judged against); ``until``: a look's cut, as for the analysis. Columns
    :data:`SEGMENT_COLUMNS`; empty when the plan has none.

    Each segment is its own pass over the log (and one for its rest), on rows the whole
    analysis has already validated.
    """
    if not plan.segments:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    fixed = dataclasses.replace(plan, monitoring=Monitoring(), segments=())
    sources = {"pre_period": pre_period, "users": users}
    direction = {
        (row.variant, row.metric): np.sign(row.effect)
        for row in overall.itertuples()
        if row.role != "check"
    }
    rows = []
    for column in plan.segments:
        values = segment_values(events, fixed, column, table=table, until=until, spark=spark)
        if len(values) > MAX_SEGMENT_VALUES:
            shown = ", ".join(repr(v) for v in values["value"].head(5))
            raise ValueError(
                f"segments: column {column!r} has {len(values):,} values in the users' first "
                f"dialogs ({shown}, ...); a segment column needs at most {MAX_SEGMENT_VALUES} "
                "(an intent, a language, a plan tier), not an id or a free-text field"
            )
        for found, _, changing in values.itertuples(index=False):
            value = None if found is None or pd.isna(found) else str(found)
            runs = [
                aggregate(
                    events,
                    fixed,
                    table=table,
                    spark=spark,
                    validated=True,
                    until=until,
                    segment=SegmentFilter(column, value, inside),
                    **sources,
                )
                for inside in (True, False)
            ]
            srm_p = runs[0].health.srm.p_value
            for candidate in fixed.candidates:
                pairs = [run.pair(candidate) for run in runs]
                for metric in fixed.metrics or ():
                    inside, rest = (
                        metric_row(metric, pair, fixed.alpha, fixed.cuped == "decide")
                        for pair in pairs
                    )
                    rows.append(
                        {
                            "column": column,
                            "segment": MISSING if value is None else value,
                            "variant": candidate,
                            **{k: inside[k] for k in ("metric", "role", "control", "treatment")},
                            **{k: inside[k] for k in ("effect", "ci_low", "ci_high", "p_value")},
                            "interaction_p": _interaction(inside, rest),
                            "rest_effect": rest["effect"],
                            "n_control": inside["n_control"],
                            "n_treatment": inside["n_treatment"],
                            "srm_p": srm_p,
                            "changing": changing,
                            "note": inside["note"],
                        }
                    )
    out = pd.DataFrame(rows)
    out["p_adjusted"] = math.nan
    out["interaction_p_adjusted"] = math.nan
    for _, family in out.groupby(["column", "variant", "metric"], sort=False):
        for raw, adjusted in (
            ("p_value", "p_adjusted"),
            ("interaction_p", "interaction_p_adjusted"),
        ):
            values = family[raw].to_numpy(float)
            known = np.isfinite(values)
            if known.any():
                index = family.index[known]
                out.loc[index, adjusted] = adjust_p_values(values[known], "bh")
    overall_sign = [
        direction.get((v, m), 0.0) for v, m in zip(out["variant"], out["metric"], strict=True)
    ]
    out["reversed"] = (
        (out["p_adjusted"] < plan.alpha)
        & (np.sign(out["effect"].to_numpy(float)) != 0)
        & (np.sign(out["effect"].to_numpy(float)) == -np.asarray(overall_sign))
    )
    return out.reindex(columns=SEGMENT_COLUMNS)
