"""The ``abkit`` command line: quick designs, per-experiment copies and template runs.

Run ``abkit --help`` or ``abkit COMMAND --help``. Errors in what the user typed exit with
status 2 and one line naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from abkit.paths import DATA_DIR, EXPERIMENTS_DIR, REPORTS_DIR

__all__ = ["main"]

# Imports of pandas, scipy, DuckDB, papermill ... happen inside each command, so that
# ``abkit --help`` and a quick ``abkit design`` start fast (benchmarks/bench_startup.py).
DESIGN_METRICS = ("proportion", "mean")  # the keys of abkit.design.METHODS (a test checks)

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


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


_DESIGN_DEFAULTS = {"alpha": 0.05, "split": 0.5}


def _add_design(commands: argparse._SubParsersAction) -> None:
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
        type=_number,
        help="control rate in (0, 1), or control mean; required unless --plan is an "
        "experiment.yaml, whose design: section then gives metric, baseline, MDE and SDs",
    )
    parser.add_argument(
        "--mde",
        type=_number,
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
        type=_number,
        help=f"two-sided significance level; default: {_DESIGN_DEFAULTS['alpha']}",
    )
    parser.add_argument(
        "--power", type=_number, default=0.8, help="target power; default: %(default)s"
    )
    parser.add_argument(
        "--split",
        type=_number,
        help="treatment share of units, 0.2 for an 80/20 split; default: "
        f"{_DESIGN_DEFAULTS['split']}",
    )
    parser.add_argument(
        "--n-total",
        type=_whole,
        dest="n_total",
        help="units in both arms together: solve power (at --mde) and the MDE "
        "(at --power) instead of n",
    )
    parser.add_argument(
        "--sd-control",
        type=_number,
        dest="sd_control",
        help="standard deviation of a mean metric in control",
    )
    parser.add_argument(
        "--sd-treatment",
        type=_number,
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
    primary metric (:attr:`abkit.plan.ExperimentPlan.alpha_per_primary`); an --alpha or --split
    given as well must say the same as the plan.
    """
    given = {k: getattr(args, k) for k in _DESIGN_DEFAULTS if getattr(args, k) is not None}
    if args.plan is None:
        chosen = {**_DESIGN_DEFAULTS, **given}
        return chosen["alpha"], chosen["split"], ""
    from abkit.plan import load_plan, plan_with_parameters, read_plan_spec

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
    return plan.alpha_per_primary, plan.split, f"plan {args.plan}: {family}; split {plan.split:g}"


def _design_rows(args: argparse.Namespace, alpha: float, split: float) -> list[dict]:
    """One record per method (abkit.design.method_rows: no pandas, so the command starts fast)."""
    from abkit import design

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
    from abkit.experiment_file import read_experiment

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
    if args.json:
        for row in rows:
            row["alpha"], row["split"] = alpha, split
        keys = ["n_control", "n_treatment", "n_total", "mde", "power", "alpha", "split"]
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
        [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in _DESIGN_COLUMNS]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[k]) for r in cells)) for k, c in enumerate(_DESIGN_COLUMNS)]
    label_width = max(len("label"), *(len(row["label"]) for row in rows))
    header = [c.rjust(w) for c, w in zip(_DESIGN_COLUMNS, widths, strict=True)]
    if source:
        print(source)
    print("  ".join([*header, "label".ljust(label_width)]).rstrip())
    for row, values in zip(rows, cells, strict=True):
        shown = [v.rjust(w) for v, w in zip(values, widths, strict=True)]
        print("  ".join([*shown, row["label"].ljust(label_width)]).rstrip())
    return 0


_EPILOG_NEW = """\
examples:
  abkit new support-bot-v2 --log ~/logs/dialogs.parquet --plan my-plan.yaml
      experiments/support-bot-v2/experiment.yaml with that plan and log, and the notebooks
  abkit new support-bot-v2 --from experiments/old/params.yaml
      convert a folder made by an older abkit (params.yaml, one section per notebook)

Then edit experiment.yaml (every key is explained in it) and: abkit run support-bot-v2
"""


