"""Per-experiment copies (``abkit new``) and runs with their params.yaml (``abkit run``)."""

from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from abkit.experiments import (
    new_experiment,
    read_params_file,
    run_experiment,
    strip_noisy_metadata,
    template_defaults,
    template_paths,
)


def test_new_experiment_copies_templates_with_their_defaults(tmp_path) -> None:
    folder = new_experiment("support-bot-v2", tmp_path)
    templates = template_paths()
    assert sorted(path.name for path in template_paths(folder)) == [t.name for t in templates]
    params = yaml.safe_load((folder / "params.yaml").read_text())
    for template in templates:
        expected = template_defaults(template)
        expected["output_dir"] = str(folder / "reports" / template.stem)
        assert params[template.stem] == expected


def test_new_experiment_refuses_bad_names_and_existing_folders(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"experiment name == '../x', must be 1 to 64 letters"):
        new_experiment("../x", tmp_path)
    new_experiment("a", tmp_path)
    with pytest.raises(ValueError, match=r"exists already"):
        new_experiment("a", tmp_path)


def test_run_experiment_uses_its_params_file(tmp_path) -> None:
    folder = new_experiment("even", tmp_path)
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["01_design_sample_size"]["split"] = 0.5
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    runs = run_experiment(folder, progress=False)
    design_run = next(run for run in runs if run.notebook.stem == "01_design_sample_size")
    assert design_run.executed.exists() and design_run.html.exists()
    assert "<html" in design_run.html.read_text()[:500].lower()
    summary = json.loads(design_run.summary.read_text())
    # 50/50: ceil(R power.prop.test(p1 = .75, p2 = .80, power = .8)$n = 1093.74)
    assert summary["methods"]["pooled"]["n_control"] == 1094
    assert design_run.summary.parent == folder / "reports" / "01_design_sample_size"


def test_params_file_with_an_unknown_section_is_refused(tmp_path) -> None:
    folder = new_experiment("typo", tmp_path)
    (folder / "params.yaml").write_text("01_desing_sample_size:\n  split: 0.5\n")
    with pytest.raises(ValueError, match=r"section '01_desing_sample_size' names no notebook"):
        read_params_file(folder / "params.yaml", template_paths(folder))


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
