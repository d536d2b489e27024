"""Reference values for abkit.judging.pairwise's PPI++ from the ppi-python package (ppi_py 0.2.3).

Not run by the tests (they read the committed CSVs). Regenerate in an environment with
``pip install ppi_python==0.2.3``:

    python tests/reference/judging_reference.py

Writes judging_data.csv (the synthetic datasets: long format, one row per item) and
judging_reference.csv (ppi_mean_pointestimate and ppi_mean_ci at alpha 0.05 per dataset and arm).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

HERE = Path(__file__).parent
rng = np.random.default_rng(20261202)
rows = []


def binary(name, arm, n, big_n, rate, accuracy):
    truth = rng.random(n + big_n) < rate
    correct = rng.random(n + big_n) < accuracy
    judge = np.where(correct, truth, ~truth).astype(float)
    add(name, arm, truth.astype(float), judge, n)


def scale(name, arm, n, big_n, mean, noise):
    truth = np.clip(np.round(rng.normal(mean, 1.0, n + big_n)), 1, 5)
    judge = np.clip(truth + rng.normal(0, noise, n + big_n), 1, 5)
    add(name, arm, truth, judge, n)


def add(name, arm, truth, judge, n):
    for i, (y, y_hat) in enumerate(zip(truth, judge, strict=True)):
        rows.append(
            {
                "dataset": name,
                "arm": arm,
                "labeled": int(i < n),
                "y": y if i < n else np.nan,
                "y_hat": y_hat,
            }
        )


binary("accurate_judge", "control", 200, 5000, 0.70, 0.85)
binary("accurate_judge", "treatment", 200, 5000, 0.76, 0.85)
binary("weak_judge", "control", 150, 3000, 0.50, 0.60)
binary("weak_judge", "treatment", 150, 3000, 0.55, 0.60)
scale("csat_scale", "control", 120, 2000, 3.7, 0.8)
scale("csat_scale", "treatment", 120, 2000, 4.0, 0.8)
data = pd.DataFrame(rows)
data.to_csv(HERE / "judging_data.csv", index=False)

out = []
for (name, arm), part in data.groupby(["dataset", "arm"], sort=True):
    labeled = part[part["labeled"] == 1]
    unlabeled = part[part["labeled"] == 0]
    y, y_hat = labeled["y"].to_numpy(), labeled["y_hat"].to_numpy()
    y_hat_u = unlabeled["y_hat"].to_numpy()
    estimate = float(np.asarray(ppi_mean_pointestimate(y, y_hat, y_hat_u)).ravel()[0])
    interval = ppi_mean_ci(y, y_hat, y_hat_u, alpha=0.05)
    low, high = (float(np.asarray(v).ravel()[0]) for v in interval)
    out.append(
        {
            "dataset": name,
            "arm": arm,
            "estimate": repr(estimate),
            "ci_low": repr(low),
            "ci_high": repr(high),
        }
    )
pd.DataFrame(out).to_csv(HERE / "judging_reference.csv", index=False)
print(pd.DataFrame(out))

# Bradley-Terry: comparisons of 4 systems with strengths (0, 0.4, -0.3, 1.0), 600 games each set,
# maximum-likelihood strengths from choix (choix 0.4.1, ilsr_pairwise without regularization).
import choix  # noqa: E402

true = np.array([0.0, 0.4, -0.3, 1.0])
games = []
for _ in range(600):
    i, j = rng.choice(4, size=2, replace=False)
    p = 1 / (1 + np.exp(true[j] - true[i]))
    games.append((i, j) if rng.random() < p else (j, i))
pd.DataFrame(games, columns=["winner", "loser"]).to_csv(HERE / "bt_games.csv", index=False)
theta = choix.ilsr_pairwise(4, games, alpha=0.0, max_iter=10_000, tol=1e-14)
pd.DataFrame({"system": range(4), "strength": [repr(float(t)) for t in theta]}).to_csv(
    HERE / "bt_reference.csv", index=False
)
print(theta)

# PPI with a fixed power-tuning parameter (lam = 0.5 and lam = 1, plain PPI): the reference for
# abkit.stats.ppi.ppi_clustered with one dialog per user, whose tuned lambda differs from
# PPI++'s.
fixed = []
for (name, arm), part in data.groupby(["dataset", "arm"], sort=True):
    labeled = part[part["labeled"] == 1]
    y, y_hat = labeled["y"].to_numpy(), labeled["y_hat"].to_numpy()
    y_hat_u = part.loc[part["labeled"] == 0, "y_hat"].to_numpy()
    for lam in (0.5, 1.0):
        estimate = float(np.asarray(ppi_mean_pointestimate(y, y_hat, y_hat_u, lam=lam)).ravel()[0])
        low, high = (
            float(np.asarray(v).ravel()[0])
            for v in ppi_mean_ci(y, y_hat, y_hat_u, alpha=0.05, lam=lam)
        )
        fixed.append(
            {
                "dataset": name,
                "arm": arm,
                "lam": lam,
                "estimate": repr(estimate),
                "ci_low": repr(low),
                "ci_high": repr(high),
            }
        )
pd.DataFrame(fixed).to_csv(HERE / "judging_reference_fixed_lambda.csv", index=False)
print(pd.DataFrame(fixed))
