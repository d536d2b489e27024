"""Synthetic traffic for an LLM support bot: a dialog log with known true effects.

Vectorized and seeded (one ``numpy.random.Generator``). The generative model, per user u:

- activity: dialogs_u = 1 + Poisson(λ_u), λ_u ~ Gamma(shape k, mean m̄ − 1): a negative-binomial,
  heavy-tailed count (smaller k, heavier tail);
- arm: the seed's md5 router on the user id (or weighted A/B/n), so the log behaves like one
  routed by :mod:`abkit.serve.routing`;
- propensities shared by all of the user's dialogs, which makes outcomes of one user
  correlated with intra-user correlation ρ:
  completion p_u ~ Beta(μ·(1/ρ − 1), (1 − μ)·(1/ρ − 1)) (beta-binomial, ICC exactly ρ);
  log-latency, CSAT and turns get a user effect carrying a share ρ of their variance.

Per dialog: completed ~ Bernoulli(p_u); escalated ~ Bernoulli(escalation_given_failure) when
not completed; CSAT 1–5 (rated with probability ``csat_rate``), rounded from a normal around
``csat_mean`` + a completion bonus; turns = 1 + Poisson; latency lognormal (an arm may get a
heavier tail); tokens out ~ Poisson; a like or dislike on a share of dialogs; return within 7
days; model errors. True effects per arm and metric are parameters (see :data:`EFFECT_KEYS`).

Injectable logging bug: ``unlogged_error_arm`` drops, in that arm, every user whose first
dialog hit a model error (the exposure was logged only after a successful answer) — a real
cause of sample ratio mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from abkit.core.params import check_integer, check_number, check_probability, check_text
from abkit.serve.routing import assign_many, assign_weighted, check_weights

__all__ = [
    "CUSTOM_COLUMNS_LOG",
    "EXAMPLE_CONFIG",
    "EXAMPLE_PRE_PERIOD",
    "EXAMPLE_PRE_PERIOD_LOG",
    "EXAMPLE_USERS_TABLE",
    "SimulationConfig",
    "custom_columns_log",
    "daily_dialogs",
    "simulate_dialogs",
    "simulate_in_blocks",
    "simulate_pre_period",
    "users_per_variant",
    "users_table",
]

EFFECT_KEYS: dict[str, str] = {
    "completion": "absolute change of the task completion rate",
    "csat": "absolute change of the CSAT mean (1-5 scale)",
    "turns": "absolute change of the mean number of turns",
    "latency": "relative change of median latency (0.1 = +10 %)",
    "latency_tail": "added to the lognormal sigma of latency (a heavier tail)",
    "tokens": "relative change of tokens out",
    "like": "absolute change of the like share among rated dialogs",
    "return_7d": "absolute change of the 7-day return rate",
    "error_rate": "absolute change of the model error rate",
}


# Each effect's base parameter (None: a relative change, which must stay above -1) and the
# range that base + effect must stay in for the arm to be simulated as asked.
_EFFECT_RANGES: dict[str, tuple[str | None, float, float]] = {
    "completion": ("completion_rate", 0.0, 1.0),
    "csat": ("csat_mean", 1.0, 5.0),
    "turns": ("turns_mean", 1.0, math.inf),
    "latency": (None, -1.0, math.inf),
    "latency_tail": ("latency_sigma", 0.0, math.inf),
    "tokens": (None, -1.0, math.inf),
    "like": ("like_rate", 0.0, 1.0),
    "return_7d": ("return_rate", 0.0, 1.0),
    "error_rate": ("error_rate", 0.0, 1.0),
}


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of :func:`simulate_dialogs`; validated on construction.

    Defaults resemble the seed's support bot: 71.3 % completion, CSAT 3.8, 3.2 turns, an 80/20
    split over 14 days.
    """

    n_users: int = 10_000
    days: int = 14
    split: float = 0.2
    weights: Mapping[str, float] | None = None
    experiment: str = "fine-tuned-v2-test"
    seed: int = 0
    start: str = "2026-01-05"
    dialogs_per_user: float = 3.0
    activity_shape: float = 0.8
    intra_user_correlation: float = 0.3
    completion_rate: float = 0.713
    escalation_given_failure: float = 0.9
    csat_rate: float = 0.3
    csat_mean: float = 3.8
    turns_mean: float = 3.2
    latency_median_ms: float = 900.0
    latency_sigma: float = 0.45
    tokens_mean: float = 180.0
    feedback_rate: float = 0.25
    like_rate: float = 0.7
    return_rate: float = 0.45
    error_rate: float = 0.01
    effects: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    unlogged_error_arm: str | None = None
    intents: Mapping[str, float] | None = None
    intent_stay: float = 0.8
    intent_effects: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_integer("n_users", self.n_users, minimum=1)
        check_integer("days", self.days, minimum=1)
        check_integer("seed", self.seed, minimum=0)
        check_text("experiment", self.experiment)
        check_number("dialogs_per_user", self.dialogs_per_user, low=1.0, low_inclusive=True)
        check_number("activity_shape", self.activity_shape, low=0.0)
        check_number("intra_user_correlation", self.intra_user_correlation, low=0.0, high=1.0)
        for name in ("completion_rate", "csat_rate", "feedback_rate", "like_rate", "return_rate"):
            check_probability(name, getattr(self, name))
        check_number(
            "escalation_given_failure",
            self.escalation_given_failure,
            low=0.0,
            high=1.0,
            low_inclusive=True,
            high_inclusive=True,
        )
        check_number("error_rate", self.error_rate, low=0.0, high=1.0, low_inclusive=True)
        check_number("csat_mean", self.csat_mean, low=1.0, high=5.0)
        check_number("turns_mean", self.turns_mean, low=1.0, low_inclusive=True)
        check_number("latency_median_ms", self.latency_median_ms, low=0.0)
        check_number("latency_sigma", self.latency_sigma, low=0.0)
        check_number("tokens_mean", self.tokens_mean, low=0.0)
        pd.Timestamp(self.start)  # raises on an unreadable date
        arms = self.arms
        for arm, effects in self.effects.items():
            if arm not in arms:
                raise ValueError(f"effects has arm {arm!r}, the arms are {arms}")
            unknown = sorted(set(effects) - set(EFFECT_KEYS))
            if unknown:
                raise ValueError(
                    f"effects[{arm!r}] has unknown key(s) {unknown}, allowed: {list(EFFECT_KEYS)}"
                )
            for key, value in effects.items():
                check_number(f"effects[{arm!r}][{key!r}]", value)
                base_name, low, high = _EFFECT_RANGES[key]
                base = getattr(self, base_name) if base_name else 0.0
                if not low <= base + value <= high or (base_name is None and value <= -1):
                    where = f"{base_name} {base:g} + " if base_name else "a relative change of "
                    raise ValueError(
                        f"effects[{arm!r}][{key!r}] == {value!r}: {where}{value:g} leaves "
                        f"[{low:g}, {high:g}], so the simulated arm could not have that effect "
                        "(it would be cut at the bound, a smaller true effect than asked)"
                    )
        self._check_intents(arms)
        if self.unlogged_error_arm is not None and self.unlogged_error_arm not in arms:
            raise ValueError(
                f"unlogged_error_arm == {self.unlogged_error_arm!r}, must be one of {arms} or None"
            )

    def _check_intents(self, arms: list[str]) -> None:
        """``intents`` (share of users per intent, summing to 1), ``intent_stay`` and
        ``intent_effects`` (intent -> arm -> {"completion": change}, on that intent's dialogs)."""
        if self.intents is None:
            if self.intent_effects:
                raise ValueError("intent_effects given without intents: name the intents first")
            return
        check_weights(self.intents)
        check_number("intent_stay", self.intent_stay, low=0.0, high=1.0, high_inclusive=True)
        for intent, by_arm in self.intent_effects.items():
            if intent not in self.intents:
                raise ValueError(
                    f"intent_effects has intent {intent!r}, the intents are {list(self.intents)}"
                )
            for arm, effects in by_arm.items():
                if arm not in arms or set(effects) - {"completion"}:
                    raise ValueError(
                        f"intent_effects[{intent!r}] == {dict(by_arm)!r}: maps an arm of {arms} to "
                        "{'completion': change}"
                    )
                for value in effects.values():
                    check_number(f"intent_effects[{intent!r}][{arm!r}]", value, low=-1.0, high=1.0)

    @property
    def arms(self) -> list[str]:
        return list(self.weights) if self.weights is not None else ["control", "treatment"]

    def effect(self, arm: str, key: str) -> float:
        return float(self.effects.get(arm, {}).get(key, 0.0))


