"""Templates, per-experiment copies, and runs with papermill (``make run``, ``abkit run``).

A template is a notebook ``notebooks/NN_name.ipynb``. ``new_experiment`` writes
``experiments/<name>/experiment.yaml`` (:mod:`abkit.experiment.file`) beside a copy of every
template that reads it; ``run_experiment`` runs them into a fresh reports folder that appears
only when the run succeeded; ``run_notebooks`` executes notebooks with papermill, each beside
its HTML export and the ``summary.json`` the notebook writes.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from abkit.core.paths import EXPERIMENTS_DIR, KIT_ROOT, NOTEBOOKS_DIR, REPORTS_DIR, in_kit
from abkit.experiment.file import EXPERIMENT_FILE

__all__ = [
    "PARAMS_FILE",
    "ExperimentRun",
    "NotebookRun",
    "experiment_folder",
    "experiment_templates",
    "check_experiment_name",
    "check_parameters",
    "new_experiment",
    "read_params_file",
    "refresh_templates",
    "run_experiment",
    "run_notebooks",
    "run_templates",
    "strip_noisy_metadata",
    "template_defaults",
    "template_paths",
]

PARAMS_FILE = "params.yaml"  # an older abkit's per-notebook parameters (converted by new --from)
KERNEL = "python3"
EXECUTION_TIMEOUT_S = 1800
_TEMPLATE_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
# An experiment name is a folder name: letters, digits, '.', '_', '-', at most 64 characters.
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE_SCALARS = (str, int, float, bool, type(None))


def template_paths(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The templates in ``directory`` (``NN_name.ipynb``), in their numbered order."""
    return sorted(path for path in directory.glob("*.ipynb") if _TEMPLATE_NAME.match(path.name))


def template_defaults(notebook: Path) -> dict[str, Any]:
    """A template's parameters and their default values, read by ``papermill.inspect_notebook``."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    return {name: ast.literal_eval(spec["default"]) for name, spec in declared.items()}


def check_experiment_name(name: object) -> str:
    """An experiment name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or
    digit (a folder name that no shell or file system reads as anything else).

    Examples:
        >>> check_experiment_name("support-bot-v2")
        'support-bot-v2'
        >>> check_experiment_name("x; touch f")
        Traceback (most recent call last):
        ...
        ValueError: experiment name == 'x; touch f', must be 1 to 64 letters, digits, ...
    """
    if not isinstance(name, str) or not _EXPERIMENT_NAME.match(name):
        shown = name if not isinstance(name, str) or len(name) <= 80 else name[:77] + "..."
        raise ValueError(
            f"experiment name == {shown!r}, must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_parameters(
    values: Mapping[str, Any], declared: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Parameters for papermill: declared names only, plain data values only.

    papermill writes ``NAME = value`` into the notebook, so a name that is not one of the
    template's parameters (or not an identifier) would run as code, and a YAML object tag
    could become one; both are refused here, before anything runs.

    Raises:
        ValueError: naming the file / section, the parameter and what is allowed.
    """
    checked = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _IDENTIFIER.match(name) or name not in declared:
            raise ValueError(
                f"{where}: parameter {name!r} is not a parameter of this notebook; allowed: "
                f"{', '.join(sorted(declared))}"
            )
        _check_plain(value, f"{where}: parameter {name!r}")
        checked[name] = value
    return checked


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _SAFE_SCALARS):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_plain(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _SAFE_SCALARS):
                raise ValueError(f"{where}: key {key!r} must be text or a number")
            _check_plain(item, where)
        return
    raise ValueError(
        f"{where} == {value!r} ({type(value).__name__}): values must be text, numbers, "
        "true/false, null, lists or mappings (quote dates and times as text)"
    )


