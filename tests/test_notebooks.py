"""Template contract and the papermill parameter matrix (see ``tests/notebook_matrix.py``).

nbval (``pytest --nbval``, configured in pyproject.toml) separately re-runs the committed
notebooks and compares their outputs.
"""

from __future__ import annotations

import json
import re

import nbformat
import papermill
import pytest
from notebook_matrix import MatrixCase, load_cases, lookup

from abkit.core.paths import NOTEBOOKS_DIR
from abkit.experiment.runs import template_defaults, template_paths

TEMPLATES = template_paths()
CASES = load_cases()


def test_there_are_templates_and_matrix_cases_for_each() -> None:
    assert [path.name for path in TEMPLATES][:1] == ["01_design_sample_size.ipynb"]
    covered = {case.notebook for case in CASES if case.error is None}
    assert covered == {path.stem for path in TEMPLATES}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.stem)
def test_template_structure(template) -> None:
    document = nbformat.read(template, as_version=4)
    code_cells = [cell for cell in document.cells if cell.cell_type == "code"]
    tagged = [
        i for i, cell in enumerate(document.cells) if "parameters" in cell.metadata.get("tags", [])
    ]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert document.metadata["kernelspec"]["name"] == "python3"
    defaults = template_defaults(template)
    assert "output_dir" in defaults and defaults["output_dir"].startswith("reports/")
    # the cell right after the parameters validates them
    following = document.cells[tagged[0] + 1 :]
    first_code = next(cell for cell in following if cell.cell_type == "code")
    assert "notebook_parameters(" in first_code.source or "notebook_settings(" in first_code.source
    # every parameter line parses for papermill (a second '=' or an unusual annotation hides it)
    assignments = re.findall(r"^(\w+)\s*(?::[^=]*)?=", document.cells[tagged[0]].source, re.M)
    assert sorted(assignments) == sorted(defaults)
    for cell in code_cells:
        assert cell.execution_count is not None, "committed templates are executed"
        assert not cell.source.rstrip().endswith(";"), "end plot cells with plt.show()"
        assert not re.search(r"^\s*(def|class)\s", cell.source, re.M), "logic belongs in abkit"
        assert not any(output.get("output_type") == "error" for output in cell.outputs)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_matrix_parameters_are_declared(case: MatrixCase) -> None:
    declared = set(papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{case.notebook}.ipynb")))
    undeclared = set(case.parameters) - declared
    assert undeclared == set(case.unknown_on_purpose)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_matrix_run(case: MatrixCase, tmp_path) -> None:
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
