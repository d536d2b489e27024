"""The decision memo: one page of HTML for the people who decide, with no code in it.

Order (what a reader needs first comes first): the decision and its reasons; the health gates;
the results table formatted for people; the forest plot; the plan as declared; where the data
came from. The page is self-contained (the figure is embedded as SVG in a data URI, styles
inline), prints on one or two A4 pages, and holds no absolute local path (files are named by
their base name).

Numbers follow :mod:`abkit.core.formatting` (p-values, effects with intervals); besides:

- shares (a ratio of a 0/1 column, a ratio whose numerator is part of its denominator, a user
  proportion) are shown in percent and their differences in percentage points (pp);
- better / worse by the metric's declared direction, shown in words and colour; grey when the
  (adjusted) test is not significant.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from abkit.analysis.results import AnalysisResult
from abkit.core.formatting import MINUS, format_interval, format_p
from abkit.plan.experiment_plan import ExperimentPlan
from abkit.plan.metrics import Metric
from abkit.report.memo_sections import exposure_section, svg_image

__all__ = [
    "MEMO_COLUMNS",
    "Provenance",
    "health_table",
    "memo_html",
    "memo_table",
    "write_memo",
]

# Columns of memo_table, in order.
MEMO_COLUMNS = [
    "metric",
    "role",
    "control",
    "treatment",
    "effect",
    "relative_effect",
    "p",
    "verdict",
    "margin",
    "effect_status",
    "status",
]


def _value(value: float, unit: str) -> str:
    """A level (not a difference): three significant digits, thousands separated."""
    if not math.isfinite(value):
        return "–"
    decimals = 0 if value == 0 else max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(decimals, 6)}f}" + (f" {unit}" if unit else "")


def _is_share(metric: Metric, plan: ExperimentPlan) -> bool:
    """A metric whose values are proportions in [0, 1]."""
    if metric.kind == "user_proportion":
        return True
    if metric.kind == "judged":  # a mean label on a 0/1 scale is a share
        rule = plan.column_rule(metric.column)
        return rule.low == 0 and rule.high == 1
    if metric.kind != "ratio":
        return False
    if metric.column in metric.denominator:
        return True
    rule = plan.column_rule(metric.column)
    return not metric.denominator and rule.low == 0 and rule.high == 1


@dataclass(frozen=True)
class _Scale:
    factor: float
    level_unit: str
    effect_unit: str


def _scale(metric: Metric | None, plan: ExperimentPlan, unit: str) -> _Scale:
    if metric is not None and _is_share(metric, plan):
        return _Scale(100.0, "%", "pp")
    return _Scale(1.0, unit, unit)


def _effect_status(row: pd.Series) -> str:
    """The colour of an effect: better / worse when significant, else unclear."""
    if not math.isfinite(row["p_adjusted"]) or not row["significant"]:
        return "unclear"
    return "better" if row["improved"] else "worse"


def _verdict(row: pd.Series) -> tuple[str, str]:
    """(words, status class) for one results row; a guardrail's come from its margin test."""
    if row["role"] == "guardrail":
        status = row["guardrail"]
        words = {
            "pass": "within its margin",
            "breach": "worse than its margin",
            "inconclusive": "not yet shown within its margin",
            "no data": "no data to test",
        }.get(status, status)
        return words, {"pass": "better", "breach": "worse"}.get(status, "unclear")
    if not math.isfinite(row["p_adjusted"]):
        return "no test possible", "unclear"
    direction = "better" if row["improved"] else "worse"
    if row["significant"]:
        return f"significantly {direction}", direction
    return "no significant difference", "unclear"


