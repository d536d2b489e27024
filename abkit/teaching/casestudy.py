"""The seed's support-bot case study as data, recomputed, reconstructed and audited.

Published (``../shared/seed/``): Llama 3.1 8B fine-tuned v1 (control, 80 %) vs v2 (treatment,
20 %), 14 days, 6,200 vs 1,550 dialogs; task completion 71.3 % -> 78.9 % (p = 0.0012), CSAT
3.8 -> 4.1 (p = 0.034), escalation 28.7 % -> 21.1 % (p = 0.0008), average turns 3.2 -> 2.9
(p = 0.18), P95 latency 2.1 s -> 2.3 s ("+10 %"); "full rollout".

What can be checked from those numbers alone: each p-value against the stated n (two-proportion
z-test for rates; Welch t for means, which needs standard deviations the seed does not give, so
they are assumed and swept); the design effect (or SD) that would reconcile a published p-value
with the stated n; how the metrics relate; the decision against a rule stated up front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from abkit.core.formatting import format_p, p_phrase
from abkit.core.params import (
    check_choice,
    check_integer,
    check_number,
    check_probability,
    check_text,
)
from abkit.stats.two_sample import (
    MeanStats,
    adjust_p_values,
    two_proportion_z_test,
    welch_t_test_from_stats,
)

__all__ = [
    "CASE_STUDY_LOG",
    "CONSISTENT_RATIO",
    "PublishedMetric",
    "PublishedStudy",
    "SEED_CASE",
    "analysis_metrics",
    "audit",
    "findings",
    "implied_sd",
    "max_sd_on_scale",
    "metric_relations",
    "recompute",
    "reconstruct_dialogs",
    "sd_sweep",
]

CASE_STUDY_LOG = "case_study_dialogs.parquet"  # in data/: reconstruct_dialogs(SEED_CASE, seed=0)
CONSISTENT_RATIO = 3.0  # published and recomputed p within this factor: consistent


@dataclass(frozen=True)
class PublishedMetric:
    """One row of a published results table.

    Attributes:
        name: metric name.
        kind: "proportion" (a rate) or "mean".
        control, treatment: the published values (rates as shares, 0.713 for 71.3 %).
        published_p: the published p-value (None when not given).
        higher_is_better: direction.
        sd_control, sd_treatment: standard deviations, when published (means only).
        scale: (low, high) of a bounded scale such as CSAT 1-5, to bound the SD.
    """

    name: str
    kind: str
    control: float
    treatment: float
    published_p: float | None = None
    higher_is_better: bool = True
    sd_control: float | None = None
    sd_treatment: float | None = None
    scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_text("name", self.name)
        check_choice(f"{self.name}: kind", self.kind, ("proportion", "mean"))
        if self.kind == "proportion":
            check_probability(f"{self.name}: control", self.control)
            check_probability(f"{self.name}: treatment", self.treatment)
        else:
            check_number(f"{self.name}: control", self.control)
            check_number(f"{self.name}: treatment", self.treatment)
        if self.published_p is not None:
            check_number(
                f"{self.name}: published_p",
                self.published_p,
                low=0.0,
                high=1.0,
                high_inclusive=True,
            )
        for label in ("sd_control", "sd_treatment"):
            value = getattr(self, label)
            if value is not None:
                check_number(f"{self.name}: {label}", value, low=0.0)


@dataclass(frozen=True)
class PublishedStudy:
    """A published experiment: sizes, split, duration, the results table, the latency guardrail."""

    name: str
    n_control: int
    n_treatment: int
    split: float
    days: int
    metrics: tuple[PublishedMetric, ...]
    p95_latency_control_s: float | None = None
    p95_latency_treatment_s: float | None = None
    decision: str = ""
    claims: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_integer("n_control", self.n_control, minimum=2)
        check_integer("n_treatment", self.n_treatment, minimum=2)
        check_probability("split", self.split)
        check_integer("days", self.days, minimum=1)
        if not self.metrics:
            raise ValueError("metrics == (), give at least one published metric")

    def table(self) -> pd.DataFrame:
        """The published table: metric, control, treatment, published_p."""
        return pd.DataFrame(
            [
                {
                    "metric": m.name,
                    "control": m.control,
                    "treatment": m.treatment,
                    "published_p": m.published_p,
                }
                for m in self.metrics
            ]
        )


SEED_CASE = PublishedStudy(
    name="support bot: Llama 3.1 8B fine-tuned v1 vs v2",
    n_control=6200,
    n_treatment=1550,
    split=0.2,
    days=14,
    metrics=(
        PublishedMetric("task_completion", "proportion", 0.713, 0.789, 0.0012),
        PublishedMetric("csat", "mean", 3.8, 4.1, 0.034, scale=(1, 5)),
        PublishedMetric(
            "escalation_rate", "proportion", 0.287, 0.211, 0.0008, higher_is_better=False
        ),
        PublishedMetric("avg_turns", "mean", 3.2, 2.9, 0.18, higher_is_better=False),
    ),
    p95_latency_control_s=2.1,
    p95_latency_treatment_s=2.3,
    decision="full rollout",
    claims=(
        "v2 is statistically significantly better on three of four metrics",
        "P95 latency increase (+10%) is acceptable",
    ),
)


def max_sd_on_scale(mean: float, low: float, high: float) -> float:
    """Largest SD any distribution on [low, high] with this mean can have: sqrt((μ−a)(b−μ)).

    (Bhatia–Davis inequality, 2000.)
    """
    return math.sqrt(max((mean - low) * (high - mean), 0.0))


def _mean_stats(mean: float, sd: float, n: int) -> MeanStats:
    """MeanStats with the given mean and sample SD (Σx² from s² = (Σx² − n·x̄²)/(n − 1))."""
    return MeanStats(n, mean * n, sd**2 * (n - 1) + n * mean**2)


def _z_for_p(p: float) -> float:
    return float(sps.norm.isf(p / 2))


def recompute(metric: PublishedMetric, n_c: int, n_t: int, sd: float | None = None) -> dict:
    """The p-value the stated n implies, and the design effect that would give the published p.

    Rates: two-proportion z-test (pooled). Means: Welch t with ``sd`` (or the published SDs).
    implied_design_effect = (z_recomputed / z_published)²: the variance inflation (e.g. from
    several dialogs per user) under which the published p-value follows from the stated n.
    """
    if metric.kind == "proportion":
        k_c, k_t = round(metric.control * n_c), round(metric.treatment * n_t)
        test = two_proportion_z_test(k_c, n_c, k_t, n_t)
        z, method = abs(test.statistic), "two-proportion z-test (pooled), counts from rates"
    else:
        sd_c = metric.sd_control if metric.sd_control is not None else sd
        sd_t = metric.sd_treatment if metric.sd_treatment is not None else sd
        if sd_c is None or sd_t is None:
            raise ValueError(f"{metric.name}: a mean needs an SD (published or assumed)")
        test = welch_t_test_from_stats(
            _mean_stats(metric.control, sd_c, n_c), _mean_stats(metric.treatment, sd_t, n_t)
        )
        z, method = abs(float(sps.norm.isf(test.p_value / 2))), f"Welch t-test, SD {sd_c:g}"
    implied = math.nan
    if metric.published_p is not None and 0 < metric.published_p < 1:
        implied = (z / _z_for_p(metric.published_p)) ** 2
    return {
        "recomputed_p_value": test.p_value,
        "effect": test.estimate,
        "se": test.se,
        "implied_design_effect": implied,
        "method": method,
    }


def sd_sweep(metric: PublishedMetric, n_c: int, n_t: int, sds: Sequence[float]) -> pd.DataFrame:
    """Recomputed p-value and implied design effect of a mean over assumed SDs."""
    rows = [{"sd": sd, **recompute(metric, n_c, n_t, sd)} for sd in sds]
    return pd.DataFrame(rows)[["sd", "recomputed_p_value", "implied_design_effect"]]


def implied_sd(metric: PublishedMetric, n_c: int, n_t: int) -> float:
    """The common SD under which the published p-value follows from the stated n (normal)."""
    if metric.published_p is None:
        return math.nan
    se = abs(metric.treatment - metric.control) / _z_for_p(metric.published_p)
    return se / math.sqrt(1 / n_c + 1 / n_t)


def _verdict(metric: PublishedMetric, row: dict, study: PublishedStudy) -> str:
    published = metric.published_p
    if published is None:
        return "no published p-value to check"
    ratio = published / row["recomputed_p_value"] if row["recomputed_p_value"] > 0 else math.inf
    if 1 / CONSISTENT_RATIO <= ratio <= CONSISTENT_RATIO:
        return "consistent with the stated n"
    if ratio > CONSISTENT_RATIO:
        text = (
            f"published p is {ratio:.3g} times larger than the stated n implies; it fits a "
            f"design effect of {row['implied_design_effect']:.2f} (effective n = n / DE)"
        )
        if metric.kind == "mean":
            sd_needed = implied_sd(metric, study.n_control, study.n_treatment)
            text += f", or an SD of {sd_needed:.2f} with independent dialogs"
            if metric.scale is not None:
                bound = max_sd_on_scale(metric.control, *metric.scale)
                if sd_needed > bound:
                    text += (
                        f", which no distribution on {metric.scale[0]:g}-{metric.scale[1]:g} "
                        f"with mean {metric.control:g} can have (max {bound:.2f})"
                    )
        return text
    return (
        f"published p is {1 / ratio:.3g} times smaller than the stated n implies "
        "(more precise than the data allow)"
    )


def audit(study: PublishedStudy, *, assumed_sd: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per published metric: published and recomputed p, implied design effect, verdict.

    Means without a published SD use ``assumed_sd[name]`` (stated in the row's method).
    """
    assumed = assumed_sd or {}
    rows = []
    for metric in study.metrics:
        sd = assumed.get(metric.name)
        if metric.kind == "mean" and sd is None and metric.sd_control is None:
            raise ValueError(f"assumed_sd needs a value for {metric.name!r} (no SD published)")
        row = recompute(metric, study.n_control, study.n_treatment, sd)
        rows.append(
            {
                "metric": metric.name,
                "control": metric.control,
                "treatment": metric.treatment,
                "published_p_value": metric.published_p,
                **row,
                "verdict": _verdict(metric, row, study),
            }
        )
    return pd.DataFrame(rows)


