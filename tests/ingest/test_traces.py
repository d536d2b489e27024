"""Ingesting OpenTelemetry GenAI spans: hand-written OTLP/JSON fixtures following the published
GenAI semantic conventions (gen_ai.* span attributes, gen_ai.evaluation.result events, the
collector file exporter's one ExportTraceServiceRequest per line), every field mapped, and
the rejects report for each kind of bad span."""

from __future__ import annotations

import pandas as pd
import pytest
from otlp_spans import T0, USER_V, S, a, chat, evaluation, export  # noqa: E402

from abkit.core.paths import DATA_DIR
from abkit.ingest.otel import SpanMapping, ingest_otel, read_prices
from abkit.teaching.examples import EXAMPLE_INGESTED, EXAMPLE_PRICES, EXAMPLE_SPANS


def test_every_field_of_a_multi_span_streaming_conversation_is_mapped(tmp_path) -> None:
    spans = [
        # turn 1 and 2 of conversation c1 in two traces; streaming (TTFT) on both
        chat(
            "t1",
            "s1",
            T0,
            1.2,
            [
                *USER_V,
                a("gen_ai.conversation.id", "c1"),
                a("gen_ai.request.model", "m-req"),
                a("gen_ai.response.model", "m-2"),
                a("gen_ai.usage.input_tokens", 100),
                a("gen_ai.usage.output_tokens", 40),
                a("gen_ai.response.time_to_first_chunk", 0.25),
            ],
        ),
        chat(
            "t2",
            "s2",
            T0 + 60 * S,
            0.8,
            [
                *USER_V,
                a("gen_ai.conversation.id", "c1"),
                a("gen_ai.response.model", "m-2"),
                a("gen_ai.usage.input_tokens", 150),
                a("gen_ai.usage.output_tokens", 60),
                a("gen_ai.response.time_to_first_chunk", 0.35),
            ],
            events=[
                evaluation("csat", T0 + 70 * S, 4),
                evaluation("csat", T0 + 80 * S, 5),
                evaluation("task_completion", T0 + 80 * S, label="pass"),
                evaluation("escalated", T0 + 80 * S, 0),
                evaluation("returned_7d", T0 + 80 * S, 1),
                evaluation("feedback", T0 + 75 * S, label="like"),
                evaluation("feedback", T0 + 76 * S, label="dislike"),
                evaluation("feedback", T0 + 77 * S, label="like"),
            ],
        ),
        # a tool call in the same conversation: in the dialog, not a turn
        {
            **chat("t2", "s3", T0 + 61 * S, 0.1, [*USER_V, a("gen_ai.conversation.id", "c1")]),
            "attributes": [
                a("gen_ai.operation.name", "execute_tool"),
                *USER_V,
                a("gen_ai.conversation.id", "c1"),
            ],
        },
    ]
    path = export(tmp_path / "spans.jsonl", spans)
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "currency: EUR\ndate: 2026-11-01\nmodels:\n  m-2: {input: 1.0, output: 2.0}\n"
    )
    report = ingest_otel([path], tmp_path / "log.parquet", prices=read_prices(prices))
    assert (report.spans, report.spans_ingested, report.dialogs) == (3, 3, 1)
    # the first of two csat evaluations is superseded, and the report says so
    assert report.rejects.set_index("kind").loc["superseded", "count"] == 1
    row = pd.read_parquet(tmp_path / "log.parquet").iloc[0]
    assert row["dialog_id"] == "c1" and row["user_id"] == "u1" and row["variant"] == "treatment"
    assert row["experiment"] == "exp-1" and row["model_version"] == "m-2"
    assert row["timestamp"] == pd.Timestamp("2026-01-05", tz="UTC")
    assert row["turns"] == 2  # the tool span is not a turn
    assert row["tokens_in"] == 250 and row["tokens_out"] == 100
    assert row["latency_ms"] == pytest.approx(1000.0)  # mean of 1.2 s and 0.8 s
    assert row["ttft_ms"] == pytest.approx(300.0)  # mean of 0.25 s and 0.35 s, in ms
    assert row["csat"] == 5 and row["completed"] == 1 and row["escalated"] == 0
    assert row["returned_7d"] == 1 and row["likes"] == 2 and row["dislikes"] == 1
    assert row["error"] == 0
    assert row["cost"] == pytest.approx((250 * 1.0 + 100 * 2.0) / 1e6)


def test_a_span_without_conversation_id_is_a_dialog_per_trace_and_errors_count(tmp_path) -> None:
    spans = [
        chat("ta", "s1", T0, 1.0, USER_V),
        chat("ta", "s2", T0 + S, 1.0, USER_V, status={"code": 2, "message": "boom"}),
        chat("tb", "s3", T0, 1.0, [*USER_V, a("error.type", "timeout")]),
        chat("tc", "s4", T0, 1.0, USER_V),
    ]
    path = export(tmp_path / "spans.jsonl", spans)
    ingest_otel([path], tmp_path / "log.csv")
    log = pd.read_csv(tmp_path / "log.csv").set_index("dialog_id")
    assert sorted(log.index) == ["trace-ta", "trace-tb", "trace-tc"]
    assert log.loc["trace-ta", "turns"] == 2
    assert log["error"].to_dict() == {"trace-ta": 1, "trace-tb": 1, "trace-tc": 0}
    assert log["csat"].isna().all()  # no evaluation: missing, never 0


