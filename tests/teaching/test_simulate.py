"""abkit.teaching.simulate: seeded, valid, and its parameters mean what they say.

Bounds on simulated rates come from the binomial / normal sampling error of the quantity at the
simulated size (4 standard errors: a false failure about once in 16,000 runs for a fixed seed
it never changes), not from tuning.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from abkit.serve.events import validate
from abkit.serve.routing import assign_many, srm_check
from abkit.teaching.simulate import SimulationConfig, simulate_dialogs


def test_same_seed_same_log_other_seed_other_log() -> None:
    first = simulate_dialogs(n_users=2000, seed=7)
    pd.testing.assert_frame_equal(first, simulate_dialogs(n_users=2000, seed=7))
    assert not first["latency_ms"].equals(simulate_dialogs(n_users=2000, seed=8)["latency_ms"])


def test_log_is_valid_and_routed_by_the_seed_router() -> None:
    dialogs = simulate_dialogs(n_users=3000, split=0.2, experiment="exp-x", seed=2)
    validate(dialogs)
    users = dialogs.drop_duplicates("user_id")
    assert (users["variant"].to_numpy() == assign_many("exp-x", users["user_id"], 0.2)).all()


def test_activity_and_true_effects() -> None:
    config = SimulationConfig(
        n_users=40_000,
        dialogs_per_user=3.0,
        seed=11,
        effects={"treatment": {"completion": 0.08, "latency": 0.10}},
    )
    dialogs = simulate_dialogs(config)
    per_user = dialogs.groupby("user_id").size()
    assert per_user.mean() == pytest.approx(3.0, abs=4 * per_user.std() / math.sqrt(len(per_user)))
    assert per_user.max() > 15  # heavy tail
    rates = dialogs.groupby("variant")["completed"].mean()
    # completion is also cut by the 1 % error rate: expected 0.713*0.99 and 0.793*0.99
    se = math.sqrt(0.25 / (len(dialogs) * 0.2)) * math.sqrt(1 + 2 * 0.3)  # clustered, generous
    assert rates["control"] == pytest.approx(0.713 * 0.99, abs=4 * se)
    assert rates["treatment"] - rates["control"] == pytest.approx(0.08 * 0.99, abs=6 * se)
    medians = dialogs.groupby("variant")["latency_ms"].median()
    assert medians["treatment"] / medians["control"] == pytest.approx(1.10, abs=0.03)


def test_intra_user_correlation_is_what_was_asked() -> None:
    # ICC of completion from a one-way ANOVA on users with exactly 4 dialogs
    dialogs = simulate_dialogs(
        n_users=60_000,
        dialogs_per_user=4.0,
        activity_shape=50.0,
        intra_user_correlation=0.3,
        error_rate=0.0,
        seed=5,
    )
    sizes = dialogs.groupby("user_id")["completed"].transform("size")
    four = dialogs[sizes == 4]
    means = four.groupby("user_id")["completed"].mean()
    k = 4
    msb = k * means.var(ddof=1)
    msw = four.groupby("user_id")["completed"].var(ddof=1).mean()
    icc = (msb - msw) / (msb + (k - 1) * msw)
    assert icc == pytest.approx(0.3, abs=0.03)


def test_injected_logging_bug_causes_a_sample_ratio_mismatch() -> None:
    config = SimulationConfig(n_users=20_000, seed=4, effects={"treatment": {"error_rate": 0.1}})
    clean = simulate_dialogs(config)
    buggy = simulate_dialogs(config, unlogged_error_arm="treatment")
    shares = {"control": 0.8, "treatment": 0.2}
    clean_users = clean.groupby("variant")["user_id"].nunique().to_dict()
    buggy_users = buggy.groupby("variant")["user_id"].nunique().to_dict()
    assert not srm_check(clean_users, shares).mismatch
    assert srm_check(buggy_users, shares).mismatch
    assert buggy_users["control"] == clean_users["control"]


def test_weighted_arms() -> None:
    dialogs = simulate_dialogs(
        n_users=5000, weights={"a": 0.5, "b": 0.25, "c": 0.25}, seed=1, effects={"c": {"csat": 0.5}}
    )
    shares = dialogs.drop_duplicates("user_id")["variant"].value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25}, abs=0.03)
    validate(dialogs, variants=["a", "b", "c"])


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"n_users": 0}, r"n_users == 0, must be an integer >= 1"),
        ({"split": 1.5}, r"split == 1.5"),
        ({"intra_user_correlation": 0.0}, r"intra_user_correlation == 0.0, must be in \(0, 1\)"),
        ({"effects": {"treatment": {"completoin": 0.1}}}, r"unknown key\(s\) \['completoin'\]"),
        ({"effects": {"tretment": {"completion": 0.1}}}, r"effects has arm 'tretment'"),
        ({"unlogged_error_arm": "b"}, r"unlogged_error_arm == 'b'"),
        ({"csat_mean": 6}, r"csat_mean == 6, must be in \(1, 5\)"),
    ],
)
def test_bad_parameters(overrides: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        simulate_dialogs(**overrides)


def test_split_is_checked_by_the_router_message() -> None:
    with pytest.raises(ValueError, match=r"split == 1.5, must be in \[0, 1\]"):
        simulate_dialogs(n_users=10, split=1.5)
    assert np.isnan(simulate_dialogs(n_users=50, csat_rate=0.01)["csat"]).mean() > 0.9


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".duckdb"])
def test_blocks_stream_to_every_store_kind(tmp_path, suffix) -> None:
    from abkit.analysis.log_source import read_log
    from abkit.serve.events import write_log_blocks
    from abkit.teaching.simulate import simulate_in_blocks

    config = SimulationConfig(n_users=2_500, seed=9)
    blocks = list(simulate_in_blocks(config, block_users=1_000))
    assert len(blocks) == 3
    whole = pd.concat(blocks, ignore_index=True)
    assert whole["dialog_id"].is_unique and whole["user_id"].nunique() == 2_500
    assert all(b["timestamp"].is_monotonic_increasing for b in blocks)
    path, rows = write_log_blocks(iter(blocks), tmp_path / f"log{suffix}")
    assert rows == len(whole)
    back = read_log(path)
    assert len(back) == rows and set(back["dialog_id"]) == set(whole["dialog_id"])
    assert not list(tmp_path.glob(".*partial"))


def test_one_block_is_exactly_simulate_dialogs() -> None:
    from abkit.teaching.simulate import simulate_in_blocks

    config = SimulationConfig(n_users=800, seed=4)
    (only,) = simulate_in_blocks(config, block_users=1_000)
    pd.testing.assert_frame_equal(only, simulate_dialogs(config))


def test_an_effect_the_simulator_cannot_realise_is_refused() -> None:
    """An absolute effect that would push a rate past 0 or 1 (or CSAT past its scale) was cut
    at the bound: a smaller true effect than the one asked for, silently."""
    from abkit.teaching.simulate import _EFFECT_RANGES, EFFECT_KEYS

    assert set(_EFFECT_RANGES) == set(EFFECT_KEYS)
    for key, value, message in (
        ("completion", 0.5, r"completion_rate 0.713 \+ 0.5 leaves \[0, 1\]"),
        ("csat", -3.0, r"csat_mean 3.8 \+ -3 leaves \[1, 5\]"),
        ("latency", -1.0, r"a relative change of -1 leaves"),
    ):
        with pytest.raises(ValueError, match=rf"effects\['treatment'\]\['{key}'\] == {value}: "):
            SimulationConfig(effects={"treatment": {key: value}})
        with pytest.raises(ValueError, match=message):
            SimulationConfig(effects={"treatment": {key: value}})
    assert SimulationConfig(effects={"treatment": {"completion": 0.28}}).effect(
        "treatment", "completion"
    ) == pytest.approx(0.28)
