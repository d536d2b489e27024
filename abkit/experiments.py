"""Templates, per-experiment copies, and runs with papermill (``make run``, ``abkit run``).

A template is a notebook ``notebooks/NN_name.ipynb``. ``new_experiment`` copies every template
into ``experiments/<name>/`` beside a ``params.yaml`` holding their default parameters, one
section per notebook; ``run_notebooks`` executes notebooks with papermill into a reports folder,
each beside its HTML export and the ``summary.json`` the notebook writes.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import nbformat
import yaml

from abkit.paths import EXPERIMENTS_DIR, KIT_ROOT, NOTEBOOKS_DIR, REPORTS_DIR

__all__ = [
    "PARAMS_FILE",
    "NotebookRun",
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

PARAMS_FILE = "params.yaml"
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


def _relative_to_kit(path: Path) -> str:
    """``path`` relative to the kit root when inside it (portable in params.yaml), else absolute."""
    try:
        return str(path.resolve().relative_to(KIT_ROOT))
    except ValueError:
        return str(path.resolve())


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


def new_experiment(name: str, parent: Path = EXPERIMENTS_DIR) -> Path:
    """Create ``parent/name/`` with a copy of every template and a ``params.yaml`` of defaults.

    Each notebook's ``output_dir`` in ``params.yaml`` points at ``parent/name/reports/<stem>``.

    Raises:
        ValueError: the name is not a plain folder name, or the folder exists already (nothing
            is overwritten).
    """
    check_experiment_name(name)
    target = Path(parent) / name
    if target.exists():
        raise ValueError(f"experiment folder {target} exists already; choose another name")
    templates = template_paths()
    target.mkdir(parents=True)
    sections: dict[str, dict[str, Any]] = {}
    for template in templates:
        shutil.copy2(template, target / template.name)
        defaults = template_defaults(template)
        defaults["output_dir"] = _relative_to_kit(target / "reports" / template.stem)
        sections[template.stem] = defaults
    header = (
        f"# Parameters of experiment '{name}', one section per notebook.\n"
        "# Edit the values, then: make run EXP=<name>  (or: abkit run <this folder>)\n"
    )
    (target / PARAMS_FILE).write_text(header + yaml.safe_dump(sections, sort_keys=False))
    return target


def read_params_file(path: Path, notebooks: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Read a ``params.yaml``: every section names one of ``notebooks``, every parameter is one
    the notebook declares, every value plain data (:func:`check_parameters`)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
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
        check_parameters(values, template_defaults(notebook), f"{path} [{section}]")
    return loaded


@dataclass(frozen=True)
class NotebookRun:
    """Where one executed notebook's outputs went."""

    notebook: Path
    executed: Path
    html: Path
    summary: Path


def _export_html(executed: Path) -> Path:
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
            print(f"done in {time.perf_counter() - started:.1f} s -> {executed}", flush=True)
        summary = Path(values["output_dir"])
        summary = (summary if summary.is_absolute() else KIT_ROOT / summary) / "summary.json"
        runs.append(NotebookRun(notebook, executed, _export_html(executed), summary))
    return runs


def run_templates(reports_dir: Path = REPORTS_DIR, *, progress: bool = True) -> list[NotebookRun]:
    """Run every template with its default parameters into ``reports_dir`` (``make run``)."""
    return run_notebooks(template_paths(), {}, reports_dir, progress=progress)


def run_experiment(directory: Path, *, progress: bool = True) -> list[NotebookRun]:
    """Run the notebooks of an experiment folder with its ``params.yaml`` (``make run EXP=...``)."""
    folder = Path(directory)
    notebooks = template_paths(folder)
    if not notebooks:
        raise ValueError(f"experiment folder {folder} holds no NN_name.ipynb notebooks")
    params_path = folder / PARAMS_FILE
    parameters = read_params_file(params_path, notebooks) if params_path.exists() else {}
    return run_notebooks(notebooks, parameters, folder / "reports", progress=progress)


_NOISY_NOTEBOOK_KEYS = ("papermill", "widgets")
_NOISY_CELL_KEYS = ("papermill", "execution")


def strip_noisy_metadata(notebook: Path) -> None:
    """Drop run-specific metadata (papermill timings, Python patch version) but keep outputs.

    What ``nbstripout --keep-output --keep-count --extra-keys "metadata.papermill
    cell.metadata.papermill metadata.language_info.version"`` does, so committed templates
    change only when their content does.
    """
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
    from abkit.workshop import SOLUTIONS_DIR

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