def _add_new(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "new",
        help="create experiments/NAME: experiment.yaml and the notebooks that read it",
        description="Create a folder for one experiment: experiment.yaml, the one file of the "
        "experiment (plan, inputs, design assumptions; every key commented), and a copy of the "
        "notebooks that read it (01 design, 02 routing, 03 analysis, 05 judging). Opened in "
        "JupyterLab, each notebook reads the experiment.yaml beside it.",
        epilog=_EPILOG_NEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="experiment name, used as the folder name")
    parser.add_argument("--log", type=Path, metavar="FILE", help="the experiment's dialog log")
    parser.add_argument(
        "--plan", type=Path, metavar="FILE", help="a plan file (YAML) to copy into plan:"
    )
    parser.add_argument(
        "--from",
        type=Path,
        dest="from_params",
        metavar="PARAMS",
        help="convert an older abkit's params.yaml (its plan, log, design values, judge files)",
    )
    parser.add_argument(
        "--dir", type=Path, default=EXPERIMENTS_DIR, help="parent folder; default: %(default)s"
    )
    parser.set_defaults(handler=_run_new)


def _run_new(args: argparse.Namespace) -> int:
    from abkit import experiments

    folder = experiments.new_experiment(
        args.name, args.dir, log=args.log, plan=args.plan, from_params=args.from_params
    )
    target = args.name if args.dir == EXPERIMENTS_DIR else folder
    print(
        f"created {folder}: edit {folder / experiments.EXPERIMENT_FILE}, then "
        f"'abkit run {target}' (or open its notebooks with 'make lab')"
    )
    return 0


def _add_run(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="run an experiment's notebooks (or every template) with papermill",
        description="With EXPERIMENT (a name under experiments/, or a folder made by 'abkit "
        "new'): run the notebooks it has inputs for (01 design always, 03 analysis with a log, "
        "05 judging with judgments) into a fresh EXPERIMENT/reports/<time>/, which appears "
        "only when every notebook succeeded (reports/latest points at it); print each report "
        "and the memo. Without: execute every template with its defaults into reports/.",
    )
    parser.add_argument("experiment", nargs="?", help="an experiment's name or folder")
    parser.add_argument(
        "--exp",
        metavar="NAME",
        help="the experiment experiments/NAME (what 'make run EXP=NAME' uses)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: [item.strip() for item in text.split(",") if item.strip()],
        metavar="01,03",
        help="run only these notebooks (by number), e.g. 01,03",
    )
    parser.add_argument(
        "--reports",
        type=Path,
        default=REPORTS_DIR,
        help="where template runs go when no experiment is given; default: %(default)s",
    )
    parser.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    from abkit import experiments

    if args.exp is not None:
        if args.experiment is not None:
            raise ValueError("give an experiment or --exp NAME, not both")
        args.experiment = experiments.check_experiment_name(args.exp)
    if args.experiment is None:
        if args.only is not None:
            raise ValueError("--only needs an experiment (abkit run NAME --only 01,03)")
        for run in experiments.run_templates(args.reports):
            print(f"{run.notebook.name}: {run.executed}  {run.html.name}  {run.summary}")
        return 0
    folder = experiments.experiment_folder(args.experiment)
    done = experiments.run_experiment(folder, only=args.only)
    print(f"\nreports of this run: {done.folder}")
    for run in done.runs:
        print(f"  {run.notebook.stem}: {run.html}")
    if done.memo is not None:
        print(f"memo: {done.memo}")
    return 0


_EPILOG_EXECUTE = """\
examples:
  abkit execute 01_design_sample_size -p baseline 0.6 -p mde 0.03 -p split 0.5
  abkit execute 01_design_sample_size -f my-params.yaml --reports reports/my-design
  abkit execute 03_significance_analysis -r experiment_id 2026.10 -p split 0.2
  abkit execute 03_significance_analysis -r experiment experiments/NAME/experiment.yaml

Values after -p are read as YAML scalars (0.2, true, null, [a, b]); -r passes text as is.
Parameter names must be the template's own (papermill --help-notebook lists them): they are
checked, with the values, before the notebook runs, unlike papermill's own -p.
"""