def experiment_templates(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The templates that belong in an experiment folder: those with an ``experiment``
    parameter, which read ``experiment.yaml`` (01 design, 02 routing, 03 analysis, 05 judging;
    the case study, 04, audits a published table and has no experiment)."""
    return [t for t in template_paths(directory) if "experiment" in template_defaults(t)]


def new_experiment(
    name: str,
    parent: Path = EXPERIMENTS_DIR,
    *,
    log: str | Path | None = None,
    plan: str | Path | None = None,
    from_params: str | Path | None = None,
) -> Path:
    """Create ``parent/name/``: ``experiment.yaml`` (every key commented) and a copy of every
    template that reads it (:func:`experiment_templates`).

    Args:
        log: the dialog log; recorded relative to the folder when inside it, else absolute.
        plan: a plan file whose settings are copied into the ``plan:`` section.
        from_params: an older abkit's ``params.yaml`` to convert (its analysis section's log,
            plan and flat settings, its design values, its judge files); example data the
            templates default to are not carried over.

    Raises:
        ValueError: the name is not a plain folder name, the folder exists already (nothing
            is overwritten), or an input names no file.
    """
    from abkit.experiment.file import (
        DesignAssumptions,
        Inputs,
        JudgingColumns,
        experiment_yaml,
        relative_to,
    )
    from abkit.plan.experiment_plan import COVARIATE_PATHS, read_plan_spec

    check_experiment_name(name)
    target = Path(parent) / name
    if target.exists():
        raise ValueError(f"experiment folder {target} exists already; choose another name")
    if plan is not None and from_params is not None:
        raise ValueError("give --plan or --from, not both: --from brings its own plan")
    spec: dict[str, Any] = {"split": 0.5}
    inputs, design, judging = Inputs(), DesignAssumptions(), JudgingColumns()
    if from_params is not None:
        spec, inputs, design, judging = _convert_params_file(Path(from_params))
    if plan is not None:
        spec = read_plan_spec(plan)
        if "split" not in spec:
            raise ValueError(
                f"plan == '{plan}' declares no split: write the planned treatment share of users "
                "in it (0.2 for 80/20)"
            )
    covariates = {key: spec.pop(key) for key in COVARIATE_PATHS if spec.get(key)}
    inputs = dataclasses.replace(inputs, **covariates)
    if log is not None:
        if not Path(log).exists():
            raise ValueError(f"log == '{log}': no such file or folder")
        inputs = dataclasses.replace(inputs, log=str(log))
    templates = experiment_templates()
    target.mkdir(parents=True)
    located = {
        item.name: relative_to(target, getattr(inputs, item.name))
        for item in dataclasses.fields(inputs)
        if item.name != "table" and getattr(inputs, item.name)
    }
    inputs = dataclasses.replace(inputs, **located)
    (target / EXPERIMENT_FILE).write_text(
        experiment_yaml(name, spec, inputs, design, judging), encoding="utf-8"
    )
    for template in templates:
        shutil.copy2(template, target / template.name)
    return target


def _convert_params_file(path: Path) -> tuple[dict[str, Any], Any, Any, Any]:
    """An older ``params.yaml`` as experiment-file sections: the analysis section's plan (its
    plan_file, inline plan and flat settings, as notebook 03 built it), log and table; the
    design section's assumptions; the judging section's files and columns. A value still at
    its template default that names bundled example data is not carried over."""
    from abkit.experiment.file import DesignAssumptions, Inputs, JudgingColumns, field_defaults
    from abkit.experiment.settings import AnalysisSettings, DesignSettings, JudgeEvaluationSettings
    from abkit.plan.experiment_plan import ExperimentPlan

    sections = read_params_file(path, template_paths(NOTEBOOKS_DIR))
    analysis = {
        k: v for k, v in sections.get("03_significance_analysis", {}).items() if k != "output_dir"
    }
    if "experiment" in analysis:  # the older name of the rows' experiment id
        analysis["experiment_id"] = analysis.pop("experiment")
    settings = AnalysisSettings(**analysis)
    defaults = ExperimentPlan().to_dict()
    plan = settings.experiment_plan().to_dict()
    plan = {k: v for k, v in plan.items() if v != defaults[k] or k == "split"}
    if plan.get("metrics") is None:
        plan.pop("metrics", None)
    log = settings.events if settings.events_path != AnalysisSettings.events_path else ""
    judge_section = sections.get("05_judge_evaluation", {})
    judge = JudgeEvaluationSettings(**{k: v for k, v in judge_section.items() if k != "output_dir"})
    example = JudgeEvaluationSettings()
    files = {
        key: str(in_kit(getattr(judge, field)))
        if getattr(judge, field) not in ("", getattr(example, field))
        else ""
        for key, field in (
            ("judgments", "pairwise_file"),
            ("grades", "grades_file"),
            ("judged_log", "judged_log"),
        )
    }
    inputs = Inputs(log=log, table=settings.table, **files)
    design_section = sections.get("01_design_sample_size", {})
    design_values = {**field_defaults(DesignSettings), **design_section}
    design = DesignAssumptions(
        **{f.name: design_values[f.name] for f in dataclasses.fields(DesignAssumptions)}
    )
    judging = JudgingColumns(judge.judge_column, judge.label_column)
    return plan, inputs, design, judging


def read_params_file(path: Path, notebooks: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Read an older abkit's ``params.yaml`` (one section per notebook), for conversion: every
    section names one of ``notebooks``, every parameter is one the notebook declares (the older
    ``experiment`` of notebook 03 read as ``experiment_id``), every value plain data."""
    from abkit.core.params import load_yaml

    try:
        loaded = load_yaml(Path(path).read_text(encoding="utf-8"), str(path)) or {}
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: re-save it as UTF-8") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} must hold a mapping of notebook name -> parameters")
    stems = {notebook.stem for notebook in notebooks}
    for section, values in loaded.items():
        if section not in stems:
            raise ValueError(
                f"{path}: section {section!r} names no notebook here; expected one of "
                f"{', '.join(sorted(stems))}"
            )
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping of parameters")
        notebook = next(n for n in notebooks if n.stem == section)
        declared = template_defaults(notebook)
        if section == "03_significance_analysis" and "experiment" in values:
            declared = {**declared, "experiment": ""}
        if section == "02_routing_simulation" and "experiment" in values:
            values["experiment_id"] = values.pop("experiment")
        check_parameters(values, declared, f"{path} [{section}]")
    return loaded


