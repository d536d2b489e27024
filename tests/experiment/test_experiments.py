"""The experiment folder: ``abkit new`` writes experiment.yaml beside the notebooks that read it;
every surface (the CLI, the notebooks run as JupyterLab runs them, ``abkit run``) reads it; runs
appear only when complete and never two at once."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from kit_cli import abkit

from abkit.core.paths import DATA_DIR, KIT_ROOT
from abkit.experiment import runs as experiments
from abkit.experiment.file import (
    EXPERIMENT_FILE,
    field_defaults,
    find_experiment,
    read_experiment,
    with_experiment,
)
from abkit.experiment.runs import (
    experiment_templates,
    new_experiment,
    run_experiment,
    strip_noisy_metadata,
    template_defaults,
)
from abkit.plan.experiment_plan import load_plan, read_plan_spec

JUPYTER = shutil.which("jupyter", path=str(Path(sys.executable).parent))
CUSTOM_LOG = DATA_DIR / "example_custom_columns.parquet"
CUSTOM_PLAN = DATA_DIR / "example_custom_plan.yaml"


def run_like_lab(folder: Path, notebook: str) -> subprocess.CompletedProcess:
    """Execute a copied notebook as JupyterLab does: from its own folder, no parameters."""
    return subprocess.run(
        [
            JUPYTER,
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            notebook,
            "--output",
            f"ran-{notebook}",
            "--ExecutePreprocessor.timeout=600",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )


def test_new_writes_one_commented_file_and_the_notebooks_that_read_it(tmp_path) -> None:
    log = tmp_path / "logs" / "mine.parquet"
    log.parent.mkdir()
    shutil.copy(CUSTOM_LOG, log)
    folder = new_experiment("support-bot-v2", tmp_path, log=log, plan=CUSTOM_PLAN)
    names = sorted(path.name for path in folder.glob("*.ipynb"))
    assert names == [
        "01_design_sample_size.ipynb",
        "02_routing_simulation.ipynb",
        "03_significance_analysis.ipynb",
        "05_judge_evaluation.ipynb",
    ]
    assert [t.name for t in experiment_templates()] == names
    text = (folder / EXPERIMENT_FILE).read_text()
    lines = text.splitlines()
    # every key is preceded by a comment saying what it means
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "-")) and line.startswith("  "):
            assert lines[number - 1].strip().startswith("#"), line
    experiment = read_experiment(folder)
    assert experiment.inputs.log == str(log.resolve())  # outside the folder: absolute
    assert load_plan(experiment.plan) == load_plan(read_plan_spec(CUSTOM_PLAN))
    assert yaml.safe_load(text)["inputs"]["log"] == str(log.resolve())


def test_a_log_path_in_the_file_is_read_relative_to_its_folder(tmp_path) -> None:
    made = new_experiment("e1", tmp_path)
    shutil.copy(CUSTOM_LOG, made / "log.parquet")
    text = (made / EXPERIMENT_FILE).read_text().replace("  log: ''", "  log: log.parquet")
    (made / EXPERIMENT_FILE).write_text(text)
    assert read_experiment(made).inputs.log == str((made / "log.parquet").resolve())


def test_new_refuses_bad_names_existing_folders_and_missing_files(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"experiment name == '../x', must be 1 to 64 letters"):
        new_experiment("../x", tmp_path)
    new_experiment("a", tmp_path)
    with pytest.raises(ValueError, match=r"exists already"):
        new_experiment("a", tmp_path)
    with pytest.raises(ValueError, match=r"log == '.*nope.parquet': no such file"):
        new_experiment("b", tmp_path, log=tmp_path / "nope.parquet")
    assert not (tmp_path / "b").exists()


def test_experiment_file_errors_name_the_key(tmp_path) -> None:
    folder = new_experiment("bad", tmp_path)
    path = folder / EXPERIMENT_FILE
    text = path.read_text()
    cases = {
        text.replace("  split: 0.5\n", ""): "plan: has no split",
        text.replace("  log: ''", "  log: missing.parquet"): r"inputs log == 'missing.parquet'",
        text.replace("  baseline: 0.75", "  baseline: '0.75'"): r"design baseline == '0.75'",
        text + "extra: 1\n": r"unknown key\(s\) \['extra'\]",
        text.replace("  mde: 0.05", "  mde: 0.05\n  mde: 0.1"): "key 'mde' is written twice",
        text.replace(
            "  table: dialogs", "  table: dialogs\n  tabel: x"
        ): r"unknown key\(s\) \['tabel'\]",
    }
    for content, message in cases.items():
        path.write_text(content)
        with pytest.raises((ValueError, TypeError), match=message):
            read_experiment(folder)


def test_cli_analyze_and_design_read_the_experiment_file(tmp_path) -> None:
    folder = new_experiment("cli", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    path = folder / EXPERIMENT_FILE
    from_file = json.loads(abkit("analyze", "--plan", str(path), "--json").stdout)
    direct = json.loads(
        abkit("analyze", str(CUSTOM_LOG), "--plan", str(CUSTOM_PLAN), "--json").stdout
    )
    assert from_file["results"] == direct["results"]
    design = abkit("design", "--plan", str(path), "--json")
    assert design.returncode == 0, design.stderr
    given = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--split", "0.2", "--json")
    assert json.loads(design.stdout) == json.loads(given.stdout)
    empty = new_experiment("nolog", tmp_path)
    done = abkit("analyze", "--plan", str(empty / EXPERIMENT_FILE))
    assert done.returncode == 2 and "names no log (inputs: log: '')" in done.stderr


def test_template_defaults_never_apply_in_an_experiment_folder(tmp_path) -> None:
    folder = new_experiment("empty", tmp_path)
    values = template_defaults(KIT_ROOT / "notebooks" / "03_significance_analysis.ipynb")
    from abkit.experiment.settings import AnalysisSettings

    with pytest.raises(ValueError, match=r"inputs log == '': this experiment names no dialog log"):
        with_experiment(values, AnalysisSettings, here=folder)
    # outside an experiment folder the template keeps its example
    assert with_experiment(values, AnalysisSettings, here=tmp_path) == values
    # an older folder (params.yaml, no experiment.yaml) is told how to convert
    old = tmp_path / "old"
    old.mkdir()
    (old / "params.yaml").write_text("01_design_sample_size:\n  split: 0.5\n")
    with pytest.raises(ValueError, match=r"abkit new NEW_NAME --from .*params.yaml"):
        find_experiment("", old)


def test_a_parameter_that_contradicts_the_file_is_an_error(tmp_path) -> None:
    from abkit.experiment.settings import AnalysisSettings

    folder = new_experiment("clash", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    values = template_defaults(KIT_ROOT / "notebooks" / "03_significance_analysis.ipynb")
    merged = with_experiment({**values, "experiment": str(folder)}, AnalysisSettings)
    settings = AnalysisSettings(**merged)
    assert settings.experiment_plan().split == 0.2
    assert settings.output_dir == str(folder / "reports" / "lab" / "03_significance_analysis")
    clash = {**values, "experiment": str(folder), "split": 0.5}
    with pytest.raises(ValueError, match=r"split == 0.5 \(parameter\) but .* says 0.2"):
        AnalysisSettings(**with_experiment(clash, AnalysisSettings))


@pytest.mark.skipif(JUPYTER is None, reason="jupyter is not installed")
def test_copied_notebooks_run_as_lab_runs_them_give_the_cli_numbers(tmp_path) -> None:
    folder = new_experiment("lab", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    text = (folder / EXPERIMENT_FILE).read_text()
    judgments = DATA_DIR / "example_pairwise_judgments.csv"
    (folder / EXPERIMENT_FILE).write_text(
        text.replace("  judgments: ''", f"  judgments: {judgments}")
    )
    for notebook in ("01_design_sample_size", "03_significance_analysis", "05_judge_evaluation"):
        done = run_like_lab(folder, f"{notebook}.ipynb")
        assert done.returncode == 0, done.stderr[-3000:]
    lab = folder / "reports" / "lab"
    analysis = json.loads((lab / "03_significance_analysis" / "summary.json").read_text())
    cli = json.loads(abkit("analyze", "--plan", str(folder / EXPERIMENT_FILE), "--json").stdout)
    for got, want in zip(analysis["results"], cli["results"], strict=True):
        for key in ("metric", "effect", "ci_low", "ci_high", "p_value", "decision_p", "guardrail"):
            assert got[key] == want[key], (got["metric"], key)
    assert analysis["decision"] == cli["decision"]
    assert analysis["users"] == cli["users"]
    design = json.loads((lab / "01_design_sample_size" / "summary.json").read_text())
    cli_design = json.loads(
        abkit("design", "--plan", str(folder / EXPERIMENT_FILE), "--json").stdout
    )
    assert design["methods"]["pooled"]["n_control"] == cli_design["pooled"]["n_control"]
    assert design["parameters"]["split"] == 0.2  # the plan's, not the template's default
    judge = json.loads((lab / "05_judge_evaluation" / "summary.json").read_text())
    from abkit import judging

    pairs = judging.read_judgments(judgments, "judgments")
    swap = judging.swap_report(pairs, alpha=0.05)
    assert judge["swap"] == json.loads(json.dumps(vars(swap)))
    assert judge["ppi"] is None and judge["graded"] is None  # none named: none used
    assert judge["parameters"]["true_effect"] is None  # the example's true effect is not used
    # nothing went to the kit's own reports/
    assert not (KIT_ROOT / "reports" / "lab").exists()


@pytest.mark.skipif(JUPYTER is None, reason="jupyter is not installed")
def test_a_copied_notebook_without_a_log_stops_at_its_parameter_check(tmp_path) -> None:
    folder = new_experiment("nolog", tmp_path)
    done = run_like_lab(folder, "03_significance_analysis.ipynb")
    assert done.returncode != 0
    assert "this experiment names no dialog log" in done.stderr
    assert not (folder / "reports").exists()


def test_run_writes_a_fresh_complete_folder_and_prints_the_memo(tmp_path, capsys) -> None:
    folder = new_experiment("runs", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    done = run_experiment(folder, progress=False)
    assert [run.notebook.stem for run in done.runs] == [
        "01_design_sample_size",
        "03_significance_analysis",
    ]
    assert done.folder.parent == folder / "reports" and done.memo is not None
    for run in done.runs:
        assert run.executed.is_file() and run.html.is_file() and run.summary.is_file()
    assert (folder / "reports" / "latest").resolve() == done.folder.resolve()
    summary = json.loads((done.folder / "01_design_sample_size" / "summary.json").read_text())
    # R: power.prop.test(p1 = .75, p2 = .80, power = .8) at 80/20 -> pooled n_control 2783
    assert summary["methods"]["pooled"]["n_control"] == 2783
    only = run_experiment(folder, only=["01"], progress=False)
    assert [run.notebook.stem for run in only.runs] == ["01_design_sample_size"]
    assert only.folder != done.folder  # a second run never overwrites the first
    cli = abkit("run", str(folder), "--only", "03")
    assert cli.returncode == 0, cli.stderr
    assert "memo: " in cli.stdout and "memo.html" in cli.stdout
    with pytest.raises(ValueError, match=r"--only 05: .* names no inputs judgments"):
        run_experiment(folder, only=["05"], progress=False)


def test_a_failed_or_interrupted_run_leaves_no_report_that_looks_complete(
    tmp_path, monkeypatch
) -> None:
    folder = new_experiment("stop", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    first = run_experiment(folder, only=["01"], progress=False)
    text = (folder / EXPERIMENT_FILE).read_text()
    (folder / EXPERIMENT_FILE).write_text(text.replace("  baseline: 0.75", "  baseline: 1.2"))
    with pytest.raises(ValueError, match=r"baseline == 1.2, must be in \(0, 1\)"):
        run_experiment(folder, progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_notebooks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(folder, progress=False)
    reports = sorted(p.name for p in (folder / "reports").iterdir())
    complete = [n for n in reports if n[0].isdigit()]
    assert complete == [first.folder.name]  # only the run that finished
    assert len([n for n in reports if n.startswith("failed-")]) == 2
    assert (folder / "reports" / "latest").resolve() == first.folder.resolve()


def test_a_second_run_while_one_runs_is_refused(tmp_path) -> None:
    folder = new_experiment("busy", tmp_path, log=CUSTOM_LOG)
    with (folder / ".run.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        done = abkit("run", str(folder))
    assert done.returncode == 2
    assert "another 'abkit run' of" in done.stderr and "pid 4242" in done.stderr
    assert not (folder / "reports").exists() or not any((folder / "reports").iterdir())


def test_an_older_params_folder_is_converted(tmp_path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "01_design_sample_size": {"baseline": 0.6, "mde": 0.03},
                "03_significance_analysis": {
                    "events_path": str(CUSTOM_LOG),
                    "plan_file": str(CUSTOM_PLAN),
                    "experiment": "support-bot-v2",
                },
                "05_judge_evaluation": {"judge_column": "judge_helpful"},
            }
        )
    )
    done = abkit("run", str(old))
    assert (
        done.returncode == 2 and f"abkit new NEW_NAME --from {old / 'params.yaml'}" in done.stderr
    )
    converted = new_experiment("new", tmp_path, from_params=old / "params.yaml")
    experiment = read_experiment(converted)
    assert experiment.inputs.log == str(CUSTOM_LOG)
    assert experiment.inputs.judgments == ""  # the template's example is not carried over
    assert experiment.design.baseline == 0.6 and experiment.design.mde == 0.03
    plan = load_plan(experiment.plan).resolve(
        ["user_id", "satisfaction", "completed", "refused", "response_s"]
    )
    assert [m.name for m in plan.metrics] == [
        "satisfaction",
        "resolution_rate",
        "refusal_rate",
        "response_p95",
    ]
    assert plan.split == 0.2 and plan.experiment == "support-bot-v2"


def test_strip_noisy_metadata_keeps_outputs(tmp_path) -> None:
    document = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    document.cells[0].outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)
    ]
    document.cells[0].execution_count = 1
    document.cells[0].metadata["papermill"] = {"duration": 0.1}
    document.cells[0].metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    document.metadata["papermill"] = {"parameters": {}}
    document.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    path = tmp_path / "n.ipynb"
    nbformat.write(document, path)
    strip_noisy_metadata(path)
    stripped = nbformat.read(path, as_version=4)
    assert "papermill" not in stripped.metadata
    assert stripped.metadata["language_info"] == {"name": "python"}
    assert stripped.cells[0].metadata == {}
    assert stripped.cells[0].outputs[0]["data"]["text/plain"] == "2"
    assert stripped.cells[0].execution_count == 1


@pytest.mark.parametrize("template", experiment_templates(), ids=lambda path: path.stem)
def test_settings_defaults_are_the_templates_defaults(template) -> None:
    """An experiment's values replace a parameter only where it is at its template default,
    so each settings class must know the template's defaults exactly."""
    from abkit.experiment.file import field_defaults
    from abkit.experiment.settings import (
        AnalysisSettings,
        DesignSettings,
        JudgeEvaluationSettings,
        RoutingSettings,
    )

    kinds = {
        "01_design_sample_size": DesignSettings,
        "02_routing_simulation": RoutingSettings,
        "03_significance_analysis": AnalysisSettings,
        "05_judge_evaluation": JudgeEvaluationSettings,
    }
    assert field_defaults(kinds[template.stem]) == template_defaults(template)


