"""abkit.serve.routing: bit-exact with the seed's router, ramp behaviour, layers and SRM.

The reference for assignments is hashlib computed here, independently of abkit, exactly as
the seed's ``ABRouter.assign`` does it. SRM references: ``public_cases.md`` S1 (tea-tasting)
and scipy's chisquare.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abkit.core.params import is_missing_id
from abkit.serve.routing import (
    Layer,
    TwoStageDesign,
    assign_many,
    assign_variant,
    assign_weighted,
    observed_split,
    ramp_comparison,
    ramp_switches,
    srm_check,
)


def seed_assign(experiment: str, user_id: str, split: float) -> str:
    """The seed document's ABRouter.assign, restated."""
    hash_value = int(hashlib.md5(f"{experiment}:{user_id}".encode()).hexdigest(), 16)
    return "treatment" if (hash_value % 10000) / 10000 < split else "control"


IDS = [f"user-{i:06d}" for i in range(100_000)]


@pytest.mark.parametrize("split", [0.2, 0.29, 0.5])
def test_assign_many_is_bit_exact_with_the_seed_on_100k_ids(split: float) -> None:
    expected = np.array([seed_assign("fine-tuned-v2-test", user, split) for user in IDS])
    assert np.array_equal(assign_many("fine-tuned-v2-test", IDS, split), expected)


def test_every_input_container_gives_the_same_answer() -> None:
    ids = IDS[:5000]
    expected = [seed_assign("exp", user, 0.3) for user in ids]
    for container in (
        ids,
        np.array(ids, dtype=object),
        pd.Series(ids),
        pd.Series(ids, dtype="string"),
        pa.array(ids),
        pa.chunked_array([ids[:100], ids[100:]]),
    ):
        assert assign_many("exp", container, 0.3).tolist() == expected
    assert [assign_variant("exp", user, 0.3) for user in ids[:200]] == expected[:200]
    # small inputs take the Python path, large ones DuckDB: both agree
    assert assign_many("exp", ids[:10], 0.3).tolist() == expected[:10]


def test_integer_ids_hash_as_their_decimal_text() -> None:
    ints = np.arange(1, 3001)  # 0 is a placeholder id (abkit.core.params.PLACEHOLDER_IDS)
    expected = [seed_assign("exp", str(i), 0.5) for i in ints]
    assert assign_many("exp", ints, 0.5).tolist() == expected
    assert assign_variant("exp", 17, 0.5) == seed_assign("exp", "17", 0.5)
    huge = [10**20, 2**64, -(2**70), 5]  # past int64: Arrow cannot hold them, text can
    expected = [seed_assign("exp", str(i), 0.5) for i in huge]
    assert assign_many("exp", huge, 0.5).tolist() == expected
    assert [assign_variant("exp", i, 0.5) for i in huge] == expected


# Any text a user id can be: not blank, not a missing value written as text (refused).
USER_IDS = st.text(min_size=1, max_size=20).filter(lambda text: not is_missing_id(text))


@settings(max_examples=200, deadline=None)
@given(experiment=st.text(min_size=1), user=USER_IDS, split=st.floats(0, 1))
def test_scalar_router_matches_the_seed_and_is_deterministic(
    experiment: str, user: str, split: float
) -> None:
    if not experiment.strip():
        return
    first = assign_variant(experiment, user, split)
    assert first == assign_variant(experiment, user, split) == seed_assign(experiment, user, split)


@settings(max_examples=50, deadline=None)
@given(
    users=st.lists(USER_IDS, min_size=1, max_size=50),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
)
def test_seed_router_treatment_set_only_grows(users: list[str], low: float, high: float) -> None:
    low, high = sorted((low, high))
    before = assign_many("ramp", users, low)
    after = assign_many("ramp", users, high)
    # sticky: nobody leaves treatment when the split rises; some control users may join it
    assert not np.any((before == "treatment") & (after == "control"))