@dataclass(frozen=True)
class NotebookRun:
    """Where one executed notebook's outputs went."""

    notebook: Path
    executed: Path
    html: Path
    summary: Path


def _export_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _kernel_manager(kernel_log: IO[bytes]) -> type:
    """A kernel manager on IPC (Unix sockets): a kernel only this user can reach, and no
    "Kernel is running over TCP without encryption" warning on every run.

    The kernel process's own stderr (not the cells' output, which travels over ZMQ) goes to
    ``kernel_log``: what a kernel prints while it shuts down after a failed cell (tornado / ZMQ
    tracebacks) would otherwise land in the middle of the one-line error the CLI promises.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IpcKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
            command, launch = await super()._async_pre_start_kernel(**kw)
            launch.setdefault("stderr", kernel_log)
            return command, launch

    return IpcKernelManager


def _execute(
    notebook: Path, executed: Path, parameters: Mapping[str, Any], *, progress_bar: bool
) -> None:
    """papermill with the kit's settings: the python3 kernel on IPC, the kit's root as the
    working folder, a cell timeout; the kernel process's stderr in ``<executed>.kernel.log``,
    kept only when the kernel wrote something there."""
    import papermill

    kernel_log = executed.with_suffix(".kernel.log")
    try:
        with kernel_log.open("wb") as log:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=dict(parameters),
                kernel_name=KERNEL,
                execution_timeout=EXECUTION_TIMEOUT_S,
                progress_bar=progress_bar,
                cwd=str(KIT_ROOT),
                kernel_manager_class=_kernel_manager(log),
            )
    finally:
        if kernel_log.exists() and kernel_log.stat().st_size == 0:
            kernel_log.unlink()


def _kernel_environment() -> None:
    """Make the ``python3`` kernel start with this interpreter and deterministic hashing."""
    here = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != here:
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def run_notebooks(
    notebooks: Sequence[Path],
    parameters: Mapping[str, Mapping[str, Any]],
    reports_dir: Path,
    *,
    progress: bool = True,
) -> list[NotebookRun]:
    """Execute each notebook with its section of ``parameters`` into ``reports_dir/<stem>/``.

    The executed copy, its HTML export and the notebook's ``summary.json`` land in one folder
    per notebook. A notebook whose parameters set no ``output_dir`` writes to that same folder.
    """
    import papermill

    _kernel_environment()
    runs = []
    for notebook in notebooks:
        folder = Path(reports_dir) / notebook.stem
        folder.mkdir(parents=True, exist_ok=True)
        values = check_parameters(
            dict(parameters.get(notebook.stem, {})), template_defaults(notebook), notebook.name
        )
        values.setdefault("output_dir", str(folder.resolve()))
        executed = folder / notebook.name
        if progress:
            print(f"running {notebook.name} ...", end=" ", flush=True)
        started = time.perf_counter()
        try:
            _execute(notebook, executed, values, progress_bar=False)
        except papermill.PapermillExecutionError as error:
            if progress:
                print("stopped", flush=True)
            raise ValueError(
                f"{notebook.name} stopped: {error.ename}: {error.evalue} (the executed copy, "
                f"with the traceback, is {executed})"
            ) from None
        if progress:
            print(f"done in {time.perf_counter() - started:.1f} s", flush=True)
        summary = Path(values["output_dir"])
        summary = (summary if summary.is_absolute() else KIT_ROOT / summary) / "summary.json"
        runs.append(NotebookRun(notebook, executed, _export_html(executed), summary))
    return runs


def run_templates(reports_dir: Path = REPORTS_DIR, *, progress: bool = True) -> list[NotebookRun]:
    """Run every template with its default parameters into ``reports_dir`` (``make run``)."""
    return run_notebooks(template_paths(), {}, reports_dir, progress=progress)


@dataclass(frozen=True)
class ExperimentRun:
    """One finished ``abkit run`` of an experiment: its folder and each notebook's outputs."""

    folder: Path
    runs: tuple[NotebookRun, ...]

    @property
    def memo(self) -> Path | None:
        """The decision memo, when the analysis ran."""
        memo = self.folder / "03_significance_analysis" / "memo.html"
        return memo if memo.is_file() else None


