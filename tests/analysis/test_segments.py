"""Segments: each segment's effect against pandas by hand, the interaction test against
statsmodels OLS, BH within each metric's segments, the reversal flag, the refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR
from abkit.stats.two_sample import adjust_p_values

TURNS = {"name": "turns_per_user", "kind": "user_mean", "column": "turns", "role": "primary"}
COMPLETION = {"name": "completion", "kind": "ratio", "column": "completed", "role": "secondary"}


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """The example log with an intent per dialog drawn at random (users change intent between
    dialogs) and a language per user."""
    frame = pd.read_parquet(DATA_DIR / "example_dialogs.parquet")
    rng = np.random.default_rng(30)
    frame["intent"] = rng.choice(
        ["billing", "refund", "login", None], size=len(frame), p=[0.4, 0.3, 0.25, 0.05]
    )
    users = frame["user_id"].drop_duplicates()
    language = dict(
        zip(users, rng.choice(["en", "es"], size=len(users), p=[0.7, 0.3]), strict=True)
    )
    frame["language"] = frame["user_id"].map(language)
    return frame


@pytest.fixture(scope="module")
def result(log):
    plan = {
        "split": 0.2,
        "experiment": "support-bot-v2",
        "metrics": [TURNS, COMPLETION],
        "segments": ["intent", "language"],
    }
    return analyze(log, plan=plan)


def first_intent(log: pd.DataFrame) -> pd.Series:
    ordered = log.sort_values(["timestamp", "dialog_id"])
    first = ordered.drop_duplicates("user_id").set_index("user_id")["intent"]  # None stays None
    return first.fillna("(missing)")


def test_each_segment_equals_pandas_by_hand(log, result) -> None:
    segment_of = first_intent(log)
    rows = result.segments[result.segments["column"] == "intent"].set_index(["segment", "metric"])
    for segment in ["billing", "refund", "login", "(missing)"]:
        users = segment_of.index[segment_of == segment]
        part = log[log["user_id"].isin(users)]
        per_user = part.groupby(["variant", "user_id"]).agg(
            turns=("turns", "sum"), done=("completed", "sum"), n=("completed", "size")
        )
        control, treatment = per_user.loc["control"], per_user.loc["treatment"]
        row = rows.loc[(segment, "turns_per_user")]
        assert row["effect"] == pytest.approx(treatment["turns"].mean() - control["turns"].mean())
        se = math.sqrt(
            treatment["turns"].var() / len(treatment) + control["turns"].var() / len(control)
        )
        assert (row["ci_high"] - row["ci_low"]) / 2 == pytest.approx(
            se * 1.96, rel=0.02
        )  # Welch t quantile, not 1.96
        assert (row["n_control"], row["n_treatment"]) == (len(control), len(treatment))
        ratio = rows.loc[(segment, "completion")]
        by_hand = (
            treatment["done"].sum() / treatment["n"].sum()
            - control["done"].sum() / control["n"].sum()
        )
        assert ratio["effect"] == pytest.approx(by_hand, rel=1e-12)
        users_changing = (
            part.assign(i=part["intent"].fillna("(missing)")).groupby("user_id")["i"].nunique()
        )
        assert ratio["changing"] == int((users_changing > 1).sum())


def test_segments_cover_every_user_once(result) -> None:
    for _, rows in result.segments.groupby("column"):
        primary = rows[rows["metric"] == "turns_per_user"]
        assert primary["n_control"].sum() + primary["n_treatment"].sum() == sum(result.engine.users)


def test_interaction_equals_ols_with_an_arm_by_segment_term(log, result) -> None:
    segment_of = first_intent(log)
    per_user = log.groupby("user_id").agg(turns=("turns", "sum"), variant=("variant", "first"))
    per_user["treated"] = (per_user["variant"] == "treatment").astype(float)
    per_user["inside"] = (segment_of.reindex(per_user.index) == "refund").astype(float)
    fit = smf.ols("turns ~ treated * inside", data=per_user.reset_index())
    # HC2 gives each of the four cells its own unbiased variance s²/n, as the kit does
    hc2 = fit.fit(cov_type="HC2")
    row = result.segments.set_index(["column", "segment", "metric"]).loc[
        ("intent", "refund", "turns_per_user")
    ]
    assert row["effect"] - row["rest_effect"] == pytest.approx(
        hc2.params["treated:inside"], rel=1e-10
    )
    assert row["interaction_p"] == pytest.approx(hc2.pvalues["treated:inside"], rel=1e-9)
    # user-clustered (one row per user) differs only by the small-sample factor
    clustered = fit.fit(cov_type="cluster", cov_kwds={"groups": np.arange(len(per_user))})
    assert row["interaction_p"] == pytest.approx(clustered.pvalues["treated:inside"], rel=0.02)


def test_benjamini_hochberg_within_each_metric_and_column(result) -> None:
    for _, rows in result.segments.groupby(["column", "variant", "metric"]):
        np.testing.assert_allclose(
            rows["p_adjusted"], adjust_p_values(rows["p_value"].to_numpy(), "bh")
        )
        np.testing.assert_allclose(
            rows["interaction_p_adjusted"], adjust_p_values(rows["interaction_p"].to_numpy(), "bh")
        )


def test_a_planted_reversal_is_flagged(log) -> None:
    planted = log.copy()
    spanish = planted["language"] == "es"
    treated = planted["variant"] == "treatment"
    planted.loc[spanish & treated, "turns"] = planted.loc[spanish & treated, "turns"] + 2
    plan = {
        "split": 0.2,
        "experiment": "support-bot-v2",
        "metrics": [TURNS],
        "segments": ["language"],
    }
    out = analyze(planted, plan=plan)
    overall = out.table.iloc[0]["effect"]
    rows = out.segments.set_index("segment")
    assert overall > 0 and rows.loc["en", "effect"] < 0 and rows.loc["es", "effect"] > 0
    assert rows.loc["en", "reversed"] and not rows.loc["es", "reversed"]
    assert rows.loc["es", "interaction_p_adjusted"] < 1e-6
    assert out.to_dict()["segments"][0]["column"] == "language"


def test_refusals_name_the_column(log) -> None:
    with pytest.raises(
        ValueError, match=r"segments == \['intnt'\]: column\(s\) \['intnt'\] not in the log"
    ):
        analyze(log, plan={"split": 0.2, "experiment": "support-bot-v2", "segments": ["intnt"]})
    with pytest.raises(TypeError, match="segments == 'intent', must be a list of column names"):
        analyze(log, plan={"split": 0.2, "experiment": "support-bot-v2", "segments": "intent"})


def test_a_column_with_too_many_values_is_refused(log) -> None:
    plan = {
        "split": 0.2,
        "experiment": "support-bot-v2",
        "metrics": [TURNS],
        "segments": ["dialog_id"],
    }
    with pytest.raises(ValueError, match=r"segments: column 'dialog_id' has [\d,]+ values"):
        analyze(log, plan=plan)


def test_no_segments_no_rows(result, log) -> None:
    plain = analyze(log, plan={"split": 0.2, "experiment": "support-bot-v2", "metrics": [TURNS]})
    assert plain.segments.empty and plain.to_dict()["segments"] == []


def simulated_segment_p(rng: np.random.Generator, n: int, shift: np.ndarray) -> np.ndarray:
    """Per segment, the kit's Welch test (the user_mean kind's) of per-user values (normal,
    sd 1, ``n`` users per arm and segment), the treatment shifted by ``shift``."""
    from abkit.stats.two_sample import MeanStats, welch_t_test_from_stats

    p = np.empty(shift.size)
    for k, delta in enumerate(shift):
        c, t = rng.normal(0.0, 1.0, n), rng.normal(delta, 1.0, n)
        stats = [MeanStats(n, float(x.sum()), float((x * x).sum())) for x in (c, t)]
        p[k] = welch_t_test_from_stats(*stats).p_value
    return p


@pytest.mark.slow
def test_aa_with_ten_segments_flags_a_segment_at_the_bh_rate() -> None:
    """Under A/A, BH over 10 independent segments rejects any with probability α."""
    from conftest import slow_scale

    from abkit.teaching.calibration import binomial_interval

    rng = np.random.default_rng(3030)
    reps = max(1000, int(4000 * slow_scale()))
    hits = sum(
        bool((adjust_p_values(simulated_segment_p(rng, 120, np.zeros(10)), "bh") < 0.05).any())
        for _ in range(reps)
    )
    low, high = binomial_interval(reps, 0.05, 0.99)
    assert low <= hits <= high, (hits, reps)


@pytest.mark.slow
def test_a_planted_reversal_at_the_designs_size_is_found_in_80_percent() -> None:
    """The effect notebook 01 says a tenth of the users must have (design_tables.segment_mde)
    is found at the BH level in at least 80 % of experiments (within the binomial band)."""
    from conftest import slow_scale

    from abkit.experiment.design_tables import segment_mde
    from abkit.experiment.settings import DesignSettings
    from abkit.teaching.calibration import binomial_interval

    settings = DesignSettings(metric="mean", baseline=3.0, mde=0.1, sd_control=1.0, split=0.5)
    table = segment_mde(settings, 4000).set_index("segments")
    delta, per_arm = float(table.loc[10, "mde"]), int(table.loc[10, "n_total"]) // 2
    rng = np.random.default_rng(3031)
    reps = max(400, int(2000 * slow_scale()))
    shift = np.zeros(10)
    shift[3] = -delta  # one segment goes the other way
    hits = sum(
        bool(adjust_p_values(simulated_segment_p(rng, per_arm, shift), "bh")[3] < 0.05)
        for _ in range(reps)
    )
    low, _ = binomial_interval(reps, 0.8, 0.99)
    assert hits >= low, (hits, reps, delta, per_arm)


def test_a_segments_cuped_estimate_is_the_segment_analysed_alone(log) -> None:
    """CUPED where declared: a segment's row equals the analysis of that segment's users
    alone (same pre-period log, same plan without segments)."""
    cuped = {
        "name": "completion",
        "kind": "ratio",
        "column": "completed",
        "role": "primary",
        "covariate": "pre_period",
    }
    plan = {"split": 0.2, "experiment": "support-bot-v2", "metrics": [cuped]}
    pre = DATA_DIR / "example_pre_period.parquet"
    whole = analyze(log, plan={**plan, "segments": ["language"]}, pre_period=pre)
    row = whole.segments.set_index("segment").loc["es"]
    users = log.loc[log["language"] == "es", "user_id"].unique()
    alone = analyze(log[log["user_id"].isin(users)], plan=plan, pre_period=pre).table.iloc[0]
    assert alone["covariate"] == "pre_period"
    assert row["effect"] == pytest.approx(alone["effect"], rel=1e-10)
    assert row["ci_low"] == pytest.approx(alone["ci_low"], rel=1e-10)


def test_a_look_segments_only_its_rows(log) -> None:
    plan = {
        "split": 0.2,
        "experiment": "support-bot-v2",
        "metrics": [TURNS],
        "segments": ["intent"],
    }
    look = analyze(log, plan=plan, until="2026-01-09").segments
    cut = log[log["timestamp"] <= pd.Timestamp("2026-01-09 23:59:59.999999", tz="UTC")]
    alone = analyze(cut, plan=plan).segments
    pd.testing.assert_frame_equal(look, alone)
