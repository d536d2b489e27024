"""``abkit design``: sample size, power or MDE by several methods, for a plan's family."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from abkit.cli.arguments import number, whole

__all__ = [
    "DESIGN_METRICS",
    "add_design",
]

# Imports of pandas, scipy, DuckDB, papermill ... happen inside each command, so that
# ``abkit --help`` and a quick ``abkit design`` start fast (benchmarks/bench_startup.py).
DESIGN_METRICS = (
    "proportion",
    "mean",
)  # the keys of abkit.design.sample_size.METHODS (a test checks)


_EPILOG_DESIGN = """\
examples:
  abkit design --metric proportion --baseline 0.75 --mde 0.05 --split 0.2
      n per arm for +5 points on a 75 % completion rate, 80/20 split
  abkit design --metric proportion --baseline 0.75 --mde 0.05 --relative
      the same with a relative MDE: +5 % of 75 % = +3.75 points
  abkit design --metric proportion --baseline 0.75 --mde 0.05 --n-total 3000 --split 0.2
      power at that MDE, and the MDE reachable at --power, with 3,000 units
  abkit design --metric mean --baseline 3.8 --sd-control 1.1 --mde 0.1 --json
      CSAT (1-5) mean, machine-readable output
  abkit design --baseline 0.75 --mde 0.05 --plan data/example_custom_plan.yaml
      sized for the plan's split and decision family: each primary metric at the level the
      analysis will test it at (alpha / k for k primaries under a correction)

