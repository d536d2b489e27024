"""Reference values read once from tests/reference/ (written by the committed R scripts)."""

from __future__ import annotations

import csv
from pathlib import Path

RPACT: dict[str, list[float]] = {}
for row in csv.DictReader(
    (Path(__file__).parent / "reference" / "sequential_reference.csv").open()
):
    RPACT.setdefault(row["case"], []).append(float(row["value"]))
