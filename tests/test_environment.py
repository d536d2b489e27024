"""environment.yml (conda) and pyproject.toml (pip) must list the same dependencies.

conda cannot be exercised on this machine, so the agreement is checked textually: same package
names and the same version bounds, with PyPI's ``pyyaml`` spelt the same on conda-forge.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from abkit.core.paths import KIT_ROOT

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(.*)$")


def _parse(requirements: list[str]) -> dict[str, str]:
    parsed = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        assert match, requirement
        parsed[match.group(1).lower().replace("_", "-")] = match.group(2).replace(" ", "")
    return parsed


def test_conda_environment_lists_the_pyproject_dependencies() -> None:
    project = tomllib.loads((KIT_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pip_side = _parse(project["dependencies"] + extras["dev"] + extras["spark"] + extras["mlflow"])
    environment = yaml.safe_load((KIT_ROOT / "environment.yml").read_text())
    conda_entries = [entry for entry in environment["dependencies"] if isinstance(entry, str)]
    conda_side = _parse(conda_entries)
    conda_python = conda_side.pop("python")
    conda_side.pop("pip")
    assert conda_side == pip_side
    assert conda_python == project["requires-python"]
    pip_section = next(
        entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)
    )
    assert pip_section == ["-e ."]
    assert "conda-forge" in environment["channels"]
