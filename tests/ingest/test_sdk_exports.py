"""Exports written by the real OpenTelemetry SDK (tests/reference/otel_sdk/make_exports.py: the
GenAI utilities, OpenInference's OpenAI instrumentor, the OTLP JSON file exporter) read back:
every dialog as the bot recorded it (truth.csv), every event counted (counts.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from abkit.ingest.evaluations import read_evaluation_table
from abkit.ingest.otel import SpanMapping, ingest_otel

HERE = Path(__file__).resolve().parents[1] / "reference" / "otel_sdk"
TABLE = {
    "thumbs": {"column": "feedback", "labels": {"up": "like", "down": "dislike"}},
    "resolved": "completed",
}
MAPPING = SpanMapping(flag_key="support-model-test", evaluations=TABLE)
EXPORTS = ("genai", "openinference")


def files(export: str) -> list[Path]:
    return [HERE / f"{export}_traces.jsonl", HERE / f"{export}_logs.jsonl"]


@pytest.mark.parametrize("export", EXPORTS)
def test_every_dialog_is_what_the_bot_recorded(tmp_path, export: str) -> None:
    report = ingest_otel(files(export), tmp_path / "log.parquet", mapping=MAPPING)
    log = pd.read_parquet(tmp_path / "log.parquet").set_index("dialog_id").sort_index()
    truth = pd.read_csv(HERE / "truth.csv")
    truth = truth[truth["export"] == export].set_index("conversation").sort_index()
    assert report.dialogs == len(truth) and list(log.index) == list(truth.index)
    assert report.conventions == {export: int(truth["turns"].sum())}
    for column in ("user_id", "variant", "turns", "tokens_in", "tokens_out"):
        assert (log[column] == truth[column]).all(), column
    assert (log["experiment"] == "support-model-test").all()
    # outcomes from feedback spans, log records and the call's (or request's) span
    for column in ("completed", "likes", "dislikes", "csat"):
        pd.testing.assert_series_equal(
            log[column].astype(float), truth[column].astype(float), check_names=False
        )
    # users 20-23 evaluate the flag on their first request only: the context id carries it
    late = truth.index[truth["user_id"].str[-2:].astype(int) >= 20]
    assert len(late) >= 4 and (log.loc[late, "variant"] == truth.loc[late, "variant"]).all()


@pytest.mark.parametrize("export", EXPORTS)
def test_every_event_is_counted(tmp_path, export: str) -> None:
    counts = json.loads((HERE / "counts.json").read_text())[export]
    report = ingest_otel(files(export), tmp_path / "log.parquet", mapping=MAPPING)
    set_aside = counts["string_score"] + counts["unmapped"] + counts["unlinked"]
    assert report.evaluations == counts["evaluations"]
    assert report.count("superseded") == counts["superseded"]
    assert report.count("evaluation") == set_aside
    assert report.evaluations_used == counts["evaluations"] - counts["superseded"] - set_aside
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons.filter(like="is a string, must be a number").sum() == counts["string_score"]
    assert reasons["evaluation 'toxicity' maps to no column"] == counts["unmapped"]
    assert reasons.filter(like="linked to no dialog").sum() == counts["unlinked"]
    assert report.flag_events == counts["flag_events"]
    assert report.flag_events_used == counts["flag_events"] - counts["flag_events_other_key"]
    assert (
        reasons["feature-flag evaluation of another flag: 'new-checkout-ui'"]
        == (counts["flag_events_other_key"])
    )
    assert report.count("span") == 0


def test_several_flags_and_no_flag_key_are_refused(tmp_path) -> None:
    refusal = r"2 feature flags \['new-checkout-ui', 'support-model-test'\]: name the experiment's"
    with pytest.raises(ValueError, match=refusal + " with --flag-key KEY"):
        ingest_otel(files("genai"), tmp_path / "log.parquet")
    assert not (tmp_path / "log.parquet").exists()


def test_a_flag_key_the_export_never_evaluates_is_refused(tmp_path) -> None:
    mapping = SpanMapping(flag_key="support-model-tset", evaluations=TABLE)
    with pytest.raises(ValueError, match=r"--flag-key == 'support-model-tset' \(SpanMapping"):
        ingest_otel(files("genai"), tmp_path / "log.parquet", mapping=mapping)


def test_conventions_can_be_forced(tmp_path) -> None:
    both = files("genai") + files("openinference")
    auto = ingest_otel(both, tmp_path / "auto.parquet", mapping=MAPPING)
    assert auto.conventions.keys() == {"genai", "openinference"}
    only = SpanMapping(flag_key="support-model-test", evaluations=TABLE, conventions="genai")
    genai = ingest_otel(both, tmp_path / "genai.parquet", mapping=only)
    assert genai.conventions.keys() == {"genai"} and genai.dialogs < auto.dialogs
    reasons = genai.rejects.set_index("reason")["count"]
    assert any("no gen_ai.operation.name;" in reason for reason in reasons.index)


def test_without_the_table_unknown_names_are_counted_not_guessed(tmp_path) -> None:
    mapping = SpanMapping(flag_key="support-model-test")
    report = ingest_otel(files("genai"), tmp_path / "log.parquet", mapping=mapping)
    reasons = report.rejects.set_index("reason")["count"]
    assert reasons["evaluation 'thumbs' maps to no column"] > 0
    assert reasons["evaluation 'resolved' maps to no column"] > 0
    log = pd.read_parquet(tmp_path / "log.parquet")
    assert log["likes"].isna().all() and log["completed"].isna().all()


def test_the_cli_reads_both_files_with_the_table(tmp_path) -> None:
    from kit_cli import abkit

    table = tmp_path / "evaluations.yaml"
    table.write_text(
        "thumbs: {column: feedback, labels: {up: like, down: dislike}}\nresolved: completed\n"
    )
    out = tmp_path / "log.parquet"
    done = abkit(
        "ingest", "otel", *map(str, files("genai")), "--out", str(out),
        "--flag-key", "support-model-test", "--evaluations", str(table),
        "--rejects", str(tmp_path / "rejects.csv"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rejects = pd.read_csv(tmp_path / "rejects.csv")["kind"].value_counts()
    assert (rejects["evaluation"], rejects["superseded"], rejects["flag"]) == (3, 11, 78)
    assert "121 evaluation events: 107 used, 11 superseded, 3 set aside" in done.stdout
    assert "150 feature-flag events: 72 used, 78 set aside" in done.stdout
    expected = ingest_otel(files("genai"), tmp_path / "api.parquet", mapping=MAPPING)
    assert expected.dialogs == len(pd.read_parquet(out))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thumbs: likes\n", r"\['thumbs'\]\.column == 'likes': must be one of"),
        (
            "thumbs: {column: feedback, labels: {up: 1}}\n",
            r"\['thumbs'\]\.labels\['up'\] == 1: must be one of \('like', 'dislike'\)",
        ),
        (
            "stars: {column: csat, labels: {great: 9}}\n",
            r"labels\['great'\] == 9: must be a number in \[1, 5\] \(the range of csat\)",
        ),
        ("stars: {col: csat}\n", r"\['stars'\] == \{'col': 'csat'\}: must be a column name"),
        ("[a, b]\n", "must map evaluation names"),
    ],
)
def test_bad_evaluation_tables_are_refused(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "evaluations.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_evaluation_table(path)