units are what the metric is measured on (dialogs, users); with several dialogs per user,
inflate dialogs by the design effect 1 + (m - 1) * rho (see notebook 01).
"""


_DESIGN_DEFAULTS = {"alpha": 0.05, "split": 0.5}


def add_design(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "design",
        help="sample size, power or MDE for two arms, by several methods",
        description="Sample size (or, with --n-total, power and MDE) for an A/B test of two "
        "proportions or two means, with an unequal split if asked. Prints one row per method.",
        epilog=_EPILOG_DESIGN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--metric",
        choices=DESIGN_METRICS,
        default="proportion",
        help="proportion (rates: completion, escalation) or mean (CSAT, turns); "
        "default: %(default)s",
    )
    parser.add_argument(
        "--baseline",
        type=number,
        help="control rate in (0, 1), or control mean; required unless --plan is an "
        "experiment.yaml, whose design: section then gives metric, baseline, MDE and SDs",
    )
    parser.add_argument(
        "--mde",
        type=number,
        help="smallest effect worth detecting, treatment minus control "
        "(absolute unless --relative); required unless --n-total is given",
    )
    parser.add_argument(
        "--relative",
        action="store_true",
        help="read --mde as a share of the baseline (0.05 = +5 %%)",
    )
    parser.add_argument(
        "--plan",
        type=Path,
        help="experiment plan (a plan file, or an experiment.yaml): its split, and its alpha "
        "divided over its primary metrics as the analysis will (--alpha / --split, if given, "
        "must agree with it)",
    )
    parser.add_argument(
        "--alpha",
        type=number,
        help=f"two-sided significance level; default: {_DESIGN_DEFAULTS['alpha']}",
    )
    parser.add_argument(
        "--power", type=number, default=0.8, help="target power; default: %(default)s"
    )
    parser.add_argument(
        "--split",
        type=number,
        help="treatment share of units, 0.2 for an 80/20 split; default: "
        f"{_DESIGN_DEFAULTS['split']}",
    )
    parser.add_argument(
        "--n-total",
        type=whole,
        dest="n_total",
        help="units in both arms together: solve power (at --mde) and the MDE "
        "(at --power) instead of n",
    )
    parser.add_argument(
        "--sd-control",
        type=number,
        dest="sd_control",
        help="standard deviation of a mean metric in control",
    )
    parser.add_argument(
        "--sd-treatment",
        type=number,
        dest="sd_treatment",
        help="standard deviation in treatment (default: same as control)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {method: {n_control, n_treatment, n_total, mde, power, alpha, split}}",
    )
    parser.set_defaults(handler=_run_design)


def _design_level(args: argparse.Namespace) -> tuple[float, float, str]:
    """The level each test is sized at, the split, and a line saying where they come from.

    Without a plan: --alpha and --split (or their defaults). With one: its split and its α per
    primary metric (:attr:`abkit.plan.experiment_plan.ExperimentPlan.alpha_per_primary`); an
    --alpha or --split
    given as well must say the same as the plan.
    """
    given = {k: getattr(args, k) for k in _DESIGN_DEFAULTS if getattr(args, k) is not None}
    if args.plan is None:
        chosen = {**_DESIGN_DEFAULTS, **given}
        return chosen["alpha"], chosen["split"], ""
    from abkit.plan.experiment_plan import load_plan, plan_with_parameters, read_plan_spec

    declared = read_plan_spec(args.plan)
    if "split" not in declared and "split" not in given:
        raise ValueError(f"split == None: {args.plan} declares no split; give --split")
    merged = plan_with_parameters(declared, given, {})
    plan = load_plan(merged)
    primaries = len(plan.metrics_with_role("primary"))
    plan.check_sizable(f"plan {args.plan}")
    family = f"alpha {plan.alpha:g}"
    if plan.alpha_per_primary != plan.alpha:
        family += (
            f" over {primaries} primary metrics ({plan.correction}): each tested at "
            f"{plan.alpha_per_primary:.4g}"
        )
    elif primaries > 1:
        family += f" for each of {primaries} primary metrics (correction: none)"
    if len(plan.candidates) > 1:
        smallest, split, pair = plan.sized_pair
        shares = ", ".join(f"{k} {v:g}" for k, v in zip(plan.labels, plan.shares, strict=True))
        family = (
            f"alpha {plan.alpha:g} over {len(plan.candidates)} candidates (Dunnett): each "
            f"comparison sized at {plan.alpha_per_primary:.4g}"
            + (f" ({plan.correction} over {primaries} primaries)" if primaries > 1 else "")
        )
        args.abn_pair_share = pair
        args.abn_alone_alpha = (
            plan.alpha if plan.correction == "none" else plan.alpha / plan.n_primary
        )
        return (
            plan.alpha_per_primary,
            split,
            (
                f"plan {args.plan}: {family}; shares {shares}. Sized: {plan.control} vs "
                f"{smallest} (split {split:.4g} within the pair); n_total counts those two arms, "
                f"the experiment needs n_total / {pair:g} users (column all_arms)"
            ),
        )
    return plan.alpha_per_primary, plan.split, f"plan {args.plan}: {family}; split {plan.split:g}"


def _design_rows(args: argparse.Namespace, alpha: float, split: float) -> list[dict]:
    """One record per method (abkit.design.sample_size.method_rows: no pandas, so the command
    starts fast)."""
    from abkit.design import sample_size as design

    common = {
        "metric": args.metric,
        "baseline": args.baseline,
        "alpha": alpha,
        "split": split,
        "relative": args.relative,
        "sd_control": args.sd_control,
        "sd_treatment": args.sd_treatment,
    }
    if args.n_total is None:
        if args.mde is None:
            raise ValueError("mde == None: give --mde, or --n-total to solve for the MDE")
        return design.method_rows(**common, mde=args.mde, power=args.power)
    reachable = design.method_rows(**common, n_total=args.n_total, power=args.power)
    if args.mde is None:
        return reachable
    achieved = design.method_rows(**common, n_total=args.n_total, mde=args.mde)
    # power at the given MDE beside the MDE reachable at the target power
    for row, other in zip(achieved, reachable, strict=True):
        row["mde"], row["relative_mde"] = other["mde"], other["relative_mde"]
    return achieved


_DESIGN_COLUMNS = ("method", "n_control", "n_treatment", "n_total", "mde", "relative_mde", "power")


def _design_assumptions(args: argparse.Namespace) -> None:
    """Without --baseline, the design: section of the experiment file given as --plan."""
    if args.baseline is not None:
        return
    if args.plan is None:
        raise ValueError(
            "baseline == None: give --baseline, or --plan experiments/NAME/experiment.yaml"
        )
    from abkit.experiment.file import read_experiment

    design = read_experiment(args.plan).design
    given = {"metric": "proportion", "relative": False}
    for name, value in given.items():
        if getattr(args, name) != value:
            raise ValueError(f"--{name} given without --baseline: {args.plan}'s design: applies")
    args.metric, args.baseline, args.relative = design.metric, design.baseline, design.relative_mde
    args.mde = design.mde if args.mde is None else args.mde
    args.power = design.power if args.power == 0.8 else args.power
    args.sd_control = design.sd_control if args.sd_control is None else args.sd_control
    args.sd_treatment = design.sd_treatment if args.sd_treatment is None else args.sd_treatment


def _run_design(args: argparse.Namespace) -> int:
    import math

    _design_assumptions(args)
    alpha, split, source = _design_level(args)
    rows = _design_rows(args, alpha, split)
    pair = getattr(args, "abn_pair_share", None)
    columns = _DESIGN_COLUMNS
    if pair is not None:  # A/B/n: the sized pair is a share of all users
        columns = (*_DESIGN_COLUMNS[:4], "all_arms", *_DESIGN_COLUMNS[4:])
        for row in rows:
            row["all_arms"] = math.ceil(row["n_total"] / pair - 1e-9)
    if args.json:
        for row in rows:
            row["alpha"], row["split"] = alpha, split
        keys = ["n_control", "n_treatment", "n_total", "mde", "power", "alpha", "split"]
        keys += ["all_arms"] if pair is not None else []
        payload = {
            row["method"]: {
                key: None
                if isinstance(row[key], float) and not math.isfinite(row[key])
                else row[key]
                for key in keys
            }
            for row in rows
        }
        print(json.dumps(payload, indent=2))
        return 0
    cells = [
        [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[k]) for r in cells)) for k, c in enumerate(columns)]
    label_width = max(len("label"), *(len(row["label"]) for row in rows))
    header = [c.rjust(w) for c, w in zip(columns, widths, strict=True)]
    if source:
        print(source)
    print("  ".join([*header, "label".ljust(label_width)]).rstrip())
    for row, values in zip(rows, cells, strict=True):
        shown = [v.rjust(w) for v, w in zip(values, widths, strict=True)]
        print("  ".join([*shown, row["label"].ljust(label_width)]).rstrip())
    if pair is not None:  # what the other candidates cost: the same pair as an A/B test
        alone = _design_rows(args, args.abn_alone_alpha, split)[0]
        print(
            f"the candidates' cost ({rows[0]['method']}): {rows[0]['all_arms']:,} users in all "
            f"arms, against {alone['n_total']:,} for an A/B test of these two arms alone "
            f"(alpha {args.abn_alone_alpha:g})"
        )
    return 0
