"""``abkit judge``: a Bradley–Terry leaderboard from a judge file, without a notebook.

The file is read as notebook 05 reads it (:func:`abkit.judging.judgments.read_judgment_table`:
either shape, a column map, verdict spellings), fitted by
:func:`abkit.judging.bradley_terry.fit_bradley_terry`, and printed as a table with each system's
strength, its probability of beating an average system, its interval and its simultaneous rank
interval; ``--out`` writes the table (.csv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from abkit.cli.arguments import column_map_arg, number, whole

__all__ = ["add_judge"]

EXAMPLES = """examples:
  abkit judge data/example_arena_votes.csv \\
      --column-map question_id=prompt_id,model_a=system_a,model_b=system_b
  abkit judge votes.parquet --interval sandwich --out leaderboard.csv
  abkit judge left_right.csv --shape shown --verdicts left=first,right=second,tie=tie
"""


def add_judge(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "judge",
        help="a Bradley-Terry leaderboard with rank intervals from a judge file",
        description="Read a judge file as notebook 05 reads it (either shape, a column map,\n"
        "verdict spellings), fit Bradley-Terry strengths and print the leaderboard: each\n"
        "system's strength, its probability of beating an average system, its interval and\n"
        "its simultaneous rank interval (with 95 % confidence every rank lies in its interval).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "file", type=Path, help="judge verdicts, one row per verdict (.csv/.parquet)"
    )
    parser.add_argument(
        "--column-map",
        type=column_map_arg,
        dest="column_map",
        default={},
        metavar="YOURS=KIT,...",
        help="rename your columns to the kit's (prompt_id, system_a, system_b, winner, "
        "shown_first, first_system, second_system, verdict, length_a, length_b)",
    )
    parser.add_argument(
        "--verdicts",
        type=column_map_arg,
        default=None,
        metavar="SPELLING=VERDICT,...",
        help="your verdict spellings (case-insensitive) -> a / b / tie (or first / second / tie); "
        "replaces the defaults a, b, tie, model_a, model_b, tie (bothbad), draw",
    )
    parser.add_argument(
        "--shape", choices=("auto", "pair", "shown"), default="auto", help="default: auto"
    )
    parser.add_argument(
        "--interval",
        choices=("bootstrap", "sandwich"),
        default="bootstrap",
        help="bootstrap over prompts (default) or the prompt-clustered sandwich",
    )
    parser.add_argument(
        "--resamples", type=whole, default=1000, help="bootstrap resamples; default: 1000"
    )
    parser.add_argument("--alpha", type=number, default=0.05, help="default: 0.05")
    parser.add_argument("--seed", type=whole, default=0, help="bootstrap seed; default: 0")
    parser.add_argument("--out", type=Path, help="write the leaderboard here (.csv)")
    parser.set_defaults(handler=_run_judge)


def _run_judge(args: argparse.Namespace) -> int:
    import pandas as pd

    from abkit.judging.bradley_terry import fit_bradley_terry
    from abkit.judging.findings import leaderboard_sentence, preference_table
    from abkit.judging.judgments import read_judgment_table

    if args.out is not None and args.out.suffix.lower() != ".csv":
        raise ValueError(f"--out == {str(args.out)!r}: must name a .csv file")
    table = read_judgment_table(
        args.file, "file", columns=args.column_map, verdicts=args.verdicts, shape=args.shape
    )
    pairs = table.comparisons
    for note in table.notes:
        print("note:", note)
    fit = fit_bradley_terry(
        pairs, resamples=args.resamples, alpha=args.alpha, seed=args.seed, interval=args.interval
    )
    board = preference_table(fit).drop(
        columns=["controlled_strength", "controlled_win_probability"]
    )
    print(
        f"{len(pairs):,} verdicts on {pairs['prompt_id'].nunique():,} prompts over "
        f"{len(fit.systems)} systems; {args.interval} intervals at {1 - args.alpha:.0%}"
        + (f" ({args.resamples:,} resamples)" if args.interval == "bootstrap" else "")
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(board.round(4).to_string(index=False))
    print(leaderboard_sentence(board))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        board.to_csv(args.out, index=False)
        print(f"leaderboard: {args.out}")
    return 0
