"""The package's shape (#28): wings by workflow step, each importing only the wings below it,
no two modules importing each other, modules small enough to hold in mind."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from abkit.core.paths import KIT_ROOT

# Bottom to top: a wing may import its own modules and those of the wings before it.
WINGS = (
    "core",
    "stats",
    "plan",
    "serve",
    "analysis",
    "design",
    "ingest",
    "judging",
    "report",
    "teaching",
    "experiment",
    "cli",
)
PACKAGE = KIT_ROOT / "abkit"
MAX_LINES = 650  # "about 600"


def modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(KIT_ROOT).with_suffix("").parts): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py"
    }


def imports(path: Path) -> set[str]:
    """Every abkit module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("abkit"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("abkit."))
    return {name for name in found if name.count(".") >= 2}


def wing(module: str) -> str:
    return module.split(".")[1]


def graph() -> dict[str, set[str]]:
    return {name: imports(path) - {name} for name, path in modules().items()}


def test_every_module_is_in_a_wing() -> None:
    assert {wing(m) for m in modules()} <= set(WINGS)
    assert not list(PACKAGE.glob("*.py"))[1:] and [p.name for p in PACKAGE.glob("*.py")] == [
        "__init__.py"
    ]


def test_a_wing_imports_only_the_wings_below_it() -> None:
    back = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if WINGS.index(wing(target)) > WINGS.index(wing(module))
    ]
    assert back == []


def test_no_two_modules_import_each_other() -> None:
    edges = graph()
    seen: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for target in sorted(edges.get(node, ())):
            if seen.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in seen:
                visit(target, [*stack, target])
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_stay_small(module: str) -> None:
    lines = len(modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_import_abkit_and_help_stay_light() -> None:
    """``import abkit`` loads none of the heavy libraries; the API loads on first use."""
    heavy = "('pandas', 'duckdb', 'scipy')"
    code = f"import sys, abkit; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_public_api_resolves_every_name() -> None:
    import abkit

    for name in abkit.__all__:
        assert getattr(abkit, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        abkit.nope  # noqa: B018


def test_the_tests_mirror_the_wings() -> None:
    folders = {p.parent.name for p in (KIT_ROOT / "tests").glob("*/test_*.py")}
    assert folders <= set(WINGS), folders - set(WINGS)
