"""Figures from abkit's tidy tables (seaborn / matplotlib). Imports nothing else of abkit.

Each function takes a tidy DataFrame as the module that made it documents, draws on a new
figure (or a given ``ax``) and returns the ``Axes``; the notebook calls ``plt.show()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter, PercentFormatter

__all__ = [
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
        curve: columns method, n_total, power (``abkit.planning.power_curve``).
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
        by_days: columns days, relative_mde (``abkit.planning.mde_by_duration``).
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

    Args:
        switches: columns design, step ("5% -> 20%"), switched.
    """
    ax = _axes(ax)
    sns.barplot(data=switches, x="step", y="switched", hue="design", ax=ax)
    ax.set(xlabel="ramp step", ylabel="users who changed arm", title="Arm switches during a ramp")
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


_ROLE_COLOURS = {
    "primary": "#1f77b4",
    "secondary": "#7f7f7f",
    "guardrail": "#d62728",
    "monitor": "#bcbd22",
}


def forest_plot(results: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Relative effect of each metric with its confidence interval; guardrail margins drawn.

    Args:
        results: the analysis table (columns metric, role, relative_effect, relative_ci_low,
            relative_ci_high, higher_is_better, margin, control). Rows without a relative
            effect (NaN) are left out; rank-test check rows too.
    """
    rows = results[(results["role"] != "check") & results["relative_effect"].notna()]
    rows = rows.iloc[::-1].reset_index(drop=True)
    ax = _axes(ax, (7.5, 0.45 * len(rows) + 1.5))
    for position, row in rows.iterrows():
        colour = _ROLE_COLOURS.get(row["role"], "black")
        ax.errorbar(
            row["relative_effect"],
            position,
            xerr=[
                [row["relative_effect"] - row["relative_ci_low"]],
                [row["relative_ci_high"] - row["relative_effect"]],
            ],
            fmt="o",
            color=colour,
            capsize=3,
        )
        if row["role"] == "guardrail" and np.isfinite(row["margin"]) and row["control"]:
            bound = row["margin"] / abs(row["control"])
            bound = -bound if row["higher_is_better"] else bound
            ax.plot([bound, bound], [position - 0.35, position + 0.35], color=colour, linewidth=2.5)
    ax.axvline(0, color="black", linewidth=0.8)
    labels = [
        f"{m} ({'higher' if h else 'lower'} is better)"
        for m, h in zip(rows["metric"], rows["higher_is_better"], strict=True)
    ]
    ax.set_yticks(range(len(rows)), labels)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(
        xlabel="relative effect, treatment vs control (95 % CI)",
        title="Effects by metric (bars at guardrails: allowed margin)",
    )
    handles = [
        plt.Line2D([], [], color=c, marker="o", linestyle="", label=r)
        for r, c in _ROLE_COLOURS.items()
        if r in set(rows["role"])
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    return ax


def latency_plot(log: pd.DataFrame, *, column: str = "latency_ms", ax: Axes | None = None) -> Axes:
    """Latency distribution per arm (log scale) with its P50 / P95 / P99 marked."""
    ax = _axes(ax)
    data = log[["variant", column]].dropna()
    sns.histplot(
        data=data,
        x=column,
        hue="variant",
        log_scale=True,
        element="step",
        stat="density",
        common_norm=False,
        ax=ax,
    )
    palette = dict(zip(sorted(data["variant"].unique()), sns.color_palette(), strict=False))
    for variant, values in data.groupby("variant")[column]:
        for level, style in ((0.5, ":"), (0.95, "--"), (0.99, "-.")):
            ax.axvline(
                np.quantile(values, level, method="inverted_cdf"),
                linestyle=style,
                color=palette[variant],
                linewidth=1,
            )
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel=f"{column} (log scale); lines: P50 dotted, P95 dashed, P99 dash-dot",
        title="Latency per arm",
    )
    return ax


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
        cuped: :meth:`abkit.analysis.AnalysisResult.cuped_table` (columns metric, covariate,
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
