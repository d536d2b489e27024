"""The papermill parameter matrix: YAML files in ``tests/papermill/``, one run each.

Each file names a template (``notebook``), the ``parameters`` to run it with, and either
``expect`` (dotted paths into the ``summary.json`` the run writes, with their values) or
``error`` (text the run's error must contain). ``unknown_on_purpose`` lists parameter names a
file passes to check that the template refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
