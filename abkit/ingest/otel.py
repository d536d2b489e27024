"""Bring your own traces: OpenTelemetry GenAI spans -> the dialog log, with a rejects report.

Reads OTLP/JSON span exports as the OpenTelemetry collector's file exporter writes them (one
``ExportTraceServiceRequest`` per line: ``resourceSpans`` -> ``scopeSpans`` -> ``spans``, each
attribute ``{"key": ..., "value": {"stringValue" | "intValue" | "doubleValue" | "boolValue"}}``)
and streams them through DuckDB (nothing is loaded whole into Python).

Mapping (GenAI semantic conventions; every attribute name can be changed):

- one dialog per ``gen_ai.conversation.id``, or per trace when a span has none;
- ``user_id`` from ``user.id`` and the variant from ``feature_flag.result.variant`` (the
  OpenTelemetry feature-flag convention), on the span or its resource, else on another span of
  the same trace (a root span usually carries them); or the variant from the routing's exposure
  events (:data:`abkit.serve.events.EVENT_SCHEMA`: each user's one variant);
- ``model_version`` from ``gen_ai.response.model`` (else ``gen_ai.request.model``); ``turns``
  the inference spans (``gen_ai.operation.name`` chat, text_completion, generate_content);
  ``tokens_in`` / ``tokens_out`` the sums of ``gen_ai.usage.input_tokens`` /
  ``output_tokens``; ``latency_ms`` the mean duration of the inference spans; ``ttft_ms`` the
  mean ``gen_ai.response.time_to_first_chunk`` (seconds in the convention) of streaming spans;
  ``error`` 1 when a span's status is ERROR or it has ``error.type``;
- outcomes from ``gen_ai.evaluation.result`` events (``gen_ai.evaluation.name`` and
  ``gen_ai.evaluation.score.value`` / ``.label``): by default ``csat``, ``task_completion``
  (-> ``completed``), ``escalated``, ``returned_7d``, and ``feedback`` with label like /
  dislike (-> ``likes`` / ``dislikes``); the last value of a dialog counts;
- ``cost`` per dialog from a price table (:func:`read_prices`: model -> price per million input
  and output tokens, in the table's currency, with its date).

Every span lands in a dialog or is counted in the rejects report with its reason: another
service, not a GenAI span (its user / variant still serve its trace), a malformed attribute,
no user id, no or an unknown variant, several users or variants in one dialog. Evaluation
events that cannot be read (unknown name, value outside the column's range) are counted there
too; spans whose model has no price leave their dialog's cost empty and are counted.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from abkit.core.duckdb_session import connect
from abkit.core.params import load_yaml
from abkit.plan.metrics import DEFAULT_COLUMN_RULES
from abkit.serve.events import DEFAULT_VARIANTS

__all__ = [
    "INFERENCE_OPERATIONS",
    "IngestReport",
    "PriceTable",
    "SpanMapping",
    "ingest_otel",
    "read_prices",
]

INFERENCE_OPERATIONS = ("chat", "text_completion", "generate_content")
# evaluation name -> dialog-log column (feedback: a label like / dislike, counted)
DEFAULT_EVALUATIONS: dict[str, str] = {
    "csat": "csat",
    "task_completion": "completed",
    "escalated": "escalated",
    "returned_7d": "returned_7d",
    "feedback": "feedback",
}
_TRUE = ("1", "true", "pass", "yes", "resolved", "correct")
_FALSE = ("0", "false", "fail", "no", "unresolved", "incorrect")


@dataclass(frozen=True)
class SpanMapping:
    """Which span attributes hold what the dialog log needs (defaults: the conventions)."""

    user: str = "user.id"
    variant: str = "feature_flag.result.variant"
    experiment: str = "feature_flag.key"
    conversation: str = "gen_ai.conversation.id"
    labels: tuple[str, ...] = DEFAULT_VARIANTS
    services: tuple[str, ...] = ()
    evaluations: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVALUATIONS))


@dataclass(frozen=True)
class PriceTable:
    """Price per million tokens by model, in one currency, as of a date."""

    currency: str
    date: str
    prices: Mapping[str, tuple[float, float]]  # model -> (input, output)


def read_prices(path: str | Path) -> PriceTable:
    """A price table YAML::

        currency: USD
        date: 2026-11-01            # when these prices were read
        models:
          gpt-4o-mini: {input: 0.15, output: 0.60}     # per million tokens

    Raises:
        ValueError: a missing key, a model without both prices, a negative or non-numeric price.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"prices file '{source}': cannot be read ({error})") from None
    spec = load_yaml(text, f"prices file '{source}'")
    if not isinstance(spec, Mapping) or not {"currency", "date", "models"} <= set(spec):
        raise ValueError(f"prices file '{source}' must have currency, date and models")
    if not isinstance(spec["models"], Mapping) or not spec["models"]:
        raise ValueError(f"prices file '{source}': models must map model names to prices")
    prices = {}
    for model, entry in spec["models"].items():
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output"}:
            raise ValueError(
                f"prices file '{source}': models[{model!r}] == {entry!r}, must be "
                "{input: PRICE, output: PRICE} per million tokens"
            )
        pair = []
        for side in ("input", "output"):
            value = entry[side]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"prices file '{source}': models[{model!r}].{side} == {value!r}, must be a "
                    "price >= 0 per million tokens"
                )
            pair.append(float(value))
        prices[str(model)] = (pair[0], pair[1])
    return PriceTable(str(spec["currency"]), str(spec["date"]), prices)


