"""Evaluation and feature-flag events, wherever a trace export holds them, read into DuckDB.

**Evaluations** (``gen_ai.evaluation.result``: ``gen_ai.evaluation.name``,
``gen_ai.evaluation.score.value`` / ``.label``) may sit on the LLM call's span, on a later span
(the feedback request's, in another trace) or in a log record. Each is linked to a dialog by the
first of these that finds one (GenAI semantic conventions, evaluation event):

1. ``span``: its span or the nearest ancestor that is an LLM span (the parent chain);
2. ``response id``: the LLM span whose ``gen_ai.response.id`` equals the event's;
3. ``conversation``: the dialog of the event's ``gen_ai.conversation.id`` (else its span's);
4. ``trace``: the one dialog of the event's trace (none, or several: no link).

Its name is mapped to a dialog-log column by an :class:`EvaluationRule` table (defaults below,
extended or overridden by the user's); a label the rule lists is mapped first (``thumbs`` up /
down -> like / dislike). Several evaluations of one column in a dialog: the last (by time) counts
and the others are counted as superseded; feedback (like / dislike) is kept per answer, so a
later thumbs on the same ``gen_ai.response.id`` supersedes the earlier one, and feedback events
without a response id all count. An event that cannot be read is counted with its reason: no
name, a name no rule maps, a score that is not a number (a string), a value outside the column's
range, no dialog found, a dialog that was not ingested.

**Feature flags** (OpenTelemetry feature-flag conventions: the event ``feature_flag.evaluation``,
``feature_flag`` before semantic conventions 1.28, with ``feature_flag.key``,
``feature_flag.result.variant`` or ``feature_flag.variant``, ``feature_flag.context.id``) give a
variant to their trace and, through the context id (the user id), to the user's other traces;
the experiment is the flag's key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from abkit.core.params import read_yaml_file
from abkit.ingest.otlp import EVALUATION_EVENT, FLAG_EVENTS, sql_list, sql_text
from abkit.plan.metrics import DEFAULT_COLUMN_RULES

__all__ = [
    "DEFAULT_EVALUATIONS",
    "OUTCOME_COLUMNS",
    "EvaluationRule",
    "evaluation_rules",
    "flag_events",
    "link_evaluations",
    "read_evaluation_table",
]

# the dialog-log columns an evaluation can fill (feedback: a like / dislike per answer)
OUTCOME_COLUMNS = ("completed", "escalated", "csat", "returned_7d", "feedback")
FEEDBACK_LABELS = ("like", "dislike")
_TRUE = ("1", "true", "pass", "yes", "resolved", "correct")
_FALSE = ("0", "false", "fail", "no", "unresolved", "incorrect")


@dataclass(frozen=True)
class EvaluationRule:
    """How evaluations of one name become a column: ``labels`` maps a label (any case) to a
    value, a number for a numeric column or like / dislike for ``feedback``."""

    column: str
    labels: Mapping[str, str | float] = field(default_factory=dict)


DEFAULT_EVALUATIONS: dict[str, EvaluationRule] = {
    "csat": EvaluationRule("csat"),
    "task_completion": EvaluationRule("completed"),
    "escalated": EvaluationRule("escalated"),
    "returned_7d": EvaluationRule("returned_7d"),
    "feedback": EvaluationRule("feedback", {"thumbs_up": "like", "thumbs_down": "dislike"}),
}


def _checked_rule(where: str, name: str, entry: object) -> EvaluationRule:
    """One rule from ``column`` or ``{column: ..., labels: {...}}``, or a ValueError naming it."""
    if isinstance(entry, EvaluationRule):
        column, labels = entry.column, dict(entry.labels)
    elif isinstance(entry, str):
        column, labels = entry, {}
    elif isinstance(entry, Mapping) and "column" in entry and set(entry) <= {"column", "labels"}:
        column, labels = entry["column"], entry.get("labels") or {}
    else:
        raise ValueError(
            f"{where}[{name!r}] == {entry!r}: must be a column name or "
            "{column: COLUMN, labels: {LABEL: VALUE}}"
        )
    if column not in OUTCOME_COLUMNS:
        raise ValueError(
            f"{where}[{name!r}].column == {column!r}: must be one of {OUTCOME_COLUMNS}"
        )
    if not isinstance(labels, Mapping):
        raise ValueError(f"{where}[{name!r}].labels == {labels!r}: must map labels to values")
    rule = DEFAULT_COLUMN_RULES.get(column)
    for label, value in labels.items():
        if column == "feedback":
            ok = value in FEEDBACK_LABELS
            allowed = f"one of {FEEDBACK_LABELS}"
        else:
            ok = (
                not isinstance(value, bool)
                and isinstance(value, int | float)
                and math.isfinite(value)
                and (rule is None or rule.low <= value <= rule.high)
            )
            allowed = (
                f"a number in [{rule.low}, {rule.high}] (the range of {column})"
                if rule is not None
                else "a number"
            )
        if not ok:
            raise ValueError(f"{where}[{name!r}].labels[{label!r}] == {value!r}: must be {allowed}")
    return EvaluationRule(str(column), {str(k).lower(): v for k, v in labels.items()})


def evaluation_rules(
    table: Mapping[str, object] | None = None, where: str = "evaluations"
) -> dict[str, EvaluationRule]:
    """The defaults, extended and overridden by ``table`` (name -> column or rule).

    >>> rules = evaluation_rules({"thumbs": {"column": "feedback",
    ...                                      "labels": {"up": "like", "down": "dislike"}}})
    >>> rules["thumbs"].labels["up"], rules["csat"].column
    ('like', 'csat')
    """
    rules = dict(DEFAULT_EVALUATIONS)
    for name, entry in (table or {}).items():
        rules[str(name)] = _checked_rule(where, str(name), entry)
    return rules


def read_evaluation_table(path: str | Path) -> dict[str, EvaluationRule]:
    """An evaluation table YAML (added to the defaults)::

        thumbs: {column: feedback, labels: {up: like, down: dislike}}
        resolved: completed
        stars: {column: csat}

    Raises:
        ValueError: the file cannot be read, is not a mapping, or a rule names another column
            or maps a label to a value the column cannot hold.
    """
    source = Path(path)
    spec = read_yaml_file(source, "evaluations file")
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(
            f"evaluations file '{source}' must map evaluation names to a column or "
            "{column: COLUMN, labels: {LABEL: VALUE}}"
        )
    return evaluation_rules(spec, f"evaluations file '{source}'")


def _attr(name: str) -> str:
    return f"list_filter(attrs, lambda x: x.k = {sql_text(name)})[1]"


def flag_events(
    con: duckdb.DuckDBPyConnection, *, flag_key: str | None, variant: str, experiment: str
) -> None:
    """Table ``flag_events``: every feature-flag evaluation with its key, variant, context id
    and the reason it gives no variant (NULL: it does).

    Raises:
        ValueError: no ``flag_key`` given and the export evaluates several flags (which one is
            the experiment's cannot be guessed), or a ``flag_key`` that none of its feature-flag
            events has (a misspelt key would leave every span without its variant).
    """
    con.execute(
        f"""
        CREATE TEMP TABLE flag_events AS
        WITH read AS (
            SELECT source, file, trace_id, span_id, t, copy_number,
                {_attr(experiment)}.v AS flag_key,
                coalesce({_attr(variant)}.v, {_attr("feature_flag.variant")}.v) AS variant,
                {_attr("feature_flag.context.id")}.v AS context_id
            FROM otel_events WHERE list_contains({sql_list(FLAG_EVENTS)}, name)
        )
        SELECT *, CASE
            WHEN copy_number > 1 THEN 'duplicate log record (the same export read twice?); '
                || 'counted once'
            WHEN flag_key IS NULL THEN 'feature-flag evaluation without ' || {sql_text(experiment)}
            WHEN {"false" if flag_key is None else f"flag_key <> {sql_text(flag_key)}"}
                THEN 'feature-flag evaluation of another flag: ' || q(flag_key)
            WHEN variant IS NULL THEN 'feature-flag evaluation of ' || q(flag_key)
                || ' without a variant (' || {sql_text(variant)} || ')'
        END AS reason
        FROM read
        """
    )
    keys = [
        k
        for (k,) in con.execute(
            "SELECT DISTINCT flag_key FROM flag_events WHERE flag_key IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    if flag_key is not None and keys and flag_key not in keys:
        raise ValueError(
            f"--flag-key == {flag_key!r} (SpanMapping.flag_key): the export's feature-flag "
            f"evaluations are of {keys} only; name one of them, or leave it out to read "
            "variants from attributes and exposures alone"
        )
    if flag_key is None:
        if len(keys) > 1:
            raise ValueError(
                f"the export evaluates {len(keys)} feature flags {keys}: name the experiment's "
                "with --flag-key KEY (SpanMapping(flag_key=...)); the others' events are then "
                "counted and set aside"
            )


def link_evaluations(
    con: duckdb.DuckDBPyConnection, rules: Mapping[str, EvaluationRule], conversation: str
) -> None:
    """Table ``eval_judged``: every evaluation event with its dialog, how it was linked, the
    column and value it gives, ``superseded`` and the reason it cannot count (NULL: counts).
    Needs ``judged`` (spans with dialogs) and ``dialogs`` (the ingested ones)."""
    rows = [(name, rule.column) for name, rule in rules.items()]
    con.register("eval_rules", pd.DataFrame(rows, columns=["name", "column_name"]))
    labels = [
        (name, label, str(value))
        for name, rule in rules.items()
        for label, value in rule.labels.items()
    ]
    con.register("eval_labels", pd.DataFrame(labels, columns=["name", "label", "mapped"]))
    checks = " ".join(
        f"WHEN {sql_text(c)} THEN value BETWEEN {r.low} AND {r.high}"
        + (" AND value = round(value)" if r.integer else "")
        for c, r in sorted(DEFAULT_COLUMN_RULES.items())
        if c in OUTCOME_COLUMNS
    )
    true_list, false_list = sql_list(_TRUE), sql_list(_FALSE)
    con.execute(
        f"""
        CREATE TEMP TABLE eval_events AS
        SELECT row_number() OVER () AS ev, source, file, trace_id, span_id, t, copy_number,
            {_attr("gen_ai.evaluation.name")}.v AS name,
            {_attr("gen_ai.evaluation.score.value")}.v AS score,
            {_attr("gen_ai.evaluation.score.value")}.t AS score_type,
            lower({_attr("gen_ai.evaluation.score.label")}.v) AS label,
            {_attr("gen_ai.response.id")}.v AS response_id,
            {_attr(conversation)}.v AS conversation_id
        FROM otel_events WHERE name = {sql_text(EVALUATION_EVENT)}
        """
    )
    con.execute(  # most events sit on their call's span: linked at once, the rest searched
        """
        CREATE TEMP TABLE eval_links AS
        WITH RECURSIVE own AS (
            SELECT e.ev, e.trace_id, e.response_id, e.conversation_id AS event_conversation,
                j.operation, j.dialog_id, j.conversation_id, j.parent_id
            FROM eval_events e LEFT JOIN judged j
                ON j.trace_id = e.trace_id AND j.span_id = e.span_id AND j.copy_number = 1
        ), pending AS (SELECT * FROM own WHERE operation IS NULL),
        chain(ev, trace_id, span_id, depth) AS (
            SELECT ev, trace_id, parent_id, 1 FROM pending WHERE parent_id IS NOT NULL
            UNION ALL
            SELECT c.ev, c.trace_id, j.parent_id, c.depth + 1
            FROM chain c JOIN judged j ON j.trace_id = c.trace_id AND j.span_id = c.span_id
            WHERE j.copy_number = 1 AND j.operation IS NULL AND j.parent_id IS NOT NULL
                AND c.depth < 64
        ), by_span AS (
            SELECT c.ev, arg_min(j.dialog_id, c.depth) AS dialog_id
            FROM chain c JOIN judged j ON j.trace_id = c.trace_id AND j.span_id = c.span_id
            WHERE j.copy_number = 1 AND j.operation IS NOT NULL GROUP BY c.ev
        ), answers AS (
            SELECT response_id, any_value(dialog_id) AS dialog_id FROM judged
            WHERE operation IS NOT NULL
                AND response_id IN (SELECT response_id FROM pending)
            GROUP BY response_id HAVING count(DISTINCT dialog_id) = 1
        ), known AS (
            SELECT DISTINCT dialog_id FROM judged WHERE operation IS NOT NULL
                AND dialog_id IN (SELECT coalesce(event_conversation, conversation_id)
                    FROM pending)
        ), traces AS (
            SELECT trace_id, any_value(dialog_id) AS dialog_id FROM judged
            WHERE operation IS NOT NULL AND trace_id IN (SELECT trace_id FROM pending)
            GROUP BY trace_id HAVING count(DISTINCT dialog_id) = 1
        )
        SELECT ev, 'span' AS link, dialog_id FROM own WHERE operation IS NOT NULL
        UNION ALL
        SELECT p.ev,
            CASE WHEN s.dialog_id IS NOT NULL THEN 'span'
                WHEN a.dialog_id IS NOT NULL THEN 'response id'
                WHEN k.dialog_id IS NOT NULL THEN 'conversation'
                WHEN t.dialog_id IS NOT NULL THEN 'trace' END,
            coalesce(s.dialog_id, a.dialog_id, k.dialog_id, t.dialog_id)
        FROM pending p
        LEFT JOIN by_span s ON s.ev = p.ev
        LEFT JOIN answers a ON a.response_id = p.response_id
        LEFT JOIN known k ON k.dialog_id = coalesce(p.event_conversation, p.conversation_id)
        LEFT JOIN traces t ON t.trace_id = p.trace_id
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE eval_judged AS
        WITH mapped AS (
            SELECT e.*, l.link, l.dialog_id, d.dialog_id IS NOT NULL AS ingested,
                r.column_name, m.mapped,
                CASE WHEN r.column_name = 'feedback' THEN coalesce(m.mapped, e.label) END
                    AS feedback,
                CASE WHEN e.score IS NOT NULL THEN TRY_CAST(e.score AS DOUBLE)
                    ELSE coalesce(TRY_CAST(m.mapped AS DOUBLE),
                        CASE WHEN list_contains({true_list}, e.label) THEN 1.0
                             WHEN list_contains({false_list}, e.label) THEN 0.0 END) END AS value
            FROM eval_events e JOIN eval_links l USING (ev)
            LEFT JOIN (SELECT dialog_id FROM dialogs) d ON d.dialog_id = l.dialog_id
            LEFT JOIN eval_rules r ON r.name = e.name
            LEFT JOIN eval_labels m ON m.name = e.name AND m.label = e.label
        ), checked AS (
            SELECT *, CASE
                WHEN copy_number > 1 THEN 'duplicate log record (the same export read twice?); '
                    || 'counted once'
                WHEN name IS NULL THEN 'evaluation without gen_ai.evaluation.name'
                WHEN column_name IS NULL THEN 'evaluation ' || q(name) || ' maps to no column'
                WHEN column_name = 'feedback' AND coalesce(feedback, '') NOT IN ('like', 'dislike')
                    THEN 'feedback label ' || q(coalesce(label, '')) || ', must be like or dislike'
                WHEN column_name <> 'feedback' AND score IS NOT NULL
                    AND score_type NOT IN ('int', 'double')
                    THEN 'evaluation ' || q(name) || ': gen_ai.evaluation.score.value '
                        || q(score) || ' is a ' || score_type || ', must be a number'
                WHEN column_name <> 'feedback' AND (value IS NULL OR NOT isfinite(value))
                    THEN 'evaluation ' || q(name) || ' without a readable score'
                WHEN column_name <> 'feedback' AND NOT (CASE column_name {checks} ELSE true END)
                    THEN 'evaluation ' || q(name) || ' = ' || CAST(value AS VARCHAR) ||
                        ' outside the range of ' || column_name
                WHEN link IS NULL THEN 'evaluation linked to no dialog (no LLM span in its parent '
                    || 'chain, gen_ai.response.id, conversation id or trace leads to one)'
                WHEN NOT ingested
                    THEN 'evaluation of a dialog that was not ingested (its spans were rejected)'
            END AS reason
            FROM mapped
        )
        SELECT *, reason IS NULL AND row_number() OVER (
                PARTITION BY reason IS NULL, dialog_id, column_name,
                    CASE WHEN column_name = 'feedback' THEN coalesce(response_id,
                        'event-' || ev) END
                ORDER BY t DESC NULLS LAST, ev DESC) > 1 AS superseded
        FROM checked
        """
    )
