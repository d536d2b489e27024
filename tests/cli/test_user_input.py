"""Nothing a user types runs as code: experiment names through make and abkit, keys and values
of experiment.yaml. Each injection case asserts that its marker file was not created."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from kit_cli import abkit

from abkit.core.paths import KIT_ROOT
from abkit.experiment.runs import check_experiment_name, new_experiment, run_experiment

INJECTIONS = [
    "x; touch {marker}",
    "x`touch {marker}`",
    "x$(touch {marker})",
    "$(shell touch {marker})",
    "x && touch {marker}",
    "x\ntouch {marker}",
]


@pytest.mark.parametrize("template", INJECTIONS)
@pytest.mark.parametrize("target", ["new", "run"])
def test_make_never_runs_an_experiment_name(tmp_path, template, target) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    marker = tmp_path / "ran"
    name = template.format(marker=marker)
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(KIT_ROOT), target, f"EXP={name}"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        timeout=120,
    )
    assert not marker.exists(), f"{target} ran the name as a command: {done.stdout}{done.stderr}"
    assert done.returncode != 0
    assert "must be 1 to 64 letters" in done.stderr or "usage" in done.stderr


@pytest.mark.parametrize(
    "name", ["x; touch f", "a" * 65, "a" * 300, "../up", ".hidden", "", "x y", "é"]
)
def test_experiment_names_outside_the_pattern_are_refused(name) -> None:
    with pytest.raises(ValueError, match="must be 1 to 64 letters"):
        check_experiment_name(name)
    done = abkit("new", name)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    done = abkit("run", "--exp", name)
    assert done.returncode == 2 and "must be 1 to 64 letters" in done.stderr


def _experiment_with(tmp_path: Path, replace: dict[str, str]) -> Path:
    """A new experiment whose experiment.yaml has some lines replaced."""
    folder = new_experiment("inj", tmp_path)
    text = (folder / "experiment.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (folder / "experiment.yaml").write_text(text)
    return folder


def test_keys_of_experiment_yaml_never_run(tmp_path) -> None:
    """Only the experiment file's path reaches papermill; its keys are read as data and an
    unknown one is refused before any notebook runs."""
    marker = tmp_path / "ran"
    evil = f"__import__('os').system('touch {marker}'); x"
    folder = _experiment_with(tmp_path, {"  baseline: 0.75": f"  baseline: 0.75\n  {evil!r}: 1"})
    with pytest.raises(ValueError, match=r"design: unknown key\(s\)"):
        run_experiment(folder, progress=False)
    assert not marker.exists()
    assert not (folder / "reports").exists()  # refused before any notebook ran
    done = abkit("run", str(folder))
    assert done.returncode == 2 and "unknown key(s)" in done.stderr
    assert not marker.exists()


def test_yaml_object_tags_and_non_data_values_are_refused(tmp_path) -> None:
    folder = new_experiment("tags", tmp_path)
    path = folder / "experiment.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("  baseline: 0.75", "  baseline: !!python/object/apply:os.system ['true']")
    )
    done = abkit("run", str(folder))
    assert done.returncode == 2 and "not valid YAML" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1
    path.write_text(text.replace("  baseline: 0.75", "  baseline: 2026-01-05"))
    done = abkit("run", str(folder))
    assert done.returncode == 2 and "design baseline == datetime.date(2026, 1, 5)" in done.stderr
    path.write_bytes(text.replace("name: tags", "name: caf\xe9").encode("latin-1"))
    done = abkit("run", str(folder))
    assert done.returncode == 2 and "is not UTF-8 text" in done.stderr


def _bad_files(folder: Path) -> dict[str, Path]:
    from abkit.core.paths import DATA_DIR

    files = {
        "truncated Parquet": folder / "trunc.parquet",
        "not a DuckDB database": folder / "notdb.duckdb",
        "0-byte CSV": folder / "empty.csv",
        "empty folder": folder / "emptydir",
        "Latin-1 CSV": folder / "latin.csv",
    }
    files["truncated Parquet"].write_bytes(
        (DATA_DIR / "example_dialogs.parquet").read_bytes()[:20000]
    )
    files["not a DuckDB database"].write_text("hello\n")
    files["0-byte CSV"].write_bytes(b"")
    files["empty folder"].mkdir()
    files["Latin-1 CSV"].write_bytes(
        b"dialog_id,user_id,variant,timestamp,completed,note\n"
        b"d1,u1,control,2026-01-05,1,caf\xe9\nd2,u2,treatment,2026-01-05,1,x\n"
    )
    return files


EXPECTED = {
    "truncated Parquet": "cannot be read: Invalid Input Error: No magic bytes",
    "not a DuckDB database": "is not a readable DuckDB database",
    "0-byte CSV": "is empty (0 bytes)",
    "empty folder": "a folder with no .parquet files",
    "Latin-1 CSV": "is not UTF-8 text: re-save it as UTF-8",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_unreadable_logs_end_in_one_line_and_exit_2(tmp_path, case) -> None:
    path = _bad_files(tmp_path)[case]
    done = abkit("analyze", str(path), "--split", "0.5")
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and EXPECTED[case] in done.stderr, done.stderr
    assert f"'{path}'" in done.stderr or f"'{path.name}'" in done.stderr


def test_debug_shows_the_traceback(tmp_path) -> None:
    path = _bad_files(tmp_path)["0-byte CSV"]
    with pytest.raises(ValueError, match="is empty"):
        from abkit.cli.main import main

        main(["--debug", "analyze", str(path), "--split", "0.5"])


def test_design_metric_choices_are_the_design_methods() -> None:
    from abkit.cli.design import DESIGN_METRICS
    from abkit.design.sample_size import METHODS

    assert DESIGN_METRICS == tuple(METHODS)


def test_a_stopped_run_is_one_line_without_kernel_noise(tmp_path) -> None:
    from kit_cli import ABKIT

    folder = _experiment_with(tmp_path, {"  baseline: 0.75": "  baseline: 1.2"})
    done = subprocess.run([ABKIT, "run", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "running 01_design_sample_size.ipynb ... stopped" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    failed = next((folder / "reports").glob("failed-*"))
    assert lines == [
        "abkit run: error: 01_design_sample_size.ipynb stopped: ValueError: baseline == 1.2, "
        "must be in (0, 1) (the executed copy, with the traceback, is "
        f"{failed / '01_design_sample_size' / '01_design_sample_size.ipynb'})"
    ], done.stderr
    assert "TCP" not in done.stderr + done.stdout
    assert "KeyboardInterrupt" not in done.stderr + done.stdout


def test_csv_dialects_decimal_commas_and_make_lab(tmp_path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text(
        "dialog_id;user_id;variant;timestamp;csat\n"
        + "".join(
            f"d{i};u{i};{'control' if i % 2 else 'treatment'};2026-01-05;{1 + i % 5}\n"
            for i in range(40)
        )
    )
    done = abkit("analyze", str(semi), "--split", "0.5", "--metrics", "csat", "--primary", "csat")
    assert done.returncode == 0, done.stderr  # the ';' dialect is sniffed
    from abkit.experiment.settings import AnalysisSettings

    # notebook 03 reads it with the same reader (its parameter check accepts it)
    AnalysisSettings(events_path=str(semi), metrics=["csat"], primary="csat", split=0.5)
    comma = tmp_path / "comma.csv"
    comma.write_text(
        "dialog_id;user_id;variant;timestamp;csat\nd1;u1;control;2026-01-05;4,5\n"
        "d2;u2;treatment;2026-01-05;3,5\n"
    )
    done = abkit("analyze", str(comma), "--split", "0.5", "--metrics", "csat", "--primary", "csat")
    assert done.returncode == 2 and "use a decimal comma" in done.stderr
    if shutil.which("make"):
        shown = subprocess.run(
            ["make", "-n", "--no-print-directory", "-C", str(KIT_ROOT), "lab", "ARGS=--port 8890"],
            capture_output=True,
            text=True,
        ).stdout
        assert f'--notebook-dir="{KIT_ROOT}"' in shown and "--allow-root" in shown
        assert "$ARGS" in shown  # passed on from the environment, as data


def test_execute_checks_p_and_f_names_before_running(tmp_path) -> None:
    marker = tmp_path / "ran"
    evil = f"__import__('os').system('touch {marker}'); y"
    reports = tmp_path / "reports"
    done = abkit("execute", "01_design_sample_size", "-p", evil, "1", "--reports", str(reports))
    assert done.returncode == 2 and "is not a parameter of this notebook" in done.stderr
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({evil: 1}))
    done = abkit("execute", "01_design_sample_size", "-f", str(params), "--reports", str(reports))
    assert done.returncode == 2 and "is not a parameter of this notebook" in done.stderr
    assert not marker.exists() and not list(reports.rglob("*.ipynb"))
    done = abkit("execute", "no_such_notebook")
    assert done.returncode == 2 and "no such template; choose from" in done.stderr


def test_execute_runs_a_template_with_checked_values(tmp_path) -> None:
    import json

    reports = tmp_path / "reports"
    done = abkit(
        "execute", "01_design_sample_size", "-p", "cuped_rho", "0.7", "--reports", str(reports)
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((reports / "01_design_sample_size" / "summary.json").read_text())
    assert summary["cuped"]["with CUPED (task_completion)"]["n_total"] == 1775


def test_what_a_kernel_prints_on_its_own_stderr_goes_to_its_log(tmp_path, capfd) -> None:
    """Kernel shutdown noise (tornado / ZMQ tracebacks) is written to the kernel's own fd 2,
    outside any cell output: it must not reach the CLI's stderr, and is kept beside the copy."""
    import nbformat

    from abkit.experiment.runs import _execute, _kernel_environment

    _kernel_environment()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import os\nos.write(2, b'kernel noise\\n')")]
    source = tmp_path / "noise.ipynb"
    nbformat.write(notebook, source)
    (tmp_path / "out").mkdir()
    _execute(source, tmp_path / "out" / "noise.ipynb", {}, progress_bar=False)
    assert "kernel noise" not in capfd.readouterr().err
    # the kernel may add lines of its own there (start-up warnings, shutdown tracebacks)
    assert "kernel noise\n" in (tmp_path / "out" / "noise.kernel.log").read_text()
