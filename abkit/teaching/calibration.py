"""A/A calibration: how often each method calls a difference that is not there.

Simulate many experiments with no true effect (users clustered, several dialogs each), analyse
each with every method, and count p < alpha. A valid method's false-positive rate lies inside
the binomial interval around alpha; the naive dialog-level t-test, which treats dialogs of one
user as independent, does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from tqdm import tqdm

from abkit.analysis.results import analyze
from abkit.core.params import check_integer, check_probability
from abkit.design.sample_size import solve_design
from abkit.plan.metrics import Metric, metrics_by_name
from abkit.stats.cuped import Moments, Value, cuped_test
from abkit.teaching.covariate_simulation import simulate_users_with_covariate
from abkit.teaching.simulate import SimulationConfig, simulate_dialogs

__all__ = [
    "AA_METRICS",
    "AaCalibration",
    "CupedCheck",
    "PowerCheck",
    "SEQUENTIAL_METHODS",
    "SequentialCheck",
    "binomial_interval",
    "capping_coverage",
    "run_aa_calibration",
    "run_cuped_check",
    "run_power_check",
    "run_sequential_check",
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
    ``aa-{k}`` (so the md5 routing differs too), analysed by :func:`abkit.analysis.results.analyze`
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
        result = analyze(
            dialogs, split=0.5, metrics=chosen, alpha=alpha, correction="none", novelty=False
        )
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

    The design is notebook 01's (:class:`abkit.experiment.settings.DesignSettings`, pooled method,
    the
    default plan's single primary metric, task completion, one dialog per user so that the
    user is the unit on both sides); each experiment is simulated with that many users and the
    true completion effect ``mde``, and analysed with the same plan as the analysis notebook
    would (primary only: the planned power is the primary test's). The ship rate should lie in
    the 99 % binomial interval around ``power``.
    """
    from abkit.analysis.results import analyze_plan
    from abkit.plan.experiment_plan import ExperimentPlan

    check_integer("n_experiments", n_experiments, minimum=10)
    # notebook 01's design for one primary metric: each user one dialog, so users are the unit
    design = solve_design(
        "proportion", baseline, mde=mde, power=power, alpha=alpha, split=split, method="pooled"
    )
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
        result = analyze_plan(simulate_dialogs(config), plan, novelty=False)
        ships += result.decision.verdict == "ship"
    low, high = binomial_interval(n_experiments, power)
    return PowerCheck(n_experiments, design.n_total, power, ships, low, high)


# The adjusted methods of the CUPED check: metric value, covariates, Welch t or normal.
_CUPED_METHODS: dict[str, tuple[list[str], Value, tuple[Value, ...], bool]] = {
    "user mean (Welch), CUPED": (["value", "value_pre"], Value(0), (Value(1),), True),
    "dialog ratio (delta), CUPED + no-history indicator": (
        ["completed", "dialogs", "completed_pre", "dialogs_pre", "no_history"],
        Value(0, 1),
        (Value(2, 3), Value(4)),
        False,
    ),
    "user proportion (z), CUPED": (["returned", "returned_pre"], Value(0), (Value(1),), False),
}


@dataclass(frozen=True)
class CupedCheck:
    """CUPED over simulated experiments: variance, bias, coverage and A/A false positives.

    ``table`` has one row per adjusted method: variance_ratio (mean over experiments of
    Var(adjusted)/Var(unadjusted) as the analysis reports it), empirical_ratio (the variance of
    the adjusted estimates across experiments over that of the unadjusted ones), bias_se (mean
    of (estimate − truth)/SE), coverage (share of 95 % CIs holding the truth, with an effect),
    false_positives (A/A, p < alpha) with its 99 % binomial interval, calibrated.
    """

    n_experiments: int
    rho: float
    table: pd.DataFrame


