"""Where the kit's folders are, resolved from the package, never from the current directory.

papermill starts a kernel in the caller's directory and nbval in the notebook's, so a relative
path in a notebook would mean different files in the two: notebooks resolve paths here instead.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DATA_DIR",
    "EXPERIMENTS_DIR",
    "KIT_ROOT",
    "NOTEBOOKS_DIR",
    "REPORTS_DIR",
    "cache_directory",
    "in_kit",
    "output_directory",
]

KIT_ROOT = Path(__file__).resolve().parents[2]  # abkit/core/paths.py -> the kit
NOTEBOOKS_DIR = KIT_ROOT / "notebooks"
DATA_DIR = KIT_ROOT / "data"
REPORTS_DIR = KIT_ROOT / "reports"
# Where `abkit new NAME` puts experiments/NAME: the kit's experiments/, or $ABKIT_EXPERIMENTS.
EXPERIMENTS_DIR = Path(os.environ.get("ABKIT_EXPERIMENTS") or KIT_ROOT / "experiments")


def cache_directory() -> Path:
    """Where the kit keeps what it can recompute (the rollups of log folders when there is no
    experiment folder): ``$ABKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/abkit``, else
    ``~/.cache/abkit``."""
    if os.environ.get("ABKIT_CACHE_DIR"):
        return Path(os.environ["ABKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "abkit"


def in_kit(path: str | Path) -> Path:
    """An absolute path: ``path`` itself if absolute, else relative to the kit's root folder."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else KIT_ROOT / candidate


def output_directory(path: str | Path) -> Path:
    """Resolve a notebook's ``output_dir`` parameter with :func:`in_kit` and create it."""
    if not str(path).strip():
        raise ValueError(f"output_dir == {str(path)!r}, must be a non-empty path")
    directory = in_kit(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