@dataclass(frozen=True)
class IngestReport:
    """What an ingestion did: counts, and the rejects (one row per reason, with a count)."""

    out: Path
    files: int
    spans: int
    spans_ingested: int
    dialogs: int
    rejects: pd.DataFrame  # reason, kind (span / context / evaluation / price / superseded), count
    seconds: float

    def count(self, kind: str) -> int:
        """Report rows of one kind: span, context (not GenAI spans), evaluation, price,
        superseded (an earlier evaluation of the same name in a dialog: the last counts)."""
        return int(self.rejects.loc[self.rejects["kind"] == kind, "count"].sum())

    def summary(self) -> str:
        return (
            f"{self.spans:,} spans from {self.files} file(s): {self.spans_ingested:,} in "
            f"{self.dialogs:,} dialogs, {self.count('context'):,} context spans (not GenAI), "
            f"{self.count('span'):,} rejected; {self.count('evaluation'):,} evaluation events "
            f"and {self.count('price'):,} unpriced spans set aside -> {self.out.name}"
        )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_text(v) for v in values) + "]::VARCHAR[]"


# The OTLP/JSON shape read (fields not named here are ignored). Values are read as text: the
# protobuf JSON mapping writes int64 as strings, doubles may be "NaN", enums may be names.
_VALUE_TYPE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue VARCHAR, boolValue VARCHAR)"
)
_ATTRS_TYPE = f"STRUCT(key VARCHAR, value {_VALUE_TYPE})[]"
_SPAN_TYPE = (
    "STRUCT(traceId VARCHAR, spanId VARCHAR, startTimeUnixNano VARCHAR, endTimeUnixNano VARCHAR, "
    f"attributes {_ATTRS_TYPE}, events STRUCT(timeUnixNano VARCHAR, name VARCHAR, "
    f"attributes {_ATTRS_TYPE})[], status STRUCT(code VARCHAR, message VARCHAR))"
)
_EXPORT_TYPE = (
    f"STRUCT(resource STRUCT(attributes {_ATTRS_TYPE}), "
    f"scopeSpans STRUCT(spans {_SPAN_TYPE}[])[])[]"
)
_PAIRS = (
    "lambda a: {'k': a.key, 'v': coalesce(a.value.stringValue, a.value.intValue, "
    "a.value.doubleValue, a.value.boolValue)}"
)


