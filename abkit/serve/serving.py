"""A serving wrapper for a live experiment: route by user id, time the call, log the events.

Give it one generate callable per variant (for example two OpenAI-compatible clients wrapped
as ``lambda prompt, **kw: client.chat.completions.create(...)``) and an
:class:`abkit.serve.event_store.EventStore`. Each :meth:`ExperimentServer.generate` assigns the user
(deterministic and sticky), calls that variant's model with a timeout, and logs an
``exposure`` event with latency, tokens and status whatever the model does: ``ok``; ``error``
(the model's exception is re-raised); ``timeout`` (:class:`ModelTimeout` is raised; the model's
thread is left to finish and its answer discarded). Logging never fails a request whose model
answered: if the store refuses the event (its queue full after failing writes), the response is
returned, the loss is counted in :attr:`ExperimentServer.unlogged` and reported on the
``abkit.serve.serving`` logger. :meth:`ExperimentServer.log_outcome` records what is learnt later
about
the dialog (like, resolved, escalated, csat, turns ...); a refused outcome raises. Safe to call
from many threads: the store's queue is locked and the routing is stateless.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from abkit.core.params import check_integer, check_number, check_text
from abkit.serve.event_store import EventStore
from abkit.serve.events import OUTCOMES
from abkit.serve.routing import assign_variant

__all__ = ["ExperimentServer", "ModelTimeout", "ServedResponse"]

LOGGER = logging.getLogger("abkit.serve.serving")
Generate = Callable[..., Any]


def _random_id() -> str:
    """128 random bits as 32 hex digits, like ``uuid4().hex`` without a system call per id.

    ``random`` is seeded from the OS at import and again in every forked child, so processes
    do not repeat each other's ids.
    """
    return f"{random.getrandbits(128):032x}"


class ModelTimeout(TimeoutError):
    """The model gave no answer within the server's ``timeout`` (the exposure is logged)."""


class _ModelCallPool:
    """Daemon threads that run model calls, so a hung model holds neither its caller nor exit.

    (``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit, so one hung
    call would keep the process from exiting; its futures also cost about 0.1 ms a call more
    than the lock handed over here.) Threads start as calls arrive, up to ``size``.
    """

    def __init__(self, size: int) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._size = size
        self._threads = 0
        self._lock = threading.Lock()

    def call(self, model: Generate, prompt: Any, kwargs: dict[str, Any], timeout: float) -> Any:
        """The model's answer, or :class:`ModelTimeout` after ``timeout`` seconds."""
        done = threading.Lock()
        done.acquire()
        box: list[Any] = [None, None, False]  # answer, exception, abandoned by the caller
        context = contextvars.copy_context()  # the model sees the caller's context variables
        self._calls.put((done, box, context, model, prompt, kwargs))
        if self._threads < self._size:
            with self._lock:
                if self._threads < self._size:
                    self._threads += 1
                    threading.Thread(target=self._work, name="abkit-model", daemon=True).start()
        if not done.acquire(timeout=timeout):
            box[2] = True  # not started yet: never runs; running: its answer is dropped
            raise ModelTimeout(f"the model gave no answer within timeout == {timeout:g} s")
        if box[1] is not None:
            raise box[1]
        return box[0]

    def _work(self) -> None:
        while True:
            done, box, context, model, prompt, kwargs = self._calls.get()
            if box[2]:
                continue
            try:
                box[0] = context.run(model, prompt, **kwargs)
            except BaseException as error:
                box[1] = error
            done.release()


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
    if isinstance(tokens, bool) or not isinstance(tokens, int | float):
        return None  # absent or unreadable: logged as unknown, never as a made-up number
    return float(tokens) if math.isfinite(tokens) and tokens >= 0 else None


