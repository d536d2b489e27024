"""The bundled example files that are not dialog logs: the judge data (pairwise verdicts,
pointwise grades, a judged dialog log) and the OpenTelemetry span export with its prices, each
written from fixed seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abkit.judging.simulation import add_judge_labels, simulate_pairwise, simulate_pointwise

__all__ = [
    "EXAMPLE_GRADES",
    "EXAMPLE_INGESTED",
    "EXAMPLE_JUDGED_LOG",
    "EXAMPLE_MODELS",
    "EXAMPLE_PAIRWISE",
    "EXAMPLE_PRICES",
    "EXAMPLE_SPANS",
    "write_example_export",
    "write_examples",
    "write_judge_file_examples",
    "write_spans_from_dialogs",
]

# The bundled examples (data/, `make data`): a candidate against the baseline judged offline,
# and the example experiment's log with an LLM judge that likes the candidate's style.
EXAMPLE_PAIRWISE = "example_pairwise_judgments.csv"


EXAMPLE_GRADES = "example_pointwise_grades.csv"


EXAMPLE_JUDGED_LOG = "example_judged_dialogs.parquet"


EXAMPLE_PAIRWISE_SETTINGS: dict = {
    "n_prompts": 300,
    "strengths": {"candidate": 0.405, "baseline": 0.0},  # humans prefer the candidate 60 : 40
    "accuracy": 0.85,
    "position_bias": 0.1,
    "length_bias": 0.1,
    "mean_length": {"candidate": 380.0, "baseline": 280.0},
    "seed": 0,
}


EXAMPLE_GRADES_SETTINGS: dict = {
    "n_prompts": 220,
    "pass_logits": {"candidate": 0.9, "baseline": 0.4},
    "difficulty_sd": 4.0,
    "seed": 2,
}


EXAMPLE_JUDGE_SETTINGS: dict = {
    "helpful_rate": {"control": 0.60, "treatment": 0.64},
    "accuracy": 0.85,
    "label_share": 0.05,
    "judge_lift": {"treatment": 0.15},
    "seed": 7,
}


def write_examples(directory: Path) -> list[Path]:
    """Write the three bundled judging examples into ``directory`` (fixed seeds)."""
    from abkit.serve.events import write_log
    from abkit.teaching.simulate import EXAMPLE_CONFIG, simulate_dialogs

    directory.mkdir(parents=True, exist_ok=True)
    pairwise = simulate_pairwise(**EXAMPLE_PAIRWISE_SETTINGS).drop(columns="human")
    pairwise.to_csv(directory / EXAMPLE_PAIRWISE, index=False)
    simulate_pointwise(**EXAMPLE_GRADES_SETTINGS).to_csv(directory / EXAMPLE_GRADES, index=False)
    columns = ["dialog_id", "user_id", "variant", "timestamp", "experiment", "completed"]
    dialogs = simulate_dialogs(EXAMPLE_CONFIG)[columns]
    judged = add_judge_labels(dialogs, **EXAMPLE_JUDGE_SETTINGS)
    log = write_log(judged, directory / EXAMPLE_JUDGED_LOG)
    return [directory / EXAMPLE_PAIRWISE, directory / EXAMPLE_GRADES, log]


# Judge files as teams have them (notebook 05's judge_columns / judge_verdicts): an arena-style
# vote table over several systems, and the bundled pairwise example written by position.
EXAMPLE_ARENA = "example_arena_votes.csv"
EXAMPLE_SHOWN = "example_shown_judgments.csv"
EXAMPLE_ARENA_STRENGTHS: dict[str, float] = {
    "ft-v3": 0.55, "ft-v2": 0.45, "gpt-4o-mini": 0.4, "ft-v1": 0.2, "llama-3.1-70b": 0.15,
    "mistral-large": 0.0, "base": -0.1, "qwen2.5-7b": -0.35, "phi-3-mini": -0.6,
}  # fmt: skip


def write_judge_file_examples(directory: Path) -> list[Path]:
    """Write the two judge-file examples into ``directory`` (fixed seeds):

    - ``example_arena_votes.csv``: 6,000 votes over 9 systems in Chatbot Arena's shape and
      spelling (question_id, model_a, model_b, winner: model_a / model_b / tie /
      tie (bothbad)), one vote per question;
    - ``example_shown_judgments.csv``: the bundled pairwise example written by position
      (question, left_model, right_model, choice: Left / Right / Tie, left_tokens,
      right_tokens), rows in their own order.
    """
    from abkit.judging.simulation import simulate_arena

    directory.mkdir(parents=True, exist_ok=True)
    votes = simulate_arena(6_000, EXAMPLE_ARENA_STRENGTHS, tie_share=0.12, seed=31)
    rng = np.random.default_rng(32)
    spelled = votes["winner"].map({"a": "model_a", "b": "model_b", "tie": "tie"})
    spelled = spelled.where((spelled != "tie") | (rng.random(len(votes)) < 0.6), "tie (bothbad)")
    arena = pd.DataFrame(
        {
            "question_id": votes["prompt_id"],
            "model_a": votes["system_a"],
            "model_b": votes["system_b"],
            "winner": spelled,
        }
    )
    arena.to_csv(directory / EXAMPLE_ARENA, index=False)
    pairs = simulate_pairwise(**EXAMPLE_PAIRWISE_SETTINGS).drop(columns="human")
    a_first = pairs["shown_first"] == "a"
    a_won_by_position = (pairs["winner"] == "a") == a_first
    shown = pd.DataFrame(
        {
            "question": pairs["prompt_id"],
            "left_model": pairs["system_a"].where(a_first, pairs["system_b"]),
            "right_model": pairs["system_b"].where(a_first, pairs["system_a"]),
            "choice": np.where(
                pairs["winner"] == "tie", "Tie", np.where(a_won_by_position, "Left", "Right")
            ),
            "left_tokens": pairs["length_a"].where(a_first, pairs["length_b"]),
            "right_tokens": pairs["length_b"].where(a_first, pairs["length_a"]),
        }
    ).sample(frac=1.0, random_state=33)
    shown.to_csv(directory / EXAMPLE_SHOWN, index=False)
    return [directory / EXAMPLE_ARENA, directory / EXAMPLE_SHOWN]


def _attribute(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # OTLP/JSON: int64 as a string
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _evaluation(name: str, t_ns: int, score: float | None = None, label: str = "") -> dict:
    attributes = [_attribute("gen_ai.evaluation.name", name)]
    if score is not None:
        attributes.append(_attribute("gen_ai.evaluation.score.value", float(score)))
    if label:
        attributes.append(_attribute("gen_ai.evaluation.score.label", label))
    return {"timeUnixNano": str(t_ns), "name": "gen_ai.evaluation.result", "attributes": attributes}


def write_spans_from_dialogs(
    dialogs: pd.DataFrame,
    path: str | Path,
    *,
    service: str = "support-bot",
    spans_per_line: int = 200,
    seed: int = 0,
) -> int:
    """Write an OTLP/JSON span export (collector file-exporter lines) that a dialog log would
    have produced: per dialog one trace, a root span carrying ``user.id``, the variant and the
    experiment (feature-flag attributes), and one ``chat`` span per turn with the conversation
    id, model, tokens (the dialog's ``tokens_out`` split over its turns; input tokens drawn),
    duration ``latency_ms`` and, for every other dialog, a streamed ``time_to_first_chunk``; the
    last span carries the error status and the dialog's outcomes as evaluation events. For the
    bundled example export and the ingestion benchmark. Returns the number of spans written."""
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    written = 0
    batch: list[dict] = []

    def flush(out) -> None:
        if batch:
            line = {
                "resourceSpans": [
                    {
                        "resource": {"attributes": [_attribute("service.name", service)]},
                        "scopeSpans": [{"scope": {"name": "abkit.example"}, "spans": list(batch)}],
                    }
                ]
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            batch.clear()

    with Path(path).open("w", encoding="utf-8") as out:
        for k, row in enumerate(dialogs.itertuples(index=False)):
            trace = f"{rng.integers(0, 2**63):016x}{k:016x}"
            start = int(pd.Timestamp(row.timestamp).value)
            turns = max(int(row.turns), 1)
            duration = int(float(row.latency_ms) * 1e6)
            root_id = f"{2 * k:016x}"
            root_attrs = [
                _attribute("user.id", row.user_id),
                _attribute("feature_flag.result.variant", row.variant),
                _attribute("feature_flag.key", row.experiment),
            ]
            batch.append(
                {
                    "traceId": trace,
                    "spanId": root_id,
                    "parentSpanId": "",
                    "name": "POST /chat",
                    "kind": 2,
                    "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + turns * (duration + 10**9)),
                    "attributes": root_attrs,
                    "status": {},
                }
            )
            tokens = np.full(turns, float(row.tokens_out) // turns)
            tokens[-1] += float(row.tokens_out) - tokens.sum()
            for turn in range(turns):
                begin = start + turn * (duration + 10**9)
                attrs = [
                    _attribute("gen_ai.operation.name", "chat"),
                    _attribute("gen_ai.request.model", row.model_version),
                    _attribute("gen_ai.response.model", row.model_version),
                    _attribute("gen_ai.conversation.id", row.dialog_id),
                    _attribute("gen_ai.usage.input_tokens", int(rng.integers(50, 400))),
                    _attribute("gen_ai.usage.output_tokens", int(tokens[turn])),
                ]
                if k % 2 == 0:
                    attrs.append(
                        _attribute(
                            "gen_ai.response.time_to_first_chunk",
                            round(float(row.latency_ms) * 0.3 / 1000, 6),
                        )
                    )
                span = {
                    "traceId": trace,
                    "spanId": f"{2 * k + 1:08x}{turn:08x}",
                    "parentSpanId": root_id,
                    "name": f"chat {row.model_version}",
                    "kind": 3,
                    "startTimeUnixNano": str(begin),
                    "endTimeUnixNano": str(begin + duration),
                    "attributes": attrs,
                    "status": {},
                }
                if turn == turns - 1:
                    end = begin + duration
                    events = []
                    for name, column in (
                        ("task_completion", "completed"),
                        ("escalated", "escalated"),
                        ("csat", "csat"),
                        ("returned_7d", "returned_7d"),
                    ):
                        value = getattr(row, column)
                        if pd.notna(value):
                            events.append(_evaluation(name, end, float(value)))
                    for label, column in (("like", "likes"), ("dislike", "dislikes")):
                        count = getattr(row, column)
                        events += [_evaluation("feedback", end, label=label)] * int(
                            0 if pd.isna(count) else count
                        )
                    span["events"] = events
                    if int(row.error):
                        span["status"] = {"code": 2, "message": "model call failed"}
                        attrs.append(_attribute("error.type", "timeout"))
                batch.append(span)
            written += 1 + turns
            if len(batch) >= spans_per_line:
                flush(out)
        flush(out)
    return written


EXAMPLE_SPANS = "example_otel_spans.jsonl"


EXAMPLE_PRICES = "example_prices.yaml"


EXAMPLE_INGESTED = "example_otel_dialogs.parquet"


EXAMPLE_MODELS = {"control": "support-llama-8b-v1", "treatment": "support-llama-8b-v2"}


def _bad_example_spans() -> list[dict]:
    """One span of each kind the rejects report names, for the bundled example."""
    start = int(pd.Timestamp("2026-01-10T12:00:00Z").value)

    def span(number: int, attributes: list[dict], events: list[dict] | None = None) -> dict:
        return {
            "traceId": f"{0xBAD:016x}{number:016x}",
            "spanId": f"{0xBAD0 + number:016x}",
            "name": "chat support-llama-8b-v2",
            "kind": 3,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 900_000_000),
            "attributes": attributes,
            "events": events or [],
            "status": {},
        }

    base = [
        _attribute("gen_ai.operation.name", "chat"),
        _attribute("gen_ai.request.model", "support-llama-8b-v2"),
    ]
    user, variant = (
        _attribute("user.id", "u-bad"),
        _attribute("feature_flag.result.variant", "treatment"),
    )
    return [
        span(1, base + [variant]),  # no user id
        span(2, base + [user, _attribute("feature_flag.result.variant", "treatment ")]),
        span(
            3,
            base
            + [
                user,
                variant,
                {"key": "gen_ai.usage.output_tokens", "value": {"stringValue": "many"}},
            ],
        ),
        span(
            4,
            base + [_attribute("user.id", "u-bad-4"), variant],
            [_evaluation("csat", start + 10**9, 7.0)],
        ),  # the span lands; its evaluation not
    ]


def write_example_export(folder: str | Path) -> tuple[Path, int]:
    """The bundled example export (``make data``): a small simulated experiment written as
    GenAI spans, plus one line of spans that the rejects report names (no user id, a variant
    with a trailing space, malformed output tokens, a CSAT of 7) and one span of another
    service."""
    import json

    from abkit.teaching.simulate import simulate_dialogs

    dialogs = simulate_dialogs(
        n_users=300,
        split=0.5,
        seed=3,
        experiment="support-bot-otel",
        effects={"treatment": {"completion": 0.06, "latency": -0.1}},
    )
    dialogs["model_version"] = dialogs["variant"].map(EXAMPLE_MODELS).astype(str)
    path = Path(folder) / EXAMPLE_SPANS
    count = write_spans_from_dialogs(dialogs, path, seed=3)
    bad = _bad_example_spans()
    other = [
        {
            "resource": {"attributes": [_attribute("service.name", "billing")]},
            "scopeSpans": [
                {
                    "scope": {"name": "abkit.example"},
                    "spans": [
                        dict(
                            bad[0],
                            spanId=f"{0xBAD9:016x}",
                            traceId=f"{0xBAD:016x}{9:016x}",
                            attributes=bad[0]["attributes"] + [_attribute("user.id", "u-billing")],
                        )
                    ],
                }
            ],
        }
    ]
    line = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attribute("service.name", "support-bot")]},
                "scopeSpans": [{"scope": {"name": "abkit.example"}, "spans": bad}],
            },
            *other,
        ]
    }
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return path, count + len(bad) + 1
