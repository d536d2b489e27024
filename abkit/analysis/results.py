"""From a dialog log and a plan to a results table and a ship decision.

plan + log -> engine (health gates, per-arm sums; :mod:`abkit.analysis.engine`) -> each metric
kind's
test (:mod:`abkit.analysis.metric_kinds`) -> corrections -> decision.

The decision family (stated in the plan before the data are seen):

- **primary** metrics: ``plan.correction`` (Holm by default) over the primaries only; the
  decision rests on them;
- **secondary** metrics: ``plan.secondary_correction`` (Benjamini–Hochberg) among themselves,
  reported, never in the decision;
- **guardrails**: one-sided non-inferiority tests at α each against their margins;
- **monitors**: reported, unadjusted.

The rule (Spotify's, Schultzberg et al., arXiv 2402.11609): ship iff every health gate passes,
a primary improves significantly, no primary gets significantly worse and every guardrail is
shown within its margin. Relative effects are (T − C)/|C|: positive means the treatment's value
is higher, whatever the sign of the control's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from abkit.analysis.candidates import adjust_many_to_one, choose
from abkit.analysis.comparison import (
    GuardrailStatus,
)
from abkit.analysis.comparison import (
    guardrail_row as _guardrail,
)
from abkit.analysis.comparison import (
    metric_row as _metric_row,
)
from abkit.analysis.comparison import (
    ordinal_rows as _ordinal_rows,
)
from abkit.analysis.decision import (
    Decision,
    adjust,
    decide,
    decision_p_values,
    with_monitoring,
)
from abkit.analysis.engine import EngineResult, aggregate, aggregate_daily
from abkit.analysis.health import (
    HealthReport,
    leak_gate,
)
from abkit.analysis.monitoring import MonitoringResult, always_valid_table, monitor
from abkit.analysis.novelty import PERIOD_COLUMNS, TREND_COLUMNS, novelty_tables
from abkit.analysis.segments import segment_table
from abkit.core.summary import to_jsonable
from abkit.plan.experiment_plan import ExperimentPlan, Monitoring, load_plan, plan_spec
from abkit.plan.metrics import DEFAULT_METRICS, Metric
from abkit.serve.routing import SrmResult
from abkit.stats.cuped import Moments

__all__ = [
    "AnalysisResult",
    "GuardrailStatus",
    "ResultColumn",
    "ab_significance_test",
    "analyze",
    "analyze_plan",
    "cumulative_effects",
]

ResultColumn = Literal[
    "variant",
    "metric",
    "role",
    "kind",
    "unit",
    "control",
    "treatment",
    "effect",
    "ci_low",
    "ci_high",
    "relative_effect",
    "relative_ci_low",
    "relative_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "improved",
    "higher_is_better",
    "method",
    "n_control",
    "n_treatment",
    "margin",
    "non_inferiority_p",
    "guardrail",
    "decision_p",
    "p_dunnett",
    "covariate",
    "variance_reduction",
    "unadjusted_effect",
    "unadjusted_ci_low",
    "unadjusted_ci_high",
    "unadjusted_p_value",
    "cuped_effect",
    "cuped_ci_low",
    "cuped_ci_high",
    "cuped_p_value",
    "se",
    "note",
]
# Columns of AnalysisResult.table, in order: declared once, in ResultColumn.
TABLE_COLUMNS: list[str] = list(get_args(ResultColumn))


@dataclass(frozen=True)
class AnalysisResult:
    """The results table (one row per metric), the health report, the decision, the plan and
    where the analysis stands in the plan's monitoring (:mod:`abkit.analysis.monitoring`)."""

    table: pd.DataFrame
    health: HealthReport
    decision: Decision
    plan: ExperimentPlan
    engine: EngineResult
    monitoring: MonitoringResult
    segments: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    exposure_effects: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    novelty: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def srm(self) -> SrmResult:
        return self.health.srm

    @property
    def control(self) -> str:
        return self.plan.control

    @property
    def treatment(self) -> str:
        return self.plan.treatment

    @property
    def alpha(self) -> float:
        return self.plan.alpha

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    def cuped_table(self) -> pd.DataFrame:
        """The unadjusted and CUPED estimates side by side, one row per metric with a covariate.

        ``variance_reduction`` is 1 − Var(CUPED)/Var(unadjusted): the share of users the same
        precision would have needed less; ``decided_on`` is the estimate the decision used
        (the plan's ``cuped``).
        """
        chosen = self.table[self.table["covariate"].fillna("").astype(str) != ""]
        columns = ["metric", "covariate", "variance_reduction"] + [
            f"{kind}_{part}"
            for kind in ("unadjusted", "cuped")
            for part in ("effect", "ci_low", "ci_high", "p_value")
        ]
        out = chosen[columns].reset_index(drop=True)
        out["decided_on"] = "CUPED" if self.plan.cuped == "decide" else "unadjusted"
        return out

    def judged_table(self) -> pd.DataFrame:
        """Every ``judged`` metric three ways: the judge alone, prediction-powered (the row of
        the results table) and human labels alone, per arm and for the difference
        (:func:`abkit.stats.ppi.ppi_comparison`); empty when the plan has no judged
        metric."""
        from abkit.stats.ppi import PPI_COMPONENTS, ppi_comparison

        frames = []
        for metric in self.plan.metrics or ():
            if metric.kind == "judged":
                arms = [
                    Moments.from_aggregates(sums, len(PPI_COMPONENTS))
                    for sums in self.engine.sums[metric.name]
                ]
                frame = ppi_comparison(*arms, alpha=self.alpha)
                frames.append(frame.assign(metric=metric.name))
        if not frames:
            return pd.DataFrame(
                columns=[
                    "metric",
                    "estimator",
                    "quantity",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "width",
                ]
            )
        out = pd.concat(frames, ignore_index=True)
        return out[["metric", *out.columns[:-1]]]

    def seed_table(self) -> pd.DataFrame:
        """The seed document's columns: metric, control, treatment, p-value, significant."""
        return self.table[["metric", "control", "treatment", "p_value", "significant"]].copy()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: results, decision, health, srm, plan, counts."""
        shown = [c for c in TABLE_COLUMNS if c not in ("kind", "higher_is_better", "se")]
        return to_jsonable(
            {
                "results": self.table[shown].to_dict(orient="records"),
                "decision": {
                    "verdict": self.decision.verdict,
                    "reasons": list(self.decision.reasons),
                    "variant": self.decision.variant,
                    "by_variant": dict(self.decision.by_variant),
                },
                "health": self.health.table.to_dict(orient="records"),
                "srm": {
                    "p_value": self.srm.p_value,
                    "statistic": self.srm.statistic,
                    "mismatch": self.srm.mismatch,
                    "verdict": self.srm.verdict,
                    "table": self.srm.table,
                },
                "plan": self.plan.to_dict(),
                "monitoring": self.monitoring.to_dict(),
                "users": dict(zip(self.plan.labels, self.engine.users, strict=True)),
                "dialogs": dict(zip(self.plan.labels, self.engine.dialogs, strict=True)),
                "n_rows": self.engine.rows,
                "segments": self.segments.to_dict(orient="records"),
                "novelty": {
                    "trend": self.novelty.to_dict(orient="records"),
                    "periods": self.exposure_effects.to_dict(orient="records"),
                },
            }
        )

    def _repr_html_(self) -> str:
        shown = self.table[
            [
                "metric",
                "role",
                "control",
                "treatment",
                "effect",
                "ci_low",
                "ci_high",
                "relative_effect",
                "p_value",
                "p_adjusted",
                "significant",
                "method",
            ]
        ].round(4)
        return (
            f"<p><b>{self.decision.verdict}</b>: {' '.join(self.decision.reasons)}</p>"
            + self.health.table.to_html(index=False)
            + shown.to_html(index=False)
        )


def analyze_plan(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    *,
    table: str = "dialogs",
    until: Any = None,
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
    looks_file: str | Path | None = None,
    spark: Any = None,
    recorded_looks: int = 0,
    novelty: bool = True,
    cache: bool | str | Path = True,
) -> AnalysisResult:
    """Analyse ``events`` under ``plan``: health gates, one row per metric, the decision.

    ``pre_period`` / ``users``: covariate sources for CUPED metrics (default: the plan's
    ``pre_period_log`` / ``users_table``). ``looks_file``: where a group-sequential plan keeps
    its looks (read, and written when this analysis is a new look). ``spark``: a SparkSession
    to run the engine's passes on (:mod:`abkit.analysis.spark_source`; implied by a Spark
    DataFrame). ``novelty``: also the primaries' effect by exposure period and its trend
    (:mod:`abkit.analysis.novelty`, one more pass); False leaves them empty (simulations that
    analyse thousands of logs). ``cache``: for a folder of Parquet parts, where its rollup of
    per-part statistics is kept (:mod:`abkit.analysis.rollup`; True: the default cache folder,
    False: scan the log)."""
    engine = aggregate(
        events,
        plan,
        table=table,
        until=until,
        pre_period=pre_period,
        users=users,
        spark=spark,
        cache=cache,
    )
    plan = engine.plan
    rows, extra = [], []
    for candidate in plan.candidates:  # each candidate against the control, metric by metric
        pair = engine.pair(candidate)
        for metric in plan.metrics or ():
            row = _metric_row(metric, pair, plan.alpha, plan.cuped == "decide")
            if metric.role == "guardrail":
                row.update(_guardrail(row, metric, plan.alpha))
            rows.append({"variant": candidate, **row})
        extra += [{"variant": candidate, **row} for row in _ordinal_rows(pair, plan.alpha)]
    frame = pd.DataFrame(rows)
    analysed_users = sum(engine.users)
    if plan.monitoring.kind == "always_valid":
        frame = always_valid_table(frame, plan, analysed_users)
    several = len(plan.candidates) > 1
    frame, monitoring = monitor(
        adjust_many_to_one(frame, plan) if several else adjust(frame, plan),
        plan,
        analysed_users,
        looks_file=looks_file,
        data_until=engine.last if until is None else until,
        recorded_looks=recorded_looks,
    )
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)
    frame["decision_p"] = decision_p_values(frame)
    hidden = frame  # with each row's var_control and df, which the candidate choice reads
    frame = frame.reindex(columns=TABLE_COLUMNS)
    leaks = [
        gate
        for row in frame.itertuples()
        if isinstance(row.covariate, str) and row.covariate
        for gate in [leak_gate(row.metric, row.covariate, float(row.variance_reduction))]
        if gate is not None
    ]
    health = dataclasses.replace(engine.health, checks=(*engine.health.checks, *leaks))
    if several:
        decision = with_monitoring(choose(hidden, health, plan), monitoring)
    else:
        decision = decide(frame, health, monitoring)
        if decision.verdict == "ship":
            decision = dataclasses.replace(decision, variant=plan.treatment)
    segments = segment_table(
        events,
        plan,
        hidden,
        table=table,
        until=until,
        pre_period=pre_period,
        users=users,
        spark=spark,
    )
    if novelty:
        exposure_effects, trends = novelty_tables(
            events, plan, hidden, engine.first, engine.last, until=until, table=table, spark=spark
        )
    else:
        exposure_effects, trends = (
            pd.DataFrame(columns=columns) for columns in (PERIOD_COLUMNS, TREND_COLUMNS)
        )
    decaying = trends[trends["decaying"].astype(bool)]
    for row in decaying.itertuples() if decision.verdict != "invalid" else ():
        decision = dataclasses.replace(
            decision,
            reasons=(
                *decision.reasons,
                f"Warning: the effect on {row.metric}"
                + (f" ({row.variant})" if several else "")
                + f" decays with exposure: {row.slope:+.4g} per {row.period_days}-day period "
                f"since a user's first dialog (p = {row.p_value:.2g}); a novelty effect may "
                "fade after the experiment.",
            ),
        )
    reversals = segments[segments["reversed"].astype(bool) & (segments["role"] == "primary")]
    if len(reversals) and decision.verdict != "invalid":
        flagged = "; ".join(
            f"{row.metric} in {row.column} = {row.segment}"
            + (f" ({row.variant})" if several else "")
            + f" ({row.effect:+.4g})"
            for row in reversals.itertuples()
        )
        decision = dataclasses.replace(
            decision,
            reasons=(
                *decision.reasons,
                f"Warning: the effect goes the other way in a declared segment: {flagged} "
                "(Benjamini–Hochberg level; see the segments).",
            ),
        )
    return AnalysisResult(
        frame, health, decision, plan, engine, monitoring, segments, exposure_effects, trends
    )


def analyze(
    events: pd.DataFrame | str | Path,
    *,
    plan: ExperimentPlan | str | Path | Mapping[str, Any] | None = None,
    split: float | None = None,
    metrics: Sequence[Metric] | None = None,
    control: str | None = None,
    treatment: str | None = None,
    alpha: float | None = None,
    correction: str | None = None,
    experiment: str | None = None,
    primary: str | None = None,
    column_map: Mapping[str, str] | None = None,
    table: str = "dialogs",
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
    looks_file: str | Path | None = None,
    until: Any = None,
    spark: Any = None,
    novelty: bool = True,
    cache: bool | str | Path = True,
) -> AnalysisResult:
    """Analyse an experiment's dialog log: health gates, one row per metric, and the decision.

    Args:
        events: a DataFrame, or a .parquet file or folder, a .csv file or a .duckdb database;
            all are validated and aggregated by the same engine (DuckDB by default). A
            ``pyspark.sql.DataFrame`` (or, with ``spark``, a Parquet path or a table name)
            runs the same SQL on Spark.
        plan: an :class:`~abkit.plan.experiment_plan.ExperimentPlan`, a plan YAML file or a
        mapping; the
            keyword arguments below override its settings (None leaves them).
        split: the planned treatment share of users, for the SRM gate.
        metrics: what to analyse; default: every default metric whose columns the log has.
        control, treatment: the variant labels to compare.
        alpha: significance level of each family; one-sided level of each guardrail.
        correction: over the primary metrics: "holm", "bonferroni", "bh" or "none".
        experiment: analyse only rows of this experiment (needed when the log holds several).
        primary: make this metric the primary one.
        column_map: your column name -> the dialog log's.
        table: the table name in a DuckDB database.
        pre_period: a pre-period dialog log (DataFrame or path) for metrics whose covariate
            is ``pre_period`` (CUPED); overrides the plan's ``pre_period_log``.
        users: a users table (``user_id``, ``measured_at``, covariate columns) for metrics
            whose covariate is one of its columns; overrides the plan's ``users_table``.
        looks_file: the looks of a group-sequential plan (``monitoring``), kept between
            analyses (JSON; created at the first look).
        until: analyse only rows with a timestamp up to this time (one look): ISO 8601 text,
            a date alone meaning through that day, as on the CLI and in notebook 03.
        spark: a SparkSession (:func:`abkit.analysis.spark_source.spark_session`) to run on Spark.
        novelty: also the effect by exposure period and its trend (one more pass over the log).
        cache: for a log that is a folder of Parquet parts, keep each part's statistics (the
            rollup, :mod:`abkit.analysis.rollup`) in this folder, or in the default cache
            folder (True; ``$ABKIT_CACHE_DIR``, else ``~/.cache/abkit``), so that a look reads
            only the parts added since the last; False scans the whole log. Same numbers.

    Returns:
        :class:`AnalysisResult`: ``table`` (columns :data:`TABLE_COLUMNS`), ``health``,
        ``decision``, and the resolved ``plan``.

    Raises:
        ValueError / LogValidationError / FileNotFoundError: bad parameters or a log that
            cannot be analysed, with the parameter, column or file named.
    """
    if isinstance(plan, ExperimentPlan):
        base = plan
    else:
        spec = plan_spec(plan)
        if split is None and "split" not in spec:
            raise ValueError(
                "split == None: the plan declares no split and none was given; give split= "
                "(--split: the planned treatment share of users, 0.2 for 80/20) or write split: "
                "in the plan. It is never assumed: the sample-ratio gate tests against it"
            )
        base = load_plan(spec)
    overrides = {
        "split": split,
        "control": control,
        "treatment": treatment,
        "alpha": alpha,
        "correction": correction,
        "experiment": experiment,
        "primary": primary,
        "column_map": dict(column_map) if column_map else None,
        "metrics": tuple(metrics) if metrics is not None else None,
    }
    if metrics is not None and not metrics:
        raise ValueError("metrics == [], nothing to analyse")
    merged = load_plan({**base.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})
    return analyze_plan(
        events,
        merged,
        table=table,
        until=until,
        pre_period=pre_period,
        users=users,
        looks_file=looks_file,
        spark=spark,
        novelty=novelty,
        cache=cache,
    )


CUMULATIVE_COLUMNS = [
    "day", "effect", "ci_low", "ci_high", "p_value", "se", "n_control", "n_treatment"
]  # fmt: skip


def cumulative_effects(
    events: pd.DataFrame | str | Path,
    plan: ExperimentPlan,
    metric: str,
    *,
    table: str = "dialogs",
    pre_period: pd.DataFrame | str | Path | None = None,
    users: pd.DataFrame | str | Path | None = None,
    candidate: str | None = None,
    cache: bool | str | Path = True,
    spark: Any = None,
) -> pd.DataFrame:
    """The metric's effect and CI on the data up to the end of each day.

    Columns (:data:`CUMULATIVE_COLUMNS`): day, effect, ci_low, ci_high, p_value, se, and the
    users of each arm. Looking at this every day and stopping at the first p < alpha inflates
    false positives: it is a picture, not a stopping rule.
    ``pre_period`` / ``users``: the covariate sources, as for :func:`analyze_plan`.
    ``candidate``: with several candidates, the one compared with the control (required
    then; every arm is still read, so users seen in two candidates stay left out).
    ``cache``: as for :func:`analyze` (a folder of parts: the looks read its rollup).
    ``spark``: a SparkSession to run every look on (a folder of parts: from Spark's rollup).
    """
    if candidate is None and len(plan.candidates) > 1:
        raise ValueError(
            f"candidate == None: the plan has {len(plan.candidates)} candidates "
            f"{list(plan.candidates)}; name the one to compare with {plan.control!r}"
        )
    candidate = candidate or plan.candidates[0]
    if candidate not in plan.candidates:
        raise ValueError(f"candidate == {candidate!r}, not one of {list(plan.candidates)}")

    sources = {"pre_period": pre_period, "users": users, "cache": cache}
    declared = DEFAULT_METRICS if plan.metrics is None else plan.metrics
    chosen = [m for m in declared if m.name == metric]
    if not chosen:
        raise ValueError(f"metric == {metric!r}, not in the plan: {[m.name for m in declared]}")
    single = dataclasses.replace(  # a picture of fixed-horizon estimates: takes no look
        plan,
        metrics=(dataclasses.replace(chosen[0], role="primary", margin=None),),
        primary="",
        monitoring=Monitoring(),
    )
    full = aggregate(events, single, table=table, spark=spark, **sources)  # checks, all rows
    first, last = pd.Timestamp(full.first).floor("D"), pd.Timestamp(full.last).floor("D")
    days = pd.date_range(first, last, freq="D")
    daily = None  # every look in one pass, where the metric allows (abkit.analysis.looks)
    if spark is None and days.tz is not None and str(days.tz) == "UTC":
        daily = aggregate_daily(
            events, single, [d.date() for d in days], table=table, share=plan, **sources
        )
    rows = []
    for day in days:
        end = day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        try:  # the rows up to a day: a subset of the log just checked whole
            look = (
                daily[day.date()]
                if daily is not None
                else aggregate(
                    events, single, table=table, until=end, validated=True, spark=spark, **sources
                )
            )
        except ValueError:
            continue  # an arm has no rows yet
        row = _metric_row(
            single.metrics[0], look.pair(candidate), single.alpha, single.cuped == "decide"
        )
        rows.append(
            {
                "day": day.tz_localize(None) if day.tzinfo else day,
                "effect": row["effect"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "p_value": row["p_value"] if math.isfinite(row["p_value"]) else math.nan,
                "se": row["se"],
                "n_control": row["n_control"],
                "n_treatment": row["n_treatment"],
            }
        )
    return pd.DataFrame(rows, columns=CUMULATIVE_COLUMNS)


# --------------------------------------------------------------------------- the seed's test


def ab_significance_test(
    control_outcomes: Sequence[float], treatment_outcomes: Sequence[float], alpha: float = 0.05
) -> dict[str, Any]:
    """The seed document's ``ab_significance_test``, kept as a labelled teaching baseline.

    A Student t-test with pooled variance (``scipy.stats.ttest_ind``) on the raw outcomes,
    treating every dialog as independent: wrong when users have several dialogs (see the A/A
    calibration). Unlike the seed, a control mean of 0 gives ``relative_lift_pct = nan`` with
    a note instead of a ZeroDivisionError.
    """
    from scipy import stats as sps

    control = np.asarray(control_outcomes, dtype=float)
    treatment = np.asarray(treatment_outcomes, dtype=float)
    if control.size < 2 or treatment.size < 2:
        raise ValueError("each arm needs at least 2 outcomes")
    t_stat, p_value = sps.ttest_ind(control, treatment)
    control_mean, treatment_mean = float(control.mean()), float(treatment.mean())
    result: dict[str, Any] = {
        "control_mean": control_mean,
        "treatment_mean": treatment_mean,
        "relative_lift_pct": (treatment_mean - control_mean) / abs(control_mean) * 100
        if control_mean != 0
        else math.nan,
        "p_value": float(p_value),
        "significant": bool(p_value < alpha),
        "sample_sizes": {"control": int(control.size), "treatment": int(treatment.size)},
        "method": "seed's t-test (pooled variance, dialogs treated as independent)",
    }
    if control_mean == 0:
        result["note"] = "control mean is 0: relative lift undefined"
    return result
