"""Workshop exercises are derived from their solutions and up to date (a stale one fails)."""

from __future__ import annotations

import ast

import nbformat
import pytest

from abkit.teaching.workshop import (
    ANSWER_STUB,
    EXERCISES_DIR,
    SOLUTION_TAG,
    SOLUTIONS_DIR,
    STUB,
    make_exercise,
    render,
)

SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))


def test_there_are_five_exercises_each_with_a_solution() -> None:
    assert len(SOLUTIONS) >= 5
    assert sorted(p.name for p in EXERCISES_DIR.glob("*.ipynb")) == [p.name for p in SOLUTIONS]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_exercise_is_up_to_date_with_its_solution(solution) -> None:
    committed = (EXERCISES_DIR / solution.name).read_text()
    expected = render(make_exercise(nbformat.read(solution, as_version=4)))
    assert committed == expected, "stale exercise: run `make exercises`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_every_stub_corresponds_to_a_solution_cell(solution) -> None:
    source = nbformat.read(solution, as_version=4)
    exercise = nbformat.read(EXERCISES_DIR / solution.name, as_version=4)
    assert len(source.cells) == len(exercise.cells)
    tagged = 0
    for original, derived in zip(source.cells, exercise.cells, strict=True):
        is_solution = SOLUTION_TAG in original.metadata.get("tags", [])
        tagged += is_solution
        if is_solution and original.cell_type == "markdown":
            assert derived.source == ANSWER_STUB  # a worked answer is never given away
        elif is_solution:
            assert derived.source.endswith(STUB)
            task = [line for line in original.source.splitlines() if line.startswith("#")][:1]
            assert task and derived.source.startswith(task[0]), "each solution states its task"
        else:
            assert derived.source == original.source and STUB not in derived.source
        if derived.cell_type == "code":
            assert derived.outputs == [] and derived.execution_count is None
    assert tagged >= 2
    assert all(c.execution_count is not None for c in source.cells if c.cell_type == "code")


def test_a_changed_solution_makes_the_exercise_stale(tmp_path) -> None:
    solution = nbformat.read(SOLUTIONS[0], as_version=4)
    first = next(c for c in solution.cells if SOLUTION_TAG in c.metadata.get("tags", []))
    first.source = "# Task: something new\nprint('changed')"
    assert render(make_exercise(solution)) != (EXERCISES_DIR / SOLUTIONS[0].name).read_text()


def _task(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.startswith("#"))


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_each_task_names_the_kit_functions_to_call_and_the_names_later_cells_read(solution) -> None:
    """A participant facing a stub learns from its task comment which abkit function to call
    (unless the setup cell imported it by name) and what to call a result a later cell uses."""
    cells = [c for c in nbformat.read(solution, as_version=4).cells if c.cell_type == "code"]
    modules, given = set(), set()
    for cell in cells:
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("abkit"):
                for alias in node.names:
                    target = alias.asname or alias.name
                    (modules if node.module == "abkit" else given).add(target)
    for k, cell in enumerate(cells):
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        task, tree = _task(cell.source), ast.parse(cell.source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in modules
            ):
                assert f"{node.func.value.id}.{node.func.attr}" in task, (solution.name, task)
        assigned = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        later = {
            node.id
            for cell_after in cells[k + 1 :]
            if SOLUTION_TAG not in cell_after.metadata.get("tags", [])
            for node in ast.walk(ast.parse(cell_after.source))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        }
        for name in assigned & later:
            assert f"`{name}`" in task, (solution.name, name, task)