def memo_table(result: AnalysisResult) -> pd.DataFrame:
    """The results table as people read it: one row per metric, every cell a formatted string.

    Columns :data:`MEMO_COLUMNS`. ``p`` is the row's ``decision_p``
    (:func:`abkit.analysis.results.decision_p_values`). ``effect_status`` (the
    effect's colour) and ``status`` (the verdict's) are ``better`` / ``worse`` / ``unclear``.
    Shares in %, their effects in percentage points; relative effects in %. With several
    candidates a ``variant`` column comes first (one row per candidate and metric), and
    ``treatment`` is that candidate's value.
    """
    plan = result.plan
    by_name = {metric.name: metric for metric in plan.metrics or ()}
    rows = []
    for _, row in result.table.iterrows():
        if row["role"] == "check":
            continue
        metric = by_name.get(row["metric"])
        scale = _scale(metric, plan, str(row["unit"] or ""))
        factor = scale.factor
        words, status = _verdict(row)
        margin = ""
        if row["role"] == "guardrail" and math.isfinite(row["margin"]):
            side = MINUS if row["higher_is_better"] else "+"
            margin = f"{side}{_value(row['margin'] * factor, scale.effect_unit)}"
        rows.append(
            {
                "variant": row["variant"],
                "metric": row["metric"],
                "role": row["role"],
                "control": _value(row["control"] * factor, scale.level_unit),
                "treatment": _value(row["treatment"] * factor, scale.level_unit),
                "effect": format_interval(
                    row["effect"] * factor,
                    row["ci_low"] * factor,
                    row["ci_high"] * factor,
                    scale.effect_unit,
                ),
                "relative_effect": format_interval(
                    row["relative_effect"] * 100,
                    row["relative_ci_low"] * 100,
                    row["relative_ci_high"] * 100,
                    "%",
                ),
                "p": format_p(row["decision_p"]),
                "verdict": words,
                "margin": margin,
                "effect_status": _effect_status(row),
                "status": status,
            }
        )
    if len(plan.candidates) > 1:
        return pd.DataFrame(rows, columns=["variant", *MEMO_COLUMNS])
    return pd.DataFrame(rows, columns=MEMO_COLUMNS)


def health_table(result: AnalysisResult) -> pd.DataFrame:
    """The health gates as people read them: gate, status, control, treatment, detail, with
    whole counts as integers (``9,684``, never ``9684.0000``) and other values (shares,
    medians) to four significant digits; a value a gate does not have is blank."""

    def shown(value: Any) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        number = float(value)
        return f"{int(number):,}" if number.is_integer() else f"{number:.4g}"

    table = result.health.table.copy()
    for column in ("control", "treatment"):
        table[column] = table[column].map(shown)
    return table


@dataclass(frozen=True)
class Provenance:
    """Where the analysed data came from: a file's base name (never its folder), the rows,
    users and dialogs per arm, and the period covered."""

    source: str
    rows: int
    users: tuple[int, int]
    dialogs: tuple[int, int]
    first: Any
    last: Any
    read_from: str = ""  # the rollup of the log's parts, when the analysis read that

    @classmethod
    def of(cls, result: AnalysisResult, source: str | Path | pd.DataFrame) -> Provenance:
        if isinstance(source, pd.DataFrame):
            name = f"a DataFrame of {len(source):,} rows"
        else:
            name = Path(str(source).rstrip("/")).name or str(source)
        engine = result.engine
        counts = (engine.rows, engine.users, engine.dialogs, engine.first, engine.last)
        return cls(name, *counts, read_from=engine.read_from)


# The memo's style sheet, inlined into each memo (a memo is one self-contained page).
_STYLE = (Path(__file__).with_name("memo.css")).read_text(encoding="utf-8")

_ROLE_HEADINGS = {
    "primary": "Primary metrics (the decision rests on them; p adjusted for multiple testing)",
    "guardrail": "Guardrails (p: one-sided non-inferiority test against the margin)",
    "secondary": "Secondary metrics (reported; p adjusted among themselves)",
    "monitor": "Monitors (reported only; raw p)",
}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _decision_block(result: AnalysisResult) -> str:
    decision = result.decision
    css = "v-" + decision.verdict.replace("'", "").replace(" ", "-")
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in decision.reasons)
    choice = ""
    if len(result.plan.candidates) > 1:
        each = "; ".join(f"{variant}: {verdict}" for variant, verdict in decision.by_variant)
        named = f"<b>{_e(decision.variant)}</b>" if decision.variant else "no candidate"
        choice = (
            f'<div class="choice">Candidate: {named} (each against the control: {_e(each)})</div>'
        )
    return (
        f'<section class="decision {css}" id="decision">'
        f'<div class="verdict">{_e(decision.verdict.upper())}</div>{choice}'
        f"<ul>{reasons}</ul></section>"
    )


