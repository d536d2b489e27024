"""Per-user outcomes with a pre-experiment covariate of known correlation: the simulated
experiments behind the CUPED calibration (:mod:`abkit.teaching.calibration`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from abkit.core.params import check_integer, check_number, check_probability

__all__ = ["simulate_users_with_covariate"]


def simulate_users_with_covariate(
    n_users: int,
    *,
    rho: float = 0.7,
    split: float = 0.5,
    effect: float = 0.0,
    no_history: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-user outcomes and pre-experiment covariates with a set correlation, for CUPED checks.

    One latent z per user and its pre-period twin z_pre = ρ·z + sqrt(1 − ρ²)·η (η independent):

    - ``value`` = z + ``effect`` in treatment (a user mean), ``value_pre`` = z_pre, so
      corr(value, value_pre) = ρ exactly;
    - a dialog ratio: ``dialogs`` = 1 + Poisson(4), ``completed`` ~ Binomial(dialogs, p) with
      logit p = 0.9 + 1.5·z (+ ``effect`` on the logit in treatment); the pre-period the same
      from z_pre, with no pre-period dialogs for a share ``no_history`` of users;
    - a user proportion: ``returned`` ~ Bernoulli(expit(−0.2 + 3·z)), its pre-period twin.

    ``treated`` is a Bernoulli(``split``) assignment; users are independent.
    """
    check_integer("n_users", n_users, minimum=2)
    check_number("rho", rho, low=-1.0, high=1.0, low_inclusive=True, high_inclusive=True)
    check_probability("split", split)
    rng = np.random.default_rng(seed)
    treated = rng.random(n_users) < split
    z = rng.normal(size=n_users)
    z_pre = rho * z + math.sqrt(1 - rho**2) * rng.normal(size=n_users)
    shift = np.where(treated, effect, 0.0)

    def expit(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    dialogs = 1 + rng.poisson(4.0, n_users)
    dialogs_pre = np.where(rng.random(n_users) < no_history, 0, 1 + rng.poisson(4.0, n_users))
    return pd.DataFrame(
        {
            "treated": treated,
            "value": z + shift,
            "value_pre": z_pre,
            "dialogs": dialogs.astype(float),
            "completed": rng.binomial(dialogs, expit(0.9 + 1.5 * z + shift)).astype(float),
            "dialogs_pre": dialogs_pre.astype(float),
            "completed_pre": rng.binomial(dialogs_pre, expit(0.9 + 1.5 * z_pre)).astype(float),
            "returned": (rng.random(n_users) < expit(-0.2 + 3.0 * z + shift)).astype(float),
            "returned_pre": (rng.random(n_users) < expit(-0.2 + 3.0 * z_pre)).astype(float),
        }
    )


# The example's pre-period (data/, with example_users.parquet and example_cuped_plan.yaml):
# the same 12,000 users in the 28 days before the experiment, fairly stable users.