def test_user_and_variant_come_from_the_root_span_or_the_resource_or_exposures(tmp_path) -> None:
    root = {
        "traceId": "tr",
        "spanId": "root",
        "parentSpanId": "",
        "name": "POST /chat",
        "kind": 2,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 2 * S),
        "attributes": USER_V,
    }
    path = export(tmp_path / "spans.jsonl", [root, chat("tr", "c", T0, 1.0, [], parent="root")])
    export(path, [chat("tx", "c2", T0, 1.0, [])], resource=USER_V[:2])
    export(path, [chat("ty", "c3", T0, 1.0, [a("user.id", "u9")])])
    events = tmp_path / "events.csv"
    pd.DataFrame(
        {
            "event_id": ["e1"],
            "timestamp": ["2026-01-05T00:00:00Z"],
            "user_id": ["u9"],
            "dialog_id": ["d9"],
            "variant": ["control"],
            "event_type": ["exposure"],
            "status": ["ok"],
        }
    ).to_csv(events, index=False)
    report = ingest_otel([path], tmp_path / "log.parquet", exposures=events)
    log = pd.read_parquet(tmp_path / "log.parquet").set_index("dialog_id")
    assert log.loc["trace-tr", ["user_id", "variant"]].tolist() == ["u1", "treatment"]
    assert log.loc["trace-tx", ["user_id", "variant"]].tolist() == ["u1", "treatment"]
    assert log.loc["trace-ty", ["user_id", "variant"]].tolist() == ["u9", "control"]
    assert report.count("context") == 1 and report.count("span") == 0


BAD = {
    "no user id (attribute user.id)": chat("b1", "x1", T0, 1.0, [USER_V[1]]),
    "unknown variant 'treatment '": chat(
        "b2", "x2", T0, 1.0, [USER_V[0], a("feature_flag.result.variant", "treatment ")]
    ),
    "no variant (attribute feature_flag.result.variant or a feature-flag evaluation in its "
    "trace, nor an exposure or a flag evaluation for its user)": chat(
        "b3", "x3", T0, 1.0, [USER_V[0]]
    ),
    "malformed attribute gen_ai.usage.output_tokens = 'lots'": chat(
        "b4", "x4", T0, 1.0, [*USER_V, a("gen_ai.usage.output_tokens", "lots")]
    ),
    "malformed attribute gen_ai.usage.input_tokens = '-3'": chat(
        "b5", "x5", T0, 1.0, [*USER_V, a("gen_ai.usage.input_tokens", -3)]
    ),
    "malformed attribute gen_ai.response.time_to_first_chunk = 'NaN'": chat(
        "b6",
        "x6",
        T0,
        1.0,
        [*USER_V, {"key": "gen_ai.response.time_to_first_chunk", "value": {"doubleValue": "NaN"}}],
    ),
    "malformed span: ends before it starts": {
        **chat("b7", "x7", T0, 1.0, USER_V),
        "endTimeUnixNano": str(T0 - S),
    },
    "dialog with several user ids": chat(
        "b8", "x8", T0, 1.0, [a("user.id", "uA"), USER_V[1], a("gen_ai.conversation.id", "shared")]
    ),
}


def test_each_kind_of_bad_span_is_counted_with_its_reason(tmp_path) -> None:
    path = export(
        tmp_path / "spans.jsonl",
        [
            chat("ok", "ok", T0, 1.0, USER_V),
            *BAD.values(),
            chat(
                "b9",
                "x9",
                T0,
                1.0,
                [a("user.id", "uB"), USER_V[1], a("gen_ai.conversation.id", "shared")],
            ),
        ],
    )
    export(path, [chat("bz", "xz", T0, 1.0, USER_V)], service="billing")
    report = ingest_otel(
        [path],
        tmp_path / "log.parquet",
        mapping=SpanMapping(services=("support-bot",)),
        rejects_file=tmp_path / "rejects.csv",
    )
    counts = report.rejects.set_index("reason")["count"].to_dict()
    expected = {reason: 1 for reason in BAD}
    expected["dialog with several user ids"] = 2
    expected["span of an unrelated service 'billing'"] = 1
    assert counts == expected
    assert report.spans == report.spans_ingested + sum(counts.values()) == 11
    rows = pd.read_csv(tmp_path / "rejects.csv")
    assert len(rows) == 10 and set(rows["span_id"]) >= {"x1", "x4", "xz"}
    assert pd.read_parquet(tmp_path / "log.parquet")["dialog_id"].tolist() == ["trace-ok"]


