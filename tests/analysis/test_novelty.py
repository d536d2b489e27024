"""Novelty: the effect by time since first exposure against pandas, its trend against
statsmodels OLS with user-clustered errors, and a planted decay flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    frame = pd.read_parquet(DATA_DIR / "example_dialogs.parquet")
    first = frame.groupby("user_id")["timestamp"].transform("min")
    frame["period"] = ((frame["timestamp"] - first) / pd.Timedelta(days=3)).astype(int)
    return frame


def test_each_period_equals_pandas(log) -> None:
    result = analyze(log.drop(columns="period"), plan={"split": 0.2})
    periods = result.exposure_effects.set_index("period")
    assert list(periods.index) == [0, 1, 2, 3, 4]
    for period, rows in log.groupby("period"):
        rate = rows.groupby("variant")["completed"].mean()
        assert periods.loc[period, "effect"] == pytest.approx(
            rate["treatment"] - rate["control"], rel=1e-12
        )
        assert periods.loc[period, "first_day"] == 3 * period


def test_trend_equals_ols_with_user_clustered_errors(log) -> None:
    result = analyze(log.drop(columns="period"), plan={"split": 0.2})
    trend = result.novelty.iloc[0]
    data = log.assign(treated=(log["variant"] == "treatment").astype(float))
    fit = smf.ols("completed ~ C(period) * treated", data=data).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(data["user_id"])[0]}
    )
    # effect per period: treated + treated:C(period)[T.b]; slope = Σ c_b effect_b, the weighted
    # least-squares contrast with the periods' inverse variances as weights
    periods = result.exposure_effects
    se = (periods["ci_high"] - periods["ci_low"]).to_numpy() / (2 * 1.959963984540054)
    weights = 1 / se**2
    centred = np.arange(5) - (weights @ np.arange(5)) / weights.sum()
    contrast = weights * centred / (weights @ centred**2)
    names = list(fit.params.index)
    combination = np.zeros(len(names))
    for period, c in enumerate(contrast):
        combination[names.index("treated")] += c
        if period:
            combination[names.index(f"C(period)[T.{period}]:treated")] += c
    test = fit.t_test(combination)
    assert trend["slope"] == pytest.approx(float(test.effect[0]), rel=1e-9)
    # the sandwich's small-sample factors differ from the per-arm delta method by < 0.1 %
    assert trend["se"] == pytest.approx(float(test.sd[0, 0]), rel=2e-3)


def test_a_fading_effect_is_a_warning(log) -> None:
    faded = log.copy()
    late = (faded["variant"] == "treatment") & (faded["period"] >= 2)
    rng = np.random.default_rng(5)
    faded.loc[late, "completed"] = (rng.random(late.sum()) < 0.71).astype(int)
    result = analyze(faded.drop(columns="period"), plan={"split": 0.2})
    trend = result.novelty.iloc[0]
    assert trend["decaying"] and trend["slope"] < 0
    assert any("decays with exposure" in reason for reason in result.decision.reasons)
    assert result.to_dict()["novelty"]["trend"][0]["decaying"]


def test_a_steady_effect_is_not_flagged_and_other_kinds_say_why(log) -> None:
    steady = analyze(log.drop(columns="period"), plan={"split": 0.2})
    assert not steady.novelty["decaying"].any()
    turns = {"name": "turns", "kind": "user_mean", "column": "turns", "role": "primary"}
    other = analyze(log.drop(columns="period"), plan={"split": 0.2, "metrics": [turns]})
    assert "no trend test: it reads ratio metrics" in other.novelty.iloc[0]["note"]
    assert other.exposure_effects.empty


def test_a_look_reads_only_its_rows(log) -> None:
    """A look (until) places and counts only the rows up to its cut, as the analysis does."""
    rows = log.drop(columns="period")
    look = analyze(rows, plan={"split": 0.2}, until="2026-01-09")
    upto = rows[rows["timestamp"] <= pd.Timestamp("2026-01-09 23:59:59.999999", tz="UTC")]
    first = upto.groupby("user_id")["timestamp"].transform("min")
    days = look.novelty.iloc[0]["period_days"]
    period = ((upto["timestamp"] - first) / pd.Timedelta(days=int(days))).astype(int)
    periods = look.exposure_effects.set_index("period")
    assert list(periods.index) == sorted(period.unique())
    for k, part in upto.groupby(period):
        rate = part.groupby("variant")["completed"].mean()
        assert periods.loc[k, "effect"] == pytest.approx(rate["treatment"] - rate["control"])


def test_novelty_can_be_left_out() -> None:
    result = analyze(DATA_DIR / "example_dialogs.parquet", plan={"split": 0.2}, novelty=False)
    assert result.novelty.empty and result.exposure_effects.empty


def test_a_trend_that_cannot_be_computed_says_so(log) -> None:
    rows = log.drop(columns="period")
    one = rows[rows["variant"] == "treatment"]["user_id"].iloc[0]
    few = rows[
        rows["user_id"].isin([one, *rows[rows["variant"] == "control"]["user_id"].unique()[:5]])
    ]
    trend = analyze(few, plan={"split": 0.2, "srm_p": 1e-9}).novelty.iloc[0]
    assert not trend["decaying"] and np.isnan(trend["p_value"])
    assert "cannot check, not a pass" in trend["note"]
