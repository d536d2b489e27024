"""One analysis, one set of numbers: the CLI (text and JSON), the memo, notebook 03's tables and
its summary.json show the same value for the same quantity, formatted by one function."""

from __future__ import annotations

import html
import json
import math

import nbformat
import pytest
from kit_cli import abkit

from abkit.analysis.results import analyze
from abkit.core.formatting import format_p
from abkit.core.paths import DATA_DIR
from abkit.experiment.runs import new_experiment, run_experiment
from abkit.report.memo import health_table, memo_table

LOG = DATA_DIR / "example_custom_columns.parquet"
PLAN = DATA_DIR / "example_custom_plan.yaml"


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory) -> dict:
    """Every surface of one analysis (the custom plan: a primary, a secondary, a share
    guardrail and a P95 guardrail in seconds)."""
    folder = new_experiment("surfaces", tmp_path_factory.mktemp("exp"), log=LOG, plan=PLAN)
    done = run_experiment(folder, only=["03"], progress=False)
    executed = nbformat.read(done.runs[0].executed, as_version=4)
    outputs = [
        "".join(output.get("data", {}).get("text/plain", "")) + output.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]
    return {
        "result": analyze(LOG, plan=PLAN),
        "text": abkit("analyze", str(LOG), "--plan", str(PLAN)).stdout,
        "json": json.loads(abkit("analyze", str(LOG), "--plan", str(PLAN), "--json").stdout),
        "memo": done.memo.read_text(encoding="utf-8"),
        "summary": json.loads(done.runs[0].summary.read_text()),
        "notebook": "\n".join(outputs),
    }


def test_the_decision_p_is_the_same_everywhere(surfaces) -> None:
    result = surfaces["result"]
    table = result.table.set_index("metric")
    people = memo_table(result).set_index("metric")
    for record in surfaces["json"]["results"]:
        name = record["metric"]
        row = table.loc[name]
        want = {"guardrail": row["non_inferiority_p"]}.get(row["role"], row["p_adjusted"])
        if row["role"] in ("monitor", "check"):
            want = row["p_value"]
        assert record["decision_p"] == pytest.approx(want, rel=0, abs=0) or (
            record["decision_p"] is None and not math.isfinite(want)
        )
        summary = next(r for r in surfaces["summary"]["results"] if r["metric"] == name)
        assert summary["decision_p"] == record["decision_p"]
        assert summary["effect"] == record["effect"] and summary["ci_low"] == record["ci_low"]
        if name not in people.index:  # the rank-test check row is not a metric row
            continue
        shown = format_p(want)
        assert people.at[name, "p"] == shown
        line = next(li for li in surfaces["text"].splitlines() if li.strip().startswith(name))
        assert shown in line and people.at[name, "effect"] in line
        assert html.escape(shown) in surfaces["memo"]
        assert shown in surfaces["notebook"]


def test_a_guardrail_shows_its_non_inferiority_p_not_the_difference_test(surfaces) -> None:
    record = next(r for r in surfaces["json"]["results"] if r["metric"] == "response_p95")
    assert record["guardrail"] == "pass"
    assert record["decision_p"] == record["non_inferiority_p"] != record["p_value"]
    line = next(li for li in surfaces["text"].splitlines() if "response_p95" in li)
    assert format_p(record["non_inferiority_p"]) in line
    assert format_p(record["p_value"]) not in line
    assert "significant" not in line.lower().replace("significantly", "")


def test_units_come_from_the_plan_and_counts_are_integers(surfaces) -> None:
    result = surfaces["result"]
    assert result.table.set_index("metric").at["response_p95", "unit"] == "s"
    people = memo_table(result).set_index("metric")
    assert people.at["response_p95", "control"].endswith(" s")
    assert people.at["response_p95", "control"] in surfaces["text"]
    users = health_table(result).set_index("gate").loc["sample ratio"]
    assert users["control"] == f"{result.engine.users[0]:,}"
    assert users["treatment"] == f"{result.engine.users[1]:,}"
    assert f"{result.engine.users[0]:,}" in surfaces["notebook"]
    assert f"{float(result.engine.users[0]):.4f}" not in surfaces["notebook"]
    assert surfaces["summary"]["users"] == surfaces["json"]["users"]
    assert all(isinstance(v, int) for v in surfaces["summary"]["users"].values())


def test_the_seed_table_formats_unrounded_p_values(surfaces) -> None:
    """Rounded to 4 decimals first, p = 1.4e-5, 6.7e-9 and 2.5e-16 all became '< 1e-16'."""
    result = surfaces["result"]
    secondary = result.table.set_index("metric").at["resolution_rate", "decision_p"]
    assert 1e-16 < secondary < 1e-4
    assert format_p(secondary) == "2.5e-16"
    assert "2.5e-16" in surfaces["notebook"]


def test_the_latency_figure_is_labelled_in_the_plans_unit_and_no_blank_cuped_figure(
    surfaces,
) -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    from abkit.report import plots

    log = pd.DataFrame({"variant": ["control", "treatment"] * 50, "response_s": [1.5, 2.0] * 50})
    ax = plots.latency_plot(log, column="response_s", unit="s")
    assert "response_s (s, log scale)" in ax.get_xlabel()
    plt.close("all")
    assert "no metric of this plan declares a covariate" in surfaces["notebook"]


def test_length_control_findings_take_their_direction_from_the_sign() -> None:
    from abkit.judging.findings import length_effect_sentence

    assert "raises it by about 6 points" in length_effect_sentence(0.60, 0.66)
    assert "lowers it by about 6 points" in length_effect_sentence(0.66, 0.60)
