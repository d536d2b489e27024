"""Workshop exercises derived from solution notebooks (one source of truth).

A solution notebook lives in ``notebooks/workshop/solutions/``; the cells that participants
must write are tagged ``solution``. :func:`make_exercise` derives the exercise: each tagged
code cell becomes a stub that keeps the cell's leading comment lines (the task) and adds
``# YOUR CODE HERE``; each tagged markdown cell (a worked answer to the question before it)
becomes ``*Your answer:*``, so the exercise never gives the answer away; every output is
cleared. ``make exercises`` (``abkit workshop``) writes
them to ``notebooks/workshop/exercises/``; a test fails when an exercise is stale.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from abkit.core.paths import NOTEBOOKS_DIR

__all__ = [
    "ANSWER_STUB",
    "EXERCISES_DIR",
    "SOLUTIONS_DIR",
    "STUB",
    "make_exercise",
    "write_exercises",
]

WORKSHOP_DIR = NOTEBOOKS_DIR / "workshop"
SOLUTIONS_DIR = WORKSHOP_DIR / "solutions"
EXERCISES_DIR = WORKSHOP_DIR / "exercises"
SOLUTION_TAG = "solution"
STUB = "# YOUR CODE HERE"
ANSWER_STUB = "*Your answer:*"


def _stub(source: str) -> str:
    """The task comment lines at the top of a solution cell, then the stub marker."""
    task = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        task.append(line)
    return "\n".join([*task, STUB])


def make_exercise(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise version of a solution notebook (a new notebook; the input is unchanged)."""
    exercise = nbformat.from_dict(solution)
    exercise = nbformat.v4.upgrade(exercise) if exercise.nbformat < 4 else exercise
    for cell in exercise.cells:
        tagged = SOLUTION_TAG in cell.metadata.get("tags", [])
        if cell.cell_type == "markdown" and tagged:
            cell.source = ANSWER_STUB
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
            cell.metadata["tags"].append("exercise")
            continue
        if cell.cell_type != "code":
            continue
        if tagged:
            cell.source = _stub(cell.source)
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
            cell.metadata["tags"].append("exercise")
        cell.outputs = []
        cell.execution_count = None
    exercise.metadata.pop("papermill", None)
    return exercise


def render(notebook: nbformat.NotebookNode) -> str:
    """The exact text a notebook is written as (for up-to-date checks)."""
    return nbformat.writes(notebook) + "\n"


def write_exercises(solutions: Path = SOLUTIONS_DIR, exercises: Path = EXERCISES_DIR) -> list[Path]:
    """Derive every exercise from its solution; return the paths written."""
    exercises.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(solutions.glob("*.ipynb")):
        target = exercises / source.name
        target.write_text(render(make_exercise(nbformat.read(source, as_version=4))))
        written.append(target)
    return written
