"""Reference values for abkit.stats.ppi.ppi_stratified from ppi-python (ppi_py 0.2.3), which has no
stratified estimator: each stratum's PPI++ point estimate and interval come from its
``ppi_mean_pointestimate`` / ``ppi_mean_ci`` (λ tuned by ppi-python), and the strata are combined
here by the stated formula θ̂ = Σ w_s·θ̂_s, se² = Σ w_s²·se_s², w_s = the stratum's share of all
items, se_s = the half-width of ppi-python's 95 % interval / z₀.₉₇₅.

Not run by the tests (they read the committed CSVs). Regenerate with ppi-python installed:

    .venv/bin/python tests/reference/ppi_stratified_reference.py

Writes ppi_stratified_data.csv (one row per item: stratum, labeled, y, y_hat) and
ppi_stratified_reference.csv (per stratum and combined).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
from scipy import stats

HERE = Path(__file__).parent
rng = np.random.default_rng(20261207)
# three intents where the judge is good, middling and poor; labels at different rates
STRATA = {
    "billing": (0.7, 0.95, 3000, 150),
    "refunds": (0.5, 0.8, 2000, 120),
    "other": (0.6, 0.6, 1000, 80),
}
items = []
for name, (rate, accuracy, size, labeled) in STRATA.items():
    truth = rng.random(size) < rate
    correct = rng.random(size) < accuracy
    judge = np.where(correct, truth, ~truth)
    flag = np.zeros(size, dtype=bool)
    flag[rng.choice(size, labeled, replace=False)] = True
    items.append(
        pd.DataFrame(
            {
                "stratum": name,
                "labeled": flag.astype(int),
                "y": truth.astype(float),
                "y_hat": judge.astype(float),
            }
        )
    )
data = pd.concat(items, ignore_index=True)
data.to_csv(HERE / "ppi_stratified_data.csv", index=False)

z = stats.norm.isf(0.025)
rows = []
for name, part in data.groupby("stratum", sort=True):
    lab, unl = part[part["labeled"] == 1], part[part["labeled"] == 0]
    args = (lab["y"].to_numpy(), lab["y_hat"].to_numpy(), unl["y_hat"].to_numpy())
    estimate = float(np.ravel(ppi_mean_pointestimate(*args))[0])
    low, high = (float(np.ravel(v)[0]) for v in ppi_mean_ci(*args, alpha=0.05))
    rows.append(
        {
            "stratum": name,
            "weight": len(part) / len(data),
            "estimate": estimate,
            "se": (high - low) / (2 * z),
        }
    )
table = pd.DataFrame(rows)
combined = float((table["weight"] * table["estimate"]).sum())
se = math.sqrt(float((table["weight"] ** 2 * table["se"] ** 2).sum()))
table = pd.concat(
    [table, pd.DataFrame([{"stratum": "combined", "weight": 1.0, "estimate": combined, "se": se}])],
    ignore_index=True,
)
table.to_csv(HERE / "ppi_stratified_reference.csv", index=False)
print(table.to_string())
