"""Evaluation and feature-flag events wherever they are: each linking rule, one at a time."""

from __future__ import annotations

import pandas as pd
import pytest
from otlp_spans import T0, USER_V, S, a, chat, evaluation, export, flag, log_export, span

from abkit.ingest.otel import SpanMapping, ingest_otel

CONV = a("gen_ai.conversation.id", "c1")


def ingest(tmp_path, *paths, mapping=None):
    report = ingest_otel(list(dict.fromkeys(paths)), tmp_path / "log.parquet", mapping=mapping)
    return report, pd.read_parquet(tmp_path / "log.parquet").set_index("dialog_id")


def with_id(event, key, value):
    return {**event, "attributes": [*event["attributes"], a(key, value)]}


def test_an_evaluation_on_a_child_span_reaches_its_call_by_the_parent_chain(tmp_path) -> None:
    path = export(tmp_path / "t.jsonl", [
        chat("t1", "call", T0, 1.0, [*USER_V, CONV]),
        span("t1", "judge", T0 + S, 0.1, parent="call", events=[evaluation("csat", T0, 4)]),
        span("t1", "deeper", T0 + S, 0.1, parent="judge", events=[evaluation("escalated", T0, 1)]),
    ])  # fmt: skip
    report, log = ingest(tmp_path, path)
    assert log.loc["c1", "csat"] == 4 and log.loc["c1", "escalated"] == 1
    assert report.evaluations == report.evaluations_used == 2


def test_a_log_record_without_trace_context_links_by_its_conversation(tmp_path) -> None:
    spans = export(tmp_path / "t.jsonl", [chat("t1", "call", T0, 1.0, [*USER_V, CONV])])
    logs = log_export(tmp_path / "l.jsonl", [
        with_id(evaluation("csat", T0 + 9 * S, 2), "gen_ai.conversation.id", "c1"),
        with_id(evaluation("csat", T0 + 5 * S, 5), "gen_ai.conversation.id", "c1"),
        with_id(evaluation("csat", T0, 3), "gen_ai.conversation.id", "c-unknown"),
    ])  # fmt: skip
    report, log = ingest(tmp_path, spans, logs)
    assert log.loc["c1", "csat"] == 2  # the last by time, not by position in the file
    assert report.count("superseded") == 1
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons.filter(like="linked to no dialog").sum() == 1


def test_feedback_is_kept_per_answer_and_a_changed_mind_supersedes(tmp_path) -> None:
    calls = [
        chat("t1", "c-a", T0, 1.0, [*USER_V, CONV, a("gen_ai.response.id", "r1")]),
        chat("t2", "c-b", T0 + 60 * S, 1.0, [*USER_V, CONV, a("gen_ai.response.id", "r2")]),
    ]
    feedback = span("t9", "fb", T0 + 99 * S, 0.1, [a("user.id", "u1")], events=[
        with_id(evaluation("feedback", T0 + 100 * S, label="like"), "gen_ai.response.id", "r1"),
        with_id(evaluation("feedback", T0 + 101 * S, label="dislike"), "gen_ai.response.id", "r1"),
        with_id(evaluation("feedback", T0 + 102 * S, label="like"), "gen_ai.response.id", "r2"),
    ])  # fmt: skip
    report, log = ingest(tmp_path, export(tmp_path / "t.jsonl", [*calls, feedback]))
    assert (log.loc["c1", "likes"], log.loc["c1", "dislikes"]) == (1, 1)
    assert report.count("superseded") == 1 and report.evaluations_used == 2


def test_an_evaluation_of_a_rejected_dialog_is_counted_not_used(tmp_path) -> None:
    path = export(tmp_path / "t.jsonl", [
        chat("t1", "ok", T0, 1.0, [*USER_V, CONV]),
        chat("t2", "bad", T0, 1.0, [a("user.id", "u2"), a("gen_ai.conversation.id", "c2")],
             events=[evaluation("csat", T0, 4)]),
    ])  # fmt: skip
    report, _ = ingest(tmp_path, path)
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons[
        "evaluation of a dialog that was not ingested (its spans were rejected)"
    ] == 1  # fmt: skip


