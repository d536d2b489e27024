"""From a dialog log to a results table and a ship decision.

dialog log -> per-user aggregates -> per-variant sufficient statistics -> tests -> table.

- Aggregation (:mod:`abkit.aggregate`): pandas for a DataFrame, DuckDB for a Parquet / CSV
  file or a DuckDB table; both give the same numbers (tested).
- The user is the randomization unit: dialog-level metrics are ratios over users (delta
  method), quantiles get cluster-adjusted variances.
- Holm or Benjamini–Hochberg across the success metrics (primary and secondary); one-sided
  non-inferiority tests for guardrails; the SRM gate first; then the decision rule: ship iff a
  primary metric improves significantly, every guardrail passes and there is no SRM
  (Spotify's rule, arXiv 2402.11609).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from abkit.aggregate import ArmStatistics, arm_statistics, file_columns, log_variants
from abkit.metrics import Metric, default_metrics
from abkit.params import check_choice, check_number, check_text
from abkit.routing import SrmResult, srm_check
from abkit.stats import (
    TestResult,
    adjust_p_values,
    clustered_quantile_se,
    delta_method_ratio,
    fisher_exact_test,
    mann_whitney_test,
    non_inferiority_p_value,
    quantile_difference,
    ratio_difference_test,
    relative_lift,
    two_proportion_z_test,
    welch_t_test,
    welch_t_test_from_stats,
)

__all__ = [
    "AnalysisResult",
    "ArmStatistics",
    "Decision",
    "ab_significance_test",
    "analyze",
    "arm_statistics",
    "fisher_exact_test",
    "mann_whitney_test",
    "two_proportion_z_test",
    "welch_t_test",
]

Correction = Literal["holm", "bh", "none"]
Verdict = Literal["ship", "don't ship", "keep running", "invalid"]
# Columns of AnalysisResult.table, in order.
TABLE_COLUMNS = [
    "metric",
    "role",
    "kind",
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
    "se",
    "note",
]
# Fisher's exact test replaces the z-test when an expected cell count is below this.
_FISHER_BELOW = 5


# --------------------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class Decision:
    """The verdict and why: ship, don't ship, keep running, or invalid (SRM)."""

    verdict: Verdict
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.verdict.upper()}: " + " ".join(self.reasons)


@dataclass(frozen=True)
class AnalysisResult:
    """The results table (one row per metric), the SRM check and the decision."""

    table: pd.DataFrame
    srm: SrmResult
    decision: Decision
    control: str
    treatment: str
    alpha: float
    correction: str

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    def seed_table(self) -> pd.DataFrame:
        """The seed document's columns: metric, control, treatment, p-value, significant."""
        return self.table[["metric", "control", "treatment", "p_value", "significant"]].copy()

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
            + shown.to_html(index=False)
        )


def _relative(
    test: TestResult, var_c: float, var_t: float, df: float, alpha: float
) -> tuple[float, float, float, str]:
    """Relative effect and CI, or NaNs with the reason."""
    if test.control == 0 or not math.isfinite(test.control):
        return math.nan, math.nan, math.nan, "relative effect undefined: control value is 0"
    lift = relative_lift(test.control, var_c, test.treatment, var_t, df=df, alpha=alpha)
    return lift.estimate, lift.ci_low, lift.ci_high, ""


