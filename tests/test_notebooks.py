"""Template contract and the papermill parameter matrix (see ``tests/notebook_matrix.py``).

nbval (``pytest --nbval``, configured in pyproject.toml) separately re-runs the committed
notebooks and compares their outputs.
"""

from __future__ import annotations

import re

import nbformat
import papermill
import pytest
from notebook_matrix import MatrixCase, load_cases

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
