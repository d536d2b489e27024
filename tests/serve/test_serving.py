"""abkit.serve.serving: routing, timing and logging around two model callables, from many
threads."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from abkit.serve import event_store
from abkit.serve.event_store import EventStore
from abkit.serve.events import fold_dialogs
from abkit.serve.routing import TwoStageDesign, assign_variant
from abkit.serve.serving import ExperimentServer, ModelTimeout


def fake_client(name: str):
    """An OpenAI-compatible stand-in: returns an object with .usage.completion_tokens."""

    def generate(prompt: str, **_: object) -> SimpleNamespace:
        if prompt == "boom":
            raise RuntimeError(f"{name} failed")
        return SimpleNamespace(text=f"{name}: {prompt}", usage=SimpleNamespace(completion_tokens=7))

    return generate


def test_routes_times_and_logs_exposures_and_outcomes(tmp_path) -> None:
    store = EventStore(tmp_path / "events.duckdb")
    server = ExperimentServer(
        "ft-v2",
        {"control": fake_client("v1"), "treatment": fake_client("v2")},
        store,
        split=0.2,
        model_versions={"treatment": "llama-ft-v2"},
    )
    served = server.generate("user-1", "hello")
    assert served.variant == assign_variant("ft-v2", "user-1", 0.2)
    assert served.response.text.startswith("v2" if served.variant == "treatment" else "v1")
    assert served.tokens_out == 7.0 and served.latency_ms >= 0
    server.generate("user-1", "and then?", dialog_id=served.dialog_id)
    server.log_outcome(served.dialog_id, "user-1", "resolved", 1)
    server.log_outcome(served.dialog_id, "user-1", "csat", 5)
    with pytest.raises(RuntimeError, match="failed"):
        server.generate("user-2", "boom")
    events = store.read()
    assert events["event_type"].value_counts().to_dict() == {"exposure": 3, "outcome": 2}
    failed = events[events["user_id"] == "user-2"]
    assert failed["status"].tolist() == ["error"]
    dialogs = fold_dialogs(events).set_index("dialog_id")
    assert dialogs.loc[served.dialog_id, "turns"] == 2
    assert dialogs.loc[served.dialog_id, "csat"] == 5.0


def test_many_threads_log_every_call(tmp_path) -> None:
    store = EventStore(tmp_path / "parts", batch_size=100)
    server = ExperimentServer(
        "ft-v2", {"control": fake_client("a"), "treatment": fake_client("b")}, store, split=0.5
    )

    def serve(thread: int) -> None:
        for index in range(250):
            server.generate(f"user-{thread}-{index}", "hi")

    threads = [threading.Thread(target=serve, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = store.read()
    assert len(events) == 2000 and events["dialog_id"].nunique() == 2000
    assert (events["variant"] == [assign_variant("ft-v2", u, 0.5) for u in events["user_id"]]).all()


def test_users_outside_a_two_stage_coverage_get_the_fallback_unlogged(tmp_path) -> None:
    store = EventStore(tmp_path / "e.csv")
    design = TwoStageDesign("ramp", coverage=0.0)
    server = ExperimentServer(
        "ramp",
        {"control": fake_client("a"), "treatment": fake_client("b")},
        store,
        assign=design.assign,
    )
    assert server.generate("user-1", "hi").variant == "control"
    store.flush()
    assert not (tmp_path / "e.csv").exists()


def test_bad_input(tmp_path) -> None:
    store = EventStore(tmp_path / "e.csv")
    with pytest.raises(ValueError, match=r"models lacks \['treatment'\]"):
        ExperimentServer("x", {"control": fake_client("a")}, store)
    server = ExperimentServer(
        "x", {"control": fake_client("a"), "treatment": fake_client("b")}, store
    )
    with pytest.raises(ValueError, match=r"outcome == 'thumbs', must be one of"):
        server.log_outcome("d", "u", "thumbs")
    with pytest.raises(ValueError, match=r"user_id == '', must be a non-empty string"):
        server.generate("", "hi")


def test_a_model_that_hangs_times_out_and_the_exposure_says_so(tmp_path) -> None:
    release = threading.Event()

    def hangs(prompt: str, **_: object) -> SimpleNamespace:
        release.wait(10)
        return SimpleNamespace(usage=SimpleNamespace(completion_tokens=1))

    store = EventStore(tmp_path / "e.csv")
    server = ExperimentServer("x", {"control": hangs, "treatment": hangs}, store, timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(ModelTimeout, match=r"no answer within timeout == 0.2 s"):
        server.generate("user-1", "hi")
    assert time.perf_counter() - started < 2.0  # the caller's thread is not held
    release.set()
    events = store.read()
    assert events["status"].tolist() == ["timeout"]
    assert events["latency_ms"].iloc[0] == pytest.approx(200, abs=150)
    assert events["tokens_out"].isna().all()


def test_a_store_that_refuses_never_fails_a_request_the_model_answered(
    tmp_path, monkeypatch, caplog
) -> None:
    store = EventStore(
        tmp_path / "parts", batch_size=1, max_pending=1, append_timeout=0.05, flush_interval=0.05
    )

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(event_store, "_write_part", no_space)
    server = ExperimentServer(
        "x", {"control": fake_client("a"), "treatment": fake_client("b")}, store, timeout=None
    )
    with caplog.at_level(logging.ERROR, logger="abkit.serve.serving"):
        replies = [server.generate(f"user-{k}", "hi") for k in range(5)]
    assert [reply.response.text.endswith(": hi") for reply in replies] == [True] * 5
    assert server.unlogged == 4 and store.pending == 1
    assert "not logged (4 so far in x)" in caplog.text and "No space left" in caplog.text
    monkeypatch.undo()
    store.close()
    assert len(store.read()) == 1


def test_model_names_the_store_would_refuse_are_caught_at_construction(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"models name variant\(s\) \['b'\] that the store"):
        ExperimentServer(
            "x",
            {"a": fake_client("a"), "b": fake_client("b")},
            EventStore(tmp_path / "e.csv", variants=["a"]),
            assign=lambda user: "a",
            fallback="a",
        )


def test_the_readme_serving_example_runs_as_written(tmp_path) -> None:
    """The README's code block, unchanged, with two fake models; it never calls close()."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Routing and logging a live experiment", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    preamble = (
        "from types import SimpleNamespace\n"
        "def baseline_generate(prompt):\n"
        "    return SimpleNamespace(usage=SimpleNamespace(completion_tokens=5))\n"
        "finetuned_generate = baseline_generate\n"
        "user_id, prompt = 'user-42', 'Where is my order?'\n"
    )
    subprocess.run(
        [sys.executable, "-c", preamble + example], cwd=tmp_path, check=True, timeout=120
    )
    events = EventStore(tmp_path / "events.duckdb").read()
    assert events["event_type"].tolist() == ["exposure", "outcome"]
    assert set(events["variant"]) == {assign_variant("fine-tuned-v2-test", "user-42", 0.2)}
    assert events["tokens_out"].iloc[0] == 5.0 and events["value"].iloc[1] == 1.0
