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
from abkit.design import solve_design
from abkit.metrics import Metric, metrics_by_name
from abkit.params import check_integer, check_probability
from abkit.simulate import SimulationConfig, simulate_dialogs

__all__ = [
    "AA_METRICS",
    "AaCalibration",
    "PowerCheck",
    "binomial_interval",
    "run_aa_calibration",
    "run_power_check",
]

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


@dataclass(frozen=True)
class PowerCheck:
    """Ship decisions over simulated experiments at the designed effect.

    Attributes:
        n_experiments: experiments simulated.
        users: users per experiment (the design's total).
        planned_power: the power the design promised.
        ships: experiments whose decision was "ship".
        interval_low, interval_high: 99 % binomial interval of ``ships`` at ``planned_power``.
    """

    n_experiments: int
    users: int
    planned_power: float
    ships: int
    interval_low: int
    interval_high: int

    @property
    def ship_rate(self) -> float:
        return self.ships / self.n_experiments

    @property
    def as_planned(self) -> bool:
        return self.interval_low <= self.ships <= self.interval_high


def run_power_check(
    n_experiments: int = 1000,
    *,
    baseline: float = 0.713,
    mde: float = 0.05,
    split: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    seed: int = 0,
    progress: bool = True,
) -> PowerCheck:
    """Simulate experiments at the effect a design was made for and count "ship" decisions.

    The design is notebook 01's (:class:`abkit.planning.DesignSettings`, pooled method, the
    default plan's single primary metric, task completion, one dialog per user so that the
    user is the unit on both sides); each experiment is simulated with that many users and the
    true completion effect ``mde``, and analysed with the same plan as the analysis notebook
    would (primary only: the planned power is the primary test's). The ship rate should lie in
    the 99 % binomial interval around ``power``.
    """
    from abkit.analysis import analyze_plan
    from abkit.plan import ExperimentPlan
    from abkit.planning import DesignSettings

    check_integer("n_experiments", n_experiments, minimum=10)
    settings = DesignSettings(
        baseline=baseline,
        mde=mde,
        split=split,
        alpha=alpha,
        power=power,
        dialogs_per_user=1.0,
        intra_user_correlation=0.0,
    )
    design = solve_design(**{**settings.solve_arguments(), "method": "pooled"})
    plan = ExperimentPlan(
        split=split, alpha=alpha, metrics=tuple(metrics_by_name(["task_completion"]))
    )
    ships = 0
    for k in tqdm(range(n_experiments), desc="experiments at the MDE", disable=not progress):
        config = SimulationConfig(
            n_users=design.n_total,
            split=split,
            dialogs_per_user=1.0,
            completion_rate=baseline,
            error_rate=0.0,
            seed=seed + k,
            experiment=f"power-{seed + k}",
            effects={"treatment": {"completion": mde}},
        )
        result = analyze_plan(simulate_dialogs(config), plan)
        ships += result.decision.verdict == "ship"
    low, high = binomial_interval(n_experiments, power)
    return PowerCheck(n_experiments, design.n_total, power, ships, low, high)
