"""Bring your own traces: OpenTelemetry GenAI or OpenInference spans -> the dialog log, with a
rejects report.

Reads OTLP/JSON exports (:mod:`abkit.ingest.otlp`: spans and log records, the GenAI and the
OpenInference conventions chosen per span) and streams them through DuckDB (nothing is loaded
whole into Python).

Mapping (every attribute name can be changed):

- one dialog per ``gen_ai.conversation.id`` (OpenInference: ``session.id``), or per trace when a
  span has none;
- ``user_id`` from ``user.id``; the variant from ``feature_flag.result.variant`` (the
  OpenTelemetry feature-flag convention) on the span or its resource, else from another span of
  the same trace (a root span usually carries it) or a ``feature_flag.evaluation`` event in the
  trace (:mod:`abkit.ingest.evaluations`), else the user's: the flag evaluations whose
  ``feature_flag.context.id`` is the user, and the routing's exposure events
  (:data:`abkit.serve.events.EVENT_SCHEMA`), which must agree on one variant;
- ``model_version`` the response model (else the request model); ``turns`` the inference spans
  (``gen_ai.operation.name`` chat, text_completion, generate_content; an OpenInference ``LLM``
  span); ``tokens_in`` / ``tokens_out`` the sums of the input / output token counts;
  ``latency_ms`` the mean duration of the inference spans; ``ttft_ms`` the mean
  ``gen_ai.response.time_to_first_chunk`` (seconds in the convention) of streaming spans;
  ``error`` 1 when a span's status is ERROR or it has ``error.type``;
- outcomes from ``gen_ai.evaluation.result`` events wherever they are, linked and mapped as
  :mod:`abkit.ingest.evaluations` says: by default ``csat``, ``task_completion``
  (-> ``completed``), ``escalated``, ``returned_7d``, and ``feedback`` with label like /
  dislike (-> ``likes`` / ``dislikes``);
- ``cost`` per dialog from a price table (:func:`read_prices`: model -> price per million input
  and output tokens, in the table's currency, with its date).

Every span lands in a dialog or is counted in the rejects report with its reason: another
service, not an LLM span (its user / variant still serve its trace), a malformed attribute,
no user id, no or an unknown variant, several users or variants in one dialog. Every evaluation
and feature-flag event is counted too: used, superseded, or set aside with its reason; spans
whose model has no price leave their dialog's cost empty and are counted.
"""

from __future__ import annotations

import difflib
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from abkit.core.duckdb_session import connect
from abkit.core.params import read_yaml_file
from abkit.ingest.evaluations import (
    OUTCOME_COLUMNS,
    EvaluationRule,
    evaluation_rules,
    flag_events,
    link_evaluations,
)
from abkit.ingest.otlp import Conventions, load_events, load_spans, sql_list, sql_text
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


