"""Figures from abkit's tidy tables (seaborn / matplotlib). Imports nothing else of abkit.

Each function takes a tidy DataFrame as the module that made it documents, draws on a new
figure (or a given ``ax``) and returns the ``Axes``; the notebook calls ``plt.show()``.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

__all__ = [
    "audit_plot",
    "cumulative_effect_plot",
    "cuped_plot",
    "forest_plot",
    "latency_plot",
    "mde_duration_plot",
    "power_curve_plot",
    "ramp_plot",
    "srm_plot",
    "traffic_plot",
]


def _axes(ax: Axes | None, size: tuple[float, float] = (7.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    _, new_ax = plt.subplots(figsize=size)
    return new_ax


def power_curve_plot(
    curve: pd.DataFrame,
    *,
    target_power: float,
    required_n: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Power against total sample size, one line per method.

    Args:
        curve: columns method, n_total, power (``abkit.design.planning.power_curve``).
        target_power: drawn as a horizontal reference line.
        required_n: the design's n, drawn as a vertical line when given.
    """
    ax = _axes(ax)
    sns.lineplot(data=curve, x="n_total", y="power", hue="method", ax=ax)
    ax.axhline(
        target_power,
        color="grey",
        linestyle="--",
        linewidth=1,
        label=f"target power {target_power:.0%}",
    )
    if required_n is not None:
        ax.axvline(
            required_n,
            color="black",
            linestyle=":",
            linewidth=1,
            label=f"required n = {required_n:,.0f}",
        )
    ax.set(
        xlabel="total units in the experiment (both arms)",
        ylabel="power",
        ylim=(0, 1.02),
        title="Power against sample size",
    )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(loc="lower right")
    return ax


def mde_duration_plot(
    by_days: pd.DataFrame, *, target_mde: float | None = None, ax: Axes | None = None
) -> Axes:
    """Smallest detectable relative effect after each day of the experiment.

    Args:
        by_days: columns days, relative_mde (``abkit.design.planning.mde_by_duration``).
        target_mde: the relative MDE the experiment aims at, drawn as a horizontal line.
    """
    ax = _axes(ax)
    sns.lineplot(data=by_days, x="days", y="relative_mde", marker="o", ax=ax)
    if target_mde is not None:
        ax.axhline(
            target_mde,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"target MDE {target_mde:.1%}",
        )
        ax.legend(loc="upper right")
    ax.set(
        xlabel="days running",
        ylabel="detectable lift (relative to baseline)",
        title="Minimum detectable effect against duration",
        ylim=(0, None),
    )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    return ax


def srm_plot(tables: dict[str, pd.DataFrame], *, ax: Axes | None = None) -> Axes:
    """Observed against planned share of units per variant, one group of bars per log.

    Args:
        tables: label -> ``SrmResult.table`` (columns variant, observed_share, expected_share).
    """
    ax = _axes(ax)
    frames = [table.assign(log=label) for label, table in tables.items()]
    data = pd.concat(frames, ignore_index=True)
    sns.barplot(data=data, x="variant", y="observed_share", hue="log", ax=ax)
    for variant, planned in data.groupby("variant", sort=False)["expected_share"].first().items():
        position = list(data["variant"].unique()).index(variant)
        ax.hlines(
            planned,
            position - 0.4,
            position + 0.4,
            color="black",
            linestyle="--",
            linewidth=1.5,
            label="planned" if position == 0 else None,
        )
    ax.set(xlabel="", ylabel="share of users", title="Observed split against the plan")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(loc="upper right")
    return ax