def _health_block(result: AnalysisResult) -> str:
    rows = []
    for check in result.health.checks:
        rows.append(
            f'<tr><td>{_e(check.gate)}</td><td class="s-{_e(check.status)}">'
            f"<b>{_e(check.status)}</b></td><td>{_e(check.detail)}</td></tr>"
        )
    return (
        '<table id="health"><thead><tr><th>gate</th><th>status</th><th>detail</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _interval_cell(text: str) -> str:
    """The estimate on one line, its interval under it (keeps the table inside the page)."""
    estimate, _, interval = text.partition(" [")
    return _e(estimate) + (f"<small>[{_e(interval)}</small>" if interval else "")


def _candidates_block(result: AnalysisResult, table: pd.DataFrame) -> str:
    """Several candidates side by side: a row per metric, the control's value, then one column
    per candidate with its value, effect, relative effect, p and verdict."""
    plan = result.plan
    chosen = result.decision.variant
    head = (
        "<tr><th>metric</th><th>"
        + _e(plan.control)
        + " (control)</th>"
        + "".join(f"<th>{_e(c)}{' (chosen)' if c == chosen else ''}</th>" for c in plan.candidates)
        + "</tr>"
    )
    body = []
    width = 2 + len(plan.candidates)
    for role, heading in _ROLE_HEADINGS.items():
        members = table[table["role"] == role]
        if members.empty:
            continue
        if role == "primary" and result.monitoring.kind == "group_sequential":
            heading = (
                f"Primary metrics (look {result.monitoring.look}: significant when |z| >= "
                f"{result.monitoring.z_boundary:.3f}, α/{len(plan.candidates)} per candidate)"
            )
        elif role == "primary" and result.monitoring.kind == "always_valid":
            heading += f"; always-valid at α/{len(plan.candidates)} per candidate"
        elif role == "primary":
            heading += "; p and intervals adjusted with Dunnett's method over the candidates"
        body.append(f'<tr class="role"><td colspan="{width}">{_e(heading)}</td></tr>')
        for metric, rows in members.groupby("metric", sort=False):
            by_variant = rows.set_index("variant")
            cells = []
            for candidate in plan.candidates:
                if candidate not in by_variant.index:
                    cells.append("<td></td>")
                    continue
                row = by_variant.loc[candidate]
                margin = f"<small>margin {_e(row['margin'])}</small>" if row["margin"] else ""
                cells.append(
                    f'<td class="cand {row["status"]}"><b>{_e(row["treatment"])}</b>'
                    f'<span class="{row["effect_status"]}">{_interval_cell(row["effect"])}'
                    f"</span><small>relative {_e(row['relative_effect'])}</small>"
                    f"<small>p {_e(row['p'])}</small>"
                    f'<span class="verdict {row["status"]}">{_e(row["verdict"])}</span>'
                    f"{margin}</td>"
                )
            body.append(
                f'<tr class="metric-row" data-metric="{_e(metric)}"><td class="metric">'
                f"<b>{_e(metric)}</b></td>"
                f'<td class="num">{_e(rows["control"].iloc[0])}</td>{"".join(cells)}</tr>'
            )
    muted = ""
    if result.decision.verdict == "invalid":
        muted = (
            '<p class="warning">A health gate failed: the figures below are shown to help find '
            "the fault, not to be interpreted.</p>"
        )
    return (
        f'{muted}<table id="results" class="{"invalid" if muted else ""} candidates">'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _results_block(result: AnalysisResult, table: pd.DataFrame) -> str:
    if len(result.plan.candidates) > 1:
        return _candidates_block(result, table)
    descriptions = {metric.name: metric.description for metric in result.plan.metrics or ()}
    for metric in result.plan.metrics or ():  # a capped metric's estimand, with its counts
        if metric.cap is not None:
            notes = result.table.loc[result.table["metric"] == metric.name, "note"]
            estimand = str(notes.iloc[0]).split("; ")[0] if len(notes) else ""
            descriptions[metric.name] = "; ".join(x for x in (metric.description, estimand) if x)
    control, treatment = result.plan.labels
    head = (
        f"<tr><th>metric</th><th>{_e(control)}</th><th>{_e(treatment)}</th>"
        "<th>effect [95 % CI]</th><th>relative [95 % CI]</th><th>p</th><th>verdict</th></tr>"
    )
    body = []
    monitoring = result.monitoring
    for role, heading in _ROLE_HEADINGS.items():
        members = table[table["role"] == role]
        if members.empty:
            continue
        if role == "primary" and monitoring.kind == "group_sequential":
            heading = (
                f"Primary metrics (the decision rests on them; look {monitoring.look}: "
                f"significant when |z| >= {monitoring.z_boundary:.3f}, whatever p says)"
            )
        elif monitoring.kind == "always_valid" and role != "guardrail":
            heading += "; intervals and p always valid"
        body.append(f'<tr class="role"><td colspan="7">{_e(heading)}</td></tr>')
        for row in members.itertuples():
            note = descriptions.get(row.metric, "")
            body.append(
                f'<tr class="metric-row {row.status}" data-metric="{_e(row.metric)}">'
                f'<td class="metric"><b>{_e(row.metric)}</b>'
                + (f"<small>{_e(note)}</small>" if note else "")
                + f'</td><td class="num">{_e(row.control)}</td>'
                f'<td class="num">{_e(row.treatment)}</td>'
                f'<td class="num {row.effect_status}">{_interval_cell(row.effect)}</td>'
                f'<td class="num {row.effect_status}">{_interval_cell(row.relative_effect)}</td>'
                f'<td class="num">{_e(row.p)}</td>'
                f'<td class="verdict {row.status}">{_e(row.verdict)}'
                + (f"<small>margin {_e(row.margin)}</small>" if row.margin else "")
                + "</td></tr>"
            )
    muted = ""
    if result.decision.verdict == "invalid":
        muted = (
            '<p class="warning">A health gate failed: the figures below are shown to help find '
            "the fault, not to be interpreted.</p>"
        )
    css = "invalid" if muted else ""
    return (
        f'{muted}<table id="results" class="{css}"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _segments_block(result: AnalysisResult) -> str:
    """Where it won and where it lost: each declared segment's effect on the primary metrics,
    with the reversals (a segment whose effect goes the other way at the BH level) listed
    first, for every metric."""
    segments = result.segments
    if segments.empty:
        return ""
    plan = result.plan
    by_name = {metric.name: metric for metric in plan.metrics or ()}
    several = len(plan.candidates) > 1

    def effect_text(row: Any) -> str:
        metric = by_name.get(row.metric)
        scale = _scale(metric, plan, str(metric.unit if metric else ""))
        factor = scale.factor
        return format_interval(
            row.effect * factor, row.ci_low * factor, row.ci_high * factor, scale.effect_unit
        )

    flagged = [
        f"<li><b>{_e(row.metric)}</b> in {_e(row.column)} = <b>{_e(row.segment)}</b>"
        + (f" ({_e(row.variant)})" if several else "")
        + f": {_e(effect_text(row))}, the other way from the whole experiment "
        f"(BH-adjusted p {_e(format_p(row.p_adjusted))}; segment vs rest p "
        f"{_e(format_p(row.interaction_p_adjusted))})</li>"
        for row in segments[segments["reversed"].astype(bool)].itertuples()
    ]
    lead = (
        '<p class="warning">Effects that go the other way in a segment:</p>'
        f"<ul>{''.join(flagged)}</ul>"
        if flagged
        else "<p>No segment's effect goes the other way at the Benjamini–Hochberg level.</p>"
    )
    rows = []
    for row in segments[segments["role"] == "primary"].itertuples():
        status = (
            "worse" if row.reversed else ("better" if row.p_adjusted < plan.alpha else "unclear")
        )
        rows.append(
            f'<tr class="{status}"><td>{_e(row.column)}</td><td>{_e(row.segment)}</td>'
            + (f"<td>{_e(row.variant)}</td>" if several else "")
            + f"<td>{_e(row.metric)}</td>"
            f'<td class="num">{row.n_control:,} / {row.n_treatment:,}</td>'
            f'<td class="num {status}">{_interval_cell(effect_text(row))}</td>'
            f'<td class="num">{_e(format_p(row.p_adjusted))}</td>'
            f'<td class="num">{_e(format_p(row.interaction_p_adjusted))}</td>'
            f'<td class="num">{_e(format_p(row.srm_p))}</td></tr>'
        )
    head = (
        "<tr><th>column</th><th>segment</th>"
        + ("<th>candidate</th>" if several else "")
        + "<th>metric</th><th>users C / T</th><th>effect [95 % CI]</th><th>p (BH)</th>"
        "<th>vs rest p (BH)</th><th>SRM p</th></tr>"
    )
    return (
        f'<section id="segments">{lead}<table class="segments"><thead>{head}</thead><tbody>'
        f'{"".join(rows)}</tbody></table><p class="foot">A user belongs to the segment of '
        "their first dialog. p: each segment's effect, Benjamini–Hochberg over the segments of "
        "each metric; vs rest: the segment's effect against all other users' (interaction), "
        "likewise adjusted. Segments are reported; the decision rests on the whole experiment."
        "</p></section>"
    )


def _figure_block(result: AnalysisResult) -> str:
    from abkit.report.plots import forest_plot

    return svg_image(
        forest_plot(result.table)[0].figure,
        "relative effect of each metric with its 95 % confidence interval, one panel per role",
        "forest",
    )


def _margin_text(metric: Metric, plan: ExperimentPlan) -> str:
    if metric.margin is None:
        return ""
    worse = "lower" if metric.higher_is_better else "higher"
    if metric.relative_margin:
        return f"at most {metric.margin:.0%} {worse} (relative)"
    scale = _scale(metric, plan, metric.unit)
    return f"at most {_value(metric.margin * scale.factor, scale.effect_unit)} {worse}"


def _monitoring_text(plan: ExperimentPlan) -> str:
    monitoring = plan.monitoring
    if monitoring.kind == "fixed":
        return "fixed horizon: one analysis at the planned end"
    planned = f"{monitoring.planned_users:,} planned users"
    if monitoring.kind == "always_valid":
        return f"always valid (confidence sequences tuned for {planned})"
    spending = monitoring.spending.replace("_", " ")
    return f"group-sequential, {spending} spending, {planned}"


def _plan_block(plan: ExperimentPlan) -> str:
    rows = []
    for metric in plan.metrics or ():
        columns = metric.column + (
            f" / ({' + '.join(metric.denominator)})" if metric.denominator else ""
        )
        if metric.judge:
            columns += f", judge {metric.judge}" + (
                f" ({metric.judge_model})" if metric.judge_model else " (judge model not recorded)"
            )
        kind = metric.kind + (f" {metric.quantile:g}" if metric.quantile is not None else "")
        extras = [
            x
            for x in (
                _margin_text(metric, plan),
                metric.covariate and f"CUPED on {metric.covariate}",
            )
            if x
        ]
        rows.append(
            f"<tr><td>{_e(metric.name)}</td><td>{_e(metric.role)}</td><td>{_e(kind)}</td>"
            f"<td>{_e(columns)}</td>"
            f"<td>{'higher' if metric.higher_is_better else 'lower'} is better</td>"
            f"<td>{_e('; '.join(extras))}</td></tr>"
        )
    several = len(plan.candidates) > 1
    settings = {
        "arms": f"{plan.control} (control) vs {', '.join(plan.candidates)} "
        f"({'candidates' if several else 'treatment'})",
        "planned split": ", ".join(
            f"{label} {share:.0%}" for label, share in zip(plan.labels, plan.shares, strict=True)
        )
        if several
        else f"{plan.split:.0%} of users to {plan.treatment}",
        "experiment": plan.experiment or "the log's only experiment",
        "α": f"{plan.alpha:g} (two-sided; one-sided for each guardrail)",
        "correction": (
            f"Dunnett over the {len(plan.candidates)} candidates for each primary, then "
            f"{plan.correction} over the primaries; {plan.secondary_correction} over the "
            "secondaries and candidates"
            if several
            else f"{plan.correction} over the primaries; "
            f"{plan.secondary_correction} over the secondaries"
        ),
        "randomization unit": "user (dialogs of a user are clustered)",
        "monitoring": _monitoring_text(plan),
    }
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in settings.items())
    return (
        f"<dl>{items}</dl>"
        '<table id="plan"><thead><tr><th>metric</th><th>role</th><th>kind</th><th>columns</th>'
        f"<th>direction</th><th>margin / notes</th></tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
    )


def _period(first: Any, last: Any) -> str:
    try:
        return f"{pd.Timestamp(first):%Y-%m-%d %H:%M} to {pd.Timestamp(last):%Y-%m-%d %H:%M}"
    except (TypeError, ValueError):
        return "unknown"


def _provenance_block(provenance: Provenance, labels: Sequence[str]) -> str:
    def per_arm(counts: Sequence[int]) -> str:
        return ", ".join(f"{count:,} {label}" for count, label in zip(counts, labels, strict=True))

    items = {
        "log": provenance.source,
        "rows read": f"{provenance.rows:,}",
        "users": per_arm(provenance.users),
        "dialogs": per_arm(provenance.dialogs),
        "period": _period(provenance.first, provenance.last),
    }
    if provenance.read_from:
        items["read from"] = provenance.read_from
    return (
        '<dl id="provenance">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
        + "</dl>"
    )


def _muted_note(result: AnalysisResult) -> str:
    return (
        " (not to be interpreted: a health gate failed)"
        if result.decision.verdict == "invalid"
        else ""
    )


def memo_html(result: AnalysisResult, source: str | Path | pd.DataFrame, *, title: str = "") -> str:
    """The memo as one self-contained HTML page (see the module docstring for its order).

    Args:
        result: :func:`abkit.analysis.results.analyze_plan`'s result.
        source: the log analysed (a path: only its base name is shown; or the DataFrame).
        title: the page title; default from the experiment id (or the log's name) and labels.
    """
    plan = result.plan
    provenance = Provenance.of(result, source)
    arms = " / ".join(plan.candidates)
    title = title or (f"{plan.experiment or provenance.source}: {arms} vs {plan.control}")
    table = memo_table(result)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Decision memo: {_e(title)}</h1>"
        f'<p class="sub">{sum(provenance.users):,} users, '
        f"{_period(provenance.first, provenance.last)}; log {_e(provenance.source)}</p>"
        f"{_decision_block(result)}"
        f"<h2>Health gates</h2>{_health_block(result)}"
        f"<h2>Results: {_e(' and '.join(plan.candidates))} minus {_e(plan.control)}</h2>"
        f"{_results_block(result, table)}"
        + (
            f"<h2>Where it won and where it lost{_muted_note(result)}</h2>{_segments_block(result)}"
            if not result.segments.empty
            else ""
        )
        + f"<h2>Effects at a glance{_muted_note(result)}</h2>{_figure_block(result)}"
        + (
            f"<h2>Does it last?{_muted_note(result)}</h2>{exposure_section(result)}"
            if result.novelty["decaying"].astype(bool).any()
            and result.decision.verdict != "invalid"
            else ""
        )
        + f"<h2>The plan (declared before the data were seen)</h2>{_plan_block(plan)}"
        f"<h2>Data</h2>{_provenance_block(provenance, plan.labels)}"
        f'<p class="foot">Written by abkit on {stamp}. Effects are treatment minus control; '
        "relative effects (T − C)/|C|; shares in %, their differences in percentage points "
        "(pp).</p></body></html>"
    )


def write_memo(
    result: AnalysisResult, path: str | Path, source: str | Path | pd.DataFrame, *, title: str = ""
) -> Path:
    """Write :func:`memo_html` to ``path`` (folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(memo_html(result, source, title=title), encoding="utf-8")
    return target
