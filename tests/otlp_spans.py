"""Hand-written OTLP/JSON span fixtures following the published GenAI semantic conventions
(gen_ai.* span attributes, gen_ai.evaluation.result events, the collector file exporter's one
ExportTraceServiceRequest per line)."""

from __future__ import annotations

import json

T0 = 1_767_571_200_000_000_000  # 2026-01-05T00:00:00Z in ns
S = 1_000_000_000


def a(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def chat(trace, span, start, seconds, attrs, events=(), status=None, parent=""):
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": "chat m",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(int(start + seconds * S)),
        "attributes": [a("gen_ai.operation.name", "chat"), *attrs],
        "events": list(events),
        "status": status or {},
    }


def evaluation(name, t, score=None, label=None):
    attrs = [a("gen_ai.evaluation.name", name)]
    if score is not None:
        attrs.append(a("gen_ai.evaluation.score.value", float(score)))
    if label is not None:
        attrs.append(a("gen_ai.evaluation.score.label", label))
    return {"timeUnixNano": str(t), "name": "gen_ai.evaluation.result", "attributes": attrs}


def export(path, spans, service="support-bot", resource=()):
    line = {
        "resourceSpans": [
            {
                "resource": {"attributes": [a("service.name", service), *resource]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
    with path.open("a") as out:
        out.write(json.dumps(line) + "\n")
    return path


USER_V = [
    a("user.id", "u1"),
    a("feature_flag.result.variant", "treatment"),
    a("feature_flag.key", "exp-1"),
]


def span(trace, span_id, start, seconds, attrs=(), events=(), parent=""):
    """A span that is no LLM call (a request, a feedback endpoint)."""
    return {
        **chat(trace, span_id, start, seconds, [], events, parent=parent),
        "attributes": list(attrs),
    }


def flag(variant, key="exp-1", user=None, t=T0):
    attrs = [a("feature_flag.key", key)]
    if variant is not None:
        attrs.append(a("feature_flag.result.variant", variant))
    if user is not None:
        attrs.append(a("feature_flag.context.id", user))
    return {"timeUnixNano": str(t), "name": "feature_flag.evaluation", "attributes": attrs}


def log_export(path, events, trace="", span_id="", service="support-bot"):
    """Events as OTLP log records (the SDK's file exporter: eventName, observed time only)."""
    records = [
        {
            "observedTimeUnixNano": e["timeUnixNano"],
            "traceId": trace,
            "spanId": span_id,
            "eventName": e["name"],
            "attributes": e["attributes"],
        }
        for e in events
    ]
    line = {
        "resourceLogs": [
            {
                "resource": {"attributes": [a("service.name", service)]},
                "scopeLogs": [{"scope": {"name": "test"}, "logRecords": records}],
            }
        ]
    }
    with path.open("a") as out:
        out.write(json.dumps(line) + "\n")
    return path
