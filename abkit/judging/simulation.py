"""Judges with known properties, for teaching and calibration: pairwise verdicts with set
accuracy, position and length bias; judge scores with set accuracy; judge and human labels on a
dialog log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from abkit.core.params import check_number, check_probability
from abkit.judging.bradley_terry import beats

__all__ = [
    "add_judge_labels",
    "simulate_arena",
    "simulate_judge_scores",
    "simulate_pairwise",
    "simulate_pointwise",
]


def simulate_pairwise(
    n_prompts: int,
    strengths: dict[str, float],
    *,
    accuracy: float = 1.0,
    position_bias: float = 0.0,
    length_bias: float = 0.0,
    mean_length: dict[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Pairwise judgments of two systems, each prompt judged in both orders, for tests and
    teaching. The human preference follows Bradley–Terry (``strengths``); the judge reports it
    with probability ``accuracy`` (else the other one), but in a share ``position_bias`` of its
    verdicts picks the response shown first, and in a share ``length_bias`` the longer one.
    Response lengths are lognormal around ``mean_length`` (default 300 tokens each).

    Returns:
        prompt_id, system_a, system_b, shown_first, winner (the judge's), human (the human
        preference), length_a, length_b.
    """
    if len(strengths) != 2:
        raise ValueError(f"strengths names {len(strengths)} systems; simulate_pairwise takes 2")
    for name, value in (
        ("accuracy", accuracy),
        ("position_bias", position_bias),
        ("length_bias", length_bias),
    ):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} == {value!r}, must be in [0, 1]")
    if position_bias + length_bias > 1:
        raise ValueError("position_bias + length_bias must not exceed 1")
    rng = np.random.default_rng(seed)
    (a, theta_a), (b, theta_b) = strengths.items()
    means = mean_length or {a: 300.0, b: 300.0}
    length_a = np.round(means[a] * rng.lognormal(0, 0.3, n_prompts))
    length_b = np.round(means[b] * rng.lognormal(0, 0.3, n_prompts))
    human_a = rng.random(n_prompts) < beats(theta_a, theta_b)
    rows = []
    for first in ("a", "b"):
        agrees = rng.random(n_prompts) < accuracy
        says_a = np.where(agrees, human_a, ~human_a)
        mode = rng.random(n_prompts)
        says_a = np.where(mode < position_bias, first == "a", says_a)
        longer_a = length_a > length_b
        in_length = (mode >= position_bias) & (mode < position_bias + length_bias)
        says_a = np.where(in_length & (length_a != length_b), longer_a, says_a)
        rows.append(
            pd.DataFrame(
                {
                    "prompt_id": np.arange(n_prompts),
                    "system_a": a,
                    "system_b": b,
                    "shown_first": first,
                    "winner": np.where(says_a, "a", "b"),
                    "human": np.where(human_a, "a", "b"),
                    "length_a": length_a,
                    "length_b": length_b,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sort_values(
        ["prompt_id", "shown_first"], ignore_index=True
    )


def simulate_arena(
    n_comparisons: int,
    strengths: dict[str, float] | np.ndarray,
    *,
    per_prompt: int = 1,
    tie_share: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Leaderboard-shaped verdicts (Chatbot Arena's shape): each row a uniformly random pair of
    distinct systems, the winner drawn from Bradley–Terry with ``strengths`` (a mapping, or an
    array for systems ``s000``, ``s001``, ...), except a share ``tie_share`` of ties. Prompts
    carry random 32-hex-digit ids, ``per_prompt`` comparisons each (the unit the bootstrap and
    the sandwich resample).

    Returns:
        prompt_id, system_a, system_b, winner (a / b / tie).

    Examples:
        >>> simulate_arena(4, {"x": 0.5, "y": 0.0}, seed=1)["winner"].tolist()
        ['a', 'b', 'a', 'b']
    """
    if isinstance(strengths, dict):
        names, theta = list(strengths), np.asarray(list(strengths.values()), dtype=float)
    else:
        theta = np.asarray(strengths, dtype=float)
        names = [f"s{k:03d}" for k in range(theta.size)]
    if theta.size < 2:
        raise ValueError(f"strengths names {theta.size} system(s); a comparison needs 2")
    check_number("tie_share", tie_share, low=0.0, high=1.0, low_inclusive=True)
    rng = np.random.default_rng(seed)
    prompts = -(-n_comparisons // per_prompt)
    if per_prompt == 1:
        a = rng.integers(0, theta.size, n_comparisons)
        b = (a + rng.integers(1, theta.size, n_comparisons)) % theta.size  # never a itself
    else:  # distinct pairs within a prompt (a repeated one would be a duplicate verdict)
        low, high = np.triu_indices(theta.size, k=1)
        if per_prompt > low.size or prompts * low.size > 50_000_000:
            raise ValueError(f"per_prompt == {per_prompt}: too many pairs for {theta.size} systems")
        chosen = rng.random((prompts, low.size)).argsort(axis=1)[:, :per_prompt].ravel()
        chosen = chosen[:n_comparisons]
        swap = rng.random(n_comparisons) < 0.5
        a = np.where(swap, high[chosen], low[chosen])
        b = np.where(swap, low[chosen], high[chosen])
    a_wins = rng.random(n_comparisons) < 1 / (1 + np.exp(theta[b] - theta[a]))
    tie = rng.random(n_comparisons) < tie_share
    raw = rng.bytes(16 * prompts)
    ids = np.array([raw[16 * k : 16 * k + 16].hex() for k in range(prompts)], dtype=object)
    system = np.asarray(names, dtype=object)
    return pd.DataFrame(
        {
            "prompt_id": np.repeat(ids, per_prompt)[:n_comparisons],
            "system_a": system[a],
            "system_b": system[b],
            "winner": np.where(tie, "tie", np.where(a_wins, "a", "b")),
        }
    )


def simulate_judge_scores(
    n_labeled: int, n_unlabeled: int, *, rate: float, accuracy: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary human-scale outcome with true ``rate`` and a judge that agrees with the human
    label with probability ``accuracy``: (labels, judged_labeled, judged_unlabeled) for
    :func:`ppi_mean`, the labeled items a random subset of all."""
    for name, value in (("rate", rate), ("accuracy", accuracy)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} == {value!r}, must be in [0, 1]")
    rng = np.random.default_rng(seed)
    truth = rng.random(n_labeled + n_unlabeled) < rate
    judged = np.where(rng.random(truth.size) < accuracy, truth, ~truth).astype(float)
    return truth[:n_labeled].astype(float), judged[:n_labeled], judged[n_labeled:]


def simulate_pointwise(
    n_prompts: int,
    pass_logits: dict[str, float],
    *,
    difficulty_sd: float = 1.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Pointwise grades (pass / fail) of systems on the same prompts, for tests and teaching.

    A prompt's difficulty d ~ N(0, ``difficulty_sd``²) is shared by every system, so grades of
    one prompt are correlated (the reason a paired test is the right one); system s passes
    with probability logistic(``pass_logits[s]`` − d).

    Returns:
        One row per prompt and system: prompt_id, system, passed (0 / 1).
    """
    if len(pass_logits) < 2:
        raise ValueError(f"pass_logits names {len(pass_logits)} system(s); give at least 2")
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, difficulty_sd, n_prompts)
    frames = [
        pd.DataFrame(
            {
                "prompt_id": np.arange(n_prompts),
                "system": system,
                "passed": (rng.random(n_prompts) < 1 / (1 + np.exp(difficulty - logit))).astype(
                    int
                ),
            }
        )
        for system, logit in pass_logits.items()
    ]
    return pd.concat(frames, ignore_index=True)


def add_judge_labels(
    dialogs: pd.DataFrame,
    *,
    helpful_rate: dict[str, float],
    accuracy: float = 0.85,
    label_share: float = 0.05,
    judge_lift: dict[str, float] | None = None,
    user_sd: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """A dialog log with a judge's verdict on every dialog and a human's on a random subset.

    The human verdict ``human_helpful`` (0 / 1) is Bernoulli(p_user), p_user = the arm's
    ``helpful_rate`` plus a per-user deviation N(0, ``user_sd``²) clipped to [0.01, 0.99]
    (dialogs of one user are alike: users are the unit). The judge (``judge_helpful``) agrees
    with it with probability ``accuracy``; in an arm named in ``judge_lift`` it also calls that
    share of the truly unhelpful dialogs helpful (a judge fond of the candidate's style). A
    random ``label_share`` of dialogs keeps its human verdict; the rest get NaN.
    """
    check_probability("accuracy", accuracy)
    check_probability("label_share", label_share)
    arms = sorted(dialogs["variant"].unique())
    unknown = sorted(set(arms) - set(helpful_rate))
    if unknown:
        raise ValueError(f"helpful_rate has no rate for variant(s) {unknown}")
    rng = np.random.default_rng(seed)
    users = dialogs["user_id"].unique()
    deviation = pd.Series(rng.normal(0.0, user_sd, users.size), index=users)
    rate = dialogs["variant"].map(helpful_rate).to_numpy(float)
    p_user = np.clip(rate + deviation.loc[dialogs["user_id"]].to_numpy(), 0.01, 0.99)
    truth = rng.random(len(dialogs)) < p_user
    judged = np.where(rng.random(len(dialogs)) < accuracy, truth, ~truth)
    lift = dialogs["variant"].map(judge_lift or {}).fillna(0.0).to_numpy(float)
    judged = judged | (~truth & (rng.random(len(dialogs)) < lift))
    labeled = rng.random(len(dialogs)) < label_share
    return dialogs.assign(
        judge_helpful=judged.astype(float),
        human_helpful=np.where(labeled, truth.astype(float), np.nan),
    )
