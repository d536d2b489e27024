"""Reference values for abkit.stats.ppi_budget from ppi-python's power analysis (ppi-python 0.2.3,
``ppi_py.ppi_power``): for an arm of N judged dialogs, a judge–human correlation ρ and the
human-only sample size n₀ that reaches the wanted variance, the number n of those N dialogs to
label. Run from the kit's root with ppi-python installed (not needed by CI):

    .venv/bin/python tests/reference/ppi_budget_reference.py

and commit tests/reference/ppi_budget_reference.csv. cost_Yhat is tiny rather than 0 (ppi-python
divides by it); the unlabeled dialogs are then free, so the optimum labels as few as N allows,
which is the kit's question (the judge scores every dialog anyway).
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pandas as pd
from ppi_py import ppi_power

rows = []
for rho, dialogs, human_share in itertools.product(
    (0.3, 0.5, 0.7, 0.9), (2_000, 20_000, 200_000), (0.05, 0.2, 0.6)
):
    effective_n = human_share * dialogs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair = ppi_power(
            rho, cost_X=0.0, cost_Y=1.0, cost_Yhat=1e-12, effective_n=effective_n, n_max=dialogs
        )
    rows.append(
        {
            "rho": rho,
            "dialogs": dialogs,
            "effective_n": effective_n,
            "labels": pair["n"],
            "unlabeled": pair["N"],
        }
    )
out = Path(__file__).with_name("ppi_budget_reference.csv")
pd.DataFrame(rows).to_csv(out, index=False)
print(pd.DataFrame(rows).to_string())