def _load_spans(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], mapping: SpanMapping
) -> None:
    """One row per span in table ``spans`` with the attributes the mapping names, read in one
    pass with a typed schema (DuckDB parses straight into structs)."""
    listing = "[" + ", ".join(_sql_text(str(f)) for f in files) + "]"

    def attr(name: str) -> str:  # the span's attribute, else its resource's
        key = _sql_text(name)
        return (
            f"coalesce(list_filter(sattrs, lambda x: x.k = {key})[1].v, "
            f"list_filter(rattrs, lambda x: x.k = {key})[1].v)"
        )

    con.execute(
        f"""
        CREATE TEMP TABLE spans AS
        WITH lines AS (
            SELECT filename, resourceSpans FROM read_json({listing},
                format='newline_delimited', columns={{'resourceSpans': {_sql_text(_EXPORT_TYPE)}}},
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
        )
        SELECT
            filename AS file,
            span.traceId AS trace_id,
            span.spanId AS span_id,
            {attr("service.name")} AS service,
            {attr("gen_ai.operation.name")} AS operation,
            coalesce({attr("gen_ai.response.model")}, {attr("gen_ai.request.model")}) AS model,
            {attr(mapping.conversation)} AS conversation_id,
            {attr(mapping.user)} AS span_user,
            {attr(mapping.variant)} AS span_variant,
            {attr(mapping.experiment)} AS span_experiment,
            {attr("gen_ai.usage.input_tokens")} AS input_raw,
            {attr("gen_ai.usage.output_tokens")} AS output_raw,
            {attr("gen_ai.response.time_to_first_chunk")} AS ttft_raw,
            {attr("error.type")} AS error_type,
            TRY_CAST(span.startTimeUnixNano AS HUGEINT) AS start_ns,
            TRY_CAST(span.endTimeUnixNano AS HUGEINT) AS end_ns,
            CASE WHEN span.status.code IN ('2', 'STATUS_CODE_ERROR') THEN 2 ELSE 0 END
                AS status_code,
            list_filter(span.events, lambda e: e.name = 'gen_ai.evaluation.result') AS events
        FROM attributed
        """
    )


def _exposure_variants(con: duckdb.DuckDBPyConnection, exposures: Path | None) -> str:
    """The ``users`` CTE: each user's variant from the exposure events (or an empty table)."""
    if exposures is None:
        return (
            "SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS variant, 0 AS variants WHERE false"
        )
    from abkit.analysis.log_source import read_log

    frame = read_log(exposures)  # validated as an event log
    frame = frame[frame["event_type"] == "exposure"][["user_id", "variant"]]
    con.register("exposures_frame", frame)
    return (
        "SELECT user_id, any_value(variant) AS variant, count(DISTINCT variant) AS variants "
        "FROM exposures_frame GROUP BY user_id"
    )