def _metric_row(metric: Metric, c: ArmStatistics, t: ArmStatistics, alpha: float) -> dict[str, Any]:
    note = ""
    if metric.kind == "ratio":
        rc, rt = c.ratios[metric.name], t.ratios[metric.name]
        test = ratio_difference_test(rc, rt, alpha=alpha)
        var_c, var_t, df = delta_method_ratio(rc)[1], delta_method_ratio(rt)[1], math.inf
        n_c, n_t = rc.n, rt.n
        if rc.sum_x == 0 or rt.sum_x == 0:
            note = f"no data: the denominator of {metric.name} is 0 in an arm (all missing?)"
    elif metric.kind == "user_proportion":
        (k_c, n_c), (k_t, n_t) = c.user_counts[metric.name], t.user_counts[metric.name]
        pooled = (k_c + k_t) / (n_c + n_t) if n_c + n_t else 0
        expected_min = min(n_c, n_t) * min(pooled, 1 - pooled)
        chooser = fisher_exact_test if expected_min < _FISHER_BELOW else two_proportion_z_test
        test = chooser(k_c, n_c, k_t, n_t, alpha=alpha)
        var_c = test.control * (1 - test.control) / n_c if n_c else math.nan
        var_t = test.treatment * (1 - test.treatment) / n_t if n_t else math.nan
        df = math.inf
    elif metric.kind == "user_mean":
        mc, mt = c.user_means[metric.name], t.user_means[metric.name]
        test = welch_t_test_from_stats(mc, mt, alpha=alpha)
        var_c, var_t, df, n_c, n_t = mc.variance / mc.n, mt.variance / mt.n, test.df, mc.n, mt.n
    else:
        (order_c, ind_c), (order_t, ind_t) = c.quantiles[metric.name], t.quantiles[metric.name]
        se_c, se_t = clustered_quantile_se(order_c, ind_c), clustered_quantile_se(order_t, ind_t)
        test = quantile_difference((order_c.estimate, se_c), (order_t.estimate, se_t), alpha=alpha)
        var_c, var_t, df, n_c, n_t = se_c**2, se_t**2, math.inf, ind_c.n, ind_t.n
        if not (math.isfinite(se_c) and math.isfinite(se_t)):
            note = (
                f"too few values for a P{metric.quantile * 100:g} variance "
                f"(needs more than {4 * metric.quantile / (1 - metric.quantile):.0f})"
            )
    if not note and not test.se > 0:
        note = "zero variance in both arms: no test possible"
    relative, rel_low, rel_high, rel_note = _relative(test, var_c, var_t, df, alpha)
    return {
        "metric": metric.name,
        "role": metric.role,
        "kind": metric.kind,
        "higher_is_better": metric.higher_is_better,
        "control": test.control,
        "treatment": test.treatment,
        "effect": test.estimate,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "relative_effect": relative,
        "relative_ci_low": rel_low,
        "relative_ci_high": rel_high,
        "p_value": test.p_value,
        "se": test.se,
        "method": test.method,
        "n_control": n_c,
        "n_treatment": n_t,
        "note": "; ".join(x for x in (note, rel_note) if x),
    }


def _guardrail(row: dict[str, Any], metric: Metric, alpha: float) -> dict[str, Any]:
    assert metric.margin is not None
    margin = metric.margin * abs(row["control"]) if metric.relative_margin else metric.margin
    p_ni = non_inferiority_p_value(
        row["effect"], row["se"], margin, higher_is_better=metric.higher_is_better
    )
    harm = -row["effect"] if metric.higher_is_better else row["effect"]
    if not math.isfinite(p_ni):
        status = "no data"
    elif p_ni < alpha:
        status = "pass"
    elif harm > margin:
        status = "breach"
    else:
        status = "inconclusive"
    return {"margin": margin, "non_inferiority_p": p_ni, "guardrail": status}


def _decide(table: pd.DataFrame, srm: SrmResult, alpha: float) -> Decision:
    if srm.mismatch:
        return Decision(
            "invalid",
            (srm.verdict + ". Fix the assignment or logging first; no metric is interpreted.",),
        )
    reasons = []
    primary = table[table["role"] == "primary"]
    guards = table[table["role"] == "guardrail"]
    wins = primary[primary["significant"] & primary["improved"]]
    losses = primary[primary["significant"] & ~primary["improved"]]
    breaches = guards[guards["guardrail"] == "breach"]
    unsure = guards[guards["guardrail"].isin(["inconclusive", "no data"])]
    for row in wins.itertuples():
        reasons.append(
            f"{row.metric} improved significantly ({row.control:.4g} -> "
            f"{row.treatment:.4g}, adjusted p = {row.p_adjusted:.2g})."
        )
    for row in losses.itertuples():
        reasons.append(
            f"{row.metric} got significantly worse ({row.control:.4g} -> {row.treatment:.4g})."
        )
    for row in breaches.itertuples():
        reasons.append(
            f"guardrail {row.metric} breached: {row.control:.4g} -> "
            f"{row.treatment:.4g}, worse than the allowed margin {row.margin:.4g}."
        )
    for row in unsure.itertuples():
        reasons.append(
            f"guardrail {row.metric} not yet shown within its margin "
            f"(non-inferiority p = {row.non_inferiority_p:.2g})."
        )
    if len(losses) or len(breaches):
        return Decision("don't ship", tuple(reasons))
    if len(wins) and not len(unsure):
        passed = ", ".join(guards["metric"]) or "none defined"
        return Decision("ship", (*reasons, f"All guardrails passed ({passed}); no SRM."))
    if not len(wins):
        reasons.insert(0, "No primary metric improved significantly yet.")
    return Decision("keep running", tuple(reasons))


