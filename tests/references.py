"""Reference values read once from tests/reference/ (written by the committed R scripts)."""

from __future__ import annotations

import csv
from pathlib import Path

RPACT: dict[str, list[float]] = {}
for row in csv.DictReader(
    (Path(__file__).parent / "reference" / "sequential_reference.csv").open()
):
    RPACT.setdefault(row["case"], []).append(float(row["value"]))


def multcomp(case: str) -> dict[tuple[str, str], float]:
    """tests/reference/dunnett_multcomp.csv (written by dunnett_multcomp.R): (candidate,
    quantity) -> value of one case."""
    with (Path(__file__).parent / "reference" / "dunnett_multcomp.csv").open() as handle:
        return {
            (row["candidate"], row["quantity"]): float(row["value"])
            for row in csv.DictReader(handle)
            if row["case"] == case
        }
