"""How many human labels does prediction-powered inference need? A label budget for a target
interval width, before the experiment.

With the judge scoring all N dialogs of an arm and humans labeling a random share f of them
(n = f·N), PPI++ with its variance-minimizing λ has, per arm (Angelopoulos, Duchi & Zrnic
2023, arXiv 2311.01453; the "effective sample size" n·N / (n + (1 − ρ²)(N − n)) of Broska,
Howes & van Loon 2024, which ``ppi-python``'s ``ppi_power`` computes):

    Var = σ²/n · (1 − ρ²·(1 − f)),

σ the labels' standard deviation and ρ the judge–human correlation. For the difference of two
arms with the same label share, the 1 − α interval's width is

    W(f) = 2·z₁₋α/₂ · σ · √(deff · (1/N_C + 1/N_T) · (1 − ρ² + ρ²·f) / f),

deff the design effect of several dialogs per user (1 for one dialog per user; the kit's
analysis clusters by user). Solving W(f) = target gives

    f = (1 − ρ²)·K / (1 − ρ²·K),   K = f_human = (2z·σ)²·deff·(1/N_C + 1/N_T) / target²,

f_human being the share human labels alone would need. The target is out of reach when
f_human > 1 (even labeling everything is too wide): the message says the narrowest width
possible. The judge-only width uses the judge's own standard deviation σ̂ and is narrow but
biased by whatever the judge gets wrong; it is shown for comparison, never as an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from abkit.core.params import check_integer, check_number, check_probability

__all__ = ["LabelBudget", "dialogs_for_share", "label_budget", "pilot_quantities"]


@dataclass(frozen=True)
class LabelBudget:
    """The human labels PPI needs for ``target_width``, beside the alternatives (widths of the
    difference's 1 − α interval, in the label's units)."""

    target_width: float
    label_share: float
    labels: int
    labels_control: int
    labels_treatment: int
    ppi_width: float
    human_only_width: float
    human_only_labels: int
    judge_only_width: float
    rho: float
    sd_label: float

    def table(self):
        """The three ways to the answer, tidy for display."""
        import pandas as pd

        return pd.DataFrame(
            {
                "approach": ["judge + human labels (PPI)", "human labels alone",
                             "same labels, humans alone", "judge alone (biased)"],
                "labels": [self.labels, self.human_only_labels, self.labels, 0],
                "ci_width": [self.ppi_width, self.target_width, self.human_only_width,
                             self.judge_only_width],
            }
        )  # fmt: skip


def _width(sd: float, scale: float, share: float, rho: float, z: float) -> float:
    return 2 * z * sd * math.sqrt(scale * (1 - rho**2 + rho**2 * share) / share)


def label_budget(
    target_width: float,
    *,
    dialogs_control: int,
    dialogs_treatment: int,
    sd_label: float,
    rho: float,
    sd_judge: float | None = None,
    design_effect: float = 1.0,
    alpha: float = 0.05,
) -> LabelBudget:
    """The label share and count that give the treatment − control difference a PPI interval
    of ``target_width`` (module docstring for the formula).

    Examples:
        >>> b = label_budget(0.04, dialogs_control=20_000, dialogs_treatment=20_000,
        ...                  sd_label=0.49, rho=0.7)
        >>> b.labels, b.human_only_labels, round(b.ppi_width, 4)
        (5304, 9224, 0.04)
    """
    check_number("target_width", target_width, low=0.0)
    check_integer("dialogs_control", dialogs_control, minimum=2)
    check_integer("dialogs_treatment", dialogs_treatment, minimum=2)
    check_number("sd_label", sd_label, low=0.0)
    check_number("rho", rho, low=-1.0, high=1.0)
    check_number("design_effect", design_effect, low=0.0)
    check_probability("alpha", alpha)
    z = float(sps.norm.isf(alpha / 2))
    scale = design_effect * (1 / dialogs_control + 1 / dialogs_treatment)
    human_share = (2 * z * sd_label) ** 2 * scale / target_width**2
    narrowest = 2 * z * sd_label * math.sqrt(scale)
    if human_share > 1:
        raise ValueError(
            f"target_width == {target_width:g} is out of reach: with every dialog labeled the "
            f"interval is {narrowest:.4g} wide ({dialogs_control:,} + {dialogs_treatment:,} "
            "dialogs); widen the target or plan more dialogs"
        )
    share = (1 - rho**2) * human_share / (1 - rho**2 * human_share)
    total = dialogs_control + dialogs_treatment
    labels_c = math.ceil(share * dialogs_control)
    labels_t = math.ceil(share * dialogs_treatment)
    realised = labels_c / dialogs_control
    judge_sd = sd_label if sd_judge is None else sd_judge
    return LabelBudget(
        target_width=float(target_width),
        label_share=float(share),
        labels=labels_c + labels_t,
        labels_control=labels_c,
        labels_treatment=labels_t,
        ppi_width=_width(sd_label, scale, max(realised, share), rho, z),
        human_only_width=2 * z * sd_label * math.sqrt(scale / max(realised, share)),
        human_only_labels=math.ceil(human_share * total),
        judge_only_width=2 * z * judge_sd * math.sqrt(scale),
        rho=float(rho),
        sd_label=float(sd_label),
    )


def dialogs_for_share(share: float, rho: float, fully_labeled: float) -> float:
    """The dialogs that PPI with a label share ``share`` needs for the precision that
    ``fully_labeled`` dialogs, every one labeled, would give: N = N₁·(1 − ρ²·(1 − f))/f (the
    module's variance formula solved for N).

    Examples:
        >>> round(dialogs_for_share(0.1, 0.8, 10_000))
        42400
    """
    check_number("share", share, low=0.0, high=1.0, high_inclusive=True)
    check_number("rho", rho, low=-1.0, high=1.0)
    return float(fully_labeled * (1 - rho**2 * (1 - share)) / share)


def pilot_quantities(
    labels: object, judged_labeled: object, judged_all: object
) -> tuple[float, float, float]:
    """σ (labels), ρ (judge–human correlation on the labeled items) and σ̂ (the judge over all
    items) from a pilot: some items judged, a random few of them labeled.

    Examples:
        >>> [round(v, 4) for v in pilot_quantities([1, 0, 1, 1], [1, 0, 1, 0], [1, 0, 1, 0, 1])]
        [0.433, 0.5774, 0.4899]
    """
    y = np.asarray(labels, dtype=float)
    y_hat = np.asarray(judged_labeled, dtype=float)
    every = np.asarray(judged_all, dtype=float)
    if y.size != y_hat.size or y.size < 3:
        raise ValueError(
            f"labels has {y.size} values and judged_labeled {y_hat.size}: a pilot needs the "
            "same labeled items in both, at least 3"
        )
    if not (np.isfinite(y).all() and np.isfinite(y_hat).all() and np.isfinite(every).all()):
        raise ValueError("the pilot holds missing or infinite scores: drop unlabeled rows first")
    sd = float(y.std())
    if sd == 0 or y_hat.std() == 0:
        raise ValueError("the pilot's labels or judge scores do not vary: ρ is undefined")
    rho = float(np.corrcoef(y, y_hat)[0, 1])
    return sd, rho, float(every.std())