def experiment_folder(given: str | Path) -> Path:
    """An experiment's folder from its name (``experiments/NAME``) or a path to the folder."""
    text = str(given)
    if "/" in text or os.sep in text or Path(text).is_dir() and not _EXPERIMENT_NAME.match(text):
        return Path(text)
    return EXPERIMENTS_DIR / check_experiment_name(text)


def _chosen_notebooks(folder: Path, experiment: Any, only: Sequence[str] | None) -> list[Path]:
    """The notebooks to run: those the experiment has inputs for, or those ``only`` names
    (by number or stem); a named notebook the experiment lacks inputs for is an error."""
    present = {path.stem: path for path in template_paths(folder)}
    runnable = experiment.runnable()
    if only is None:
        return [present[stem] for stem in runnable if stem in present]
    chosen = []
    for item in only:
        matches = [stem for stem in present if stem == item or stem.split("_")[0] == item]
        if not matches:
            raise ValueError(
                f"--only {item!r}: no such notebook in {folder}; choose from "
                f"{', '.join(stem.split('_')[0] for stem in present)}"
            )
        stem = matches[0]
        needs = {"03_significance_analysis": "log", "05_judge_evaluation": "judgments"}
        if stem in needs and stem not in runnable:
            raise ValueError(
                f"--only {item}: {experiment.path} names no inputs {needs[stem]}, which "
                f"{stem} needs"
            )
        chosen.append(present[stem])
    return chosen