def ramp_plot(switches: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Users who changed arm at each ramp step, per design.

    A design with no switch at any step gets no bars and no legend entry (an entry for bars
    of height 0 draws nothing); it is named in a note under the title instead.

    Args:
        switches: columns design, step ("5% -> 20%"), switched.
    """
    ax = _axes(ax)
    totals = switches.groupby("design", sort=False)["switched"].sum()
    quiet = [str(design) for design, total in totals.items() if total == 0]
    moving = switches[~switches["design"].astype(str).isin(quiet)]
    if len(moving):
        sns.barplot(data=moving, x="step", y="switched", hue="design", ax=ax)
    title = "Arm switches during a ramp"
    if quiet:
        title += f"\n(no user changed arm under: {', '.join(quiet)})"
    ax.set(xlabel="ramp step", ylabel="users who changed arm", title=title)
    return ax


def traffic_plot(daily: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Dialogs per day per variant.

    Args:
        daily: columns day, variant, dialogs.
    """
    ax = _axes(ax)
    sns.lineplot(data=daily, x="day", y="dialogs", hue="variant", marker="o", ax=ax)
    ax.set(xlabel="day", ylabel="dialogs", title="Traffic over time", ylim=(0, None))
    ax.tick_params(axis="x", rotation=30)
    return ax


_ROLE_TITLES = {
    "primary": "Primary: the decision rests on these",
    "guardrail": "Guardrails: may not be worse than the margin (bar)",
    "secondary": "Secondary: reported, not decisive",
    "monitor": "Monitors: reported only",
}
# better / worse / not significant: the memo's colours too
VERDICT_COLOURS = {"better": "#1a7f37", "worse": "#cf222e", "unclear": "#6e7781"}


def _effect_colour(row: pd.Series) -> str:
    if not row["significant"]:
        return VERDICT_COLOURS["unclear"]
    return VERDICT_COLOURS["better" if row["improved"] else "worse"]


def _margin_bound(row: pd.Series) -> float:
    """A guardrail's margin on the relative scale, on the worse side (NaN when none)."""
    if row["role"] != "guardrail" or not np.isfinite(row["margin"]) or not row["control"]:
        return float("nan")
    bound = row["margin"] / abs(row["control"])
    return -bound if row["higher_is_better"] else bound


def _stacked_axes(
    sizes: list[int], *, row: float, panel: float, margin: float, title_rows: float
) -> tuple[Any, np.ndarray]:
    """Panels stacked in one column, each as tall as its rows (``row`` inches each, plus
    ``panel`` per panel and ``margin``), a panel's title counting as ``title_rows`` rows."""
    fig, axes = plt.subplots(
        len(sizes),
        1,
        figsize=(6.8, row * sum(sizes) + panel * len(sizes) + margin),
        gridspec_kw={"height_ratios": [size + title_rows for size in sizes]},
        squeeze=False,
    )
    return fig, axes[:, 0]


def forest_plot(results: pd.DataFrame) -> np.ndarray:
    """Relative effect of each metric with its confidence interval, one panel per role.

    Each panel has its own scale, chosen to show its intervals and (for guardrails) the margins
    in full, so a wide guardrail margin never squeezes the primary effect into a dot. Green:
    significantly better; red: significantly worse; grey: not significant (adjusted p where
    the role has a correction).

    Args:
        results: the analysis table (columns metric, role, relative_effect, relative_ci_low,
            relative_ci_high, higher_is_better, significant, improved, margin, control). Rows
            without a relative effect (NaN) are left out; rank-test check rows too.

    Returns:
        The array of Axes, one per role present (primary, guardrail, secondary, monitor).
    """
    shown = results[(results["role"] != "check") & results["relative_effect"].notna()]
    roles = [role for role in _ROLE_TITLES if (shown["role"] == role).any()]
    if not roles:
        fig, ax = plt.subplots(figsize=(7.5, 1.5))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no metric with a relative effect", ha="center", va="center")
        return np.array([ax])
    counts = [int((shown["role"] == role).sum()) for role in roles]
    fig, axes = _stacked_axes(counts, row=0.28, panel=0.6, margin=0.5, title_rows=0.9)
    for ax, role in zip(axes, roles, strict=True):
        rows = shown[shown["role"] == role].iloc[::-1].reset_index(drop=True)
        reach = [0.0]
        for position, row in rows.iterrows():
            low, high = row["relative_ci_low"], row["relative_ci_high"]
            colour = _effect_colour(row)
            ax.errorbar(
                row["relative_effect"],
                position,
                xerr=[[row["relative_effect"] - low], [high - row["relative_effect"]]],
                fmt="o",
                color=colour,
                capsize=3,
            )
            reach += [value for value in (low, high) if np.isfinite(value)]
            bound = _margin_bound(row)
            if np.isfinite(bound):
                ax.plot([bound] * 2, [position - 0.35, position + 0.35], color="black", lw=2.5)
                reach.append(bound)
        span = max(reach) - min(reach) or 0.01
        ax.set_xlim(min(reach) - 0.08 * span, max(reach) + 0.08 * span)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.axvline(0, color="black", linewidth=0.8)
        labels = [
            f"{m} ({'higher' if h else 'lower'} is better)"
            for m, h in zip(rows["metric"], rows["higher_is_better"], strict=True)
        ]
        if "variant" in rows and rows["variant"].nunique() > 1:  # A/B/n: say which candidate
            labels = [
                f"{label}: {variant}"
                for label, variant in zip(labels, rows["variant"], strict=True)
            ]
        ax.set_yticks(range(len(rows)), labels)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))  # labels never crowd
        ax.set_title(_ROLE_TITLES[role], loc="left", fontsize="medium")
        ax.grid(axis="x", color="0.9")
    several = "variant" in shown and shown["variant"].nunique() > 1
    axes[-1].set_xlabel(
        f"relative effect vs control ({'each candidate' if several else 'treatment'}), 95 % CI"
        "\n(green: better, red: worse, grey: not significant)"
    )
    fig.tight_layout()
    return axes