def _classify(con: duckdb.DuckDBPyConnection, mapping: SpanMapping, exposures_sql: str) -> None:
    """``judged``: every span with its dialog, user, variant and reason (NULL: accepted)."""
    services = (
        f"service IS NOT NULL AND NOT list_contains({_sql_list(mapping.services)}, service)"
        if mapping.services
        else "false"
    )
    labels = _sql_list(mapping.labels)
    con.execute(
        f"""
        CREATE TEMP TABLE judged AS
        WITH trace_ctx AS (
            SELECT trace_id,
                count(DISTINCT span_user) AS trace_users, any_value(span_user) AS trace_user,
                count(DISTINCT span_variant) AS trace_variants,
                any_value(span_variant) AS trace_variant,
                any_value(span_experiment) AS trace_experiment,
                any_value(conversation_id) AS trace_conversation
            FROM spans GROUP BY trace_id
        ), exposure AS ({exposures_sql}),
        resolved AS (
            SELECT s.*,
                coalesce(s.conversation_id, t.trace_conversation, 'trace-' || s.trace_id)
                    AS dialog_id,
                coalesce(s.span_user, CASE WHEN t.trace_users = 1 THEN t.trace_user END) AS user_id,
                t.trace_users,
                coalesce(s.span_variant, CASE WHEN t.trace_variants = 1 THEN t.trace_variant END)
                    AS attr_variant,
                t.trace_variants,
                coalesce(s.span_experiment, t.trace_experiment) AS experiment,
                row_number() OVER (PARTITION BY s.trace_id, s.span_id ORDER BY s.file)
                    AS copy_number
            FROM spans s LEFT JOIN trace_ctx t ON t.trace_id = s.trace_id
        ), with_variant AS (
            SELECT r.*, coalesce(r.attr_variant, e.variant) AS variant,
                e.variants AS exposure_variants
            FROM resolved r LEFT JOIN exposure e ON e.user_id = r.user_id
        ), checked AS (
            SELECT *,
                CASE
                    WHEN trace_id IS NULL OR span_id IS NULL OR start_ns IS NULL OR end_ns IS NULL
                        THEN 'malformed span: traceId, spanId, startTimeUnixNano and '
                            || 'endTimeUnixNano are required'
                    WHEN copy_number > 1
                        THEN 'duplicate span: the same traceId and spanId came earlier (the '
                            || 'same export read twice?); counted once'
                    WHEN {services} THEN 'span of an unrelated service ' || q(service)
                    WHEN operation IS NULL
                        THEN 'not a GenAI span (no gen_ai.operation.name; its user and variant '
                            || 'still serve its trace)'
                    WHEN end_ns < start_ns THEN 'malformed span: ends before it starts'
                    WHEN input_raw IS NOT NULL AND NOT whole_count(input_raw)
                        THEN 'malformed attribute gen_ai.usage.input_tokens = ' || q(input_raw)
                    WHEN output_raw IS NOT NULL AND NOT whole_count(output_raw)
                        THEN 'malformed attribute gen_ai.usage.output_tokens = ' || q(output_raw)
                    WHEN ttft_raw IS NOT NULL AND coalesce(
                        NOT isfinite(TRY_CAST(ttft_raw AS DOUBLE))
                        OR TRY_CAST(ttft_raw AS DOUBLE) < 0, true)
                        THEN 'malformed attribute gen_ai.response.time_to_first_chunk = '
                            || q(ttft_raw)
                    WHEN span_user IS NULL AND trace_users > 1
                        THEN 'no user id of its own, and its trace has several ({mapping.user})'
                    WHEN user_id IS NULL THEN 'no user id (attribute {mapping.user})'
                    WHEN attr_variant IS NULL AND exposure_variants > 1
                        THEN 'no variant attribute, and the user has several variants in the '
                            || 'exposures'
                    WHEN variant IS NULL
                        THEN 'no variant (attribute {mapping.variant}, nor an exposure of its '
                            || 'user)'
                    WHEN NOT list_contains({labels}, variant)
                        THEN 'unknown variant ' || q(variant)
                END AS reason
            FROM with_variant
        ), dialogs_ok AS (
            SELECT dialog_id, count(DISTINCT user_id) AS users, count(DISTINCT variant) AS variants
            FROM checked WHERE reason IS NULL GROUP BY dialog_id
        )
        SELECT c.* REPLACE (
            CASE
                WHEN c.reason IS NOT NULL THEN c.reason
                WHEN d.users > 1 THEN 'dialog with several user ids'
                WHEN d.variants > 1 THEN 'dialog with several variants'
            END AS reason
        )
        FROM checked c LEFT JOIN dialogs_ok d USING (dialog_id)
        """
    )