@settings(max_examples=50, deadline=None)
@given(
    users=st.lists(USER_IDS, min_size=1, max_size=50, unique=True),
    coverages=st.lists(st.floats(0, 1), min_size=2, max_size=5),
)
def test_two_stage_design_never_switches_arms_across_a_ramp(
    users: list[str], coverages: list[float]
) -> None:
    design = TwoStageDesign("ramp", {"control": 0.5, "treatment": 0.5})
    stages = [design.with_coverage(c).assign_many(users) for c in sorted(coverages)]
    switches = ramp_switches(stages, [str(c) for c in sorted(coverages)])
    assert switches["switched"].sum() == 0
    # raising coverage only adds users
    for before, after in zip(stages[:-1], stages[1:], strict=True):
        assert not np.any((before != None) & (after == None))  # noqa: E711


def test_seed_router_ramp_moves_control_users_to_treatment() -> None:
    stages = [assign_many("ramp", IDS[:20000], split) for split in (0.05, 0.2, 0.5)]
    switches = ramp_switches(stages, ["5%", "20%", "50%"])
    # the expected share of control users that switch: (0.2-0.05)/0.95, then (0.5-0.2)/0.8
    moved = switches["control_to_treatment"].to_numpy() / 20000
    assert moved == pytest.approx([0.15, 0.30], abs=0.01)
    assert (switches["switched"] == switches["control_to_treatment"]).all()


def test_experiments_with_different_names_are_independent() -> None:
    first = assign_many("exp-a", IDS, 0.5) == "treatment"
    second = assign_many("exp-b", IDS, 0.5) == "treatment"
    table = pd.crosstab(first, second).to_numpy()
    # chi-square test of independence on the 2x2 table
    from scipy.stats import chi2_contingency

    assert chi2_contingency(table).pvalue > 0.001


def test_weighted_assignment_shares() -> None:
    arms = assign_weighted("abn", IDS, {"a": 0.2, "b": 0.3, "c": 0.5})
    shares = pd.Series(arms).value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx({"a": 0.2, "b": 0.3, "c": 0.5}, abs=0.01)


def test_layer_experiments_never_share_a_user() -> None:
    layer = Layer("checkout", {"exp-1": (0.0, 0.3), "exp-2": (0.3, 0.6)})
    owner = pd.Series(layer.experiment_of(IDS))
    shares = owner.value_counts(normalize=True, dropna=False)
    assert shares["exp-1"] == pytest.approx(0.3, abs=0.01)
    assert shares["exp-2"] == pytest.approx(0.3, abs=0.01)
    assert owner.isna().mean() == pytest.approx(0.4, abs=0.01)
    with pytest.raises(ValueError, match=r"overlaps"):
        Layer("x", {"a": (0.0, 0.5), "b": (0.4, 0.8)})


