"""Write the OTLP/JSON exports in this folder with the real OpenTelemetry SDK, as a support bot
instrumented by the published packages would: the ingestion tests read them back.

Needs (not the kit's dependencies; CI only reads the committed outputs)::

    pip install opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-json-file==0.66b1 \
        opentelemetry-util-genai==1.3b0 httpx \
        openinference-instrumentation-openai==0.1.66 openai==3.63.0

    python tests/reference/otel_sdk/make_exports.py

What the bot does, per user (a seeded random generator decides counts and answers):

- each chat request is a server span ``POST /v1/chat``; the experiment's flag
  ``support-model-test`` is evaluated there and recorded as the feature-flag conventions say, a
  ``feature_flag.evaluation`` event (on the span for even users, as a log record for odd ones;
  users 20-23 evaluate it on their first request only, so later traces carry no variant and the
  flag's ``feature_flag.context.id`` has to carry it); another flag, ``new-checkout-ui``, is
  evaluated on every request too;
- GenAI export: the OpenAI client's call to a fake OpenAI-compatible server on loopback,
  recorded with opentelemetry-util-genai's ``TelemetryHandler.inference`` as a ``chat`` span
  (model, tokens, ``gen_ai.response.id``, ``gen_ai.conversation.id``), as instrumentation
  libraries built on it do (``opentelemetry-instrumentation-openai-v2`` 2.4b0 does not import
  with util-genai 1.3b0, so the script calls the utilities itself). OpenInference export: the
  same calls under ``using_session`` / ``using_user``, recorded by
  ``openinference-instrumentation-openai`` (``llm.token_count.*``, ``session.id``);
- feedback comes later, in its own trace ``POST /v1/feedback``, as ``gen_ai.evaluation.result``
  events: ``thumbs`` (label up / down) linked by ``gen_ai.response.id`` on the span (some users
  change their mind: a second thumbs event; the OpenInference export adds the conversation id,
  as its LLM spans record no response id), ``csat`` as a log record linked by
  ``gen_ai.conversation.id``; ``resolved`` (true / false) on the chat span itself (GenAI) or on
  the request's span (OpenInference: linked by its trace);
- and the cases a real export has: a csat score written as a string, an evaluation name no
  table maps (``toxicity``), a thumbs event whose response id matches no answer and no
  conversation.

Outputs: ``genai_traces.jsonl``, ``genai_logs.jsonl``, ``openinference_traces.jsonl``,
``openinference_logs.jsonl`` and ``truth.csv`` (what the bot did, per dialog and export: the
values the ingestion must find), ``counts.json`` (every event the bot wrote, by fate).
"""

from __future__ import annotations

import csv
import json
import random
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import openai
from openinference.instrumentation import using_session, using_user
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.exporter.otlp.json.file._log_exporter import FileLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.util.genai.handler import TelemetryHandler

HERE = Path(__file__).resolve().parent
FLAG = "support-model-test"
MODELS = {"control": "support-base-2026-10", "treatment": "support-ft-v2-2026-11"}
USERS = 24


class FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint: usage grows with the prompt, ids are random."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = sum(len(m["content"].split()) for m in body["messages"])
        completion = 20 + 7 * len(body["messages"])
        answer = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": 1_767_571_200,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Here is how. " * 3},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt * 3,
                "completion_tokens": completion,
                "total_tokens": prompt * 3 + completion,
            },
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def flag_attributes(user: str, variant: str, key: str = FLAG) -> dict[str, str]:
    return {
        "feature_flag.key": key,
        "feature_flag.result.variant": variant,
        "feature_flag.context.id": user,
        "feature_flag.provider.name": "abkit-router",
    }


def genai_call(handler, client, model: str, messages: list[dict], conversation: str, resolved):
    """The OpenAI call recorded with the GenAI utilities, as an instrumentation library does;
    an online evaluator's verdict ``resolved`` (or None) as an event on the call's span."""
    with handler.inference(
        "openai", request_model=model, server_address="127.0.0.1", conversation_id=conversation
    ) as call:
        answer = client.chat.completions.create(model=model, messages=messages)
        call.response_model_name = answer.model
        call.response_id = answer.id
        call.finish_reasons = [answer.choices[0].finish_reason]
        call.input_tokens = answer.usage.prompt_tokens
        call.output_tokens = answer.usage.completion_tokens
        if resolved is not None:
            trace.get_current_span().add_event(
                "gen_ai.evaluation.result",
                {"gen_ai.evaluation.name": "resolved", "gen_ai.evaluation.score.label": resolved},
            )
    return answer