def reconstruct_dialogs(
    study: PublishedStudy,
    *,
    csat_sd: float = 1.0,
    turns_sd: float = 2.0,
    latency_sigma: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    """A dialog-level log consistent with the published summary (one dialog per user).

    Rates are reproduced exactly as counts (round(rate × n)); escalation is every dialog that
    was not completed when the two published rates add up to 100 %. CSAT (1-5) and turns
    (whole numbers >= 1) get the published means exactly up to rounding; latency is lognormal
    with its empirical P95 equal to the published one. Shuffled with ``seed``.
    """
    rng = np.random.default_rng(seed)
    published = {m.name: m for m in study.metrics}
    frames = []
    for variant, n in (("control", study.n_control), ("treatment", study.n_treatment)):
        side = {name: getattr(metric, variant) for name, metric in published.items()}
        frame = pd.DataFrame({"variant": variant}, index=range(n))
        if "task_completion" in side:
            frame["completed"] = _exact_flags(side["task_completion"], n, rng)
        if "escalation_rate" in side:
            if "task_completion" in side and math.isclose(
                side["escalation_rate"] + side["task_completion"], 1.0, abs_tol=1e-9
            ):
                frame["escalated"] = 1 - frame["completed"]
            else:
                frame["escalated"] = _exact_flags(side["escalation_rate"], n, rng)
        if "csat" in side:
            frame["csat"] = _integers_with_mean(side["csat"], csat_sd, n, 1, 5, rng)
        if "avg_turns" in side:
            frame["turns"] = _integers_with_mean(side["avg_turns"], turns_sd, n, 1, 30, rng)
        target = (
            study.p95_latency_control_s if variant == "control" else study.p95_latency_treatment_s
        )
        if target is not None:
            draws = np.exp(rng.normal(0, latency_sigma, n))
            frame["latency_ms"] = (
                draws / np.quantile(draws, 0.95, method="inverted_cdf") * (target * 1000)
            )
        frames.append(frame)
    dialogs = pd.concat(frames, ignore_index=True)
    dialogs = dialogs.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    dialogs.insert(0, "dialog_id", [f"d{i}" for i in range(len(dialogs))])
    dialogs.insert(1, "user_id", [f"u{i}" for i in range(len(dialogs))])
    start = pd.Timestamp("2026-01-05", tz="UTC")
    offsets = rng.random(len(dialogs)) * study.days * 86_400
    dialogs.insert(3, "timestamp", start + pd.to_timedelta(np.round(offsets), "s"))
    return dialogs


def _exact_flags(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    flags = np.zeros(n, dtype=np.int64)
    flags[: round(rate * n)] = 1
    return rng.permutation(flags)


def _integers_with_mean(
    mean: float, sd: float, n: int, low: int, high: int, rng: np.random.Generator
) -> np.ndarray:
    """Whole numbers in [low, high] whose mean equals ``mean`` to the nearest 1/n."""
    values = np.clip(np.rint(rng.normal(mean, sd, n)), low, high).astype(np.int64)
    target = round(mean * n)
    # nudge single values up or down by one until the total matches
    while values.sum() != target:
        step = 1 if values.sum() < target else -1
        movable = np.flatnonzero((values < high) if step > 0 else (values > low))
        if movable.size == 0:
            raise ValueError(f"mean {mean} cannot be reached within [{low}, {high}]")
        values[rng.choice(movable)] += step
    return values


def analysis_metrics(columns: Sequence[str], *, latency_margin: float) -> list:
    """The default metrics for a reconstructed log, with the P95 latency margin stated up front."""
    from dataclasses import replace

    from abkit.plan.metrics import default_metrics

    return [
        replace(metric, margin=latency_margin) if metric.name == "latency_p95" else metric
        for metric in default_metrics(columns)
    ]


def metric_relations(study: PublishedStudy) -> list[str]:
    """Plain statements on how the published metrics relate and what the claims amount to."""
    notes = []
    by_name = {metric.name: metric for metric in study.metrics}
    completion, escalation = by_name.get("task_completion"), by_name.get("escalation_rate")
    if completion and escalation:
        for arm in ("control", "treatment"):
            total = getattr(completion, arm) + getattr(escalation, arm)
            notes.append(f"{arm}: completion + escalation = {total:.1%}")
        if all(
            math.isclose(getattr(completion, a) + getattr(escalation, a), 1.0, abs_tol=1e-9)
            for a in ("control", "treatment")
        ):
            notes.append(
                "escalation is exactly the complement of completion (completion is "
                "defined as solved without escalation, and every unsolved dialog was "
                "escalated): the two 'significant' rows are one finding, not two"
            )
    published = [m for m in study.metrics if m.published_p is not None]
    raw = sum(m.published_p < 0.05 for m in published)  # type: ignore[operator]
    adjusted = adjust_p_values([m.published_p for m in published], "holm")
    notes.append(
        f"{raw} of {len(published)} published p-values are below 0.05; after Holm's "
        f"correction for {len(published)} tests: {int((adjusted < 0.05).sum())} "
        f"({', '.join(f'{m.name} {a:.3g}' for m, a in zip(published, adjusted, strict=True))})"
    )
    return notes


def _independent_reading(row: Any, study: PublishedStudy) -> str:
    """What the audit row says about the published p-value, in a sentence."""
    published = row.published_p_value
    if published is None or not math.isfinite(published):
        return "no p-value was published, so there is nothing to check"
    n = f"{study.n_control:,} vs {study.n_treatment:,} independent dialogs"
    recomputed = p_phrase(row.recomputed_p_value)
    ratio = published / row.recomputed_p_value if row.recomputed_p_value > 0 else math.inf
    if 1 / CONSISTENT_RATIO <= ratio <= CONSISTENT_RATIO:
        return f"the published p = {format_p(published)} is what {n} give ({recomputed})"
    if ratio < 1:
        return (
            f"the published p = {format_p(published)} is smaller than {n} can give "
            f"({recomputed}): more precise than the data allow"
        )
    effective = (study.n_control + study.n_treatment) / row.implied_design_effect
    return (
        f"{n} give {recomputed}, not the published {format_p(published)}; the published "
        f"value fits a design effect of {row.implied_design_effect:.2f}, i.e. about "
        f"{effective:,.0f} independent units in all, as if several dialogs per user were "
        "correlated (users are not reported)"
    )


def findings(
    study: PublishedStudy, audit_table: pd.DataFrame, result: Any, *, latency_margin: float
) -> list[str]:
    """What holds up, as Markdown bullets generated from the audited table and the analysis of
    its reconstruction (``result``: :class:`abkit.analysis.results.AnalysisResult`): every number,
    name and verdict in them comes from the parameters, none is written in the notebook."""
    by_name = {metric.name: metric for metric in study.metrics}
    bullets = []
    for row in audit_table.itertuples():
        metric = by_name[row.metric]
        if metric.kind == "proportion":
            change = (
                f"{metric.control:.1%} → {metric.treatment:.1%} "
                f"({(metric.treatment - metric.control) * 100:+.1f} points)"
            )
        else:
            change = f"{metric.control:g} → {metric.treatment:g}"
        text = f"**{row.metric}** {change}: {_independent_reading(row, study)}"
        if metric.kind == "mean":
            source = "published" if metric.sd_control is not None else "assumed"
            text += f" ({source} SD: {row.method.split('SD ')[-1]})"
            needed = implied_sd(metric, study.n_control, study.n_treatment)
            if metric.scale is not None and needed > max_sd_on_scale(metric.control, *metric.scale):
                low, high = metric.scale
                text += (
                    f"; with independent dialogs it would need an SD of {needed:.2f}, more than "
                    f"any distribution on {low:g}–{high:g} with mean {metric.control:g} can have "
                    f"(at most {max_sd_on_scale(metric.control, low, high):.2f})"
                )
        bullets.append(text + ".")
    relations = metric_relations(study)
    if any("complement" in note for note in relations):  # the per-arm sums say the same
        relations = [note for note in relations if "completion + escalation =" not in note]
    bullets += [f"{note[0].upper()}{note[1:]}." for note in relations]
    table = result.table.set_index("metric")
    if "latency_p95" in table.index:
        p95 = table.loc["latency_p95"]
        status = {
            "pass": "shown to be within the margin",
            "breach": "worse than the margin",
            "inconclusive": "not shown to be within the margin",
            "no data": "not testable",
        }.get(p95["guardrail"], p95["guardrail"])
        bullets.append(
            f"**P95 latency** {p95['control']:,.0f} → {p95['treatment']:,.0f} ms "
            f"({p95['relative_effect']:+.1%}; 95 % CI {p95['relative_ci_low']:+.1%} to "
            f"{p95['relative_ci_high']:+.1%}) against a margin of +{latency_margin:.0%} stated "
            f"up front: {status}, with {study.n_treatment:,} treatment dialogs."
        )
    bullets.append(
        f"Under the rule stated up front the reconstruction's decision is "
        f'**{result.decision.verdict}**; the study reports "{study.decision}" '
        "(the reconstruction has one dialog per user, the most favourable reading)."
    )
    return bullets
