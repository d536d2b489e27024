"""Shared test set-up: deterministic kernels, nbval's stderr skipped, the slow-test scale."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Kernels started by nbval and papermill inherit these: set ordering and the plotting backend
# must not differ between the committed run and the test run.
os.environ.setdefault("PYTHONHASHSEED", "0")
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
# The rollups of log folders (abkit.analysis.rollup) go to a folder of this run, not the home's.
if "ABKIT_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["ABKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="abkit-test-cache-")


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Warnings on stderr differ between machines and runs: nbval does not compare them."""
    if collector.fspath and str(collector.fspath).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)  # type: ignore[attr-defined]


def slow_scale() -> float:
    """Share of the full size that ``slow`` simulations run at: ``ABKIT_SLOW_SCALE`` (default 1).

    CI sets a reduced scale so it still runs every slow test, on fewer replications.
    """
    return float(os.environ.get("ABKIT_SLOW_SCALE", "1"))
