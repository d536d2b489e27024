"""Ingestion, stores and judge data count everything (#27): a span read twice counts once, a
span without a trace id is counted, a fractional token count or a NaN price is refused, an
unwritable output is refused before anything is written, a store locks its real file, an event
id is stored once, duplicate judge verdicts are refused, an interval needs enough prompts, and
PPI refuses labels and judge scores on two scales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from otlp_spans import T0, USER_V, a, chat, export

from abkit.ingest.otel import ingest_otel, read_prices
from abkit.judging.bradley_terry import fit_bradley_terry
from abkit.judging.pairwise import win_rates
from abkit.judging.simulation import simulate_pairwise
from abkit.serve.event_store import EventStore
from abkit.serve.events import EventValidationError, LogValidationError
from abkit.stats.ppi import ppi_mean


def test_the_same_spans_in_two_files_count_once(tmp_path) -> None:
    spans = [chat("t1", "s1", T0, 1.0, USER_V), chat("t2", "s2", T0 + 5, 1.0, USER_V)]
    first = export(tmp_path / "a.jsonl", spans)
    second = export(tmp_path / "b.jsonl", spans)  # the same export, copied
    report = ingest_otel([first, second], tmp_path / "log.parquet")
    assert report.spans == 4 and report.spans_ingested == 2
    counts = report.rejects.set_index("reason")["count"]
    assert counts.filter(like="duplicate span").sum() == 2
    log = pd.read_parquet(tmp_path / "log.parquet")
    assert log["turns"].sum() == 2


def test_a_span_without_a_trace_id_is_counted(tmp_path) -> None:
    orphan = chat("t1", "s9", T0, 1.0, USER_V)
    del orphan["traceId"]
    path = export(tmp_path / "a.jsonl", [chat("t1", "s1", T0, 1.0, USER_V), orphan])
    report = ingest_otel([path], tmp_path / "log.parquet")
    assert report.spans == 2
    assert report.rejects["reason"].str.startswith("malformed span").sum() == 1


def test_fractional_token_counts_are_refused_not_rounded(tmp_path) -> None:
    spans = [
        chat("t1", "s1", T0, 1.0, [*USER_V, a("gen_ai.usage.output_tokens", 12.7)]),
        chat("t2", "s2", T0, 1.0, [*USER_V, a("gen_ai.usage.output_tokens", 12.0)]),
    ]
    report = ingest_otel([export(tmp_path / "a.jsonl", spans)], tmp_path / "log.parquet")
    reasons = report.rejects["reason"].tolist()
    assert any("gen_ai.usage.output_tokens = '12.7'" in r for r in reasons), reasons
    assert pd.read_parquet(tmp_path / "log.parquet")["tokens_out"].tolist() == [12]


@pytest.mark.parametrize("price", [".nan", ".inf", "-1"])
def test_a_price_that_is_not_a_finite_number_at_least_zero_is_refused(tmp_path, price) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(f"currency: USD\ndate: x\nmodels:\n  m: {{input: {price}, output: 1}}\n")
    with pytest.raises(ValueError, match=r"must be a price >= 0"):
        read_prices(path)


def test_an_unwritable_rejects_path_is_refused_before_the_log_is_written(tmp_path) -> None:
    path = export(tmp_path / "a.jsonl", [chat("t1", "s1", T0, 1.0, USER_V)])
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=r"--rejects == .*its folder cannot be made"):
        ingest_otel([path], tmp_path / "log.parquet", rejects_file=blocker / "rejects.csv")
    assert not (tmp_path / "log.parquet").exists()


def _event(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "dialog_id": "d1",
        "user_id": "u1",
        "variant": "control",
        "experiment": "exp",
        "timestamp": pd.Timestamp("2026-01-05", tz="UTC"),
        "event_type": "exposure",
    }


def test_a_store_reached_through_a_symlink_locks_the_real_file(tmp_path) -> None:
    real = tmp_path / "real" / "events.csv"
    real.parent.mkdir()
    link = tmp_path / "link.csv"
    EventStore(real).close()
    link.symlink_to(real)
    through_link, direct = EventStore(link), EventStore(real)
    assert through_link.path == direct.path == real.resolve()
    through_link.append(_event("e1"))
    through_link.close()
    direct.append(_event("e2"))
    direct.close()
    assert sorted(EventStore(real).read()["event_id"]) == ["e1", "e2"]
    assert not (tmp_path / "link.csv.lock").exists()


@pytest.mark.parametrize("name", ["events.csv", "parts", "events.duckdb"])
def test_an_event_id_is_stored_once(tmp_path, name) -> None:
    store = EventStore(tmp_path / name)
    store.append(_event("e1"))
    with pytest.raises(EventValidationError, match=r"event_id \['e1'\] already stored"):
        store.append(_event("e1"))  # a retry
    with pytest.raises(EventValidationError, match=r"given twice"):
        store.append([_event("e2"), _event("e2")])
    store.close()
    again = EventStore(tmp_path / name)  # a new process, the same store
    with pytest.raises(EventValidationError, match=r"already stored"):
        again.append(_event("e1"))
    again.append(_event("e3"))
    again.close()
    assert sorted(EventStore(tmp_path / name).read()["event_id"]) == ["e1", "e3"]


def test_duplicate_judge_verdicts_are_refused() -> None:
    pairs = simulate_pairwise(40, {"candidate": 0.4, "baseline": 0.0}, seed=1)
    with pytest.raises(ValueError, match=r"1 duplicate verdict\(s\)"):
        win_rates(pd.concat([pairs, pairs.head(1)], ignore_index=True))
    bare = pairs.drop(columns=["shown_first"])  # both orders allowed, a third verdict is not
    win_rates(bare)
    with pytest.raises(ValueError, match=r"judged 3 times"):
        win_rates(pd.concat([bare, bare.head(1)], ignore_index=True))


def test_a_bradley_terry_interval_needs_enough_prompts() -> None:
    pairs = simulate_pairwise(40, {"candidate": 0.4, "baseline": 0.0}, seed=1)
    one = pairs[pairs["prompt_id"] == pairs["prompt_id"].iloc[0]]
    with pytest.raises(ValueError, match=r"1 prompt\(s\): a bootstrap interval over prompts"):
        fit_bradley_terry(one, resamples=100)
    tied = one.assign(winner="tie")
    assert np.isnan(fit_bradley_terry(tied, resamples=0).ci_low).all()  # strengths alone


def test_ppi_refuses_labels_and_judge_scores_on_two_scales() -> None:
    with pytest.raises(ValueError, match=r"human labels range over \[1, 5\]"):
        ppi_mean([1, 3, 5, 4], [0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 0.6])


def test_a_judged_log_with_labels_and_scores_on_two_scales_is_refused() -> None:
    from abkit.analysis.results import analyze
    from abkit.judging.simulation import add_judge_labels
    from abkit.teaching.simulate import simulate_dialogs

    log = simulate_dialogs(n_users=800, seed=3, split=0.5)
    log = add_judge_labels(log, helpful_rate={"control": 0.6, "treatment": 0.65}, seed=3)
    judged = [c for c in log.columns if c.startswith("judge_")][0]
    human = [c for c in log.columns if c.startswith("human_")][0]
    log[human] = log[human] * 4 + 1  # labels on 1-5, judge scores still 0-1
    metric = {"name": "helpful", "kind": "judged", "column": human, "judge": judged}
    with pytest.raises(LogValidationError, match=r"human labels range over \[1, 5\]"):
        analyze(log, plan={"split": 0.5, "metrics": [{**metric, "role": "primary"}]})


def test_integer_labels_on_another_scale_are_refused_from_a_parquet_log(tmp_path) -> None:
    """Integer columns within their rule are settled from the Parquet statistics without a
    scan; their bounds still reach the scale check."""
    from abkit.analysis.results import analyze
    from abkit.judging.simulation import add_judge_labels
    from abkit.teaching.simulate import simulate_dialogs

    log = simulate_dialogs(n_users=800, seed=3, split=0.5)
    log = add_judge_labels(log, helpful_rate={"control": 0.6, "treatment": 0.65}, seed=3)
    judged = [c for c in log.columns if c.startswith("judge_")][0]
    human = [c for c in log.columns if c.startswith("human_")][0]
    log[human] = (log[human] * 4 + 1).astype("Int64")  # whole labels 1-5
    path = tmp_path / "judged.parquet"
    log.to_parquet(path)
    metric = {"name": "helpful", "kind": "judged", "column": human, "judge": judged}
    with pytest.raises(LogValidationError, match=r"human labels range over \[1, 5\]"):
        analyze(path, plan={"split": 0.5, "metrics": [{**metric, "role": "primary"}]})