class ExperimentServer:
    """Route, serve and log one experiment.

    Args:
        experiment: experiment name (the routing salt).
        models: variant -> generate callable; needs "control" and "treatment" for the default
            router.
        store: where events go; its ``variants`` must include every model's name.
        split: treatment share for the default (the seed's md5) router.
        assign: optional ``user_id -> variant`` replacing the default router (e.g.
            ``TwoStageDesign.assign``); a None result serves ``fallback`` and logs nothing.
        model_versions: variant -> version label logged with each exposure (default: the
            variant name).
        fallback: variant served to users outside the experiment.
        timeout: seconds a model call may take before :class:`ModelTimeout`. None (the
            default): the model runs in the caller's thread, which waits as long as the model
            does (give your client its own timeout). With a timeout, calls run on a pool of
            ``max_concurrent_calls`` daemon threads and the caller waits for its own call only;
            the hand-over costs CPU time: with 32 threads on 2 cores, 0.1 ms a request at the
            median (p99 3.7 ms) for a 10 ms model, 2 ms (p99 14 ms) for a 1 ms model that keeps
            the cores busy (``benchmarks/bench_serving.py``).
        max_concurrent_calls: size of that pool; calls beyond it wait, inside their timeout.
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
        timeout: float | None = None,
        max_concurrent_calls: int = 64,
    ) -> None:
        self.experiment = check_text("experiment", experiment)
        if not models or not all(callable(model) for model in models.values()):
            raise TypeError("models must map each variant name to a callable")
        self.models = dict(models)
        self.store = store
        if store.variants is not None and set(self.models) - set(store.variants):
            raise ValueError(
                f"models name variant(s) {sorted(set(self.models) - set(store.variants))} that "
                f"the store refuses; give EventStore(..., variants={sorted(self.models)})"
            )
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
        self.timeout = None if timeout is None else check_number("timeout", timeout, low=0.0)
        workers = check_integer("max_concurrent_calls", max_concurrent_calls, minimum=1)
        self._pool = None if self.timeout is None else _ModelCallPool(workers)
        self._unlogged = 0
        self._unlogged_lock = threading.Lock()

    @property
    def unlogged(self) -> int:
        """Exposures the store refused (queue full after failing writes) while serving."""
        return self._unlogged

    def _event(self, user_id: str, dialog_id: str, variant: str, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": _random_id(),
            "timestamp": datetime.datetime.now(datetime.UTC),
            "experiment": self.experiment,
            "user_id": user_id,
            "dialog_id": dialog_id,
            "variant": variant,
            "model_version": self.model_versions[variant],
            **fields,
        }

    def _log_exposure(self, event: dict[str, Any]) -> None:
        """Append an exposure; a refusal is counted and reported, never raised to the caller."""
        try:
            self.store.append(event)
        except Exception as error:
            with self._unlogged_lock:
                self._unlogged += 1
                count = self._unlogged
            LOGGER.error(
                "exposure of dialog %s not logged (%d so far in %s): %s",
                event["dialog_id"],
                count,
                self.experiment,
                error,
            )

    def _call(self, model: Generate, prompt: Any, kwargs: dict[str, Any]) -> Any:
        if self._pool is None:
            return model(prompt, **kwargs)
        return self._pool.call(model, prompt, kwargs, self.timeout)

    def generate(
        self, user_id: str, prompt: Any, *, dialog_id: str | None = None, **kwargs: Any
    ) -> ServedResponse:
        """Serve one request: route, call the variant's model, log the exposure.

        Args:
            user_id: the randomization unit.
            prompt: passed to the model callable, with ``kwargs``.
            dialog_id: the dialog this request belongs to; a new id when None (first turn).

        Raises:
            ModelTimeout: the model did not answer within ``timeout`` (exposure logged with
                status "timeout").
            Whatever the model raised, after logging an exposure with status "error".
        """
        user = check_text("user_id", user_id)
        variant = self._assign(user)
        in_experiment = variant is not None
        served = variant if in_experiment else self.fallback
        if served not in self.models:
            raise ValueError(f"router returned variant {served!r}, not one of {list(self.models)}")
        dialog = dialog_id or _random_id()
        started = time.perf_counter()
        status, tokens = "error", None
        try:
            response = self._call(self.models[served], prompt, kwargs)
            status, tokens = "ok", _completion_tokens(response)
        except ModelTimeout:
            status = "timeout"
            raise
        finally:
            latency = (time.perf_counter() - started) * 1000
            if in_experiment:
                self._log_exposure(
                    self._event(
                        user,
                        dialog,
                        served,
                        event_type="exposure",
                        status=status,
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

        Raises:
            ValueError: an unknown outcome, or a value outside its range (csat 1-5, flags
                0/1, whole turns), named with the value.
            abkit.serve.event_store.EventStoreFull: the store's queue is full; the outcome was not
                stored.
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

    def close(self) -> None:
        """Close the store (writes what waits). Model calls under way are not waited for."""
        self.store.close()

    def __enter__(self) -> ExperimentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