def _prefixed_ids(prefix: str, count: int, first: int = 0) -> pa.Array:
    """ "u0", "u1", ... (from ``first``) built in Arrow (fast for millions)."""
    digits = pc.cast(pa.array(np.arange(first, first + count, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, digits, "")


def _per_arm(config: SimulationConfig, arm_index: np.ndarray, key: str, base: float) -> np.ndarray:
    """base + effect of each row's arm for ``key``."""
    offsets = np.array([config.effect(arm, key) for arm in config.arms])
    return base + offsets[arm_index]


def simulate_dialogs(config: SimulationConfig | None = None, **overrides: object) -> pd.DataFrame:
    """Simulate a dialog log (:data:`abkit.serve.events.DIALOG_SCHEMA`), one row per dialog.

    Args:
        config: the parameters; keyword ``overrides`` replace single fields.

    Returns:
        Columns dialog_id, user_id, variant, timestamp, experiment, model_version, turns,
        completed, escalated, csat (NaN when not rated), latency_ms, tokens_out, likes,
        dislikes, returned_7d, error; sorted by timestamp.
    """
    if config is None:
        config = SimulationConfig(**overrides)  # type: ignore[arg-type]
    elif overrides:
        config = SimulationConfig(**{**config.__dict__, **overrides})  # type: ignore[arg-type]
    return _simulate_block(config, np.random.default_rng(config.seed), 0, config.n_users, 0)


def simulate_in_blocks(
    config: SimulationConfig, *, block_users: int = 100_000
) -> Iterator[pd.DataFrame]:
    """:func:`simulate_dialogs` for many users, a block of ``block_users`` users at a time.

    Memory stays that of one block (about 1M dialogs at 10 dialogs per user), so 10M dialogs
    stream to a file (:func:`abkit.serve.events.write_log_blocks`). With no more users than one
    block
    the single block is exactly :func:`simulate_dialogs`; otherwise block k draws from the
    random stream (seed, k) and rows are sorted by timestamp within each block. User and dialog
    ids run on across blocks.
    """
    check_integer("block_users", block_users, minimum=1)
    if config.n_users <= block_users:
        yield simulate_dialogs(config)
        return
    first_dialog = 0
    for k, first in enumerate(range(0, config.n_users, block_users)):
        count = min(block_users, config.n_users - first)
        block = _simulate_block(
            config, np.random.default_rng([config.seed, k]), first, count, first_dialog
        )
        first_dialog += len(block)
        yield block


def _simulate_block(
    config: SimulationConfig,
    rng: np.random.Generator,
    first_user: int,
    n_users: int,
    first_dialog: int,
) -> pd.DataFrame:
    users = _draw_users(config, rng, first_user, n_users)
    frame = _draw_dialogs(
        config,
        rng,
        users,
        users.dialogs,
        users.arm_index,
        pd.Timestamp(config.start, tz="UTC"),
        config.days,
        "d",
        first_dialog,
    )
    codes = pa.array(users.arm_index[frame.pop("_owner").to_numpy()])
    frame.insert(2, "variant", pd.array(pc.take(pa.array(config.arms), codes), dtype="string"))
    frame.insert(4, "experiment", config.experiment)
    versions = pa.array([f"{config.experiment}-{a}" for a in config.arms])
    frame.insert(5, "model_version", pd.array(pc.take(versions, codes), dtype="string"))
    if config.unlogged_error_arm is not None:
        frame = _drop_users_with_failed_first_dialog(frame, config.unlogged_error_arm)
    return frame


@dataclass(frozen=True)
class _Users:
    """Per-user draws shared by the experiment and its pre-period."""

    ids: pa.Array
    arm_index: np.ndarray
    rate: np.ndarray | float  # activity: extra dialogs per period ~ Poisson(rate)
    dialogs: np.ndarray
    completion: np.ndarray
    latency: np.ndarray
    csat: np.ndarray
    turns: np.ndarray
    returning: np.ndarray


def _draw_users(
    config: SimulationConfig,
    rng: np.random.Generator,
    first_user: int = 0,
    n_users: int | None = None,
) -> _Users:
    rho = config.intra_user_correlation
    n_users = config.n_users if n_users is None else n_users
    user_ids = _prefixed_ids("u", n_users, first_user)
    if config.weights is None:
        arm_labels = assign_many(config.experiment, user_ids, config.split)
    else:
        arm_labels = assign_weighted(config.experiment, user_ids, config.weights)
    arm_index_user = pd.Categorical(arm_labels, categories=config.arms).codes.astype(np.int64)
    extra = config.dialogs_per_user - 1
    rate = rng.gamma(config.activity_shape, extra / config.activity_shape, n_users) if extra else 0
    dialogs_user = 1 + rng.poisson(rate, n_users)

    concentration = 1 / rho - 1
    completion_mean = np.clip(
        _per_arm(config, arm_index_user, "completion", config.completion_rate), 1e-6, 1 - 1e-6
    )
    completion_user = rng.beta(
        completion_mean * concentration, (1 - completion_mean) * concentration
    )
    latency_user = rng.normal(0, math.sqrt(rho), n_users)
    csat_user = rng.normal(0, math.sqrt(rho), n_users)
    turns_user = rng.normal(0, math.sqrt(rho), n_users)
    return_user = np.clip(
        _per_arm(config, arm_index_user, "return_7d", config.return_rate)
        + rng.normal(0, 0.15, n_users),
        0,
        1,
    )
    return _Users(
        user_ids,
        arm_index_user,
        rate,
        dialogs_user,
        completion_user,
        latency_user,
        csat_user,
        turns_user,
        return_user,
    )


def _draw_dialogs(
    config: SimulationConfig,
    rng: np.random.Generator,
    users: _Users,
    dialogs_user: np.ndarray,
    arm_index_user: np.ndarray,
    start: pd.Timestamp,
    days: float,
    id_prefix: str,
    first_dialog: int = 0,
) -> pd.DataFrame:
    """One row per dialog of each user; ``arm_index_user`` picks each user's effects."""
    rho = config.intra_user_correlation
    owner = np.repeat(np.arange(users.ids.__len__()), dialogs_user)
    n = owner.size
    arm = arm_index_user[owner]
    intent, completion_change = _draw_intents(config, owner, arm, len(users.ids), first_dialog)
    completed = rng.random(n) < users.completion[owner] + completion_change
    escalated = ~completed & (rng.random(n) < config.escalation_given_failure)
    error_p = np.clip(_per_arm(config, arm, "error_rate", config.error_rate), 0, 1)
    error = rng.random(n) < error_p
    completed &= ~error

    csat_centre = _per_arm(config, arm, "csat", config.csat_mean) + 1.2 * (
        completed - config.completion_rate
    )
    csat_noise = rng.normal(0, math.sqrt(1 - rho), n) + users.csat[owner]
    csat = np.clip(np.rint(csat_centre + csat_noise), 1, 5)
    csat[rng.random(n) >= config.csat_rate] = np.nan

    turns_extra = np.maximum(_per_arm(config, arm, "turns", config.turns_mean) - 1, 0.01)
    turns = 1 + rng.poisson(turns_extra * np.exp(0.4 * users.turns[owner] - 0.08))

    sigma = np.maximum(_per_arm(config, arm, "latency_tail", config.latency_sigma), 1e-6)
    log_median = math.log(config.latency_median_ms) + np.log1p(_per_arm(config, arm, "latency", 0))
    latency = np.exp(
        log_median + sigma * (users.latency[owner] + rng.normal(0, math.sqrt(1 - rho), n))
    )
    tokens = rng.poisson(config.tokens_mean * (1 + _per_arm(config, arm, "tokens", 0)))

    rated = rng.random(n) < config.feedback_rate
    like_p = np.clip(
        _per_arm(config, arm, "like", config.like_rate)
        + 0.3 * (completed - config.completion_rate),
        0,
        1,
    )
    liked = rated & (rng.random(n) < like_p)
    returned = rng.random(n) < users.returning[owner]

    seconds = np.round(rng.random(n) * days * 86_400)
    # rows come out sorted by time (stable: ties keep the order drawn); sorting the numbers
    # here is far cheaper than sorting the finished frame's text columns
    order = np.argsort(seconds, kind="stable")
    owner = owner[order]
    timestamps = start + pd.to_timedelta(seconds[order], "s")
    dialog_numbers = pa.array(order.astype(np.int64) + first_dialog)
    dialog_ids = pc.binary_join_element_wise(id_prefix, pc.cast(dialog_numbers, pa.string()), "")

    frame = pd.DataFrame(
        {
            "dialog_id": pd.array(dialog_ids, dtype="string"),
            "user_id": pd.array(users.ids.take(pa.array(owner)), dtype="string"),
            "timestamp": timestamps,
            "turns": turns[order].astype(np.int64),
            "completed": completed[order].astype(np.int64),
            "escalated": escalated[order].astype(np.int64),
            "csat": csat[order],
            "latency_ms": latency[order],
            "tokens_out": tokens[order].astype(float),
            "likes": liked[order].astype(np.int64),
            "dislikes": (rated & ~liked)[order].astype(np.int64),
            "returned_7d": returned[order].astype(np.int64),
            "error": error[order].astype(np.int64),
            "_owner": owner,
        }
    )
    if intent is not None:
        names = np.asarray(list(config.intents or {}), dtype=object)
        frame.insert(
            len(frame.columns) - 1, "intent", pd.array(names[intent[order]], dtype="string")
        )
    return frame


def _draw_intents(
    config: SimulationConfig, owner: np.ndarray, arm: np.ndarray, n_users: int, first_dialog: int
) -> tuple[np.ndarray | None, np.ndarray | float]:
    """Each dialog's intent (an index into ``config.intents``; None without intents) and the
    change of its completion probability (``intent_effects``), from their own random stream
    (seed, 7, first dialog), so a log without intents is drawn exactly as before. A user has a
    main intent (drawn by the shares); each dialog keeps it with probability ``intent_stay``,
    else is drawn afresh."""
    if not config.intents:
        return None, 0.0
    rng = np.random.default_rng([config.seed, 7, first_dialog])
    shares = np.asarray(list(config.intents.values()), dtype=float)
    main = rng.choice(shares.size, size=n_users, p=shares)
    stay = rng.random(owner.size) < config.intent_stay
    intent = np.where(stay, main[owner], rng.choice(shares.size, size=owner.size, p=shares))
    change = np.zeros((len(config.arms), shares.size))
    names = list(config.intents)
    for name, by_arm in config.intent_effects.items():
        for label, effects in by_arm.items():
            change[config.arms.index(label), names.index(name)] = effects.get("completion", 0.0)
    return intent, change[arm, intent]


def simulate_pre_period(
    config: SimulationConfig,
    *,
    days: float = 28.0,
    stability: float = 0.8,
    coverage: float = 0.7,
    seed_offset: int = 1,
) -> pd.DataFrame:
    """The same users' dialogs in the ``days`` before the experiment, with no treatment.

    Each user's propensities (completion, CSAT, turns, latency, return) are those of
    :func:`simulate_dialogs` with the arm's effect taken out; with probability ``stability``
    a user keeps them, otherwise they are drawn afresh, so the correlation between a user's
    pre-period and in-experiment propensities is ``stability`` (for the normal user effects
    exactly, for completion in expectation). A share ``coverage`` of users were active before;
    their dialogs in the period are 1 + Poisson(activity · days / config.days) with the
    experiment's activity rate. No variant or experiment column: nothing was being tested.

    Examples:
        >>> config = SimulationConfig(n_users=500, seed=3)
        >>> pre = simulate_pre_period(config, days=14)
        >>> pre["timestamp"].max() < pd.Timestamp(config.start, tz="UTC")
        True
        >>> pre["user_id"].nunique() < 500
        True
    """
    check_number("days", days, low=0.0)
    check_number("stability", stability, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True)
    check_number("coverage", coverage, low=0.0, high=1.0, low_inclusive=True, high_inclusive=True)
    users = _draw_users(config, np.random.default_rng(config.seed))
    rng = np.random.default_rng([config.seed, seed_offset])
    n_users = config.n_users
    fresh = _draw_users(config, rng)
    keep = rng.random(n_users) < stability
    control = np.zeros(n_users, dtype=np.int64)
    # take the arm's effect out of the kept propensities (the pre-period had no treatment)
    completion_shift = _per_arm(config, users.arm_index, "completion", 0.0)
    return_shift = _per_arm(config, users.arm_index, "return_7d", 0.0)
    fresh_completion = np.clip(
        fresh.completion - _per_arm(config, fresh.arm_index, "completion", 0.0), 0, 1
    )
    fresh_return = np.clip(
        fresh.returning - _per_arm(config, fresh.arm_index, "return_7d", 0.0), 0, 1
    )
    pre_users = _Users(
        users.ids,
        control,
        users.rate,
        users.dialogs,
        np.where(keep, np.clip(users.completion - completion_shift, 0, 1), fresh_completion),
        np.where(keep, users.latency, fresh.latency),
        np.where(keep, users.csat, fresh.csat),
        np.where(keep, users.turns, fresh.turns),
        np.where(keep, np.clip(users.returning - return_shift, 0, 1), fresh_return),
    )
    active = rng.random(n_users) < coverage
    scaled = np.asarray(users.rate) * days / config.days if np.ndim(users.rate) else 0.0
    counts = np.where(active, 1 + rng.poisson(scaled, n_users), 0)
    start = pd.Timestamp(config.start, tz="UTC") - pd.Timedelta(days=days)
    frame = _draw_dialogs(config, rng, pre_users, counts, control, start, days, "p")
    return frame.drop(columns="_owner")  # sorted by timestamp already


def _drop_users_with_failed_first_dialog(frame: pd.DataFrame, arm: str) -> pd.DataFrame:
    """The injected bug: in ``arm``, users whose first dialog errored never reach the log."""
    first = frame.drop_duplicates("user_id", keep="first")
    lost = first.loc[(first["variant"] == arm) & (first["error"] == 1), "user_id"]
    return frame[~frame["user_id"].isin(lost)].reset_index(drop=True)


# The bundled example log (data/example_dialogs.parquet, `make data`): the seed's support bot
# with a candidate that clearly wins on completion, CSAT and turns at +5 % latency.
EXAMPLE_CONFIG = SimulationConfig(
    n_users=12_000,
    days=14,
    split=0.2,
    experiment="support-bot-v2",
    seed=20260105,
    effects={
        "treatment": {"completion": 0.07, "csat": 0.3, "turns": -0.3, "latency": 0.05, "like": 0.05}
    },
)


# Scenario logs bundled beside the example (`make data`), for notebook 03's parameter matrix:
# the same bot, one with a latency guardrail breach, one with an SRM from a logging bug.
SCENARIOS: dict[str, SimulationConfig] = {
    "example_dialogs": EXAMPLE_CONFIG,
    "scenario_guardrail_breach": SimulationConfig(
        n_users=12_000,
        days=14,
        split=0.2,
        experiment="support-bot-v3",
        seed=20260106,
        effects={
            "treatment": {"completion": 0.07, "csat": 0.3, "latency": 0.35, "latency_tail": 0.1}
        },
    ),
    "scenario_srm": SimulationConfig(
        n_users=12_000,
        days=14,
        split=0.2,
        experiment="support-bot-v4",
        seed=20260107,
        effects={"treatment": {"completion": 0.07, "error_rate": 0.12}},
        unlogged_error_arm="treatment",
    ),
    # Segments: the example's candidate with each dialog's intent; on refund questions the
    # candidate completes 15 points less (a planted reversal that the whole-experiment effect
    # hides), for notebook 03's segment section.
    "scenario_segments": SimulationConfig(
        n_users=12_000,
        days=14,
        split=0.2,
        experiment="support-bot-v5",
        seed=20260109,
        effects={"treatment": {"completion": 0.07, "csat": 0.3}},
        intents={"billing": 0.45, "refund": 0.3, "login": 0.25},
        intent_effects={"refund": {"treatment": {"completion": -0.15}}},
    ),
    # A/B/n (data/example_abn_plan.yaml): two fine-tunes against production, half the users
    # to the control. ft-v1 wins on completion; ft-v2 (a larger model) wins more but answers
    # 30 % slower, which its P95-latency guardrail does not allow.
    "example_abn_dialogs": SimulationConfig(
        n_users=12_000,
        days=14,
        weights={"control": 0.5, "ft-v1": 0.25, "ft-v2": 0.25},
        experiment="support-bot-abn",
        seed=20260108,
        effects={
            "ft-v1": {"completion": 0.05, "csat": 0.2, "turns": -0.2},
            "ft-v2": {"completion": 0.08, "csat": 0.3, "latency": 0.3},
        },
    ),
}


def users_per_variant(dialogs: pd.DataFrame) -> dict[str, int]:
    """Distinct users per variant in a dialog log."""
    return {str(k): int(v) for k, v in dialogs.groupby("variant")["user_id"].nunique().items()}


def daily_dialogs(dialogs: pd.DataFrame) -> pd.DataFrame:
    """Dialogs per calendar day (UTC) and variant; columns day, variant, dialogs."""
    days = dialogs["timestamp"].dt.floor("D").dt.tz_localize(None)
    counts = dialogs.assign(day=days).groupby(["day", "variant"]).size()
    return counts.rename("dialogs").reset_index()


CUSTOM_COLUMNS_LOG = "example_custom_columns.parquet"  # in data/, with example_custom_plan.yaml


def custom_columns_log(dialogs: pd.DataFrame) -> pd.DataFrame:
    """The example log as a team with its own schema would write it, for the custom-plan example.

    ``user_id`` is ``customer``; CSAT is ``satisfaction``; latency is ``response_s`` in
    seconds; model errors are ``refused``; the other columns are dropped.
    """
    out = dialogs[["dialog_id", "user_id", "variant", "timestamp", "experiment", "completed"]]
    return out.rename(columns={"user_id": "customer"}).assign(
        satisfaction=dialogs["csat"],
        response_s=dialogs["latency_ms"] / 1000.0,
        refused=dialogs["error"],
    )


EXAMPLE_PRE_PERIOD_LOG = "example_pre_period.parquet"
EXAMPLE_USERS_TABLE = "example_users.parquet"
EXAMPLE_PRE_PERIOD = {"days": 28.0, "stability": 0.8, "coverage": 0.7}


def users_table(pre_period: pd.DataFrame, measured_at: str | pd.Timestamp) -> pd.DataFrame:
    """A users table from a pre-period log: one row per user with history.

    Columns ``user_id``, ``measured_at`` (the time the summary was taken), ``past_dialogs``,
    ``past_completion`` (share of the user's dialogs completed) and ``past_tokens`` (tokens per
    dialog); users without pre-period dialogs are absent, as in a real users table.
    """
    per_user = pre_period.groupby("user_id", sort=True).agg(
        past_dialogs=("dialog_id", "count"),
        past_completion=("completed", "mean"),
        past_tokens=("tokens_out", "mean"),
    )
    per_user.insert(0, "measured_at", pd.Timestamp(measured_at))
    return per_user.reset_index()