def test_the_variant_from_a_flag_event_in_the_trace_or_for_the_user(tmp_path) -> None:
    user = [a("user.id", "u1")]
    path = export(tmp_path / "t.jsonl", [
        # first request: the flag evaluated on the request span (the root)
        span("t1", "root", T0, 1.0, user, events=[flag("treatment", user="u1")]),
        chat("t1", "call", T0, 0.5, [*user, CONV], parent="root"),
        # a later request of the same user: no flag in its trace, the context id carries it
        chat("t2", "call2", T0 + S, 0.5, [*user, a("gen_ai.conversation.id", "c2")]),
        # a flag event without a variant is counted
        span("t3", "root3", T0, 1.0, user, events=[flag(None)]),
    ])  # fmt: skip
    report, log = ingest(tmp_path, path)
    assert log.loc["c1", "variant"] == log.loc["c2", "variant"] == "treatment"
    assert log.loc["c1", "experiment"] == "exp-1"
    assert report.flag_events == 2 and report.flag_events_used == 1
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons["feature-flag evaluation of 'exp-1' without a variant "
                   "(feature_flag.result.variant)"] == 1  # fmt: skip


def test_flag_evaluations_and_exposures_that_disagree_give_no_variant(tmp_path) -> None:
    user = [a("user.id", "u1")]
    path = export(tmp_path / "t.jsonl", [
        span("t1", "root", T0, 1.0, user, events=[flag("treatment", user="u1")]),
        chat("t2", "call2", T0 + S, 0.5, [*user, CONV]),
        span("t3", "root3", T0, 1.0, user, events=[flag("control", user="u1")]),
        chat("t4", "ok", T0, 0.5, [*USER_V, a("gen_ai.conversation.id", "c9")]),
    ])  # fmt: skip
    report, log = ingest(tmp_path, path)
    assert "c1" not in log.index
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons["no variant in its trace, and the user has several in the exposures and "
                   "feature-flag evaluations"] == 1  # fmt: skip


@pytest.mark.parametrize("conventions", ["auto", "openinference"])
def test_an_openinference_span_is_a_call_of_its_session(tmp_path, conventions) -> None:
    attrs = [
        a("openinference.span.kind", "LLM"), a("llm.model_name", "m-oi"),
        a("llm.token_count.prompt", 30), a("llm.token_count.completion", 12),
        a("session.id", "s1"), a("user.id", "u1"), a("feature_flag.result.variant", "control"),
    ]  # fmt: skip
    chain = [a("openinference.span.kind", "CHAIN"), a("session.id", "s1"), a("user.id", "u1")]
    oi = {**chat("t1", "llm", T0, 2.0, []), "attributes": attrs}
    parent = {**chat("t1", "chain", T0, 3.0, []), "attributes": chain}
    report, log = ingest(
        tmp_path, export(tmp_path / "t.jsonl", [oi, parent]),
        mapping=SpanMapping(conventions=conventions),
    )  # fmt: skip
    row = log.loc["s1"]
    assert (row["turns"], row["tokens_in"], row["tokens_out"]) == (1, 30, 12)
    assert row["model_version"] == "m-oi" and row["latency_ms"] == pytest.approx(2000.0)
    assert report.conventions == {"openinference": 2}


def test_the_older_flag_event_and_a_compressed_logs_file_are_read(tmp_path) -> None:
    import gzip

    user = [a("user.id", "u1")]
    older = {  # the event before semantic conventions 1.28: feature_flag, feature_flag.variant
        "timeUnixNano": str(T0),
        "name": "feature_flag",
        "attributes": [a("feature_flag.key", "exp-1"), a("feature_flag.variant", "control")],
    }
    spans = export(tmp_path / "t.jsonl", [
        span("t1", "root", T0, 1.0, user, events=[older]),
        chat("t1", "call", T0, 0.5, [*user, CONV], parent="root"),
    ])  # fmt: skip
    plain = log_export(tmp_path / "l.jsonl", [
        with_id(evaluation("csat", T0 + 9 * S, 2), "gen_ai.conversation.id", "c1"),
    ])  # fmt: skip
    packed = tmp_path / "logs.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    report, log = ingest(tmp_path, spans, packed)
    assert log.loc["c1", "variant"] == "control" and log.loc["c1", "csat"] == 2
    assert report.flag_events_used == 1 and report.evaluations_used == 1