def run_experiment(
    directory: Path, *, only: Sequence[str] | None = None, progress: bool = True
) -> ExperimentRun:
    """Run an experiment folder's notebooks with its ``experiment.yaml`` (``abkit run NAME``).

    Each run goes to a fresh ``reports/<UTC time>/`` that appears only when every notebook
    succeeded: the notebooks run into a hidden ``reports/.<time>.partial/`` which is then
    renamed; a failed or interrupted run is renamed ``reports/failed-<time>/`` instead (or, if
    the process is killed, stays hidden as ``.partial``), so nothing incomplete looks like a
    report. ``reports/latest`` points at the newest complete run. A second run of the same
    experiment while one is under way is refused.

    Raises:
        ValueError: no experiment.yaml (an older params.yaml gets the line converting it), a
            notebook it has no inputs for, another run under way, or a notebook that stopped.
    """
    from abkit.experiment.file import read_experiment

    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"experiment == '{folder}': no such experiment folder (abkit new NAME)")
    if not (folder / EXPERIMENT_FILE).is_file() and (folder / PARAMS_FILE).is_file():
        raise ValueError(
            f"{folder} holds params.yaml from an older abkit and no {EXPERIMENT_FILE}; convert "
            f"it: abkit new NEW_NAME --from {folder / PARAMS_FILE}"
        )
    experiment = read_experiment(folder)
    notebooks = _chosen_notebooks(folder, experiment, only)
    if not notebooks:
        raise ValueError(f"experiment folder {folder} holds none of its notebooks to run")
    reports = folder / "reports"
    reports.mkdir(exist_ok=True)
    with _run_lock(folder):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        stamp = next(
            f"{stamp}{suffix}"
            for suffix in ("", *(f"-{i}" for i in range(2, 1000)))
            if not any(
                (reports / f"{prefix}{stamp}{suffix}").exists() for prefix in ("", "failed-")
            )
        )
        staging, final = reports / f".{stamp}.partial", reports / stamp
        staging.mkdir()
        parameters = {path.stem: {"experiment": str(experiment.path)} for path in notebooks}
        try:
            staged = run_notebooks(notebooks, parameters, staging, progress=progress)
        except BaseException as error:
            failed = reports / f"failed-{stamp}"
            staging.rename(failed)
            if isinstance(error, ValueError):  # its message names the executed copy: moved
                raise ValueError(str(error).replace(str(staging), str(failed))) from None
            raise
        staging.rename(final)
        latest = reports / "latest"
        pointer = reports / f".latest-{stamp}"
        pointer.symlink_to(stamp)
        os.replace(pointer, latest)

    def moved(path: Path) -> Path:  # the same file, now under the run's final folder
        return final / path.resolve().relative_to(staging.resolve())

    runs = tuple(
        NotebookRun(run.notebook, moved(run.executed), moved(run.html), moved(run.summary))
        for run in staged
    )
    return ExperimentRun(final, runs)


@contextlib.contextmanager
def _run_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.run.lock`` (an advisory lock the system drops when the process ends,
    so a crash leaves no stale lock) for one run; a second run is refused."""
    import fcntl

    path = folder / ".run.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ValueError(
                f"another 'abkit run' of {folder} is under way (pid {holder}); wait for it to "
                "finish, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


_NOISY_NOTEBOOK_KEYS = ("papermill", "widgets")
_NOISY_CELL_KEYS = ("papermill", "execution")


def strip_noisy_metadata(notebook: Path) -> None:
    """Drop run-specific metadata (papermill timings, Python patch version) but keep outputs.

    What ``nbstripout --keep-output --keep-count --extra-keys "metadata.papermill
    cell.metadata.papermill metadata.language_info.version"`` does, so committed templates
    change only when their content does.
    """
    import nbformat  # imported here: it takes seconds, and a refused name needs none of it

    document = nbformat.read(notebook, as_version=4)
    for key in _NOISY_NOTEBOOK_KEYS:
        document.metadata.pop(key, None)
    document.metadata.get("language_info", {}).pop("version", None)
    for cell in document.cells:
        for key in _NOISY_CELL_KEYS:
            cell.metadata.pop(key, None)
    nbformat.write(document, notebook)


def refresh_templates(*, progress: bool = True) -> list[Path]:
    """Re-execute every template and workshop solution in place; strip noisy metadata."""
    import tempfile

    _kernel_environment()
    refreshed = []
    from abkit.teaching.workshop import SOLUTIONS_DIR

    for template in [*template_paths(), *sorted(SOLUTIONS_DIR.glob("*.ipynb"))]:
        if progress:
            print(f"re-executing {template.name}", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            executed = Path(scratch) / template.name
            _execute(template, executed, {}, progress_bar=progress)
            strip_noisy_metadata(executed)
            shutil.copyfile(executed, template)
        refreshed.append(template)
    return refreshed