def latency_plot(
    log: pd.DataFrame, *, column: str = "latency_ms", unit: str = "ms", ax: Axes | None = None
) -> Axes:
    """Latency distribution per arm (log scale, ticks at 1-2-5 steps in ``unit``) with its
    P50 / P95 / P99 marked; the legend sits outside the data.

    Each arm's density is a histogram over 60 bins of equal width in log10 of the value
    (area 1 per arm), binned with numpy: millions of dialogs draw in about a second. The
    quantile lines are the arm's inverted-CDF quantiles over every value; values <= 0, which
    a log axis cannot show, are left out of the histogram and counted in the title.
    """
    ax = _axes(ax, (8.0, 4.0))
    data = log[["variant", column]].dropna()
    arms = sorted(pd.unique(data["variant"]).tolist(), key=str)
    palette = dict(zip(arms, sns.color_palette(), strict=False))
    values = {arm: data.loc[data["variant"] == arm, column].to_numpy(float) for arm in arms}
    positive = np.concatenate([v[v > 0] for v in values.values()] or [np.empty(0)])
    hidden = sum(int((v <= 0).sum()) for v in values.values())
    if positive.size:
        low, high = np.log10(positive.min()), np.log10(positive.max())
        edges = np.logspace(low, high if high > low else low + 1, 61)
        widths = np.diff(np.log10(edges))
        for arm in arms:
            shown = values[arm][values[arm] > 0]
            counts, _ = np.histogram(shown, bins=edges)
            density = counts / (max(shown.size, 1) * widths)
            ax.stairs(density, edges, color=palette[arm], label=str(arm), linewidth=1.2)
            ax.stairs(density, edges, color=palette[arm], alpha=0.2, fill=True)
    for arm in arms:
        if not values[arm].size:
            continue
        levels = list(_QUANTILE_STYLES)
        marks = np.quantile(values[arm], levels, method="inverted_cdf")
        for level, mark in zip(levels, marks, strict=True):
            ax.axvline(mark, linestyle=_QUANTILE_STYLES[level], color=palette[arm], linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:.4g}")
    )
    ax.xaxis.set_minor_formatter(NullFormatter())
    title = "Latency per arm"
    if hidden:
        title += f" ({hidden:,} value(s) <= 0 not shown on the log axis)"
    ax.set(
        xlabel=f"{column} ({f'{unit}, ' if unit else ''}log scale); lines: P50 dotted, P95 "
        "dashed, P99 dash-dot",
        ylabel="density (per log10 unit)",
        title=title,
    )
    if arms:
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


_QUANTILE_STYLES = {0.5: ":", 0.95: "--", 0.99: "-."}


def cumulative_effect_plot(
    cumulative: pd.DataFrame, *, metric: str, ax: Axes | None = None
) -> Axes:
    """Effect and CI of one metric on the data up to each day.

    Args:
        cumulative: columns day, effect, ci_low, ci_high.
    """
    ax = _axes(ax)
    ax.plot(cumulative["day"], cumulative["effect"], marker="o")
    ax.fill_between(cumulative["day"], cumulative["ci_low"], cumulative["ci_high"], alpha=0.25)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(
        xlabel="day",
        ylabel=f"{metric}: treatment − control",
        title=f"Cumulative effect on {metric} (not a stopping rule)",
    )
    ax.tick_params(axis="x", rotation=30)
    return ax


