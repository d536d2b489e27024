"""The papermill parameter matrix: YAML files in ``tests/papermill/``, one run each.

Each file names a template (``notebook``), the ``parameters`` to run it with, and either
``expect`` (dotted paths into the ``summary.json`` the run writes, with their values) or
``error`` (text the run's error must contain). ``unknown_on_purpose`` lists parameter names a
file passes to check that the template refuses them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
import yaml

from abkit.core.paths import NOTEBOOKS_DIR

MATRIX_DIR = Path(__file__).parent / "papermill"


@dataclass(frozen=True)
class MatrixCase:
    path: Path
    notebook: str
    parameters: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    unknown_on_purpose: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem


def load_cases() -> list[MatrixCase]:
    cases = []
    for path in sorted(MATRIX_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        cases.append(
            MatrixCase(
                path=path,
                notebook=spec["notebook"],
                parameters=spec.get("parameters") or {},
                expect=spec.get("expect") or {},
                error=spec.get("error"),
                unknown_on_purpose=tuple(spec.get("unknown_on_purpose") or ()),
            )
        )
    return cases


def lookup(summary: dict[str, Any], dotted: str) -> Any:
    """``summary["a"]["b"]`` for ``"a.b"``; a list index may appear as a number."""
    value: Any = summary
    for part in dotted.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def cases_for(notebook: str) -> list[MatrixCase]:
    return [case for case in load_cases() if case.notebook == notebook]


def run_case(case: MatrixCase, tmp_path: Path) -> None:
    """Run one case and check what it expects (its summary values, or its error)."""
    template = NOTEBOOKS_DIR / f"{case.notebook}.ipynb"
    parameters = {**case.parameters, "output_dir": str(tmp_path / "out")}
    executed = tmp_path / template.name
    run = lambda: papermill.execute_notebook(  # noqa: E731
        str(template),
        str(executed),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,
        cwd=str(tmp_path),
    )
    if case.error is not None:
        with pytest.raises(papermill.PapermillExecutionError) as raised:
            run()
        assert case.error in str(raised.value)
        # it stopped at the parameter check, before anything was computed
        cells = nbformat.read(executed, as_version=4).cells
        failed = [
            cell
            for cell in cells
            if cell.cell_type == "code"
            and any(output.output_type == "error" for output in cell.outputs)
        ]
        assert len(failed) == 1 and re.search(r"notebook_(parameters|settings)\(", failed[0].source)
        assert not (tmp_path / "out" / "summary.json").exists()
        return
    run()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for dotted, expected in case.expect.items():
        actual = lookup(summary, dotted)
        if isinstance(expected, float):
            assert actual == pytest.approx(expected, rel=1e-8, abs=1e-12), dotted
        else:
            assert actual == expected, dotted
    if "memo" in summary:  # notebook 03: the memo beside the summary, with the same decision
        memo = (tmp_path / "out" / summary["memo"]).read_text(encoding="utf-8")
        assert f'<div class="verdict">{summary["decision"]["verdict"].upper()}' in memo.replace(
            "&#x27;", "'"
        )
