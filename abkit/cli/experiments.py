"""``abkit new``, ``run``, ``execute``, ``notebooks``, ``workshop`` and ``simulate``:
experiment folders, template runs and the bundled data."""

from __future__ import annotations

import argparse
from pathlib import Path

from abkit.cli.arguments import number, whole
from abkit.core.paths import DATA_DIR, EXPERIMENTS_DIR, REPORTS_DIR

__all__ = [
    "EXAMPLE_LOG",
    "add_execute",
    "add_new",
    "add_notebooks",
    "add_run",
    "add_simulate",
    "add_workshop",
]

_EPILOG_NEW = """\
examples:
  abkit new support-bot-v2 --log ~/logs/dialogs.parquet --plan my-plan.yaml
      experiments/support-bot-v2/experiment.yaml with that plan and log, and the notebooks
  abkit new support-bot-v2 --from experiments/old/params.yaml
      convert a folder made by an older abkit (params.yaml, one section per notebook)

Then edit experiment.yaml (every key is explained in it) and: abkit run support-bot-v2
"""


def add_new(commands: argparse._SubParsersAction) -> None:
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
    from abkit.experiment import runs as experiments

    folder = experiments.new_experiment(
        args.name, args.dir, log=args.log, plan=args.plan, from_params=args.from_params
    )
    target = args.name if args.dir == EXPERIMENTS_DIR else folder
    print(
        f"created {folder}: edit {folder / experiments.EXPERIMENT_FILE}, then "
        f"'abkit run {target}' (or open its notebooks with 'make lab')"
    )
    return 0


def add_run(commands: argparse._SubParsersAction) -> None:
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
    from abkit.experiment import runs as experiments

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


def add_execute(commands: argparse._SubParsersAction) -> None:
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

    from abkit.core.paths import NOTEBOOKS_DIR
    from abkit.experiment import runs as experiments

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
        from abkit.core.params import load_yaml

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


def add_notebooks(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "notebooks",
        help="re-execute the committed templates in place (maintainers)",
        description="Re-execute every template in notebooks/ with its defaults, in place, and "
        "strip run-specific metadata, so the committed outputs match what nbval will see.",
    )
    parser.set_defaults(handler=_run_notebooks)


def _run_notebooks(args: argparse.Namespace) -> int:
    from abkit.experiment import runs as experiments

    experiments.refresh_templates()
    return 0


EXAMPLE_LOG = DATA_DIR / "example_dialogs.parquet"


def add_simulate(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--users", type=whole, default=10_000, help="default: %(default)s")
    parser.add_argument("--days", type=whole, default=14, help="default: %(default)s")
    parser.add_argument("--split", type=number, default=0.2, help="default: %(default)s")
    parser.add_argument("--experiment", default="fine-tuned-v2-test", help="default: %(default)s")
    parser.add_argument("--seed", type=whole, default=0, help="default: %(default)s")
    parser.add_argument(
        "--completion-effect",
        type=number,
        default=0.0,
        dest="completion",
        help="true absolute change of task completion in treatment",
    )
    parser.set_defaults(handler=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from abkit.serve.events import write_log
    from abkit.teaching import simulate

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
        from abkit.teaching.casestudy import CASE_STUDY_LOG, SEED_CASE, reconstruct_dialogs

        dialogs = reconstruct_dialogs(SEED_CASE, seed=0)
        path = write_log(dialogs, DATA_DIR / CASE_STUDY_LOG)
        print(f"wrote {len(dialogs):,} reconstructed case-study dialogs to {path}")
        from abkit.ingest import otel as traces
        from abkit.teaching import examples

        spans, count = examples.write_example_export(DATA_DIR)
        print(f"wrote {count:,} GenAI spans (OTLP/JSON) to {spans}")
        report = traces.ingest_otel(
            [spans],
            DATA_DIR / examples.EXAMPLE_INGESTED,
            mapping=traces.SpanMapping(services=("support-bot",)),
            prices=traces.read_prices(DATA_DIR / examples.EXAMPLE_PRICES),
        )
        print(report.summary())

        for path in examples.write_examples(DATA_DIR):
            print(f"wrote the judging example {path}")
        for path in examples.write_judge_file_examples(DATA_DIR):
            print(f"wrote the judge-file example {path}")
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
    from abkit.serve.events import write_log_blocks

    path, rows = write_log_blocks(simulate.simulate_in_blocks(config), target)
    print(f"wrote {rows:,} dialogs from {config.n_users:,} users to {path}")
    return 0


def add_workshop(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "workshop",
        help="derive the workshop exercises from their solution notebooks",
        description="Write notebooks/workshop/exercises/ from notebooks/workshop/solutions/: "
        "cells tagged 'solution' become '# YOUR CODE HERE' stubs (keeping their task comment), "
        "outputs are cleared. Run after editing a solution (make exercises).",
    )
    parser.set_defaults(handler=_run_workshop)


def _run_workshop(args: argparse.Namespace) -> int:
    from abkit.teaching.workshop import write_exercises

    for path in write_exercises():
        print(f"wrote {path}")
    return 0
