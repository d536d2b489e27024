"""abkit.teaching.casestudy: recomputed p-values against R (tests/reference/casestudy_reference.R)
and
scipy's ttest_ind_from_stats; the reconstruction reproduces the published summary."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import stats as sps

from abkit.experiment.settings import CaseStudySettings
from abkit.teaching.casestudy import (
    SEED_CASE,
    audit,
    implied_sd,
    max_sd_on_scale,
    metric_relations,
    reconstruct_dialogs,
    sd_sweep,
)

R = {
    row["case"]: float(row["value"])
    for row in csv.DictReader(
        (Path(__file__).parents[1] / "reference" / "casestudy_reference.csv").open()
    )
}


def test_recomputed_p_values_match_r_prop_test_and_welch() -> None:
    table = audit(SEED_CASE, assumed_sd={"csat": 1.0, "avg_turns": 2.0}).set_index("metric")
    assert table.loc["task_completion", "recomputed_p_value"] == pytest.approx(
        R["task_completion"], rel=1e-9
    )
    assert table.loc["escalation_rate", "recomputed_p_value"] == pytest.approx(
        R["escalation_rate"], rel=1e-9
    )
    assert table.loc["csat", "recomputed_p_value"] == pytest.approx(R["csat_sd1"], rel=1e-6)
    assert table.loc["avg_turns", "recomputed_p_value"] == pytest.approx(R["turns_sd2"], rel=1e-9)
    scipy_p = sps.ttest_ind_from_stats(4.1, 1.0, 1550, 3.8, 1.0, 6200, equal_var=False).pvalue
    assert table.loc["csat", "recomputed_p_value"] == pytest.approx(scipy_p, rel=1e-6)


def test_implied_design_effect_reconciles_the_published_p() -> None:
    table = audit(SEED_CASE, assumed_sd={"csat": 1.0, "avg_turns": 2.0}).set_index("metric")
    de = table.loc["task_completion", "implied_design_effect"]
    z_stated = sps.norm.isf(R["task_completion"] / 2)
    # deflating z by sqrt(DE) gives back the published p = 0.0012
    assert 2 * sps.norm.sf(z_stated / math.sqrt(de)) == pytest.approx(0.0012, rel=1e-9)
    assert "design effect of 3.45" in table.loc["task_completion", "verdict"]
    assert "no distribution on 1-5" in table.loc["csat", "verdict"]


def test_sd_bounds_and_sweep() -> None:
    assert max_sd_on_scale(3.8, 1, 5) == pytest.approx(math.sqrt(2.8 * 1.2))
    csat = SEED_CASE.metrics[1]
    assert implied_sd(csat, 6200, 1550) > max_sd_on_scale(3.8, 1, 5)
    sweep = sd_sweep(csat, 6200, 1550, [0.8, 1.0, 1.5])
    assert sweep["implied_design_effect"].is_monotonic_decreasing


def test_relations_find_the_complement_and_the_holm_count() -> None:
    notes = " ".join(metric_relations(SEED_CASE))
    assert "exactly the complement of completion" in notes
    assert "3 of 4 published p-values are below 0.05" in notes
    assert "4 tests: 2" in notes


def test_reconstruction_reproduces_the_published_summary() -> None:
    dialogs = reconstruct_dialogs(SEED_CASE, seed=3)
    by_arm = dialogs.groupby("variant")
    assert by_arm.size().to_dict() == {"control": 6200, "treatment": 1550}
    assert by_arm["completed"].sum().to_dict() == {"control": 4421, "treatment": 1223}
    assert by_arm["escalated"].sum().to_dict() == {"control": 1779, "treatment": 327}
    means = by_arm[["csat", "turns"]].mean()
    assert means.loc["control", "csat"] == pytest.approx(3.8, abs=0.5 / 6200)
    assert means.loc["treatment", "csat"] == pytest.approx(4.1, abs=0.5 / 1550)
    assert means.loc["control", "turns"] == pytest.approx(3.2, abs=0.5 / 6200)
    assert dialogs["csat"].between(1, 5).all() and (dialogs["turns"] >= 1).all()
    p95 = by_arm["latency_ms"].agg(lambda v: np.quantile(v, 0.95, method="inverted_cdf"))
    assert p95.to_dict() == pytest.approx({"control": 2100.0, "treatment": 2300.0})


def _settings(**changes) -> CaseStudySettings:
    base = dict(
        study_name="x",
        n_control=6200,
        n_treatment=1550,
        split=0.2,
        days=14,
        published=[
            {
                "name": "task_completion",
                "kind": "proportion",
                "control": 0.713,
                "treatment": 0.789,
                "published_p": 0.0012,
            }
        ],
        assumed_sd={},
        sd_sweep=[1.0],
        p95_latency_control_s=2.1,
        p95_latency_treatment_s=2.3,
        published_decision="full rollout",
        latency_margin=0.1,
        seed=0,
        output_dir="reports/x",
    )
    return CaseStudySettings(**{**base, **changes})


def test_settings_refuse_bad_tables() -> None:
    assert _settings().study().metrics[0].name == "task_completion"
    with pytest.raises(ValueError, match=r"published\[0\] has unknown key\(s\) \['p'\]"):
        _settings(
            published=[
                {"name": "a", "kind": "proportion", "control": 0.5, "treatment": 0.6, "p": 0.01}
            ]
        )
    with pytest.raises(ValueError, match=r"task_completion: control == 1.3, must be in \(0, 1\)"):
        _settings(
            published=[
                {"name": "task_completion", "kind": "proportion", "control": 1.3, "treatment": 0.6}
            ]
        )
    with pytest.raises(ValueError, match=r"assumed_sd has no SD for 'csat'"):
        _settings(published=[{"name": "csat", "kind": "mean", "control": 3.8, "treatment": 4.1}])
    with pytest.raises(ValueError, match=r"n_control == 1, must be an integer >= 2"):
        _settings(n_control=1)


# What only the seed's table says: its names, counts, design effects, decision and bounds.
SEED_FRAGMENTS = (
    "Llama",
    "6,200",
    "1,550",
    "7,750",
    "3.45",
    "3.4 ",
    "24.26",
    "1.83",
    "keep running",
    "full rollout",
    "three of four",
    "0.034",
    "0.0012",
)


def _prose(executed: Path) -> str:
    """What a reader of notebook 04 reads: markdown cells, printed text, displayed Markdown
    (not the code, not the parameter cell's echo)."""
    parts = []
    for cell in nbformat.read(executed, as_version=4).cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "text/markdown" in output.get("data", {}):
                parts.append(output["data"]["text/markdown"])
    return "\n".join(parts)


@pytest.mark.parametrize("case", ["casestudy_prompt_test", "casestudy_seed"])
def test_notebook_04_prose_comes_from_the_table_it_audits(case, tmp_path) -> None:
    import papermill
    import yaml

    from abkit.core.paths import NOTEBOOKS_DIR

    spec = yaml.safe_load((Path(__file__).parents[1] / "papermill" / f"{case}.yaml").read_text())
    executed = tmp_path / "04.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "04_case_study_replication.ipynb"),
        str(executed),
        parameters={**spec["parameters"], "output_dir": str(tmp_path / "out")},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    prose = _prose(executed)
    found = [fragment for fragment in SEED_FRAGMENTS if fragment in prose]
    if case == "casestudy_seed":
        # the seed's own numbers are still said, generated from its table
        assert {"Llama", "6,200", "1,550", "3.45", "keep running", "full rollout"} <= set(found)
    else:
        assert found == [], found
        assert "prompt v2 vs v1" in prose and "4,000 vs 4,000" in prose
        assert "decision is **ship**" in prose
    images = [
        output
        for cell in nbformat.read(executed, as_version=4).cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= 1  # the audit figure