def run(conventions: str, port: int, rng: random.Random) -> tuple[list[dict], dict[str, int]]:
    """One export (traces and logs files) by the instrumentation of one convention."""
    traces = HERE / f"{conventions}_traces.jsonl"
    logs = HERE / f"{conventions}_logs.jsonl"
    resource = Resource.create({"service.name": "support-bot", "deployment.environment": "prod"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(traces)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(FileLogExporter(logs)))
    tracer = tracer_provider.get_tracer("support-bot")
    logger = logger_provider.get_logger("support-bot")
    if conventions == "genai":
        handler = TelemetryHandler(tracer_provider=tracer_provider)
    else:
        instrumentor = OpenInferenceInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="not-a-key")
    truth: list[dict] = []
    counts = {"evaluations": 0, "superseded": 0, "string_score": 0, "unmapped": 0, "unlinked": 0}
    counts |= {"flag_events": 0, "flag_events_other_key": 0}

    def evaluation(attributes: dict, as_log: bool, span=None) -> None:
        counts["evaluations"] += 1
        if as_log:
            logger.emit(event_name="gen_ai.evaluation.result", attributes=attributes)
        else:
            span.add_event("gen_ai.evaluation.result", attributes)

    for number in range(USERS):
        user = f"user-{number:02d}"
        variant = rng.choice(["control", "treatment"])
        for dialog in range(rng.choice([1, 1, 2])):
            conversation = str(uuid.uuid4())
            row = {"export": conventions, "conversation": conversation, "user_id": user}
            row |= {"variant": variant, "turns": 0, "tokens_in": 0, "tokens_out": 0}
            messages: list[dict] = []
            response_ids = []
            turns = rng.choice([1, 2, 3])
            resolved = rng.choice(["true", "false"])
            row["completed"] = int(resolved == "true")
            for turn in range(turns):
                last = turn == turns - 1
                question = "how do I " + " ".join(rng.choices(["reset", "my", "router"], k=4))
                messages.append({"role": "user", "content": question})
                with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER) as root:
                    root.set_attribute("user.id", user)
                    root.set_attribute("http.request.method", "POST")
                    late = number >= 20 and (dialog > 0 or turn > 0)
                    if not late:  # the flag, as the feature-flag conventions record it
                        counts["flag_events"] += 1
                        attrs = flag_attributes(user, variant)
                        if number % 2:
                            logger.emit(event_name="feature_flag.evaluation", attributes=attrs)
                        else:
                            root.add_event("feature_flag.evaluation", attrs)
                    counts["flag_events"] += 1
                    counts["flag_events_other_key"] += 1
                    other = flag_attributes(user, rng.choice(["on", "off"]), "new-checkout-ui")
                    root.add_event("feature_flag.evaluation", other)
                    if conventions == "genai":
                        answer = genai_call(
                            handler,
                            client,
                            MODELS[variant],
                            messages,
                            conversation,
                            resolved if last else None,
                        )
                    else:
                        with using_session(conversation), using_user(user):
                            answer = client.chat.completions.create(
                                model=MODELS[variant], messages=messages
                            )
                        if last:  # the evaluator's verdict on the request's span: its trace
                            root.add_event(
                                "gen_ai.evaluation.result",
                                {
                                    "gen_ai.evaluation.name": "resolved",
                                    "gen_ai.evaluation.score.label": resolved,
                                },
                            )
                    messages.append(
                        {"role": "assistant", "content": answer.choices[0].message.content}
                    )
                    response_ids.append(answer.id)
                    counts["evaluations"] += last
                    row["turns"] += 1
                    row["tokens_in"] += answer.usage.prompt_tokens
                    row["tokens_out"] += answer.usage.completion_tokens
            # feedback, later and in its own trace
            with tracer.start_as_current_span("POST /v1/feedback", kind=SpanKind.SERVER) as span:
                span.set_attribute("user.id", user)
                thumbs = [rng.choice(["up", "down"])]
                if rng.random() < 0.3:
                    thumbs.append(rng.choice(["up", "down"]))  # changed their mind
                    counts["superseded"] += 1
                for label in thumbs:
                    attributes = {
                        "gen_ai.evaluation.name": "thumbs",
                        "gen_ai.evaluation.score.label": label,
                        "gen_ai.response.id": response_ids[-1],
                    }
                    if conventions == "openinference":  # its spans keep no response id
                        attributes["gen_ai.conversation.id"] = conversation
                    evaluation(attributes, as_log=False, span=span)
                row["likes"] = int(thumbs[-1] == "up")
                row["dislikes"] = int(thumbs[-1] == "down")
                csat = rng.choice([1, 2, 3, 4, 5])
                string_score = number == 5 and dialog == 0
                evaluation(
                    {
                        "gen_ai.evaluation.name": "csat",
                        "gen_ai.evaluation.score.value": str(csat) if string_score else float(csat),
                        "gen_ai.conversation.id": conversation,
                    },
                    as_log=True,
                )
                counts["string_score"] += string_score
                row["csat"] = None if string_score else csat
                if number == 7 and dialog == 0:
                    counts["unmapped"] += 1
                    evaluation(
                        {
                            "gen_ai.evaluation.name": "toxicity",
                            "gen_ai.evaluation.score.value": 0.1,
                            "gen_ai.conversation.id": conversation,
                        },
                        as_log=False,
                        span=span,
                    )
            truth.append(row)
        if number == 9:  # an answer this export never saw, nor its conversation
            with tracer.start_as_current_span("POST /v1/feedback", kind=SpanKind.SERVER) as span:
                counts["unlinked"] += 1
                evaluation(
                    {
                        "gen_ai.evaluation.name": "thumbs",
                        "gen_ai.evaluation.score.label": "up",
                        "gen_ai.response.id": "chatcmpl-from-another-deployment",
                    },
                    as_log=False,
                    span=span,
                )
    if conventions != "genai":
        instrumentor.uninstrument()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return truth, counts


def main() -> None:
    rng = random.Random(20261207)
    for name in ("genai_traces", "genai_logs", "openinference_traces", "openinference_logs"):
        (HERE / f"{name}.jsonl").unlink(missing_ok=True)
    server = HTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, counts = [], {}
    for conventions in ("genai", "openinference"):
        truth, counts[conventions] = run(conventions, server.server_address[1], rng)
        rows += truth
    server.shutdown()
    with (HERE / "truth.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (HERE / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")


if __name__ == "__main__":
    main()