def _evaluations(con: duckdb.DuckDBPyConnection, mapping: SpanMapping) -> None:
    """``eval_judged``: every evaluation event of an accepted span with its dialog, time, the
    column it maps to, its value and the reason it cannot be read (NULL: read)."""
    names = mapping.evaluations
    cases = " ".join(f"WHEN {_sql_text(k)} THEN {_sql_text(v)}" for k, v in names.items())
    rules = []
    for column in sorted(set(names.values()) - {"feedback"}):
        rule = DEFAULT_COLUMN_RULES.get(column)
        if rule is not None:
            rules.append(
                f"WHEN {_sql_text(column)} THEN value BETWEEN {rule.low} AND {rule.high}"
                + (" AND value = round(value)" if rule.integer else "")
            )
    con.execute(
        f"""
        CREATE TEMP TABLE eval_raw AS
        WITH ev AS (
            SELECT dialog_id, unnest(events) AS e FROM judged
            WHERE reason IS NULL AND len(events) > 0
        ), named AS (
            SELECT dialog_id, TRY_CAST(e.timeUnixNano AS HUGEINT) AS t,
                list_transform(e.attributes, {_PAIRS}) AS attrs
            FROM ev
        )
        SELECT dialog_id, t,
            list_filter(attrs, lambda x: x.k = 'gen_ai.evaluation.name')[1].v AS name,
            list_filter(attrs, lambda x: x.k = 'gen_ai.evaluation.score.value')[1].v AS score,
            lower(list_filter(attrs, lambda x: x.k = 'gen_ai.evaluation.score.label')[1].v)
                AS label
        FROM named
        """
    )
    true_list, false_list = _sql_list(_TRUE), _sql_list(_FALSE)
    con.execute(
        f"""
        CREATE TEMP TABLE eval_read AS
        SELECT dialog_id, t, name, score, label,
            CASE name {cases} END AS column_name,
            coalesce(TRY_CAST(score AS DOUBLE),
                CASE WHEN list_contains({true_list}, label) THEN 1.0
                     WHEN list_contains({false_list}, label) THEN 0.0 END) AS value
        FROM eval_raw
        """
    )
    checks = " ".join(rules) if rules else ""
    con.execute(
        f"""
        CREATE TEMP TABLE eval_judged AS
        SELECT *, CASE
            WHEN name IS NULL THEN 'evaluation without gen_ai.evaluation.name'
            WHEN column_name IS NULL THEN 'evaluation ' || q(name) || ' maps to no column'
            WHEN column_name = 'feedback' AND label NOT IN ('like', 'dislike', 'thumbs_up',
                'thumbs_down') THEN 'feedback label ' || q(coalesce(label, '')) ||
                ', must be like or dislike'
            WHEN column_name <> 'feedback' AND (value IS NULL OR NOT isfinite(value))
                THEN 'evaluation ' || q(name) || ' without a readable score'
            WHEN column_name <> 'feedback' AND NOT (CASE column_name {checks} ELSE true END)
                THEN 'evaluation ' || q(name) || ' = ' || CAST(value AS VARCHAR) ||
                    ' outside the range of ' || column_name
        END AS reason
        FROM eval_read
        """
    )


def _price_table_sql(con: duckdb.DuckDBPyConnection, prices: PriceTable | None) -> None:
    rows = [] if prices is None else [(m, p[0], p[1]) for m, p in prices.prices.items()]
    frame = pd.DataFrame(rows, columns=["model", "price_in", "price_out"])
    con.register("price_frame", frame)


