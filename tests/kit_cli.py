"""Running the ``abkit`` command in tests: in-process through ``main`` (fast), or the installed
console script as a user runs it."""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from abkit.cli.main import main

ABKIT = shutil.which("abkit", path=str(Path(sys.executable).parent))


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def abkit(*args: str) -> Done:
    """Run ``abkit ARGS`` in-process, capturing what it prints and its exit status."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:
            code = int(stop.code or 0)
    return Done(code, out.getvalue(), err.getvalue())