def test_srm_matches_published_and_scipy_values() -> None:
    # public_cases.md S1: 53 vs 47, expected 1:1, chi-square without correction p = 0.5485...
    result = srm_check({"control": 53, "treatment": 47}, {"control": 0.5, "treatment": 0.5})
    assert result.p_value == pytest.approx(0.5485062355001472, rel=1e-12)
    assert not result.mismatch
    # 80/20 with a deficit: chi2 = (8200-8000)^2/8000 + (1800-2000)^2/2000 = 25
    skewed = srm_check([8200, 1800], [0.8, 0.2])
    assert skewed.statistic == pytest.approx(25.0)
    assert skewed.p_value == pytest.approx(5.733031437583878e-07, rel=1e-9)
    assert skewed.mismatch and "mismatch" in skewed.verdict
    assert skewed.table["observed_share"].tolist() == pytest.approx([0.82, 0.18])


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: assign_variant("exp", "u", 1.5), ValueError, r"split == 1.5, must be in \[0, 1\]"),
        (
            lambda: assign_variant("", "u", 0.5),
            ValueError,
            r"experiment == '', must be a non-empty",
        ),
        (lambda: assign_variant("exp", None, 0.5), TypeError, r"user_id == None"),
        (lambda: assign_variant("exp", 12.0, 0.5), TypeError, r"user_id == 12.0 \(float\)"),
        (lambda: assign_variant("exp", b"u1", 0.5), TypeError, r"user_id == b'u1' \(bytes\)"),
        (lambda: assign_variant("exp", "", 0.5), ValueError, r"user_id == ''"),
        (lambda: assign_many("exp", ["a", None], 0.5), ValueError, r"1 null value\(s\)"),
        (
            lambda: assign_many("exp", pd.Series(["a", None] * 2000), 0.5),
            ValueError,
            r"user_ids contain 2000 null value\(s\) \(first at position 1\)",
        ),
        (lambda: assign_many("exp", np.array([1.0, 2.0]), 0.5), TypeError, r"dtype float64"),
        (lambda: assign_many("exp", pd.Series([1, None]), 0.5), TypeError, r"dtype float64"),
        (lambda: assign_many("exp", pa.array(["a", ""] * 2000), 0.5), ValueError, r"blank"),
        (
            lambda: assign_many("exp", ["a", "b", "None"], 0.5),
            ValueError,
            r"1 id\(s\) that are blank or a missing value written as text \(first 'None' at "
            r"position 2\)",
        ),
        (lambda: assign_variant("exp", " \t", 0.5), ValueError, r"user_id == ' \\t', must"),
        (lambda: assign_weighted("e", ["u"], {"a": 0.5, "b": 0.6}), ValueError, r"sum to 1.1"),
        (
            lambda: assign_weighted("e", ["u"], {"a": -0.5, "b": 1.5}),
            ValueError,
            r"weights\['a'\] == -0.5",
        ),
        (lambda: TwoStageDesign("e", coverage=2.0), ValueError, r"coverage == 2.0"),
        (lambda: srm_check([10, 10], [0.5, 0.6]), ValueError, r"must sum to 1"),
        (
            lambda: srm_check({"control": 5, "treatmnet": 5}, {"control": 0.5, "treatment": 0.5}),
            ValueError,
            r"variant\(s\) \['treatmnet'\] not in expected_shares",
        ),
    ],
)
def test_bad_input_gives_a_clear_error(call, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


R_ROUTING = {
    (row["case"], row["quantity"]): float(row["value"])
    for row in csv.DictReader(
        (Path(__file__).parents[1] / "reference" / "routing_reference.csv").open()
    )
}


def test_srm_matches_r_chisq_test() -> None:
    two = srm_check([8200, 1800], [0.8, 0.2])
    assert two.statistic == pytest.approx(R_ROUTING[("srm_8200_1800", "statistic")], rel=1e-12)
    assert two.p_value == pytest.approx(R_ROUTING[("srm_8200_1800", "p_value")], rel=1e-9)
    three = srm_check({"a": 510, "b": 260, "c": 230}, {"a": 0.5, "b": 0.25, "c": 0.25})
    assert three.df == 2
    assert three.p_value == pytest.approx(R_ROUTING[("srm_abn", "p_value")], rel=1e-9)


def test_observed_split_wilson_interval_matches_r_prop_test() -> None:
    table = observed_split(
        {"control": 16006, "treatment": 3994}, {"control": 0.8, "treatment": 0.2}
    ).set_index("variant")
    assert table.loc["treatment", "ci_low"] == pytest.approx(
        R_ROUTING[("wilson_3994_20000", "low")], rel=1e-9
    )
    assert table.loc["treatment", "ci_high"] == pytest.approx(
        R_ROUTING[("wilson_3994_20000", "high")], rel=1e-9
    )
    assert table["planned_in_ci"].all()


def test_ramp_comparison_counts_switches_per_design() -> None:
    table = ramp_comparison("exp", IDS[:20000], [0.05, 0.2, 0.5])
    by_design = table.groupby("design")["switched"].sum()
    assert by_design["two-stage (coverage ramps)"] == 0
    # expected (0.20 - 0.05) + (0.50 - 0.20) = 45 % of users switch; binomial sd ~ 0.35 %
    assert by_design["seed router (split ramps)"] / 20000 == pytest.approx(0.45, abs=0.015)
    with pytest.raises(ValueError, match=r"must be at least two increasing shares"):
        ramp_comparison("exp", IDS[:10], [0.5, 0.2])


def test_ramp_plot_names_a_design_without_switches_instead_of_an_empty_legend_entry() -> None:
    import matplotlib.pyplot as plt

    from abkit.report import plots

    ramp = ramp_comparison("exp", [f"u{i}" for i in range(5000)], [0.05, 0.2, 0.5])
    ax = plots.ramp_plot(ramp)
    entries = [text.get_text() for text in ax.get_legend().get_texts()]
    assert entries == ["seed router (split ramps)"]
    assert "no user changed arm under: two-stage (coverage ramps)" in ax.get_title()
    plt.close("all")