def analyze(
    events: pd.DataFrame | str | Path,
    *,
    split: float,
    metrics: Sequence[Metric] | None = None,
    control: str = "control",
    treatment: str = "treatment",
    alpha: float = 0.05,
    correction: Correction = "holm",
    table: str = "dialogs",
    column_map: Mapping[str, str] | None = None,
) -> AnalysisResult:
    """Analyse an experiment's dialog log: SRM, one row per metric, and the decision.

    Args:
        events: a DataFrame (aggregated with pandas), or a .parquet / .csv file or a .duckdb
            database (aggregated in DuckDB).
        split: the planned treatment share of users, for the SRM check.
        metrics: what to analyse; default: every default metric whose columns the log has.
        control, treatment: the variant labels to compare.
        alpha: significance level; also the guardrails' one-sided level.
        correction: "holm" (family-wise), "bh" (false discovery rate) or "none", applied across
            the primary and secondary metrics.
        table: the table name in a DuckDB database.
        column_map: your column name -> the schema's, for a DataFrame with other names.

    Returns:
        :class:`AnalysisResult`; its ``table`` has columns metric, role, kind, control,
        treatment, effect, ci_low, ci_high, relative_effect, relative_ci_low, relative_ci_high,
        p_value, p_adjusted, significant, improved, method, n_control, n_treatment (users),
        margin, non_inferiority_p, guardrail, note.

    Raises:
        ValueError / LogValidationError: bad parameters, unknown variant labels, an empty arm,
            a missing column or a log that fails validation.
    """
    check_number("split", split, low=0.0, high=1.0)
    check_number("alpha", alpha, low=0.0, high=0.5)
    check_choice("correction", correction, ("holm", "bh", "none"))
    check_text("control", control)
    check_text("treatment", treatment)
    if control == treatment:
        raise ValueError(f"control == treatment == {control!r}, compare two different variants")
    labels = log_variants(events, table, column_map)
    for name, label in (("control", control), ("treatment", treatment)):
        if label not in labels:
            raise ValueError(
                f"{name} == {label!r}: no rows with that variant label; the log has {labels}"
            )
    if metrics is None:
        columns = (
            events.rename(columns=dict(column_map or {})).columns
            if isinstance(events, pd.DataFrame)
            else file_columns(events, table)
        )
        metrics = default_metrics(columns)
    if not metrics:
        raise ValueError("metrics == [], nothing to analyse")
    arms = arm_statistics(
        events, metrics, [control, treatment], table=table, alpha=alpha, column_map=column_map
    )
    srm = srm_check(
        {control: arms[control].users, treatment: arms[treatment].users},
        {control: 1 - split, treatment: split},
    )
    rows = []
    for metric in metrics:
        row = _metric_row(metric, arms[control], arms[treatment], alpha)
        row.update({"margin": math.nan, "non_inferiority_p": math.nan, "guardrail": ""})
        if metric.role == "guardrail":
            row.update(_guardrail(row, metric, alpha))
        rows.append(row)
    result = pd.DataFrame(rows)
    family = result["role"].isin(["primary", "secondary"]).to_numpy()
    adjusted = np.full(len(result), np.nan)
    adjusted[family] = adjust_p_values(result.loc[family, "p_value"].to_numpy(), correction)
    result["p_adjusted"] = np.where(family, adjusted, result["p_value"])
    result["significant"] = result["p_adjusted"] < alpha
    sign = np.where(result["higher_is_better"], 1.0, -1.0)
    result["improved"] = result["effect"] * sign > 0
    result = _add_ordinal_checks(result, metrics, arms[control], arms[treatment], alpha)
    result = result[TABLE_COLUMNS]
    return AnalysisResult(
        result, srm, _decide(result, srm, alpha), control, treatment, alpha, correction
    )


def _add_ordinal_checks(
    table: pd.DataFrame, metrics: Sequence[Metric], c: ArmStatistics, t: ArmStatistics, alpha: float
) -> pd.DataFrame:
    """A Mann–Whitney row under each ordinal metric (per-user means; role "check")."""
    rows = []
    for metric in metrics:
        if not metric.ordinal:
            continue
        values_c = c.ordinal_user_means.get(metric.name, np.array([]))
        values_t = t.ordinal_user_means.get(metric.name, np.array([]))
        if values_c.size == 0 or values_t.size == 0:
            continue
        test = mann_whitney_test(values_c, values_t)
        rows.append(
            {
                "metric": f"{metric.name} (rank test)",
                "role": "check",
                "kind": "ordinal",
                "higher_is_better": metric.higher_is_better,
                "control": test.control,
                "treatment": test.treatment,
                "effect": test.estimate,
                "p_value": test.p_value,
                "p_adjusted": test.p_value,
                "significant": test.p_value < alpha,
                "improved": test.estimate * (1 if metric.higher_is_better else -1) > 0,
                "method": "Mann-Whitney U on per-user means",
                "n_control": values_c.size,
                "n_treatment": values_t.size,
                "guardrail": "",
                "note": "cross-check of the delta-method row above; not in the decision",
            }
        )
    if not rows:
        return table
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True)


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
        "relative_lift_pct": (treatment_mean - control_mean) / control_mean * 100
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
