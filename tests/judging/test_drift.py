"""The judge-drift check (abkit.judging.drift) against statsmodels: the two-arm test is the
unequal-variance two-sample z-test (one dialog per user), the week test Cochran's Q of
statsmodels' meta-analysis; and on simulated logs where the judge drifts or does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abkit.judging.drift import judge_drift


def _log(
    seed: int, *, lift: float = 0.0, drift: float = 0.0, label_weeks=(0.05, 0.05)
) -> pd.DataFrame:
    """One dialog per user over 21 days; the judge agrees 85 % of the time, calls an extra
    ``lift`` of the unhelpful treatment dialogs helpful, and from day 8 an extra ``drift`` of
    every unhelpful dialog; labels on a random share per week (``label_weeks``, then the last)."""
    rng = np.random.default_rng(seed)
    n = 40_000
    day = rng.integers(0, 21, n)
    variant = np.where(rng.random(n) < 0.5, "treatment", "control")
    human = (rng.random(n) < 0.6).astype(float)
    judge = np.where(rng.random(n) < 0.85, human, 1 - human)
    flip = (human == 0) & (rng.random(n) < lift) & (variant == "treatment")
    flip |= (human == 0) & (rng.random(n) < drift) & (day >= 7)
    judge = np.where(flip, 1.0, judge)
    share = np.asarray(label_weeks)[np.minimum(day // 7, len(label_weeks) - 1)]
    label = np.where(rng.random(n) < share, human, np.nan)
    return pd.DataFrame(
        {
            "user_id": [f"u{k}" for k in range(n)],
            "variant": variant,
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(day, "D")
            + pd.to_timedelta(rng.integers(0, 86_400, n), "s"),
            "judge": judge,
            "human": label,
        }
    )


def test_the_arm_test_is_the_two_sample_z_test_with_unequal_variances() -> None:
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    log = _log(1, lift=0.2)
    drift = judge_drift(log, judge="judge", label="human")
    labeled = log[log["human"].notna()]
    gap = labeled["human"] - labeled["judge"]
    t, c = (DescrStatsW(gap[labeled["variant"] == arm]) for arm in ("treatment", "control"))
    _, p = CompareMeans(t, c).ztest_ind(usevar="unequal")
    assert drift.arm_p == pytest.approx(p, rel=1e-9)
    arms = drift.table[drift.table["by"] == "arm"].set_index("group")
    assert arms.loc["treatment", "gap"] == pytest.approx(t.mean)
    assert arms.loc["treatment", "se"] == pytest.approx(t.std_mean, rel=1e-9)


def test_the_week_test_is_cochrans_q() -> None:
    from statsmodels.stats.meta_analysis import combine_effects

    drift = judge_drift(_log(2, drift=0.3), judge="judge", label="human")
    weeks = drift.table[drift.table["by"] == "week"]
    expected = combine_effects(weeks["gap"].to_numpy(), weeks["se"].to_numpy() ** 2)
    assert drift.week_p == pytest.approx(expected.test_homogeneity().pvalue, rel=1e-9)


def test_a_judge_that_favours_one_arm_is_flagged_and_said_so() -> None:
    drift = judge_drift(_log(3, lift=0.3), judge="judge", label="human")
    assert drift.arm_p < 1e-4 and drift.flagged
    assert "errs differently in the arms" in drift.sentences()[0]
    quiet = judge_drift(_log(4), judge="judge", label="human")
    assert quiet.arm_p > 0.01 and quiet.week_p > 0.01 and not quiet.flagged


@pytest.mark.parametrize(("weeks", "said"), [((0.08, 0.08), "still holds"),
                                             ((0.16, 0.04), "not spread evenly")])  # fmt: skip
def test_drift_over_weeks_says_whether_the_labels_keep_ppi_honest(weeks, said) -> None:
    drift = judge_drift(_log(5, drift=0.4, label_weeks=weeks), judge="judge", label="human")
    assert drift.week_p < 1e-4
    assert said in drift.sentences()[1]


def test_a_log_without_the_columns_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['human'\]"):
        judge_drift(_log(6).drop(columns="human"), judge="judge", label="human")
