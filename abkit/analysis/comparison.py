"""One comparison, control against one candidate: each metric's results row from the engine's
per-arm sums (its kind's test, CUPED where declared, the relative effect), a guardrail's margin
test, and the rank-test check row under an ordinal metric. :mod:`abkit.analysis.results`
assembles these rows into the results table, one set per candidate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from abkit.analysis.capping import CAP_SOURCE_KEY
from abkit.analysis.engine import EngineResult
from abkit.analysis.metric_kinds import KINDS
from abkit.plan.metrics import Metric
from abkit.stats.cuped import CupedResult, Moments, cuped_test
from abkit.stats.two_sample import mann_whitney_test, non_inferiority_p_value, relative_lift

__all__ = ["GuardrailStatus", "guardrail_row", "metric_row", "ordinal_rows"]

GuardrailStatus = Literal["pass", "inconclusive", "breach", "no data", ""]


def _moments(sums: Mapping[str, float], size: int) -> Moments:
    """The CUPED components' moments of one arm from the engine's ``cuped_*`` sums."""
    return Moments.from_aggregates(
        {key[len("cuped_") :]: v for key, v in sums.items() if key.startswith("cuped_")}, size
    )


def _cuped(metric: Metric, engine: EngineResult, alpha: float, method: str) -> CupedResult:
    layout = engine.cuped[metric.name]
    size = 1 + max(max(v.numerator, v.denominator or 0) for v in (layout.value, *layout.covariates))
    control, treatment = (_moments(arm, size) for arm in engine.sums[metric.name])
    return cuped_test(
        control,
        treatment,
        layout.value,
        layout.covariates,
        alpha=alpha,
        welch=layout.welch,
        method=f"{method}, CUPED",
    )


def metric_row(
    metric: Metric, engine: EngineResult, alpha: float, use_cuped: bool = True
) -> dict[str, Any]:
    control, treatment = engine.sums[metric.name]
    estimate = KINDS[metric.kind].estimate(metric, control, treatment, alpha, engine.context)
    test, note = estimate.test, estimate.note
    adjusted = None
    if metric.name in engine.cuped:
        adjusted = _cuped(metric, engine, alpha, test.method)
    raw = test
    if adjusted is not None and use_cuped:
        # the arms' own values stay unadjusted (what the metric was); effect, CI, p adjusted
        test = dataclasses.replace(adjusted.test, control=raw.control, treatment=raw.treatment)
    if not note and not test.se > 0:
        users = (int(control.get("n") or 0), int(treatment.get("n") or 0))
        note = (
            f"too few users for a variance ({users[0]} control, {users[1]} treatment): no test "
            "possible"
            if min(users) < 2 and "n" in control
            else "zero variance in both arms: no test possible"
        )
    if metric.cap is not None:  # the estimand changed: say so, with the users it touched
        counts = [int(arm.get("capped") or 0) for arm in (control, treatment)]
        source = engine.context.get(CAP_SOURCE_KEY + metric.name, "all users' sums")
        capped = (
            f"estimand: per-user sums {metric.cap.describe()} of {source}; users "
            f"capped: {counts[0]:,} control, {counts[1]:,} treatment"
        )
        note = "; ".join(x for x in (capped, note) if x)
    relative = (math.nan,) * 3
    if test.control == 0 or not math.isfinite(test.control):
        note = "; ".join(x for x in (note, "relative effect undefined: control value is 0") if x)
    elif adjusted is not None and use_cuped:
        lift = adjusted.relative
        relative = (lift.estimate, lift.ci_low, lift.ci_high)
    else:
        df = test.df if metric.kind == "user_mean" else math.inf
        lift = relative_lift(
            test.control,
            estimate.var_control,
            test.treatment,
            estimate.var_treatment,
            df=df,
            alpha=alpha,
        )
        relative = (lift.estimate, lift.ci_low, lift.ci_high)
    return {
        "metric": metric.name,
        "role": metric.role,
        "kind": metric.kind,
        "unit": metric.unit,
        "higher_is_better": metric.higher_is_better,
        "control": test.control,
        "treatment": test.treatment,
        "effect": test.estimate,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "relative_effect": relative[0],
        "relative_ci_low": relative[1],
        "relative_ci_high": relative[2],
        "p_value": test.p_value,
        "se": test.se,
        "method": test.method,
        "n_control": estimate.n_control,
        "n_treatment": estimate.n_treatment,
        "margin": math.nan,
        "non_inferiority_p": math.nan,
        "guardrail": "",
        "note": note,
        **_cuped_columns(metric, raw, adjusted),
        # for the many-to-one family (abkit.analysis.candidates); not table columns
        "var_control": adjusted.var_control
        if adjusted is not None and use_cuped
        else estimate.var_control,
        "df": test.df,
    }


def _cuped_columns(metric: Metric, raw: Any, adjusted: CupedResult | None) -> dict[str, Any]:
    """The unadjusted and CUPED estimates side by side, for a metric with a covariate."""
    if adjusted is None:
        return {"covariate": ""}
    cuped = adjusted.test
    reduction = 1 - cuped.se**2 / raw.se**2 if raw.se > 0 else math.nan
    return {
        "covariate": metric.covariate,
        "variance_reduction": reduction,
        "unadjusted_effect": raw.estimate,
        "unadjusted_ci_low": raw.ci_low,
        "unadjusted_ci_high": raw.ci_high,
        "unadjusted_p_value": raw.p_value,
        "cuped_effect": cuped.estimate,
        "cuped_ci_low": cuped.ci_low,
        "cuped_ci_high": cuped.ci_high,
        "cuped_p_value": cuped.p_value,
    }


def guardrail_row(row: dict[str, Any], metric: Metric, alpha: float) -> dict[str, Any]:
    assert metric.margin is not None
    margin = metric.margin * abs(row["control"]) if metric.relative_margin else metric.margin
    p_ni = non_inferiority_p_value(
        row["effect"], row["se"], margin, higher_is_better=metric.higher_is_better
    )
    harm = -row["effect"] if metric.higher_is_better else row["effect"]
    status: GuardrailStatus
    if not math.isfinite(p_ni):
        status = "no data"
    elif p_ni < alpha:
        status = "pass"
    elif harm > margin:
        status = "breach"
    else:
        status = "inconclusive"
    return {"margin": margin, "non_inferiority_p": p_ni, "guardrail": status}


def ordinal_rows(engine: EngineResult, alpha: float) -> list[dict[str, Any]]:
    """A Mann–Whitney row under each ordinal metric (per-user means; role "check")."""
    rows = []
    for metric in engine.plan.metrics or ():
        values = engine.ordinal.get(metric.name)
        if values is None or values[0].size == 0 or values[1].size == 0:
            continue
        test = mann_whitney_test(*values)
        rows.append(
            {
                "metric": f"{metric.name} (rank test)",
                "role": "check",
                "kind": "ordinal",
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "control": test.control,
                "treatment": test.treatment,
                "effect": test.estimate,
                "p_value": test.p_value,
                "p_adjusted": test.p_value,
                "significant": test.p_value < alpha,
                "improved": test.estimate * (1 if metric.higher_is_better else -1) > 0,
                "method": "Mann-Whitney U on per-user means",
                "n_control": values[0].size,
                "n_treatment": values[1].size,
                "guardrail": "",
                "note": "cross-check of the delta-method row above; not in the decision",
            }
        )
    return rows
