"""``summary.json``: the key numbers every template writes for papermill runs to assert on."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SUMMARY_FILE", "read_summary", "to_jsonable", "write_summary"]

SUMMARY_FILE = "summary.json"


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars, dataclasses, DataFrames and NaN into plain JSON values.

    NaN and infinities become ``None`` (JSON has no NaN); a DataFrame becomes a list of row
    records.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [to_jsonable(item) for item in list(value)]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_summary(directory: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` to ``directory/summary.json`` (sorted keys, indented); return its path."""
    path = Path(directory) / SUMMARY_FILE
    path.write_text(json.dumps(to_jsonable(summary), indent=2, sort_keys=True) + "\n")
    return path


def read_summary(directory: Path) -> dict[str, Any]:
    """Read ``directory/summary.json``."""
    return json.loads((Path(directory) / SUMMARY_FILE).read_text())