def test_unreadable_evaluations_are_counted_and_never_become_outcomes(tmp_path) -> None:
    events = [
        evaluation("csat", T0, 7),
        evaluation("task_completion", T0, 0.5),
        evaluation("mood", T0, 1),
        evaluation("feedback", T0, label="meh"),
        evaluation("escalated", T0, label="maybe"),
    ]
    path = export(tmp_path / "spans.jsonl", [chat("e", "e", T0, 1.0, USER_V, events=events)])
    report = ingest_otel([path], tmp_path / "log.parquet")
    reasons = set(report.rejects.loc[report.rejects["kind"] == "evaluation", "reason"])
    assert reasons == {
        "evaluation 'csat' = 7.0 outside the range of csat",
        "evaluation 'task_completion' = 0.5 outside the range of completed",
        "evaluation 'mood' maps to no column",
        "feedback label 'meh', must be like or dislike",
        "evaluation 'escalated' without a readable score",
    }
    row = pd.read_parquet(tmp_path / "log.parquet").iloc[0]
    assert pd.isna(row["csat"]) and pd.isna(row["completed"]) and pd.isna(row["escalated"])


def test_a_model_without_a_price_leaves_the_cost_empty_and_is_counted(tmp_path) -> None:
    path = export(
        tmp_path / "spans.jsonl",
        [
            chat(
                "p1",
                "p1",
                T0,
                1.0,
                [*USER_V, a("gen_ai.request.model", "priced"), a("gen_ai.usage.output_tokens", 10)],
            ),
            chat(
                "p2",
                "p2",
                T0,
                1.0,
                [
                    *USER_V,
                    a("gen_ai.request.model", "unpriced"),
                    a("gen_ai.usage.output_tokens", 10),
                ],
            ),
        ],
    )
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: USD\ndate: 2026-11-01\nmodels:\n  priced: {input: 1, output: 1}\n")
    report = ingest_otel([path], tmp_path / "log.parquet", prices=read_prices(prices))
    log = pd.read_parquet(tmp_path / "log.parquet").set_index("dialog_id")
    assert log.loc["trace-p1", "cost"] == pytest.approx(10 / 1e6)
    assert pd.isna(log.loc["trace-p2", "cost"])
    assert report.count("price") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency: USD\nmodels: {}\n", "must have currency, date and models"),
        ("currency: USD\ndate: x\nmodels:\n  m: {input: 1}\n", "must be {input: PRICE"),
        ("currency: USD\ndate: x\nmodels:\n  m: {input: -1, output: 1}\n", "must be a price >= 0"),
    ],
)
def test_bad_price_tables_are_refused(tmp_path, text, message) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_prices(path)


def test_a_file_that_is_not_otlp_json_lines_is_refused(tmp_path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text("this is not json\n")
    with pytest.raises(ValueError, match="not OTLP/JSON lines"):
        ingest_otel([path], tmp_path / "log.parquet")
    assert not (tmp_path / "log.parquet").exists()
    with pytest.raises(ValueError, match=r"must end in .parquet or .csv"):
        ingest_otel([path], tmp_path / "log.json")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"spans files \[.*empty.jsonl'\] hold no spans"):
        ingest_otel([empty], tmp_path / "log.parquet")


def test_a_misspelt_label_is_refused_naming_the_labels_the_spans_carry(tmp_path) -> None:
    """--labels control treatmnt would write a log of the control arm alone and reject every
    treatment span as an unknown variant: refused, naming the label and the near spellings the
    spans carry. A label no span carries is otherwise written (an arm not served yet: the log
    of test_each_kind_of_bad_span_is_counted_with_its_reason has no control dialog)."""
    out = tmp_path / "log.parquet"
    with pytest.raises(
        ValueError,
        match=r"--labels == \['control', 'treatmnt'\]: no span carries 'treatmnt', and spans "
        r"carrying 'treatment' \(1,334 spans\), 'treatment ' \(1 spans\) were rejected",
    ):
        misspelt = SpanMapping(labels=("control", "treatmnt"))
        ingest_otel([DATA_DIR / EXAMPLE_SPANS], out, mapping=misspelt)
    assert not out.exists()


def test_the_bundled_export_matches_its_ingested_log_and_the_cli(tmp_path) -> None:
    from kit_cli import abkit

    out = tmp_path / "log.parquet"
    done = abkit(
        "ingest",
        "otel",
        str(DATA_DIR / EXAMPLE_SPANS),
        "--out",
        str(out),
        "--prices",
        str(DATA_DIR / EXAMPLE_PRICES),
        "--service",
        "support-bot",
        "--rejects",
        str(tmp_path / "rejects.csv"),
    )
    assert done.returncode == 0, done.stderr
    assert "4 rejected" in done.stdout
    assert "3,180 evaluation events: 3,179 used, 0 superseded, 1 set aside" in done.stdout
    pd.testing.assert_frame_equal(
        pd.read_parquet(out), pd.read_parquet(DATA_DIR / EXAMPLE_INGESTED)
    )