@dataclass(frozen=True)
class SpanMapping:
    """Which attributes hold what the dialog log needs (defaults: the conventions).

    ``conventions``: ``auto`` reads each span by the conventions it carries (GenAI first), or
    ``genai`` / ``openinference`` only. ``flag_key``: the experiment's feature flag, when the
    export evaluates several. ``evaluations``: name -> column or :class:`EvaluationRule`, added
    to the defaults (:data:`abkit.ingest.evaluations.DEFAULT_EVALUATIONS`)."""

    user: str = "user.id"
    variant: str = "feature_flag.result.variant"
    experiment: str = "feature_flag.key"
    conversation: str = "gen_ai.conversation.id"
    labels: tuple[str, ...] = DEFAULT_VARIANTS
    services: tuple[str, ...] = ()
    evaluations: Mapping[str, EvaluationRule | str] = field(default_factory=dict)
    conventions: Conventions = "auto"
    flag_key: str | None = None


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
    spec = read_yaml_file(source, "prices file")
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
    rejects: pd.DataFrame  # reason, kind, count
    seconds: float
    evaluations: int = 0  # evaluation events read (span events and log records)
    evaluations_used: int = 0  # those that gave a dialog its value
    flag_events: int = 0  # feature-flag evaluation events read
    flag_events_used: int = 0  # those that gave a variant
    conventions: Mapping[str, int] = field(default_factory=dict)  # ingested spans by convention

    def count(self, kind: str) -> int:
        """Report rows of one kind: span, context (not LLM spans), evaluation, superseded (an
        earlier evaluation of a dialog's column: the last counts), flag, price."""
        return int(self.rejects.loc[self.rejects["kind"] == kind, "count"].sum())

    def summary(self) -> str:
        by = ", ".join(f"{n:,} {c}" for c, n in sorted(self.conventions.items()))
        return (
            f"{self.spans:,} spans from {self.files} file(s): {self.spans_ingested:,} in "
            f"{self.dialogs:,} dialogs ({by or 'none'}), {self.count('context'):,} context "
            f"spans (not LLM calls), {self.count('span'):,} rejected; {self.evaluations:,} "
            f"evaluation events: {self.evaluations_used:,} used, {self.count('superseded'):,} "
            f"superseded, {self.count('evaluation'):,} set aside; {self.flag_events:,} "
            f"feature-flag events: {self.flag_events_used:,} used, {self.count('flag'):,} set "
            f"aside; {self.count('price'):,} unpriced spans -> {self.out.name}"
        )


_LLM_MARKS = {
    "auto": "gen_ai.operation.name or openinference.span.kind",
    "genai": "gen_ai.operation.name",
    "openinference": "openinference.span.kind",
}


def _exposure_variants(con: duckdb.DuckDBPyConnection, exposures: Path | None) -> str:
    """Rows (user_id, variant) of the exposure events (or none)."""
    if exposures is None:
        return "SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS variant WHERE false"
    from abkit.analysis.log_source import read_log

    frame = read_log(exposures)  # validated as an event log
    frame = frame[frame["event_type"] == "exposure"][["user_id", "variant"]]
    con.register("exposures_frame", frame)
    return "SELECT user_id, variant FROM exposures_frame"