def _add_execute(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "execute",
        help="execute one template with parameters (checked before anything runs)",
        description="Execute one template (a name such as 01_design_sample_size, or a .ipynb "
        "path) with papermill into REPORTS/<name>/: the executed notebook, its HTML export and "
        "its summary.json.",
        epilog=_EPILOG_EXECUTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebook", help="template name or notebook path")
    parser.add_argument(
        "-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), dest="values"
    )
    parser.add_argument(
        "-r", nargs=2, action="append", default=[], metavar=("NAME", "TEXT"), dest="texts"
    )
    parser.add_argument("-f", type=Path, dest="file", help="YAML file of parameters")
    parser.add_argument("--reports", type=Path, default=REPORTS_DIR, help="default: %(default)s")
    parser.set_defaults(handler=_run_execute)


def _run_execute(args: argparse.Namespace) -> int:
    import yaml

    from abkit import experiments
    from abkit.paths import NOTEBOOKS_DIR

    notebook = Path(args.notebook)
    if notebook.suffix != ".ipynb":
        notebook = NOTEBOOKS_DIR / f"{args.notebook}.ipynb"
    if not notebook.is_file():
        names = [path.stem for path in experiments.template_paths()]
        raise ValueError(f"notebook == {args.notebook!r}: no such template; choose from {names}")
    values: dict = {}
    if args.file is not None:
        if not args.file.is_file():
            raise FileNotFoundError(f"-f == '{args.file}': no such file")
        from abkit.params import load_yaml

        loaded = load_yaml(args.file.read_text(encoding="utf-8"), f"-f == '{args.file}'") or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"-f == '{args.file}': must hold a mapping of parameters")
        values.update(loaded)
    for name, text in args.values:
        try:
            values[name] = yaml.safe_load(text)
        except yaml.YAMLError:
            values[name] = text
    values.update(dict(args.texts))
    runs = experiments.run_notebooks([notebook], {notebook.stem: values}, args.reports)
    for run in runs:
        print(f"{run.notebook.name}: {run.executed}  {run.html.name}  {run.summary}")
    return 0


def _add_notebooks(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "notebooks",
        help="re-execute the committed templates in place (maintainers)",
        description="Re-execute every template in notebooks/ with its defaults, in place, and "
        "strip run-specific metadata, so the committed outputs match what nbval will see.",
    )
    parser.set_defaults(handler=_run_notebooks)


def _run_notebooks(args: argparse.Namespace) -> int:
    from abkit import experiments

    experiments.refresh_templates()
    return 0


