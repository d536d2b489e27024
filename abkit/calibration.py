"""A/A calibration: how often each method calls a difference that is not there.

Simulate many experiments with no true effect (users clustered, several dialogs each), analyse
each with every method, and count p < alpha. A valid method's false-positive rate lies inside
the binomial interval around alpha; the naive dialog-level t-test, which treats dialogs of one
user as independent, does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps
from tqdm import tqdm

from abkit.analysis import analyze
from abkit.params import check_integer, check_probability
from abkit.plan import Metric, metrics_by_name
from abkit.simulate import SimulationConfig, simulate_dialogs

__all__ = ["AA_METRICS", "AaCalibration", "binomial_interval", "run_aa_calibration"]

AA_METRICS: tuple[Metric, ...] = (
    *metrics_by_name(
        ["task_completion", "turns", "csat", "return_7d", "latency_p50", "latency_p95"]
    ),
    Metric(
        "completed_per_user",
        "user_mean",
        "completed",
        description="completed dialogs per user (Welch t-test on user totals)",
    ),
)
NAIVE = "naive dialog-level t-test (task completion)"


def binomial_interval(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """Central interval of a Binomial(n, p) count holding at least ``level`` probability."""
    tail = (1 - level) / 2
    return int(sps.binom.ppf(tail, n, p)), int(sps.binom.isf(tail, n, p))


@dataclass(frozen=True)
class AaCalibration:
    """False-positive counts per method over ``n_experiments`` A/A runs.

    ``table`` columns: method, false_positives, rate, interval_low, interval_high (the 99 %
    binomial interval of the count at rate alpha), calibrated.
    """

    n_experiments: int
    alpha: float
    table: pd.DataFrame
    p_values: pd.DataFrame


def run_aa_calibration(
    n_experiments: int = 1000,
    *,
    n_users: int = 2000,
    dialogs_per_user: float = 3.0,
    intra_user_correlation: float = 0.3,
    alpha: float = 0.05,
    seed: int = 0,
    metrics: Sequence[Metric] = AA_METRICS,
    progress: bool = True,
) -> AaCalibration:
    """Run A/A experiments (split 50/50, no effect) and count false positives per method.

    Each experiment is a fresh simulation with seed ``seed + k`` and experiment name
    ``aa-{k}`` (so the md5 routing differs too), analysed by :func:`abkit.analysis.analyze`
    with no multiple-testing correction, plus the naive dialog-level t-test on completion.
    """
    check_integer("n_experiments", n_experiments, minimum=10)
    check_probability("alpha", alpha)
    chosen = list(metrics)
    base = SimulationConfig(
        n_users=n_users,
        dialogs_per_user=dialogs_per_user,
        intra_user_correlation=intra_user_correlation,
        split=0.5,
    )
    records = []
    for k in tqdm(range(n_experiments), desc="A/A experiments", disable=not progress):
        config = SimulationConfig(
            **{**base.__dict__, "seed": seed + k, "experiment": f"aa-{seed + k}"}
        )
        dialogs = simulate_dialogs(config)
        result = analyze(dialogs, split=0.5, metrics=chosen, alpha=alpha, correction="none")
        row = dict(
            zip(
                result.table["metric"] + " / " + result.table["method"],
                result.table["p_value"],
                strict=True,
            )
        )
        completed = dialogs["completed"].to_numpy(float)
        treated = (dialogs["variant"] == "treatment").to_numpy()
        row[NAIVE] = float(sps.ttest_ind(completed[~treated], completed[treated]).pvalue)
        records.append(row)
    p_values = pd.DataFrame(records)
    low, high = binomial_interval(n_experiments, alpha)
    counts = (p_values < alpha).sum()
    table = pd.DataFrame(
        {
            "method": counts.index,
            "false_positives": counts.to_numpy(),
            "rate": counts.to_numpy() / n_experiments,
            "interval_low": low,
            "interval_high": high,
        }
    )
    table["calibrated"] = table["false_positives"].between(low, high)
    return AaCalibration(n_experiments, alpha, table, p_values)
