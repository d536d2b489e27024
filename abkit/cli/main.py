"""The ``abkit`` command line: quick designs, per-experiment copies and template runs.

Run ``abkit --help`` or ``abkit COMMAND --help``. Errors in what the user typed exit with
status 2 and one line naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence

from abkit.cli.analyze import add_analyze, add_ingest
from abkit.cli.design import add_design
from abkit.cli.experiments import (
    add_execute,
    add_new,
    add_notebooks,
    add_run,
    add_simulate,
    add_workshop,
)
from abkit.cli.judge import add_judge

__all__ = [
    "build_parser",
    "main",
    "user_error",
]


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
    add_design(commands)
    add_new(commands)
    add_run(commands)
    add_execute(commands)
    add_notebooks(commands)
    add_simulate(commands)
    add_analyze(commands)
    add_ingest(commands)
    add_judge(commands)
    add_workshop(commands)
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
        from abkit.analysis.log_source import duckdb_reason

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


def _silence_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's last flush of the
    closed pipe does not print an error of its own."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a file descriptor (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``abkit`` console script; returns the exit status.

    Errors in what the user gave exit with status 2 and one line (:func:`user_error`); with
    ``--debug`` the traceback is shown instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # the reader stopped early (abkit analyze ... | head): not an error
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command a closed pipe stopped
    except Exception as error:
        message = None if args.debug else user_error(error)
        if message is None:
            raise
        parser.exit(2, f"abkit {args.command}: error: {message}\n")
    return 2  # pragma: no cover - parser.exit does not return


if __name__ == "__main__":
    sys.exit(main())