EXAMPLE_LOG = DATA_DIR / "example_dialogs.parquet"


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "simulate",
        help="write a synthetic support-bot dialog log (Parquet, CSV or DuckDB)",
        description="Simulate an LLM support bot's dialog log, routed by the seed's md5 router, "
        "with users of heavy-tailed activity and correlated outcomes. --example writes the "
        f"bundled log ({EXAMPLE_LOG.name}) exactly as committed.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"output file: .parquet, .csv or .duckdb (default with --example: {EXAMPLE_LOG})",
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="the bundled example's settings (ignores the options below)",
    )
    parser.add_argument(
        "--bundled",
        action="store_true",
        help="regenerate every bundled log in data/ (the example and the scenario logs)",
    )
    parser.add_argument("--users", type=_whole, default=10_000, help="default: %(default)s")
    parser.add_argument("--days", type=_whole, default=14, help="default: %(default)s")
    parser.add_argument("--split", type=_number, default=0.2, help="default: %(default)s")
    parser.add_argument("--experiment", default="fine-tuned-v2-test", help="default: %(default)s")
    parser.add_argument("--seed", type=_whole, default=0, help="default: %(default)s")
    parser.add_argument(
        "--completion-effect",
        type=_number,
        default=0.0,
        dest="completion",
        help="true absolute change of task completion in treatment",
    )
    parser.set_defaults(handler=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from abkit import simulate
    from abkit.events import write_log

    if args.bundled:
        for name, config in simulate.SCENARIOS.items():
            dialogs = simulate.simulate_dialogs(config)
            path = write_log(dialogs, DATA_DIR / f"{name}.parquet")
            print(f"wrote {len(dialogs):,} dialogs to {path}")
        custom = simulate.custom_columns_log(simulate.simulate_dialogs(simulate.EXAMPLE_CONFIG))
        path = write_log(custom, DATA_DIR / simulate.CUSTOM_COLUMNS_LOG)
        print(f"wrote {len(custom):,} dialogs with a team's own column names to {path}")
        pre = simulate.simulate_pre_period(simulate.EXAMPLE_CONFIG, **simulate.EXAMPLE_PRE_PERIOD)
        path = write_log(pre, DATA_DIR / simulate.EXAMPLE_PRE_PERIOD_LOG)
        print(f"wrote {len(pre):,} pre-period dialogs of the example's users to {path}")
        users = simulate.users_table(pre, pd.Timestamp(simulate.EXAMPLE_CONFIG.start, tz="UTC"))
        path = DATA_DIR / simulate.EXAMPLE_USERS_TABLE
        users.to_parquet(path, index=False)
        print(f"wrote a users table of {len(users):,} users to {path}")
        from abkit.casestudy import CASE_STUDY_LOG, SEED_CASE, reconstruct_dialogs

        dialogs = reconstruct_dialogs(SEED_CASE, seed=0)
        path = write_log(dialogs, DATA_DIR / CASE_STUDY_LOG)
        print(f"wrote {len(dialogs):,} reconstructed case-study dialogs to {path}")
        from abkit import traces

        spans, count = traces.write_example_export(DATA_DIR)
        print(f"wrote {count:,} GenAI spans (OTLP/JSON) to {spans}")
        report = traces.ingest_otel(
            [spans],
            DATA_DIR / traces.EXAMPLE_INGESTED,
            mapping=traces.SpanMapping(services=("support-bot",)),
            prices=traces.read_prices(DATA_DIR / traces.EXAMPLE_PRICES),
        )
        print(report.summary())
        from abkit import judging

        for path in judging.write_examples(DATA_DIR):
            print(f"wrote the judging example {path}")
        return 0
    if args.example:
        config, target = simulate.EXAMPLE_CONFIG, args.out or EXAMPLE_LOG
    else:
        if args.out is None:
            raise ValueError("out == None: give --out FILE (or --example)")
        config = simulate.SimulationConfig(
            n_users=args.users,
            days=args.days,
            split=args.split,
            experiment=args.experiment,
            seed=args.seed,
            effects={"treatment": {"completion": args.completion}},
        )
        target = args.out
    from abkit.events import write_log_blocks

    path, rows = write_log_blocks(simulate.simulate_in_blocks(config), target)
    print(f"wrote {rows:,} dialogs from {config.n_users:,} users to {path}")
    return 0


_EPILOG_ANALYZE = """\
examples:
  abkit analyze data/example_dialogs.parquet --split 0.2
  abkit analyze log.parquet --plan plan.yaml                 # the experiment's declared plan
  abkit analyze log.csv --split 0.5 --primary csat --experiment support-bot-v2
  abkit analyze log.csv --split 0.2 --column-map customer_id=user_id,arm=variant
  abkit analyze events.duckdb --table dialogs --split 0.5 --metrics task_completion csat --json
  abkit analyze data/example_dialogs.parquet --plan data/example_cuped_plan.yaml  # CUPED
  abkit analyze data/example_dialogs.parquet --split 0.2 --memo reports/memo.html
  abkit analyze logs/dialogs/ --split 0.2 --engine spark                 # local[*] Spark
  abkit analyze lake.dialogs --plan plan.yaml --engine spark --spark-master sc://spark:15002

The plan (YAML; see abkit.plan) declares labels, split, experiment, column map, alpha, the
corrections and the metrics with their roles, ranges and margins; the options override it.
Health gates run first (sample ratio, users in both arms, missing values, units); a failed
gate makes the decision INVALID. Relative effects are (T - C)/|C|. A metric with a
covariate (plan: covariate: pre_period, or a users-table column) is adjusted by CUPED; the
table shows the unadjusted and CUPED estimates and the variance reduction.

exit status: 0 when the analysis ran (whatever the decision), 2 on bad input.
"""


def _column_map(text: str) -> dict[str, str]:
    pairs = [p for p in text.split(",") if p.strip()]
    mapping = {}
    for pair in pairs:
        if pair.count("=") != 1 or not all(part.strip() for part in pair.split("=")):
            raise argparse.ArgumentTypeError(
                f"{pair!r} is not YOURS=SCHEMA (e.g. customer_id=user_id)"
            )
        yours, schema = (part.strip() for part in pair.split("="))
        mapping[yours] = schema
    return mapping


def _add_analyze(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "analyze",
        help="health gates, every metric of a dialog log, and the decision: ship or not",
        description="Analyse an experiment's dialog log (Parquet file or folder, CSV, or a "
        "DuckDB table) under its plan: the health gates, one row per metric (effect, CI, "
        "p-value, adjusted p-value, method) and the decision with its reasons. Everything is "
        "validated and aggregated in DuckDB, or on Spark with --engine spark (the same SQL, "
        "transpiled; for logs that outgrow one machine).",
        epilog=_EPILOG_ANALYZE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "events",
        type=Path,
        nargs="?",
        help="dialog log: .parquet, .csv or .duckdb; with --engine spark a .parquet file or "
        "folder, or a table name Spark can read (db.table); default: the log an experiment.yaml "
        "given as --plan names",
    )
    parser.add_argument(
        "--plan",
        type=Path,
        help="experiment plan: a plan file (YAML), or an experiment's experiment.yaml (its plan: "
        "section, its inputs)",
    )
    parser.add_argument(
        "--split",
        type=_number,
        help="planned treatment share of users (0.2 for 80/20); required without --plan",
    )
    parser.add_argument(
        "--primary",
        help="the metric the decision rests on (default: the plan's, else task_completion)",
    )
    parser.add_argument(
        "--experiment",
        help="analyse only this experiment's rows (required when the log holds several)",
    )
    parser.add_argument(
        "--column-map",
        type=_column_map,
        dest="column_map",
        metavar="YOURS=SCHEMA,...",
        help="rename your columns to the log's",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="NAME",
        help="default metrics by name (default: the plan's, else every default metric the "
        "columns allow)",
    )
    parser.add_argument("--control", help="control label (default: control)")
    parser.add_argument("--treatment", help="treatment label (default: treatment)")
    parser.add_argument("--alpha", type=_number, help="default: 0.05")
    parser.add_argument(
        "--correction",
        choices=("holm", "bonferroni", "bh", "none"),
        help="multiple-testing correction over the primary metrics (default: holm)",
    )
    parser.add_argument(
        "--table", default="dialogs", help="table name in a DuckDB database; default: %(default)s"
    )
    parser.add_argument(
        "--pre-period",
        type=Path,
        dest="pre_period",
        metavar="LOG",
        help="pre-period dialog log for CUPED metrics with covariate: pre_period (overrides "
        "the plan's pre_period_log)",
    )
    parser.add_argument(
        "--users",
        type=Path,
        metavar="TABLE",
        help="users table (user_id, measured_at, covariate columns) for CUPED metrics whose "
        "covariate is one of its columns (overrides the plan's users_table)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"results": [...], "decision": {...}, "health": [...], "srm": {...}, '
        '"plan": {...}}',
    )
    parser.add_argument(
        "--until",
        metavar="TIME",
        help="analyse rows up to this time, e.g. 2026-01-12 (through that day, UTC): one look",
    )
    parser.add_argument(
        "--looks",
        type=Path,
        metavar="FILE",
        help="group-sequential plans: the looks taken so far (JSON, created at the first "
        "look, updated at each new one); required with monitoring: group_sequential",
    )
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the passes over the log run: embedded DuckDB (default), or Spark (needs the "
        "extra abkit[spark] and Java 17+)",
    )
    parser.add_argument(
        "--spark-master",
        dest="spark_master",
        default="local[*]",
        metavar="URL",
        help="with --engine spark: local[N], spark://host:7077, or sc://host:15002 for Spark "
        "Connect; default: %(default)s",
    )
    parser.add_argument(
        "--memo",
        type=Path,
        metavar="FILE",
        help="also write the decision memo, one self-contained HTML page without code "
        "(decision, health gates, results, forest plot, plan, data), to FILE",
    )
    parser.set_defaults(handler=_run_analyze)


def _experiment_log(plan: Path | None) -> tuple[Path, str]:
    """The log (and DuckDB table) an experiment file names, when no log is given."""
    from abkit.experiment_file import read_experiment

    if plan is None:
        raise ValueError(
            "events == None: give the dialog log, or --plan experiments/NAME/experiment.yaml "
            "naming one under inputs: log:"
        )
    inputs = read_experiment(plan).inputs
    if not inputs.log:
        raise ValueError(
            f"events == None and {plan} names no log (inputs: log: ''): give the dialog log, or "
            "name it in the experiment file"
        )
    return Path(inputs.log), inputs.table


def _run_analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from abkit.analysis import analyze
    from abkit.analysis_settings import parse_until
    from abkit.metrics import metrics_by_name

    if args.events is None:
        args.events, table = _experiment_log(args.plan)
        args.table = table if args.table == "dialogs" else args.table
    spark = None
    if args.engine == "spark":
        from abkit.spark_source import spark_session

        spark = spark_session(args.spark_master)
    elif args.spark_master != "local[*]":
        raise ValueError(f"--spark-master == {args.spark_master!r} needs --engine spark")
    if not args.events.exists() and spark is None:
        raise ValueError(f"events == '{args.events}': no such file")
    events = args.events if args.events.exists() else str(args.events)
    if args.plan is None and args.split is None:
        raise ValueError("split == None: give --split (the planned treatment share) or --plan")
    if args.memo is not None and args.memo.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--memo == '{args.memo}': must name an .html file")
    result = analyze(
        events,
        plan=args.plan,
        split=args.split,
        metrics=metrics_by_name(args.metrics) if args.metrics else None,
        control=args.control,
        treatment=args.treatment,
        alpha=args.alpha,
        correction=args.correction,
        experiment=args.experiment,
        primary=args.primary,
        column_map=args.column_map,
        table=args.table,
        pre_period=args.pre_period,
        users=args.users,
        looks_file=args.looks,
        until=None if args.until is None else parse_until("--until", args.until),
        spark=spark,
    )
    if args.memo is not None:
        from abkit.memo import write_memo

        write_memo(result, args.memo, args.events)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    from abkit.memo import memo_table

    with pd.option_context(
        "display.width", 250, "display.max_columns", 30, "display.max_colwidth", 120
    ):
        print("Health gates")
        print(result.health.table[["gate", "status", "detail"]].to_string(index=False))
        print(
            "\nMetrics (p: adjusted p of a primary or secondary metric, non-inferiority p of a "
            "guardrail)"
        )
        shown = memo_table(result).drop(columns=["effect_status", "status"])
        print(shown.to_string(index=False))
        cuped = result.cuped_table()
        if len(cuped):
            print(
                "\nCUPED: unadjusted and adjusted estimates (decided on: "
                f"{cuped['decided_on'].iloc[0]})"
            )
            print(cuped.drop(columns="decided_on").round(4).to_string(index=False))
    print(f"\n{result.decision}")
    if args.memo is not None:
        print(f"memo: {args.memo}")
    return 0


_EPILOG_INGEST = """\
examples:
  abkit ingest otel data/example_otel_spans.jsonl --out log.parquet \\
      --prices data/example_prices.yaml
  abkit ingest otel traces/*.jsonl --out log.parquet --user-attribute enduser.id \\
      --variant-attribute app.variant --service support-bot --rejects rejects.csv
  abkit ingest otel spans.jsonl --out log.parquet --exposures events.parquet

The export is the OpenTelemetry collector's file exporter output (OTLP/JSON, one
ExportTraceServiceRequest per line). One dialog per gen_ai.conversation.id (else per trace).
Every span lands in a dialog or is counted in the report with its reason; --rejects writes
one row per rejected span or evaluation event.

exit status: 0 when the log was written, 2 on bad input (nothing written).
"""


def _add_ingest(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ingest",
        help="turn traces you already record into a dialog log",
        description="Bring your own traces: convert an export into the kit's dialog log.",
    )
    kinds = parser.add_subparsers(title="sources", dest="source", required=True)
    otel = kinds.add_parser(
        "otel",
        help="OpenTelemetry GenAI spans (OTLP/JSON lines) -> dialog log",
        description="Read OTLP/JSON span exports following the GenAI semantic conventions and "
        "write one row per dialog (user, variant, model, turns, tokens, latency, time to first "
        "chunk, errors, outcomes from evaluation events, cost), streaming through DuckDB.",
        epilog=_EPILOG_INGEST,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    otel.add_argument("spans", nargs="+", type=Path, metavar="SPANS", help="OTLP/JSON lines files")
    otel.add_argument("--out", type=Path, required=True, help="the dialog log: .parquet or .csv")
    otel.add_argument(
        "--prices",
        type=Path,
        help="price table YAML (currency, date, models: {name: {input, output}} per million "
        "tokens) for the cost column",
    )
    otel.add_argument("--user-attribute", default="user.id", help="default: %(default)s")
    otel.add_argument(
        "--variant-attribute", default="feature_flag.result.variant", help="default: %(default)s"
    )
    otel.add_argument(
        "--experiment-attribute", default="feature_flag.key", help="default: %(default)s"
    )
    otel.add_argument(
        "--labels",
        nargs=2,
        default=["control", "treatment"],
        metavar=("CONTROL", "TREATMENT"),
        help="the variant labels a span may carry (default: control treatment)",
    )
    otel.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="keep spans of this service.name only (repeat for several); others are rejected",
    )
    otel.add_argument(
        "--exposures",
        type=Path,
        metavar="EVENTS",
        help="the routing's exposure events (event log): the variant of users whose spans "
        "carry none",
    )
    otel.add_argument("--rejects", type=Path, metavar="CSV", help="write every reject here")
    otel.set_defaults(handler=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    from abkit.traces import SpanMapping, ingest_otel, read_prices

    mapping = SpanMapping(
        user=args.user_attribute,
        variant=args.variant_attribute,
        experiment=args.experiment_attribute,
        labels=tuple(args.labels),
        services=tuple(args.service),
    )
    prices = read_prices(args.prices) if args.prices is not None else None
    report = ingest_otel(
        args.spans,
        args.out,
        mapping=mapping,
        prices=prices,
        exposures=args.exposures,
        rejects_file=args.rejects,
    )
    print(report.summary())
    if len(report.rejects):
        print(report.rejects.to_string(index=False))
    return 0


def _add_workshop(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "workshop",
        help="derive the workshop exercises from their solution notebooks",
        description="Write notebooks/workshop/exercises/ from notebooks/workshop/solutions/: "
        "cells tagged 'solution' become '# YOUR CODE HERE' stubs (keeping their task comment), "
        "outputs are cleared. Run after editing a solution (make exercises).",
    )
    parser.set_defaults(handler=_run_workshop)


def _run_workshop(args: argparse.Namespace) -> int:
    from abkit.workshop import write_exercises

    for path in write_exercises():
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``abkit`` argument parser with all its commands."""
    parser = argparse.ArgumentParser(
        prog="abkit",
        description="A/B testing kit for fine-tuned LLMs: design an experiment, copy and run the "
        "notebook templates.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="on an error, show the traceback instead of one line"
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_design(commands)
    _add_new(commands)
    _add_run(commands)
    _add_execute(commands)
    _add_notebooks(commands)
    _add_simulate(commands)
    _add_analyze(commands)
    _add_ingest(commands)
    _add_workshop(commands)
    return parser


def user_error(error: BaseException) -> str | None:
    """One line for an error caused by what the user gave (a file, a value), or None for a bug.

    DuckDB's errors on unreadable files, text that is not UTF-8, a notebook stopped by its
    parameter check: the cause, without the traceback (``abkit --debug`` shows it).
    """
    name = type(error).__name__
    module = type(error).__module__
    if isinstance(error, UnicodeDecodeError):
        text = "a file is not UTF-8 text: re-save it as UTF-8"
    elif module.startswith("duckdb") or module.startswith("_duckdb"):
        from abkit.log_source import duckdb_reason

        first = duckdb_reason(error)
        if "unicode" in first.lower() or "utf-8" in first.lower():
            text = f"the file is not UTF-8 text ({first}): re-save it as UTF-8"
        else:
            text = f"the input cannot be read: {first}"
    elif module.startswith("pyspark"):
        first = str(error).strip().splitlines()[0] if str(error).strip() else name
        text = f"Spark could not run the analysis: {first}"
    elif name == "PapermillExecutionError":
        evalue = getattr(error, "evalue", "") or str(error)
        text = f"{getattr(error, 'ename', 'error')}: {evalue}"
    elif isinstance(error, ValueError | TypeError | OSError):
        text = str(error)
    else:
        return None
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``abkit`` console script; returns the exit status.

    Errors in what the user gave exit with status 2 and one line (:func:`user_error`); with
    ``--debug`` the traceback is shown instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except Exception as error:
        message = None if args.debug else user_error(error)
        if message is None:
            raise
        parser.exit(2, f"abkit {args.command}: error: {message}\n")
    return 2  # pragma: no cover - parser.exit does not return


if __name__ == "__main__":
    sys.exit(main())
