"""The papermill matrix of ``01_design_sample_size`` (tests/papermill/*.yaml).

One file per notebook, so that pytest-xdist runs the matrices on both workers."""

from __future__ import annotations

import pytest
from notebook_matrix import cases_for, run_case


@pytest.mark.parametrize("case", cases_for("01_design_sample_size"), ids=lambda case: case.name)
def test_matrix_run(case, tmp_path) -> None:
    run_case(case, tmp_path)
