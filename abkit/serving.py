"""A serving wrapper for a live experiment: route by user id, time the call, log the events.

Give it one generate callable per variant (for example two OpenAI-compatible clients wrapped
as ``lambda prompt, **kw: client.chat.completions.create(...)``) and an
:class:`abkit.events.EventStore`. Each :meth:`ExperimentServer.generate` assigns the user
(deterministic and sticky), calls that variant's model, and logs an ``exposure`` event with
latency, tokens and status; a model error is logged with status ``error`` and re-raised.
:meth:`ExperimentServer.log_outcome` records what is learnt later about the dialog (like,
resolved, escalated, csat, turns ...). Safe to call from many threads: the store's buffer is
locked and the routing is stateless.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from abkit.events import OUTCOMES, EventStore
from abkit.params import check_number, check_text
from abkit.routing import assign_variant

__all__ = ["ExperimentServer", "ServedResponse"]

Generate = Callable[..., Any]


@dataclass(frozen=True)
class ServedResponse:
    """What :meth:`ExperimentServer.generate` returns: the model's response and its routing."""

    response: Any
    dialog_id: str
    user_id: str
    variant: str
    model_version: str
    latency_ms: float
    tokens_out: float | None


def _completion_tokens(response: Any) -> float | None:
    """Tokens generated, from an OpenAI-style ``usage.completion_tokens``; None if absent."""
    usage = (
        response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
    )
    if usage is None:
        return None
    tokens = (
        usage.get("completion_tokens")
        if isinstance(usage, Mapping)
        else getattr(usage, "completion_tokens", None)
    )
    return None if tokens is None else float(tokens)


class ExperimentServer:
    """Route, serve and log one experiment.

    Args:
        experiment: experiment name (the routing salt).
        models: variant -> generate callable; needs "control" and "treatment" for the default
            router.
        store: where events go.
        split: treatment share for the default (the seed's md5) router.
        assign: optional ``user_id -> variant`` replacing the default router (e.g.
            ``TwoStageDesign.assign``); a None result serves ``fallback`` and logs nothing.
        model_versions: variant -> version label logged with each exposure (default: the
            variant name).
        fallback: variant served to users outside the experiment.
    """

    def __init__(
        self,
        experiment: str,
        models: Mapping[str, Generate],
        store: EventStore,
        *,
        split: float = 0.5,
        assign: Callable[[str], str | None] | None = None,
        model_versions: Mapping[str, str] | None = None,
        fallback: str = "control",
    ) -> None:
        self.experiment = check_text("experiment", experiment)
        if not models or not all(callable(model) for model in models.values()):
            raise TypeError("models must map each variant name to a callable")
        self.models = dict(models)
        self.store = store
        self.split = check_number(
            "split", split, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True
        )
        if assign is None:
            missing = {"control", "treatment"} - set(self.models)
            if missing:
                raise ValueError(f"models lacks {sorted(missing)} for the default router")
        self._assign = assign or (lambda user: assign_variant(self.experiment, user, self.split))
        if fallback not in self.models:
            raise ValueError(f"fallback == {fallback!r}, must be one of {list(self.models)}")
        self.fallback = fallback
        self.model_versions = {name: name for name in self.models} | dict(model_versions or {})

    def _event(self, user_id: str, dialog_id: str, variant: str, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": uuid.uuid4().hex,
            "timestamp": pd.Timestamp.now(tz="UTC"),
            "experiment": self.experiment,
            "user_id": user_id,
            "dialog_id": dialog_id,
            "variant": variant,
            "model_version": self.model_versions[variant],
            **fields,
        }

    def generate(
        self, user_id: str, prompt: Any, *, dialog_id: str | None = None, **kwargs: Any
    ) -> ServedResponse:
        """Serve one request: route, call the variant's model, log the exposure.

        Args:
            user_id: the randomization unit.
            prompt: passed to the model callable, with ``kwargs``.
            dialog_id: the dialog this request belongs to; a new id when None (first turn).

        Raises:
            Whatever the model raised, after logging an exposure with status "error".
        """
        user = check_text("user_id", user_id)
        variant = self._assign(user)
        in_experiment = variant is not None
        served = variant if in_experiment else self.fallback
        if served not in self.models:
            raise ValueError(f"router returned variant {served!r}, not one of {list(self.models)}")
        dialog = dialog_id or uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = self.models[served](prompt, **kwargs)
        except Exception:
            if in_experiment:
                latency = (time.perf_counter() - started) * 1000
                self.store.append(
                    self._event(
                        user,
                        dialog,
                        served,
                        event_type="exposure",
                        status="error",
                        latency_ms=latency,
                    )
                )
            raise
        latency = (time.perf_counter() - started) * 1000
        tokens = _completion_tokens(response)
        if in_experiment:
            self.store.append(
                self._event(
                    user,
                    dialog,
                    served,
                    event_type="exposure",
                    status="ok",
                    latency_ms=latency,
                    tokens_out=tokens,
                )
            )
        return ServedResponse(
            response, dialog, user, served, self.model_versions[served], latency, tokens
        )

    def log_outcome(self, dialog_id: str, user_id: str, outcome: str, value: float = 1.0) -> None:
        """Record an outcome of a dialog: resolved, escalated, csat, like, dislike, ...

        The variant is recomputed from the user id (routing is deterministic), so nothing has
        to be remembered between the response and the feedback.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome == {outcome!r}, must be one of {list(OUTCOMES)}")
        number = check_number("value", value)
        user = check_text("user_id", user_id)
        variant = self._assign(user)
        if variant is None:
            return
        self.store.append(
            self._event(
                user,
                check_text("dialog_id", dialog_id),
                variant,
                event_type="outcome",
                outcome=outcome,
                value=number,
            )
        )
