"""A/B/n: several candidates, each compared with one shared control, and the choice among them.

The family (declared by the plan before the data are seen, and stated in the memo):

- **primary** metrics (fixed horizon): for each primary, Dunnett's single-step adjustment over the k
  candidates (:func:`abkit.stats.many_to_one.dunnett_adjust`: the candidates' statistics are
  jointly normal, correlated through the shared control; multivariate t with the smallest
  Welch df for a per-user mean): the row's ``p_dunnett``, and ``ci_low`` / ``ci_high`` become
  the simultaneous intervals. Across m primaries the plan's ``correction`` then runs over
  primaries × candidates: ``bonferroni`` and ``holm`` multiply the Dunnett p by m (each
  primary is one Dunnett family; Holm's step-down over a two-way family would need a closed
  test, so with several candidates the kit takes Bonferroni's valid bound, equal to Holm for
  one primary); ``bh`` runs Benjamini–Hochberg over all primary × candidate Dunnett p-values;
  ``none`` keeps the Dunnett p.
  Monitored sequentially, Bonferroni over the candidates instead (Dunnett's correlation is not
  carried across looks): group-sequential boundaries spend α/(m·k) per comparison
  (:attr:`abkit.plan.experiment_plan.ExperimentPlan.sequential_alpha`), always-valid sequences
  hold α/k, and the always-valid p is multiplied by k (then by m as above).
- **secondary** metrics: ``secondary_correction`` over all secondary × candidate rows.
- **guardrails**: each candidate's one-sided non-inferiority test at α, as with two arms.
- **monitors**: reported, unadjusted.

Each candidate's verdict is the two-arm rule (:func:`abkit.analysis.decision.decide_fixed`)
on its rows. The experiment's decision (:func:`choose`): invalid when a health gate fails; ship
when at least one candidate passes, naming one by the plan's ``choice`` rule (default
``best_on_first_primary``: the best estimate on the first primary among those that pass, with a
z-test of it against the runner-up, which shares the control:
Var(D_a − D_b) = se_a² + se_b² − 2·Cov, Cov = Var(control)); otherwise keep running if a
candidate may still pass, else don't ship.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from abkit.analysis.decision import Decision, decide_fixed
from abkit.analysis.health import HealthReport
from abkit.core.formatting import p_phrase
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.stats.many_to_one import dunnett_adjust
from abkit.stats.two_sample import adjust_p_values

__all__ = ["adjust_many_to_one", "choose", "separation_test"]


def _dunnett_df(dfs: pd.Series) -> float:
    """The family's degrees of freedom: the smallest finite df of its rows, rounded down
    (mvtnorm's integer df; conservative), else inf (normal)."""
    finite = [float(d) for d in dfs if isinstance(d, int | float) and math.isfinite(d)]
    return float(math.floor(min(finite))) if finite else math.inf


def adjust_many_to_one(table: pd.DataFrame, plan: ExperimentPlan) -> pd.DataFrame:
    """``p_adjusted``, ``significant``, ``improved`` and the primaries' simultaneous intervals
    for a table with one row per (candidate, metric); needs the hidden columns ``var_control``
    (the control estimate's variance) and ``df`` of each row.

    Examples:
        >>> plan = ExperimentPlan(treatment=("v1", "v2"),
        ...                       split={"control": 0.5, "v1": 0.25, "v2": 0.25})
        >>> rows = pd.DataFrame({"variant": ["v1", "v2"], "role": "primary",
        ...     "effect": [0.3, 0.1], "se": [0.1, 0.1], "var_control": 0.005,
        ...     "df": float("inf"), "p_value": [0.0027, 0.3173], "ci_low": 0.0, "ci_high": 0.0,
        ...     "higher_is_better": True, "metric": "m", "method": "z"})
        >>> adjust_many_to_one(rows, plan)["p_adjusted"].round(4).tolist()
        [0.0052, 0.502]
    """
    out = table.copy()
    out["p_dunnett"] = math.nan
    primaries = out["role"] == "primary"
    # always-valid p-values are not z-tests: Bonferroni over the candidates (the sequences are
    # at α/k already, abkit.analysis.monitoring.always_valid_table)
    groups = (
        []
        if plan.monitoring.kind == "always_valid"
        else out[primaries].groupby("metric", sort=False)
    )
    for _, rows in groups:
        family = dunnett_adjust(
            rows["effect"].to_numpy(float),
            rows["se"].to_numpy(float),
            rows["var_control"].to_numpy(float),
            alpha=plan.alpha,
            df=_dunnett_df(rows["df"]),
        )
        out.loc[rows.index, "p_dunnett"] = family.p_adjusted
        out.loc[rows.index, "ci_low"] = family.ci_low
        out.loc[rows.index, "ci_high"] = family.ci_high
        out.loc[rows.index, "method"] = rows["method"] + (
            f"; Dunnett over {len(rows)} candidates (simultaneous CI, critical "
            f"{family.critical:.3f})"
        )
    adjusted = out["p_value"].to_numpy(float).copy()
    if primaries.any():
        dunnett = out.loc[primaries, "p_dunnett"].to_numpy(float)
        if plan.monitoring.kind == "always_valid":
            dunnett = np.minimum(
                out.loc[primaries, "p_value"].to_numpy(float) * len(plan.candidates), 1.0
            )
        n_primary = out.loc[primaries, "metric"].nunique()
        if plan.correction in ("holm", "bonferroni"):
            adjusted[primaries.to_numpy()] = np.minimum(dunnett * n_primary, 1.0)
        elif plan.correction == "bh":
            adjusted[primaries.to_numpy()] = adjust_p_values(dunnett, "bh")
        else:
            adjusted[primaries.to_numpy()] = dunnett
    secondaries = (out["role"] == "secondary").to_numpy()
    if secondaries.any():
        adjusted[secondaries] = adjust_p_values(
            out.loc[secondaries, "p_value"].to_numpy(float), plan.secondary_correction
        )
    out["p_adjusted"] = adjusted
    out["significant"] = out["p_adjusted"] < plan.alpha
    sign = np.where(out["higher_is_better"].astype(bool), 1.0, -1.0)
    out["improved"] = out["effect"].to_numpy(float) * sign > 0
    return out


def separation_test(best: Any, runner_up: Any) -> tuple[float, float, float]:
    """Candidate a against candidate b on one metric, both measured against the same control:
    (difference D_a − D_b, its standard error, two-sided p), the shared control's variance
    taken out: Var = se_a² + se_b² − 2·√(Var_C,a · Var_C,b) (the two comparisons' control
    variances differ only through CUPED's per-pair coefficients).

    >>> from types import SimpleNamespace as Row
    >>> a = Row(effect=0.3, se=0.1, var_control=0.005)
    >>> b = Row(effect=0.1, se=0.1, var_control=0.005)
    >>> [round(x, 4) for x in separation_test(a, b)]
    [0.2, 0.1, 0.0455]
    """
    difference = float(best.effect - runner_up.effect)
    shared = math.sqrt(max(best.var_control, 0.0) * max(runner_up.var_control, 0.0))
    variance = best.se**2 + runner_up.se**2 - 2 * shared
    se = math.sqrt(variance) if variance > 0 else math.nan
    p_value = float(2 * norm.sf(abs(difference) / se)) if se > 0 else math.nan
    return difference, se, p_value


def choose(table: pd.DataFrame, health: HealthReport, plan: ExperimentPlan) -> Decision:
    """The experiment's decision over its candidates (see the module docstring)."""
    verdicts = {
        candidate: decide_fixed(table[table["variant"] == candidate], health)
        for candidate in plan.candidates
    }
    by_variant = tuple((c, d.verdict) for c, d in verdicts.items())
    if health.failed:
        decision = next(iter(verdicts.values()))
        return Decision("invalid", decision.reasons, "", by_variant)
    warnings = tuple(f"Warning: {c.gate}: {c.detail}." for c in health.warnings)

    def said(candidate: str) -> list[str]:
        return [
            f"{candidate}: {reason}"
            for reason in verdicts[candidate].reasons
            if not reason.startswith("Warning: ")
        ]

    passing = [c for c, d in verdicts.items() if d.verdict == "ship"]
    method = (
        "adjusted with Dunnett's many-to-one method"
        if plan.monitoring.kind == "fixed"
        else f"at α/{len(plan.candidates)} per candidate (Bonferroni, as the looks are sequential)"
    )
    family = (
        f"Family: {len(plan.candidates)} candidates against {plan.control}; each primary "
        f"{method}"
        + (f", then {plan.correction} over the primaries" if plan.n_primary > 1 else "")
        + "."
    )
    if not passing:
        waiting = [c for c, d in verdicts.items() if d.verdict == "keep running"]
        reasons = [reason for candidate in plan.candidates for reason in said(candidate)]
        verdict = "keep running" if waiting else "don't ship"
        head = (
            f"No candidate passes yet ({', '.join(waiting)} may with more data)."
            if waiting
            else "No candidate passes: each has a primary that got worse or a guardrail breached."
        )
        return Decision(verdict, (head, *reasons, family, *warnings), "", by_variant)
    primary = table[table["role"] == "primary"]
    first = primary["metric"].iloc[0]
    on_first = primary[primary["metric"] == first].set_index("variant")
    if plan.choice == "first_listed" or len(passing) == 1:
        chosen = passing[0]
        why = (
            f"{chosen} is the only candidate that passes."
            if len(passing) == 1
            else f"{chosen} is the first passing candidate in the plan's order (choice: "
            "first_listed)."
        )
    else:
        sign = 1.0 if bool(on_first["higher_is_better"].iloc[0]) else -1.0
        ranked = sorted(passing, key=lambda c: -sign * float(on_first.loc[c, "effect"]))
        chosen, runner_up = ranked[0], ranked[1]
        difference, se, p_value = separation_test(on_first.loc[chosen], on_first.loc[runner_up])
        if p_value < plan.alpha:
            why = (
                f"{chosen} is the best of the {len(passing)} passing candidates on {first}, and "
                f"significantly better than the runner-up {runner_up} (difference "
                f"{difference:+.4g}, {p_phrase(p_value, 'p')}, unadjusted)."
            )
        else:
            why = (
                f"{chosen} has the best estimate on {first} among the {len(passing)} passing "
                f"candidates, but the data cannot separate it from {runner_up} (difference "
                f"{difference:+.4g}, {p_phrase(p_value, 'p')}): either can ship; choose on cost "
                "or latency, or run longer to separate them."
            )
    others = [reason for c in plan.candidates if c != chosen for reason in said(c)]
    reasons = (f"Ship {chosen}. {why}", *said(chosen), *others, family, *warnings)
    return Decision("ship", reasons, chosen, by_variant)