def ingest_otel(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    mapping: SpanMapping | None = None,
    prices: PriceTable | None = None,
    exposures: str | Path | None = None,
    rejects_file: str | Path | None = None,
    memory_limit: str = "1500MB",
) -> IngestReport:
    """Turn OTLP/JSON span exports into a dialog log at ``out`` (.parquet or .csv).

    Returns:
        :class:`IngestReport`; ``rejects_file`` (CSV) also gets one row per rejected span or
        evaluation (file, trace_id, span_id, dialog_id, reason).

    Raises:
        ValueError: no file, a file that is not OTLP/JSON lines, an output of another kind,
            or no span left to make a dialog of (the rejects are then in the message).
    """
    started = time.perf_counter()
    mapping = mapping or SpanMapping()
    paths = [Path(f) for f in files]
    if not paths:
        raise ValueError("SPANS: give at least one OTLP/JSON span export")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"spans file '{path}': no such file")
    target = Path(out)
    if target.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out == '{target}': must end in .parquet or .csv")
    for name, path in (("--out", target), ("--rejects", rejects_file)):
        if path is not None:  # before anything is read: never a log written, then a failure
            _check_writable(name, Path(path))
    con = connect()
    con.execute(f"SET memory_limit = {_sql_text(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE MACRO q(x) AS '''' || x || ''''")  # a value quoted in a reason
    # a token count: a whole number >= 0 (12.7 is refused, never rounded to 13 by a cast)
    con.execute(
        "CREATE MACRO whole_count(x) AS coalesce(isfinite(TRY_CAST(x AS DOUBLE)) AND "
        "TRY_CAST(x AS DOUBLE) >= 0 AND TRY_CAST(x AS DOUBLE) = floor(TRY_CAST(x AS DOUBLE)), "
        "false)"
    )
    try:
        _load_spans(con, paths, mapping)
    except duckdb.Error as error:
        raise ValueError(
            f"spans files {[str(p) for p in paths]}: not OTLP/JSON lines "
            f"(one ExportTraceServiceRequest per line): {str(error).splitlines()[0]}"
        ) from None
    _classify(con, mapping, _exposure_variants(con, None if exposures is None else Path(exposures)))
    _evaluations(con, mapping)
    _price_table_sql(con, prices)
    inference = _sql_list(INFERENCE_OPERATIONS)
    con.execute(
        f"""
        CREATE TEMP TABLE dialogs AS
        WITH ok AS (
            SELECT j.*, TRY_CAST(input_raw AS BIGINT) AS tokens_in,
                TRY_CAST(output_raw AS BIGINT) AS tokens_out,
                TRY_CAST(ttft_raw AS DOUBLE) * 1000 AS ttft_ms,
                CAST(end_ns - start_ns AS DOUBLE) / 1e6 AS duration_ms,
                list_contains({inference}, operation) AS is_inference,
                coalesce(TRY_CAST(input_raw AS BIGINT), 0)
                    + coalesce(TRY_CAST(output_raw AS BIGINT), 0) > 0 AS has_tokens,
                p.price_in, p.price_out
            FROM judged j LEFT JOIN price_frame p ON p.model = j.model
            WHERE reason IS NULL
        )
        SELECT
            o.dialog_id,
            any_value(o.user_id) AS user_id,
            any_value(o.variant) AS variant,
            make_timestamptz(CAST(min(o.start_ns) / 1000 AS BIGINT)) AS timestamp,
            any_value(o.experiment) AS experiment,
            mode(o.model) AS model_version,
            count_if(o.is_inference) AS turns,
            avg(o.duration_ms) FILTER (WHERE o.is_inference) AS latency_ms,
            avg(o.ttft_ms) FILTER (WHERE o.is_inference) AS ttft_ms,
            sum(o.tokens_in) AS tokens_in,
            sum(o.tokens_out) AS tokens_out,
            CAST(max(CASE WHEN o.status_code = 2 OR o.error_type IS NOT NULL THEN 1 ELSE 0 END)
                AS BIGINT) AS error,
            CASE WHEN {"true" if prices is not None else "false"}
                AND count_if(o.has_tokens AND o.price_in IS NULL) = 0 THEN
                coalesce(sum(o.tokens_in * o.price_in), 0) / 1e6
                + coalesce(sum(o.tokens_out * o.price_out), 0) / 1e6 END AS cost
        FROM ok o GROUP BY o.dialog_id
        """
    )
    con.execute(
        "CREATE TEMP TABLE outcomes AS SELECT dialog_id, "
        + ", ".join(
            f"arg_max(value, coalesce(t, 0)) FILTER (WHERE column_name = {_sql_text(c)}) AS {c}"
            for c in ("completed", "escalated", "csat", "returned_7d")
        )
        + ", count_if(label IN ('like', 'thumbs_up')) FILTER (WHERE column_name = 'feedback') "
        "AS likes, count_if(label IN ('dislike', 'thumbs_down')) FILTER (WHERE column_name = "
        "'feedback') AS dislikes FROM eval_judged WHERE reason IS NULL GROUP BY dialog_id"
    )
    dialogs = con.execute("SELECT count(*) FROM dialogs").fetchone()[0]
    if not dialogs:
        reasons = con.execute(
            "SELECT reason, count(*) FROM judged GROUP BY reason ORDER BY 2 DESC"
        ).fetchall()
        if not reasons:
            raise ValueError(f"spans files {[str(p) for p in paths]} hold no spans")
        raise ValueError(f"no span could be made into a dialog; rejects: {reasons}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = "FORMAT PARQUET" if target.suffix.lower() == ".parquet" else "FORMAT CSV, HEADER"
    temporary = target.with_name(target.name + ".tmp")
    con.execute(
        f"""
        COPY (
            SELECT d.dialog_id, d.user_id, d.variant, d.timestamp, d.experiment, d.model_version,
                d.turns, CAST(c.completed AS BIGINT) AS completed,
                CAST(c.escalated AS BIGINT) AS escalated, c.csat, d.latency_ms, d.tokens_out,
                CASE WHEN c.likes + c.dislikes > 0 THEN c.likes END AS likes,
                CASE WHEN c.likes + c.dislikes > 0 THEN c.dislikes END AS dislikes,
                CAST(c.returned_7d AS BIGINT) AS returned_7d, d.error, d.tokens_in, d.ttft_ms,
                d.cost
            FROM dialogs d LEFT JOIN outcomes c USING (dialog_id)
            ORDER BY d.timestamp, d.dialog_id
        ) TO {_sql_text(str(temporary))} ({fmt})
        """
    )
    temporary.replace(target)
    rejects = con.execute(
        """
        SELECT reason,
            CASE WHEN starts_with(reason, 'not a GenAI span') THEN 'context' ELSE 'span' END
                AS kind,
            count(*) AS count
        FROM judged WHERE reason IS NOT NULL GROUP BY reason
        UNION ALL
        SELECT reason, 'evaluation', count(*) FROM eval_judged WHERE reason IS NOT NULL
        GROUP BY reason
        UNION ALL
        SELECT 'evaluation ' || q(name) || ' superseded by a later one in its dialog (the last '
            || 'counts)', 'superseded', count(*) - count(DISTINCT dialog_id)
        FROM eval_judged WHERE reason IS NULL AND column_name <> 'feedback'
        GROUP BY name HAVING count(*) > count(DISTINCT dialog_id)
        UNION ALL
        SELECT 'model without a price: ' || coalesce(j.model, '(none)'), 'price', count(*)
        FROM judged j LEFT JOIN price_frame p ON p.model = j.model
        WHERE j.reason IS NULL AND p.model IS NULL AND (SELECT count(*) FROM price_frame) > 0
            AND coalesce(TRY_CAST(j.input_raw AS BIGINT), 0)
                + coalesce(TRY_CAST(j.output_raw AS BIGINT), 0) > 0
        GROUP BY ALL
        ORDER BY 3 DESC, 1
        """
    ).df()
    if rejects_file is not None:
        con.execute(
            f"""
            COPY (
                SELECT file, trace_id, span_id, dialog_id, 'span' AS kind, reason FROM judged
                WHERE reason IS NOT NULL
                UNION ALL
                SELECT NULL, NULL, NULL, dialog_id, 'evaluation', reason FROM eval_judged
                WHERE reason IS NOT NULL
            ) TO {_sql_text(str(rejects_file))} (FORMAT CSV, HEADER)
            """
        )
    spans, ingested = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reason IS NULL) FROM judged"
    ).fetchone()
    con.close()
    seconds = time.perf_counter() - started
    return IngestReport(
        target, len(paths), int(spans), int(ingested), int(dialogs), rejects, seconds
    )


def _check_writable(name: str, path: Path) -> None:
    """Refuse an output path that cannot be written (a folder, an unwritable or missing
    parent that cannot be made), naming the option."""
    if path.is_dir():
        raise ValueError(f"{name} == '{path}' is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{name} == '{path}': its folder cannot be made ({error})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{name} == '{path}' cannot be written (no permission)")