def cuped_plot(cuped: pd.DataFrame) -> np.ndarray:
    """Each adjusted metric's effect and 95 % CI without and with CUPED, one panel per metric.

    Args:
        cuped: :meth:`abkit.analysis.results.AnalysisResult.cuped_table` (columns metric, covariate,
            unadjusted_* and cuped_* effect / ci_low / ci_high, variance_reduction).

    Returns:
        The array of Axes (one per metric; empty figure text when there is none).
    """
    count = max(len(cuped), 1)
    fig, axes = plt.subplots(count, 1, figsize=(7.5, 1.1 * count + 0.9), squeeze=False)
    axes = axes[:, 0]
    if cuped.empty:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no metric declares a covariate", ha="center", va="center")
        return axes
    for ax, row in zip(axes, cuped.itertuples(), strict=True):
        gain = row.variance_reduction
        cuped_label = f"CUPED (variance −{gain:.0%})" if gain >= 0.005 else "CUPED (no gain)"
        for position, (kind, colour, label) in enumerate(
            (("unadjusted", "0.55", "unadjusted"), ("cuped", "tab:blue", cuped_label))
        ):
            effect = getattr(row, f"{kind}_effect")
            low, high = getattr(row, f"{kind}_ci_low"), getattr(row, f"{kind}_ci_high")
            ax.errorbar(
                effect,
                position,
                xerr=[[effect - low], [high - effect]],
                fmt="o",
                color=colour,
                capsize=3,
            )
            ax.annotate(
                label,
                (high, position),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                color=colour,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks([0.5], [f"{row.metric}\n({row.covariate})"])
        ax.set_ylim(-0.7, 1.7)
        ax.margins(x=0.35)
    axes[-1].set_xlabel("effect, treatment − control, in each metric's unit (95 % CI)")
    axes[0].set_title("Unadjusted and CUPED estimates")
    fig.tight_layout()
    return axes


def audit_plot(audit: pd.DataFrame, *, consistent_ratio: float = 3.0) -> np.ndarray:
    """An audited table at a glance: published against recomputed p-values (log scales, the
    band where they agree within ``consistent_ratio``) and the design effect each published
    p-value implies (1 = independent dialogs).

    Args:
        audit: :func:`abkit.teaching.casestudy.audit` (columns metric, published_p_value,
            recomputed_p_value, implied_design_effect).
    """
    rows = audit.dropna(subset=["published_p_value"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    if rows.empty:
        for ax in (left, right):
            ax.set_axis_off()
        left.text(0.5, 0.5, "no published p-value to compare", ha="center", va="center")
        return np.array([left, right])
    published = rows["published_p_value"].to_numpy(float)
    recomputed = np.clip(rows["recomputed_p_value"].to_numpy(float), 1e-300, 1)
    low = 10 ** np.floor(np.log10(min(published.min(), recomputed.min())))
    line = np.array([low, 1.0])
    left.fill_between(line, line / consistent_ratio, line * consistent_ratio, color="0.82")
    left.plot(line, line, color="0.5", linewidth=0.8)
    palette = sns.color_palette(n_colors=len(rows))
    logs = np.log10(np.column_stack([recomputed, published]))
    for k, (name, colour) in enumerate(zip(rows["metric"], palette, strict=True)):
        left.scatter(recomputed[k], published[k], color=colour, zorder=3)
        # labels of points within half a decade of an earlier one go below its label
        crowd = int((np.abs(logs[:k] - logs[k]).max(axis=1, initial=0) < 0.5).sum()) if k else 0
        left.annotate(
            name,
            (recomputed[k], published[k]),
            xytext=(6, -10 - 11 * crowd),
            textcoords="offset points",
            fontsize="small",
            color=colour,
        )
    left.set(
        xscale="log",
        yscale="log",
        xlim=(low, 1.5),
        ylim=(low, 1.5),
        xlabel="p recomputed from the stated n",
        ylabel="p published",
        title=f"Published vs recomputed p (grey band: within x{consistent_ratio:g})",
    )
    effects = rows["implied_design_effect"].to_numpy(float)
    right.barh(rows["metric"], np.where(np.isfinite(effects), effects, 0), color=palette)
    right.axvline(1, color="black", linewidth=0.8)
    right.invert_yaxis()
    right.set(
        xlabel="implied design effect (1: dialogs independent)",
        title="Variance inflation each published p implies",
    )
    fig.tight_layout()
    return np.array([left, right])


def judge_preference_plot(
    preferences: pd.DataFrame,
    *,
    interval: str = "bootstrap",
    top: int = 25,
    ax: Axes | None = None,
) -> Axes:
    """Each system's probability of beating an average system (one of strength zero), raw
    Bradley–Terry with its 95 % ``interval`` beside the length-controlled fit when there is one:
    the gap is what the judge's taste for length added
    (:func:`abkit.judging.findings.preference_table`). A leaderboard longer than ``top`` shows
    its ``top`` strongest systems, and the title says so."""
    shown = preferences.nlargest(top, "strength") if len(preferences) > top else preferences
    height = 1.6 + (0.8 if len(shown) <= 8 else 0.32) * len(shown)
    ax = _axes(ax, (7.0, height))
    order = list(shown.sort_values("win_probability")["system"])
    y = shown["system"].map({name: k for k, name in enumerate(order)}).to_numpy(float)
    p = shown["win_probability"]
    error = np.vstack([p - shown["win_ci_low"], shown["win_ci_high"] - p])
    controlled = shown["controlled_win_probability"].notna().all()
    offset = 0.12 if controlled else 0.0
    label = f"raw (the judge's verdicts), 95 % {interval} interval"
    ax.errorbar(p, y + offset, xerr=error, fmt="o", color="#0969da", capsize=4, label=label)
    if controlled:
        fair = shown["controlled_win_probability"]
        label = "at equal length (length-controlled)"
        ax.scatter(fair, y - offset, marker="D", color="#bf8700", zorder=3, label=label)
    ax.axvline(0.5, color="0.5", linewidth=0.8)
    ax.set_yticks(range(len(order)), order)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    title = "Who does the judge prefer?"
    if len(shown) < len(preferences):
        title += f" (the {len(shown)} strongest of {len(preferences)} systems)"
    ax.set(xlabel="probability of being preferred to an average system", title=title)
    below = -0.3 if len(shown) <= 8 else -0.75 / height  # under the x label, in axes units
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, below), frameon=False)
    return ax


def judge_intervals_plot(
    table: pd.DataFrame, *, truth: float | None = None, ax: Axes | None = None
) -> Axes:
    """The difference between arms three ways
    (:meth:`abkit.analysis.results.AnalysisResult.judged_table`
    rows with quantity ``difference``): judge only, prediction-powered, human labels only, with
    their intervals; ``truth`` (known in a simulation) as a dashed line."""
    rows = table[table["quantity"] == "difference"].reset_index(drop=True)
    ax = _axes(ax, (7.0, 0.9 + 0.7 * len(rows)))
    colours = {"judge only": "#cf222e", "prediction-powered": "#1a7f37"}
    for k, row in rows.iterrows():
        colour = colours.get(row["estimator"], "#6e7781")
        ax.errorbar(
            row["estimate"],
            k,
            xerr=[[row["estimate"] - row["ci_low"]], [row["ci_high"] - row["estimate"]]],
            fmt="o",
            color=colour,
            capsize=4,
        )
    ax.axvline(0, color="0.5", linewidth=0.8)
    if truth is not None:
        ax.axvline(truth, color="black", linestyle="--", linewidth=1, label=f"truth {truth:+.3g}")
        ax.legend(loc="lower right", frameon=False)
    ax.set_yticks(range(len(rows)), rows["estimator"])
    ax.invert_yaxis()
    ax.set(
        xlabel="treatment − control (human scale)",
        title="The effect three ways: judge alone, judge + labels (PPI), labels alone",
    )
    return ax


def segment_plot(segments: pd.DataFrame) -> np.ndarray:
    """Each segment's effect with its 95 % CI, one panel per metric (and candidate), segments
    of one column together: red where the effect goes the other way from the whole
    experiment at the Benjamini–Hochberg level (``reversed``), dark where it is significant,
    grey otherwise.

    Args:
        segments: rows of :func:`abkit.analysis.segments.segment_table` (columns column,
            segment, variant, metric, effect, ci_low, ci_high, p_adjusted, reversed,
            n_control, n_treatment).
    """
    several = segments["variant"].nunique() > 1
    panels = list(segments.groupby(["metric", "variant"], sort=False))
    sizes = [len(rows) for _, rows in panels]
    fig, axes = _stacked_axes(sizes, row=0.32, panel=0.7, margin=0.3, title_rows=1.0)
    for ax, ((metric, variant), rows) in zip(axes, panels, strict=True):
        rows = rows.iloc[::-1].reset_index(drop=True)
        for position, row in rows.iterrows():
            colour = (
                "#cf222e"
                if row["reversed"]
                else "#1f2328"
                if row["p_adjusted"] < 0.05
                else "#8c959f"
            )
            ax.errorbar(
                row["effect"],
                position,
                xerr=[[row["effect"] - row["ci_low"]], [row["ci_high"] - row["effect"]]],
                fmt="o",
                color=colour,
                capsize=3,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        labels = [
            f"{c} = {s} ({nc:,} / {nt:,})"
            for c, s, nc, nt in zip(
                rows["column"], rows["segment"], rows["n_control"], rows["n_treatment"], strict=True
            )
        ]
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_title(
            f"{metric}" + (f", {variant}" if several else ""), loc="left", fontsize="medium"
        )
        ax.grid(axis="x", color="0.9")
    axes[-1].set_xlabel(
        "effect in the segment with 95 % CI (users control / treatment); red: the other way "
        "from the whole experiment"
    )
    fig.tight_layout()
    return axes


def exposure_plot(periods: pd.DataFrame, trends: pd.DataFrame) -> np.ndarray:
    """Each primary metric's effect by time since the user's first exposure (95 % CI per
    period), with its weighted trend line: does the effect last? Red when the trend is a decay
    (:mod:`abkit.analysis.novelty`).

    Args:
        periods, trends: :attr:`abkit.analysis.results.AnalysisResult.exposure_effects` and
            ``novelty``.
    """
    panels = list(periods.groupby(["metric", "variant"], sort=False))
    several = periods["variant"].nunique() > 1
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.8, 2.6 * len(panels)), squeeze=False)
    axes = axes[:, 0]
    for ax, ((metric, variant), rows) in zip(axes, panels, strict=True):
        trend = trends[(trends["metric"] == metric) & (trends["variant"] == variant)].iloc[0]
        colour = "#cf222e" if trend["decaying"] else "#1f2328"
        days = int(trend["period_days"])
        ax.errorbar(
            rows["first_day"],
            rows["effect"],
            yerr=[rows["effect"] - rows["ci_low"], rows["ci_high"] - rows["effect"]],
            fmt="o",
            color=colour,
            capsize=3,
        )
        se = (rows["ci_high"] - rows["ci_low"]).to_numpy() / 2
        weights = 1 / np.where(se > 0, se, np.nan) ** 2
        index = rows["period"].to_numpy(float)
        if np.isfinite(trend["slope"]) and np.nansum(weights) > 0:
            centre = np.nansum(weights * index) / np.nansum(weights)
            level = np.nansum(weights * rows["effect"].to_numpy()) / np.nansum(weights)
            line = level + trend["slope"] * (index - centre)
            ax.plot(rows["first_day"], line, "--", color=colour, linewidth=1)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(
            f"{metric}" + (f", {variant}" if several else "") + f": trend {trend['slope']:+.3g} "
            f"per {days} days (p = {trend['p_value']:.2g})"
            + (" — decaying" if trend["decaying"] else ""),
            loc="left",
            fontsize="medium",
        )
        ax.set_xticks(rows["first_day"], [f"day {d}–{d + days - 1}" for d in rows["first_day"]])
        ax.grid(axis="y", color="0.9")
    axes[-1].set_xlabel("days since the user's first dialog; effect with 95 % CI")
    fig.tight_layout()
    return axes
