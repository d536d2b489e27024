"""OTLP/JSON exports read into DuckDB: spans by the conventions they carry, and events.

The shape is the one the OpenTelemetry collector's file exporter and the SDK's OTLP JSON file
exporter write: one ``ExportTraceServiceRequest`` (``resourceSpans`` -> ``scopeSpans`` ->
``spans``) or ``ExportLogsServiceRequest`` (``resourceLogs`` -> ``scopeLogs`` -> ``logRecords``)
per line, each attribute ``{"key": ..., "value": {"stringValue" | "intValue" | "doubleValue" |
"boolValue"}}``. Fields not named here are ignored; values are read as text (the protobuf JSON
mapping writes int64 as strings), with their type kept where it matters (an evaluation's score).

Two conventions describe an LLM call (:data:`Conventions`), chosen per span by what it carries:

- GenAI (OpenTelemetry): ``gen_ai.operation.name``, ``gen_ai.response.model`` /
  ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens``,
  ``gen_ai.response.time_to_first_chunk``, ``gen_ai.response.id``, ``gen_ai.conversation.id``;
- OpenInference (Arize Phoenix and its instrumentors): ``openinference.span.kind`` (an ``LLM``
  span is a chat call), ``llm.model_name``, ``llm.token_count.prompt`` / ``completion``,
  ``session.id`` as the conversation.

A span carrying both is read as GenAI. Events (:data:`EVENT_NAMES`) come from spans' events and
from log records (the event name in ``eventName``, else the ``event.name`` attribute; the time
``timeUnixNano``, else ``observedTimeUnixNano``).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # the CLI reads CONVENTIONS at start-up: no DuckDB import for that
    import duckdb

__all__ = [
    "CONVENTIONS",
    "EVENT_NAMES",
    "Conventions",
    "load_events",
    "load_spans",
    "sql_list",
    "sql_text",
]

Conventions = Literal["auto", "genai", "openinference"]
CONVENTIONS: tuple[str, ...] = get_args(Conventions)
EVALUATION_EVENT = "gen_ai.evaluation.result"
# the feature-flag conventions' event, and its name before semantic conventions 1.28
FLAG_EVENTS = ("feature_flag.evaluation", "feature_flag")
EVENT_NAMES = (EVALUATION_EVENT, *FLAG_EVENTS)
COMPRESSED = (".gz", ".zst")  # DuckDB reads them; their bytes cannot be searched


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: Sequence[str]) -> str:
    """A SQL list of text literals."""
    return "[" + ", ".join(sql_text(v) for v in values) + "]::VARCHAR[]"


_VALUE_TYPE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue VARCHAR, boolValue VARCHAR)"
)
_ATTRS_TYPE = f"STRUCT(key VARCHAR, value {_VALUE_TYPE})[]"
_SPAN_TYPE = (
    "STRUCT(traceId VARCHAR, spanId VARCHAR, parentSpanId VARCHAR, startTimeUnixNano VARCHAR, "
    f"endTimeUnixNano VARCHAR, attributes {_ATTRS_TYPE}, events STRUCT(timeUnixNano VARCHAR, "
    f"name VARCHAR, attributes {_ATTRS_TYPE})[], status STRUCT(code VARCHAR, message VARCHAR))"
)
_EXPORT_TYPE = (
    f"STRUCT(resource STRUCT(attributes {_ATTRS_TYPE}), "
    f"scopeSpans STRUCT(spans {_SPAN_TYPE}[])[])[]"
)
_LOG_TYPE = (
    "STRUCT(timeUnixNano VARCHAR, observedTimeUnixNano VARCHAR, traceId VARCHAR, "
    f"spanId VARCHAR, eventName VARCHAR, attributes {_ATTRS_TYPE})"
)
_LOGS_EXPORT_TYPE = f"STRUCT(scopeLogs STRUCT(logRecords {_LOG_TYPE}[])[])[]"
_PAIRS = (
    "lambda a: {'k': a.key, 'v': coalesce(a.value.stringValue, a.value.intValue, "
    "a.value.doubleValue, a.value.boolValue)}"
)
# with the value's type: a score must be a number, not the text of one
_TYPED_PAIRS = (
    "lambda a: {'k': a.key, 'v': coalesce(a.value.stringValue, a.value.intValue, "
    "a.value.doubleValue, a.value.boolValue), 't': CASE WHEN a.value.stringValue IS NOT NULL "
    "THEN 'string' WHEN a.value.intValue IS NOT NULL THEN 'int' WHEN a.value.doubleValue IS NOT "
    "NULL THEN 'double' WHEN a.value.boolValue IS NOT NULL THEN 'bool' END}"
)


def _listing(files: Sequence[Path]) -> str:
    return sql_list([str(f) for f in files])


def load_spans(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    *,
    conventions: Conventions,
    user: str,
    variant: str,
    experiment: str,
    conversation: str,
) -> None:
    """Table ``spans``: one row per span with what the dialog log needs, by its convention
    (``convention`` is NULL for a span that is no LLM-application span of the chosen ones)."""

    def attr(name: str) -> str:  # the span's attribute, else its resource's
        key = sql_text(name)
        return (
            f"coalesce(list_filter(sattrs, lambda x: x.k = {key})[1].v, "
            f"list_filter(rattrs, lambda x: x.k = {key})[1].v)"
        )

    def own(name: str) -> str:  # the span's own attribute (a call's model, tokens, ...)
        return f"list_filter(sattrs, lambda x: x.k = {sql_text(name)})[1].v"

    genai = "NULL" if conventions == "openinference" else own("gen_ai.operation.name")
    kind = "NULL" if conventions == "genai" else own("openinference.span.kind")
    events = sql_list(EVENT_NAMES)
    con.execute(
        f"""
        CREATE TEMP TABLE spans AS
        WITH lines AS (
            SELECT filename, resourceSpans FROM read_json({_listing(files)},
                format='newline_delimited', columns={{'resourceSpans': {sql_text(_EXPORT_TYPE)}}},
                filename=true)
        ), rs AS (SELECT filename, unnest(resourceSpans) AS r FROM lines),
        ss AS (
            SELECT filename, list_transform(r.resource.attributes, {_PAIRS}) AS rattrs,
                unnest(r.scopeSpans) AS s
            FROM rs
        ), sp AS (SELECT filename, rattrs, unnest(s.spans) AS span FROM ss),
        attributed AS (
            SELECT filename, rattrs, span, list_transform(span.attributes, {_PAIRS}) AS sattrs
            FROM sp
        ), marked AS (
            SELECT *, {genai} AS genai_operation, {kind} AS openinference_kind
            FROM attributed
        ), read AS (
            SELECT *, CASE WHEN genai_operation IS NOT NULL THEN 'genai'
                WHEN openinference_kind IS NOT NULL THEN 'openinference' END AS convention
            FROM marked
        )
        SELECT
            filename AS file,
            span.traceId AS trace_id,
            span.spanId AS span_id,
            nullif(span.parentSpanId, '') AS parent_id,
            convention,
            {attr("service.name")} AS service,
            CASE convention WHEN 'genai' THEN genai_operation
                WHEN 'openinference' THEN CASE upper(openinference_kind) WHEN 'LLM' THEN 'chat'
                    ELSE lower(openinference_kind) END
                END AS operation,
            CASE convention
                WHEN 'genai' THEN coalesce({own("gen_ai.response.model")},
                    {own("gen_ai.request.model")})
                WHEN 'openinference' THEN {own("llm.model_name")} END AS model,
            coalesce({attr(conversation)},
                CASE WHEN convention = 'openinference' THEN {attr("session.id")} END)
                AS conversation_id,
            CASE WHEN convention = 'genai' THEN {own("gen_ai.response.id")} END AS response_id,
            {attr(user)} AS span_user,
            {attr(variant)} AS span_variant,
            {attr(experiment)} AS span_experiment,
            CASE convention WHEN 'genai' THEN {own("gen_ai.usage.input_tokens")}
                WHEN 'openinference' THEN {own("llm.token_count.prompt")} END AS input_raw,
            CASE convention WHEN 'genai' THEN {own("gen_ai.usage.output_tokens")}
                WHEN 'openinference' THEN {own("llm.token_count.completion")} END AS output_raw,
            CASE WHEN convention = 'genai' THEN {own("gen_ai.response.time_to_first_chunk")}
                END AS ttft_raw,
            {own("error.type")} AS error_type,
            TRY_CAST(span.startTimeUnixNano AS HUGEINT) AS start_ns,
            TRY_CAST(span.endTimeUnixNano AS HUGEINT) AS end_ns,
            CASE WHEN span.status.code IN ('2', 'STATUS_CODE_ERROR') THEN 2 ELSE 0 END
                AS status_code,
            list_filter(span.events, lambda e: list_contains({events}, e.name)) AS events
        FROM read
        """
    )


def _log_files(files: Sequence[Path]) -> list[Path]:
    """The files that can hold log records: those with the text ``"resourceLogs"`` anywhere
    (a byte search, far cheaper than parsing a span export a second time), and every
    compressed file."""
    holding = []
    for path in files:
        if path.suffix.lower() in COMPRESSED:
            holding.append(path)
            continue
        if path.stat().st_size == 0:
            continue
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(b'"resourceLogs"') >= 0:
                holding.append(path)
    return holding


def load_events(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """Table ``otel_events``: every event of :data:`EVENT_NAMES`, from the spans' events (of the
    first copy of each span) and from log records, with typed attributes and ``copy_number``
    (a log record read twice, from two files, has 2 on its second copy)."""
    names = sql_list(EVENT_NAMES)
    log_files = _log_files(files)
    logs = (
        f"""SELECT filename, resourceLogs FROM read_json({_listing(log_files)},
                format='newline_delimited',
                columns={{'resourceLogs': {sql_text(_LOGS_EXPORT_TYPE)}}}, filename=true)"""
        if log_files
        else f"SELECT NULL::VARCHAR AS filename, NULL::{_LOGS_EXPORT_TYPE} AS resourceLogs "
        "WHERE false"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE otel_events AS
        WITH span_events AS (
            SELECT file, trace_id, span_id, unnest(events) AS e FROM (
                SELECT *, row_number() OVER (PARTITION BY trace_id, span_id ORDER BY file) AS n
                FROM spans WHERE len(events) > 0
            ) WHERE n = 1
        ), lines AS ({logs}), rl AS (SELECT filename, unnest(resourceLogs) AS r FROM lines),
        sl AS (SELECT filename, unnest(r.scopeLogs) AS s FROM rl),
        records AS (SELECT filename, unnest(s.logRecords) AS l FROM sl),
        log_events AS (
            SELECT filename AS file, nullif(l.traceId, '') AS trace_id,
                nullif(l.spanId, '') AS span_id,
                TRY_CAST(coalesce(nullif(l.timeUnixNano, '0'), l.observedTimeUnixNano) AS HUGEINT)
                    AS t,
                list_transform(l.attributes, {_TYPED_PAIRS}) AS attrs,
                coalesce(nullif(l.eventName, ''), list_filter(list_transform(l.attributes,
                    {_PAIRS}), lambda x: x.k = 'event.name')[1].v) AS name
            FROM records
        )
        SELECT 'span event' AS source, file, trace_id, span_id,
            TRY_CAST(e.timeUnixNano AS HUGEINT) AS t, e.name AS name,
            list_transform(e.attributes, {_TYPED_PAIRS}) AS attrs, 1 AS copy_number
        FROM span_events
        UNION ALL
        SELECT 'log record', file, trace_id, span_id, t, name, attrs,
            row_number() OVER (PARTITION BY trace_id, span_id, t, name, attrs ORDER BY file)
        FROM log_events WHERE list_contains({names}, name)
        """
    )