def run_cuped_check(
    n_experiments: int = 1000,
    *,
    n_users: int = 2000,
    rho: float = 0.7,
    effect: float = 0.1,
    alpha: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> CupedCheck:
    """Simulate experiments
    (:func:`abkit.teaching.covariate_simulation.simulate_users_with_covariate`) and analyse
    each with CUPED and without.

    Experiment k uses seed ``seed + k``: once with a true ``effect`` (bias, coverage; the true
    difference of each metric is estimated from a 2M-user simulation of the same model) and
    once with none (A/A false positives). The user-mean method's variance ratio should be
    1 − ρ² (Deng et al. 2013): 0.51 at ρ = 0.7.
    """
    check_integer("n_experiments", n_experiments, minimum=10)
    check_probability("alpha", alpha)
    truth = _cuped_truth(rho, effect, seed)
    records = []
    for k in tqdm(range(n_experiments), desc="CUPED experiments", disable=not progress):
        for true_effect in (effect, 0.0):
            users = simulate_users_with_covariate(
                n_users, rho=rho, effect=true_effect, seed=seed + k
            ).assign(no_history=lambda u: (u["dialogs_pre"] == 0).astype(float))
            arms = (users[~users["treated"]], users[users["treated"]])
            for name, (columns, value, covariates, welch) in _CUPED_METHODS.items():
                control, treatment = (Moments.of(arm[columns].to_numpy(float)) for arm in arms)
                result = cuped_test(control, treatment, value, covariates, alpha=alpha, welch=welch)
                target = truth[name] if true_effect else 0.0
                test = result.test
                records.append(
                    {
                        "method": name,
                        "aa": not true_effect,
                        "estimate": test.estimate,
                        "unadjusted": result.unadjusted.estimate,
                        "ratio": 1 - result.variance_reduction,
                        "z": (test.estimate - target) / test.se,
                        "covered": test.ci_low <= target <= test.ci_high,
                        "rejected": test.p_value < alpha,
                    }
                )
    frame = pd.DataFrame(records)
    low, high = binomial_interval(n_experiments, alpha)
    rows = []
    for name, group in frame.groupby("method", sort=False):
        real, aa = group[~group["aa"]], group[group["aa"]]
        false_positives = int(aa["rejected"].sum())
        rows.append(
            {
                "method": name,
                "variance_ratio": real["ratio"].mean(),
                "empirical_ratio": real["estimate"].var() / real["unadjusted"].var(),
                "bias_se": real["z"].mean(),
                "coverage": real["covered"].mean(),
                "false_positives": false_positives,
                "interval_low": low,
                "interval_high": high,
                "calibrated": low <= false_positives <= high,
            }
        )
    return CupedCheck(n_experiments, rho, pd.DataFrame(rows))


def _cuped_truth(rho: float, effect: float, seed: int) -> dict[str, float]:
    """Each method's true treatment − control difference under the model, from 2M users per
    arm (treatment and control drawn apart so that only the effect differs)."""
    users = simulate_users_with_covariate(
        4_000_000, rho=rho, effect=effect, split=0.5, no_history=0.3, seed=seed - 1
    )
    arms = (users[~users["treated"]], users[users["treated"]])
    truth = {}
    for name, (columns, value, _, _) in _CUPED_METHODS.items():
        means = [arm[columns[: 2 if value.denominator is not None else 1]].sum() for arm in arms]
        if value.denominator is None:
            values = [m.iloc[0] / len(arm) for m, arm in zip(means, arms, strict=True)]
        else:
            values = [m.iloc[0] / m.iloc[1] for m in means]
        truth[name] = float(values[1] - values[0])
    # the user mean's truth is exact: value = z + effect
    truth["user mean (Welch), CUPED"] = effect
    return truth


SEQUENTIAL_METHODS = (
    "fixed horizon (last day only)",
    "naive daily peeking",
    "group-sequential, O'Brien-Fleming (Lan-DeMets two-sided)",
    "group-sequential, O'Brien-Fleming per side (rpact / gsDesign)",
    "always valid (confidence sequence)",
)


@dataclass(frozen=True)
class SequentialCheck:
    """Rejections of each monitoring procedure over simulated experiments looked at daily.

    ``table`` columns: method, rejections, rate, interval_low, interval_high (the 99 %
    binomial interval of the count around alpha: meaningful for A/A runs), calibrated.
    """

    table: pd.DataFrame
    n_experiments: int
    days: int
    completion_effect: float


def run_sequential_check(
    n_experiments: int,
    *,
    n_users: int = 2000,
    days: int = 14,
    completion_effect: float = 0.0,
    alpha: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> SequentialCheck:
    """Simulated experiments (50/50, users clustered), each analysed by the kit's engine at the
    end of every day on the rows so far (task completion, delta method), then judged by each
    monitoring procedure of :data:`SEQUENTIAL_METHODS`:

    - fixed horizon: p < α on the last day; naive peeking: p < α on any day;
    - group-sequential: |z| at or above the boundary of that day's look, the looks at
      information fraction users so far / users at the end
      (:func:`abkit.stats.sequential.boundaries`,
      as :mod:`abkit.analysis.monitoring` computes them);
    - always valid: the confidence sequence's p-value below α on any day
      (:func:`abkit.stats.sequential.confidence_sequence`, tuned for the final number of users).

    ``completion_effect`` 0 gives A/A runs (rates are false-positive rates); a positive one,
    the power of each procedure at that effect.
    """
    from abkit.analysis.results import cumulative_effects
    from abkit.plan.experiment_plan import load_plan
    from abkit.stats.sequential import boundaries, confidence_sequence

    check_integer("n_experiments", n_experiments, minimum=1)
    check_probability("alpha", alpha)
    plan = load_plan(
        {
            "split": 0.5,
            "alpha": alpha,
            "metrics": [
                {
                    "name": "task_completion",
                    "kind": "ratio",
                    "column": "completed",
                    "role": "primary",
                }
            ],
        }
    )
    effects = {"treatment": {"completion": completion_effect}} if completion_effect else {}
    rejections = dict.fromkeys(SEQUENTIAL_METHODS, 0)
    for k in tqdm(range(n_experiments), disable=not progress, desc="sequential check"):
        log = simulate_dialogs(
            n_users=n_users, days=days, split=0.5, seed=seed + k, effects=effects
        )
        looks = []  # every daily look from one pass (the engine's, as notebook 03 draws it)
        for row in cumulative_effects(log, plan, "task_completion").itertuples():
            users = int(row.n_control + row.n_treatment)
            if row.se > 0:
                looks.append((row.effect, row.se, row.p_value, users))
        if not looks:
            continue
        effect, se, p, users = (pd.Series(column) for column in zip(*looks, strict=True))
        z = (effect / se).abs()
        final = int(users.iloc[-1])
        fractions = (users / final).clip(upper=1.0)
        fractions = fractions[fractions.diff().fillna(1) > 0]  # a look needs new users
        decided = {
            SEQUENTIAL_METHODS[0]: p.iloc[-1] < alpha,
            SEQUENTIAL_METHODS[1]: (p < alpha).any(),
        }
        for name, kind in zip(
            SEQUENTIAL_METHODS[2:4], ("obrien_fleming", "obrien_fleming_per_side"), strict=True
        ):
            bounds = boundaries(fractions.tolist(), alpha=alpha, kind=kind)["z_boundary"]
            decided[name] = bool((z[fractions.index].to_numpy() >= bounds.to_numpy()).any())
        decided[SEQUENTIAL_METHODS[4]] = any(
            confidence_sequence(e, s, int(n), planned_n=final, alpha=alpha).p_value < alpha
            for e, s, n in zip(effect, se, users, strict=True)
        )
        for name, rejected in decided.items():
            rejections[name] += bool(rejected)
    low, high = binomial_interval(n_experiments, alpha)
    table = pd.DataFrame(
        {
            "method": list(rejections),
            "rejections": list(rejections.values()),
            "rate": [count / n_experiments for count in rejections.values()],
            "interval_low": low,
            "interval_high": high,
        }
    )
    table["calibrated"] = table["rejections"].between(low, high)
    return SequentialCheck(table, n_experiments, days, completion_effect)


def capping_coverage(
    *,
    n_experiments: int = 1000,
    n_users: int = 2000,
    sigma: float = 1.5,
    lift: float = 0.05,
    upper: float = 0.99,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """What capping does to intervals, by simulation: per-user values lognormal(0, ``sigma``)
    in control and × (1 + ``lift``) in treatment (half the users each), analysed uncapped and
    capped at the pooled ``upper`` quantile (as the kit caps,
    :mod:`abkit.analysis.capping`), with the Welch test of the ``user_mean`` kind.

    Returns one row per estimator: its interval's coverage of the true difference in means
    (what an uncapped metric estimates), its coverage of the capped estimand (the difference
    of the capped means, taken from 2,000,000 users per arm), and the mean interval width
    relative to the uncapped one. Capping narrows the interval and holds its level for the
    capped estimand, but misses the mean difference more often: the heavier the tail, the more.
    """
    from abkit.stats.two_sample import MeanStats, welch_t_test_from_stats

    rng = np.random.default_rng(seed)
    true_mean = math.exp(sigma**2 / 2)
    truth = {"uncapped": lift * true_mean}
    big = rng.lognormal(0.0, sigma, (2, 2_000_000)) * np.array([[1.0], [1.0 + lift]])
    bound = float(np.quantile(big.ravel(), upper))
    truth["capped"] = float(np.minimum(big[1], bound).mean() - np.minimum(big[0], bound).mean())
    covered = {"uncapped": [0, 0], "capped": [0, 0]}
    widths: dict[str, list[float]] = {"uncapped": [], "capped": []}
    half = n_users // 2
    for _ in range(n_experiments):
        arms = rng.lognormal(0.0, sigma, (2, half)) * np.array([[1.0], [1.0 + lift]])
        cap = float(np.quantile(arms.ravel(), upper))
        for name, values in (("uncapped", arms), ("capped", np.minimum(arms, cap))):
            stats = [MeanStats(half, float(v.sum()), float((v * v).sum())) for v in values]
            test = welch_t_test_from_stats(*stats, alpha=alpha)
            covered[name][0] += test.ci_low <= truth["uncapped"] <= test.ci_high
            covered[name][1] += test.ci_low <= truth["capped"] <= test.ci_high
            widths[name].append(test.ci_high - test.ci_low)
    base = float(np.mean(widths["uncapped"]))
    return pd.DataFrame(
        [
            {
                "estimator": name,
                "coverage_of_mean_difference": covered[name][0] / n_experiments,
                "coverage_of_capped_difference": covered[name][1] / n_experiments,
                "width_vs_uncapped": float(np.mean(widths[name])) / base,
                "n_experiments": n_experiments,
            }
            for name in ("uncapped", "capped")
        ]
    )
