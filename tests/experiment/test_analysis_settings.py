"""Notebook 03's settings and `abkit analyze`: the three scenarios decide as they should, a log
with other column names maps, a log that fails validation stops at the validation cell."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import papermill  # noqa: E402
import pytest  # noqa: E402
from kit_cli import abkit  # noqa: E402

from abkit.analysis.log_source import read_log
from abkit.analysis.results import (
    analyze,  # noqa: E402
    cumulative_effects,  # noqa: E402
)
from abkit.core.paths import DATA_DIR, NOTEBOOKS_DIR  # noqa: E402
from abkit.experiment.settings import choose_metrics  # noqa: E402
from abkit.plan.experiment_plan import ExperimentPlan  # noqa: E402
from abkit.report import plots  # noqa: E402
from abkit.serve.events import write_log

NOTEBOOK = NOTEBOOKS_DIR / "03_significance_analysis.ipynb"


@pytest.mark.parametrize(
    ("log", "verdict"),
    [
        ("example_dialogs", "ship"),
        ("scenario_guardrail_breach", "don't ship"),
        ("scenario_srm", "invalid"),
    ],
)
def test_cli_scenarios(log: str, verdict: str) -> None:
    done = abkit("analyze", str(DATA_DIR / f"{log}.parquet"), "--split", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["decision"]["verdict"] == verdict
    first = payload["results"][0]
    for key in (
        "metric",
        "control",
        "treatment",
        "effect",
        "ci_low",
        "ci_high",
        "p_value",
        "p_adjusted",
        "significant",
        "method",
    ):
        assert key in first
    text = abkit("analyze", str(DATA_DIR / f"{log}.parquet"), "--split", "0.2")
    assert verdict.upper() in text.stdout


def test_cli_duckdb_table_and_bad_input(tmp_path) -> None:
    path = write_log(
        read_log(DATA_DIR / "example_dialogs.parquet"), tmp_path / "log.duckdb", table="runs"
    )
    done = abkit(
        "analyze",
        str(path),
        "--table",
        "runs",
        "--split",
        "0.2",
        "--metrics",
        "task_completion",
        "--json",
    )
    assert json.loads(done.stdout)["results"][0]["metric"] == "task_completion"
    wrong = abkit("analyze", str(path), "--split", "0.2")
    assert wrong.returncode == 2 and "table == 'dialogs' not in" in wrong.stderr
    missing = abkit("analyze", str(DATA_DIR / "example_dialogs.parquet"))
    assert missing.returncode == 2 and "--split" in missing.stderr


def test_choose_metrics_applies_margins() -> None:
    columns = read_log(DATA_DIR / "example_dialogs.parquet").columns
    chosen = choose_metrics(["task_completion", "turns"], {"turns": 0.5}, list(columns))
    assert [m.role for m in chosen] == ["primary", "guardrail"] and chosen[1].margin == 0.5
    with pytest.raises(ValueError, match=r"guardrail_margins names \['csat'\]"):
        choose_metrics(["task_completion"], {"csat": 0.1}, list(columns))


def test_cumulative_effect_ends_at_the_full_analysis() -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet")
    over_time = cumulative_effects(log, ExperimentPlan(split=0.2), "task_completion")
    full = analyze(log, split=0.2).table.iloc[0]
    assert len(over_time) == 14
    assert over_time["effect"].iloc[-1] == pytest.approx(full["effect"])
    assert (np.diff(over_time["ci_high"] - over_time["ci_low"])[3:] < 0.01).all()
    # each day is the analysis of the rows through that day (the checks of the whole log hold
    # for them, so they are not run again)
    for day in over_time["day"].iloc[[0, 6]]:
        look = analyze(log, split=0.2, until=str(day.date())).table.iloc[0]
        row = over_time.set_index("day").loc[day]
        for key in ("effect", "ci_low", "ci_high", "p_value"):
            assert row[key] == pytest.approx(look[key], rel=1e-12), (day, key)


def test_plots_draw_from_the_tables() -> None:
    log = read_log(DATA_DIR / "example_dialogs.parquet")
    result = analyze(log, split=0.2)
    axes = plots.forest_plot(result.table)
    drawn = [label.get_text().split(" (")[0] for ax in axes for label in ax.get_yticklabels()]
    assert set(drawn) == set(result.table.loc[result.table["role"] != "check", "metric"])
    latency = plots.latency_plot(log)
    assert latency.get_xscale() == "log" and "ms" in latency.get_xlabel()
    low, high = latency.get_xlim()
    ticks = [t for t in latency.get_xticks() if low <= t <= high]
    assert len(ticks) >= 4  # 1-2-5 steps, not one 10^3 tick
    assert latency.get_legend() is not None
    assert len(plots.srm_plot({"log": result.srm.table}).patches) >= 2


def _run(tmp_path, **parameters):
    executed = tmp_path / "run.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        kernel_name="python3",
        parameters={**parameters, "output_dir": str(tmp_path / "out")},
        progress_bar=False,
        execution_timeout=600,
        cwd=str(tmp_path),
    )
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_notebook_maps_a_log_with_other_column_names(tmp_path) -> None:
    theirs = read_log(DATA_DIR / "example_dialogs.parquet").rename(
        columns={"user_id": "customer", "variant": "arm", "dialog_id": "conversation"}
    )
    theirs["arm"] = theirs["arm"].map({"control": "v1", "treatment": "v2"})
    path = write_log(theirs, tmp_path / "theirs.csv")
    summary = _run(
        tmp_path,
        events_path=str(path),
        control="v1",
        treatment="v2",
        column_map={"customer": "user_id", "arm": "variant", "conversation": "dialog_id"},
    )
    assert summary["decision"]["verdict"] == "ship"
    assert summary["plan"]["treatment"] == "v2"


def test_notebook_stops_at_validation_with_the_reason(tmp_path) -> None:
    broken = read_log(DATA_DIR / "example_dialogs.parquet")
    broken.loc[:4, "user_id"] = None
    path = write_log(broken, tmp_path / "broken.parquet")
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        _run(tmp_path, events_path=str(path))
    assert "column 'user_id' has 5 null value(s)" in str(raised.value)
    cells = nbformat.read(tmp_path / "run.ipynb", as_version=4).cells
    failed = [
        c
        for c in cells
        if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)
    ]
    assert len(failed) == 1 and "notebook_settings(" in failed[0].source