def _classify(con: duckdb.DuckDBPyConnection, mapping: SpanMapping, exposures_sql: str) -> None:
    """``judged``: every span with its dialog, user, variant and reason (NULL: accepted)."""
    services = (
        f"service IS NOT NULL AND NOT list_contains({sql_list(mapping.services)}, service)"
        if mapping.services
        else "false"
    )
    labels = sql_list(mapping.labels)
    con.execute(
        f"""
        CREATE TEMP TABLE judged AS
        WITH flags AS (SELECT * FROM flag_events WHERE reason IS NULL),
        trace_ctx AS (
            SELECT trace_id,
                count(DISTINCT span_user) AS trace_users, any_value(span_user) AS trace_user,
                any_value(span_experiment) AS trace_experiment,
                any_value(conversation_id) AS trace_conversation
            FROM spans GROUP BY trace_id
        ), trace_variant AS (  -- variant attributes and flag evaluations of the trace
            SELECT trace_id, count(DISTINCT variant) AS trace_variants,
                any_value(variant) AS trace_variant, any_value(flag_key) AS trace_flag
            FROM (
                SELECT trace_id, span_variant AS variant, NULL AS flag_key FROM spans
                WHERE span_variant IS NOT NULL
                UNION ALL
                SELECT trace_id, variant, flag_key FROM flags WHERE trace_id IS NOT NULL
            ) GROUP BY trace_id
        ), exposure AS (  -- the user's: exposures and flag evaluations for the user
            SELECT user_id, any_value(variant) AS variant, count(DISTINCT variant) AS variants
            FROM (
                {exposures_sql}
                UNION ALL
                SELECT context_id, variant FROM flags WHERE context_id IS NOT NULL
            ) GROUP BY user_id
        ),
        resolved AS (
            SELECT s.*,
                coalesce(s.conversation_id, t.trace_conversation, 'trace-' || s.trace_id)
                    AS dialog_id,
                coalesce(s.span_user, CASE WHEN t.trace_users = 1 THEN t.trace_user END) AS user_id,
                t.trace_users,
                coalesce(s.span_variant, CASE WHEN v.trace_variants = 1 THEN v.trace_variant END)
                    AS attr_variant,
                v.trace_variants,
                coalesce(s.span_experiment, t.trace_experiment, v.trace_flag,
                    (SELECT any_value(flag_key) FROM flags)) AS experiment,
                row_number() OVER (PARTITION BY s.trace_id, s.span_id ORDER BY s.file)
                    AS copy_number
            FROM spans s LEFT JOIN trace_ctx t ON t.trace_id = s.trace_id
            LEFT JOIN trace_variant v ON v.trace_id = s.trace_id
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
                        THEN 'not a GenAI span (no {_LLM_MARKS[mapping.conventions]}; its user '
                            || 'and variant still serve its trace)'
                    WHEN end_ns < start_ns THEN 'malformed span: ends before it starts'
                    WHEN input_raw IS NOT NULL AND NOT whole_count(input_raw)
                        THEN 'malformed attribute ' || CASE convention WHEN 'genai'
                            THEN 'gen_ai.usage.input_tokens' ELSE 'llm.token_count.prompt' END
                            || ' = ' || q(input_raw)
                    WHEN output_raw IS NOT NULL AND NOT whole_count(output_raw)
                        THEN 'malformed attribute ' || CASE convention WHEN 'genai'
                            THEN 'gen_ai.usage.output_tokens' ELSE 'llm.token_count.completion'
                            END || ' = ' || q(output_raw)
                    WHEN ttft_raw IS NOT NULL AND coalesce(
                        NOT isfinite(TRY_CAST(ttft_raw AS DOUBLE))
                        OR TRY_CAST(ttft_raw AS DOUBLE) < 0, true)
                        THEN 'malformed attribute gen_ai.response.time_to_first_chunk = '
                            || q(ttft_raw)
                    WHEN span_user IS NULL AND trace_users > 1
                        THEN 'no user id of its own, and its trace has several ({mapping.user})'
                    WHEN user_id IS NULL THEN 'no user id (attribute {mapping.user})'
                    WHEN attr_variant IS NULL AND exposure_variants > 1
                        THEN 'no variant in its trace, and the user has several in the '
                            || 'exposures and feature-flag evaluations'
                    WHEN variant IS NULL
                        THEN 'no variant (attribute {mapping.variant} or a feature-flag '
                            || 'evaluation in its trace, nor an exposure or a flag evaluation '
                            || 'for its user)'
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


def _price_table_sql(con: duckdb.DuckDBPyConnection, prices: PriceTable | None) -> None:
    rows = [] if prices is None else [(m, p[0], p[1]) for m, p in prices.prices.items()]
    frame = pd.DataFrame(rows, columns=["model", "price_in", "price_out"])
    con.register("price_frame", frame)


def _refuse_unmatched_labels(con: duckdb.DuckDBPyConnection, labels: Sequence[str]) -> None:
    """Refuse a label (``--labels``) that no dialog carries while spans were rejected for a
    label spelt nearly the same (difflib's ratio >= 0.8): a misspelt label would write a log of
    one arm and reject the other's spans. A label no span carries otherwise (an arm not served
    yet) is left to the analysis, which refuses a role without rows."""
    found = {row[0] for row in con.execute("SELECT DISTINCT variant FROM dialogs").fetchall()}
    rejected = dict(
        con.execute(
            "SELECT variant, count(*) FROM judged WHERE starts_with(reason, 'unknown variant') "
            "GROUP BY variant"
        ).fetchall()
    )
    for label in labels:
        near = difflib.get_close_matches(label, list(rejected), n=3, cutoff=0.8)
        if label not in found and near:
            carried = ", ".join(f"{v!r} ({rejected[v]:,} spans)" for v in near)
            raise ValueError(
                f"--labels == {list(labels)}: no span carries {label!r}, and spans carrying "
                f"{carried} were rejected as unknown variants; give the labels the spans carry"
            )


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
    con.execute(f"SET memory_limit = {sql_text(memory_limit)}")
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
        load_spans(
            con,
            paths,
            conventions=mapping.conventions,
            user=mapping.user,
            variant=mapping.variant,
            experiment=mapping.experiment,
            conversation=mapping.conversation,
        )
        load_events(con, paths)
    except duckdb.Error as error:
        raise ValueError(
            f"spans files {[str(p) for p in paths]}: not OTLP/JSON lines (one "
            "ExportTraceServiceRequest or ExportLogsServiceRequest per line): "
            f"{str(error).splitlines()[0]}"
        ) from None
    flag_events(
        con, flag_key=mapping.flag_key, variant=mapping.variant, experiment=mapping.experiment
    )
    _classify(con, mapping, _exposure_variants(con, None if exposures is None else Path(exposures)))
    _price_table_sql(con, prices)
    inference = sql_list(INFERENCE_OPERATIONS)
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
    link_evaluations(con, evaluation_rules(mapping.evaluations), mapping.conversation)
    con.execute(  # one value per column left: the last (the others are superseded)
        "CREATE TEMP TABLE outcomes AS SELECT dialog_id, "
        + ", ".join(
            f"any_value(value) FILTER (WHERE column_name = {sql_text(c)}) AS {c}"
            for c in OUTCOME_COLUMNS
            if c != "feedback"  # feedback: likes and dislikes, counted below
        )
        + ", count_if(feedback = 'like') FILTER (WHERE column_name = 'feedback') AS likes, "
        "count_if(feedback = 'dislike') FILTER (WHERE column_name = 'feedback') AS dislikes "
        "FROM eval_judged WHERE reason IS NULL AND NOT superseded GROUP BY dialog_id"
    )
    dialogs = con.execute("SELECT count(*) FROM dialogs").fetchone()[0]
    if not dialogs:
        reasons = con.execute(
            "SELECT reason, count(*) FROM judged GROUP BY reason ORDER BY 2 DESC"
        ).fetchall()
        if not reasons:
            raise ValueError(f"spans files {[str(p) for p in paths]} hold no spans")
        raise ValueError(f"no span could be made into a dialog; rejects: {reasons}")
    _refuse_unmatched_labels(con, mapping.labels)
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
        ) TO {sql_text(str(temporary))} ({fmt})
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
        SELECT 'evaluation ' || q(name) || ' superseded by a later one of its column in its '
            || 'dialog (feedback: on the same answer); the last counts', 'superseded', count(*)
        FROM eval_judged WHERE superseded GROUP BY name
        UNION ALL
        SELECT reason, 'flag', count(*) FROM flag_events WHERE reason IS NOT NULL
        GROUP BY reason
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
                SELECT file, trace_id, span_id, dialog_id, 'evaluation', reason
                FROM eval_judged WHERE reason IS NOT NULL
                UNION ALL
                SELECT file, trace_id, span_id, dialog_id, 'superseded',
                    'evaluation ' || q(name) || ' superseded by a later one (the last counts)'
                FROM eval_judged WHERE superseded
                UNION ALL
                SELECT file, trace_id, span_id, NULL, 'flag', reason FROM flag_events
                WHERE reason IS NOT NULL
            ) TO {sql_text(str(rejects_file))} (FORMAT CSV, HEADER)
            """
        )
    spans, ingested = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reason IS NULL) FROM judged"
    ).fetchone()
    events = con.execute(
        "SELECT (SELECT count(*) FROM eval_judged), (SELECT count(*) FROM eval_judged WHERE "
        "reason IS NULL AND NOT superseded), (SELECT count(*) FROM flag_events), "
        "(SELECT count(*) FROM flag_events WHERE reason IS NULL)"
    ).fetchone()
    conventions = dict(
        con.execute(
            "SELECT convention, count(*) FROM judged WHERE reason IS NULL GROUP BY 1"
        ).fetchall()
    )
    con.close()
    seconds = time.perf_counter() - started
    return IngestReport(
        target,
        len(paths),
        int(spans),
        int(ingested),
        int(dialogs),
        rejects,
        seconds,
        *(int(n) for n in events),
        conventions,
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