def test_the_looks_of_a_sequential_plan_belong_to_the_experiment_not_to_a_run(tmp_path) -> None:
    """abkit run writes each run into a fresh folder: a looks.json there would restart the
    looks at 1 on every run (spending α again)."""
    from abkit.experiment.settings import AnalysisSettings

    folder = new_experiment("seq", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    values = template_defaults(KIT_ROOT / "notebooks" / "03_significance_analysis.ipynb")
    run_dir = tmp_path / "some-run"
    merged = with_experiment(
        {**values, "experiment": str(folder), "output_dir": str(run_dir)}, AnalysisSettings
    )
    assert merged["looks_file"] == str(folder.resolve() / "looks.json")
    assert merged["output_dir"] == str(run_dir)


def test_the_design_section_has_notebook_01s_names_and_defaults() -> None:
    """experiment.yaml's design: section is notebook 01's assumptions: the same names and
    defaults, so a value left as written means what the notebook's default means."""
    from abkit.experiment.file import DesignAssumptions, field_defaults
    from abkit.experiment.settings import DesignSettings

    design, notebook = field_defaults(DesignAssumptions), field_defaults(DesignSettings)
    assert {name: notebook[name] for name in design} == design


def test_notebooks_01_02_and_05_take_their_values_from_the_file(tmp_path) -> None:
    from abkit.experiment.settings import DesignSettings, JudgeEvaluationSettings, RoutingSettings

    folder = new_experiment("values", tmp_path, log=CUSTOM_LOG, plan=CUSTOM_PLAN)
    text = (folder / EXPERIMENT_FILE).read_text()
    judgments = DATA_DIR / "example_pairwise_judgments.csv"
    text = text.replace("  judgments: ''", f"  judgments: {judgments}")
    (folder / EXPERIMENT_FILE).write_text(text.replace("  baseline: 0.75", "  baseline: 0.6"))
    given = {"experiment": str(folder)}
    routing = with_experiment({**field_defaults(RoutingSettings), **given}, RoutingSettings)
    assert (routing["experiment_id"], routing["split"]) == ("support-bot-v2", 0.2)
    design = DesignSettings(
        **with_experiment({**field_defaults(DesignSettings), **given}, DesignSettings)
    )
    assert (design.baseline, design.split) == (0.6, 0.2)
    judge = with_experiment(
        {**field_defaults(JudgeEvaluationSettings), **given}, JudgeEvaluationSettings
    )
    assert judge["pairwise_file"] == str(judgments) and judge["grades_file"] == ""
    assert judge["judged_log"] == "" and judge["true_effect"] is None
