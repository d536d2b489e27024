"""abkit.serving: routing, timing and logging around two model callables, from many threads."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from abkit.event_store import EventStore
from abkit.events import fold_dialogs
from abkit.routing import TwoStageDesign, assign_variant
from abkit.serving import ExperimentServer


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
