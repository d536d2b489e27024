"""``abkit analyze`` (a log under its plan: gates, metrics, decision, memo) and ``abkit ingest``
(traces -> dialog log)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from abkit.cli.arguments import column_map_arg, number
from abkit.ingest.otlp import CONVENTIONS

__all__ = [
    "add_analyze",
    "add_ingest",
]

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

The plan (YAML; see abkit.plan.experiment_plan) declares labels, split, experiment, column map,
alpha, the corrections and the metrics with their roles, ranges and margins; the options
override it. Health gates run first (sample ratio, users in both arms, missing values, units); a
failed gate makes the decision INVALID. Relative effects are (T - C)/|C|. A metric with a
covariate (plan: covariate: pre_period, or a users-table column) is adjusted by CUPED; the table
shows the unadjusted and CUPED estimates and the variance reduction.

exit status: 0 when the analysis ran (whatever the decision), 2 on bad input.
"""


def add_analyze(commands: argparse._SubParsersAction) -> None:
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
        type=number,
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
        type=column_map_arg,
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
    parser.add_argument("--alpha", type=number, help="default: 0.05")
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
        "--no-cache",
        dest="cache",
        action="store_false",
        help="scan the whole log; by default a log that is a folder of Parquet parts keeps "
        "each part's statistics (its rollup) in the experiment folder's .rollup/ (with --plan "
        "experiments/NAME/experiment.yaml), else in $ABKIT_CACHE_DIR or ~/.cache/abkit, from "
        "the second look at the folder on (the first scans it), and a look reads only the "
        "parts added or changed since the last look",
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
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="also log the analysis as one MLflow run (plan as params, effects, CIs, p-values "
        "and the decision as metrics, memo, summary and table as artifacts) to URI, e.g. "
        "http://127.0.0.1:5000; without URI, the local store reports/mlflow.db (needs the "
        "extra abkit[mlflow], which make setup installs)",
    )
    parser.set_defaults(handler=_run_analyze)


def _experiment_log(plan: Path | None) -> tuple[Path, str]:
    """The log (and DuckDB table) an experiment file names, when no log is given."""
    from abkit.experiment.file import read_experiment

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


def _rollup_cache(args: argparse.Namespace) -> Path | bool:
    """``--no-cache``: False; an experiment file's folder: its ``.rollup/``; else True."""
    if not args.cache:
        return False
    if args.plan is not None and args.plan.name == "experiment.yaml":
        return args.plan.parent / ".rollup"
    return True


def _run_analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from abkit.analysis.results import analyze
    from abkit.experiment.settings import parse_until
    from abkit.plan.metrics import metrics_by_name

    if args.events is None:
        args.events, table = _experiment_log(args.plan)
        args.table = table if args.table == "dialogs" else args.table
    spark = None
    if args.engine == "spark":
        from abkit.analysis.spark_source import spark_session

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
        cache=_rollup_cache(args),
    )
    if args.memo is not None:
        from abkit.report.memo import write_memo

        write_memo(result, args.memo, args.events)
    tracked = None
    if args.mlflow is not None:
        from abkit.report.tracking import log_to_mlflow

        tracked = log_to_mlflow(result, args.mlflow or None, source=Path(str(args.events)))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    from abkit.report.memo import memo_table

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
    if result.engine.read_from:  # what the look read, as the memo says it
        print(f"\nread from: {result.engine.read_from}")
    print(f"\n{result.decision}")
    if args.memo is not None:
        print(f"memo: {args.memo}")
    if tracked is not None:
        print(f"mlflow: run {tracked.run_id} in experiment {tracked.experiment!r} at "
              f"{tracked.tracking_uri}")  # fmt: skip
    return 0


_EPILOG_INGEST = """\
examples:
  abkit ingest otel data/example_otel_spans.jsonl --out log.parquet \\
      --prices data/example_prices.yaml
  abkit ingest otel traces/*.jsonl --out log.parquet --user-attribute enduser.id \\
      --variant-attribute app.variant --service support-bot --rejects rejects.csv
  abkit ingest otel spans.jsonl --out log.parquet --exposures events.parquet
  abkit ingest otel traces.jsonl logs.jsonl --out log.parquet \\
      --flag-key support-model-test --evaluations evaluations.yaml

The export is OTLP/JSON lines (the collector's or the SDK's file exporter: one
ExportTraceServiceRequest or ExportLogsServiceRequest per line); give the traces and the
logs files together. Spans follow the OpenTelemetry GenAI conventions or OpenInference
(Arize Phoenix), chosen per span (--conventions). One dialog per gen_ai.conversation.id
(OpenInference: session.id), else per trace. The variant comes from the span's attributes,
a feature_flag.evaluation event in its trace, or the user's flag evaluations and exposures.
gen_ai.evaluation.result events are read wherever they are (the call's span, a later
feedback span, a log record) and linked to their dialog by the parent chain, then
gen_ai.response.id, then the conversation id, then the trace. An evaluations file maps
names and labels to columns, added to the defaults:

  thumbs: {column: feedback, labels: {up: like, down: dislike}}
  resolved: completed

Every span, evaluation and feature-flag event is used or counted in the report with its
reason; --rejects writes one row per span or event set aside.

exit status: 0 when the log was written, 2 on bad input (nothing written).
"""


def add_ingest(commands: argparse._SubParsersAction) -> None:
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
    otel.add_argument(
        "--flag-key",
        metavar="KEY",
        help="the experiment's feature flag (feature_flag.key), when the export evaluates several",
    )
    otel.add_argument(
        "--conventions",
        choices=CONVENTIONS,
        default="auto",
        help="read spans by the GenAI or OpenInference conventions, or each by what it carries "
        "(default: %(default)s)",
    )
    otel.add_argument(
        "--evaluations",
        type=Path,
        metavar="YAML",
        help="evaluation names -> columns (and labels -> values), added to the defaults",
    )
    otel.add_argument("--rejects", type=Path, metavar="CSV", help="write every reject here")
    otel.set_defaults(handler=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    from abkit.ingest.evaluations import read_evaluation_table
    from abkit.ingest.otel import SpanMapping, ingest_otel, read_prices

    mapping = SpanMapping(
        user=args.user_attribute,
        variant=args.variant_attribute,
        experiment=args.experiment_attribute,
        labels=tuple(args.labels),
        services=tuple(args.service),
        evaluations={} if args.evaluations is None else read_evaluation_table(args.evaluations),
        conventions=args.conventions,
        flag_key=args.flag_key,
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
