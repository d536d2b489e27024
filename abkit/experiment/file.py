"""``experiment.yaml``: the one file of an experiment, read by every surface of the kit.

It holds each fact once, in four sections:

- ``plan:`` what is decided before the data are seen
(:class:`abkit.plan.experiment_plan.ExperimentPlan`:
  labels, split, metrics with roles and margins, CUPED, monitoring, column map);
- ``inputs:`` where the data are (:class:`Inputs`: dialog log, pre-period log, users table,
  judge files), relative to the experiment's folder;
- ``design:`` the assumptions the sample size rests on (:class:`DesignAssumptions`);
- ``judging:`` the judged log's columns (:class:`JudgingColumns`).

``abkit new`` writes it with a comment on every key (:func:`experiment_yaml`); notebooks 01, 02,
03 and 05 read it through their ``experiment`` parameter, or find it beside them when opened in
JupyterLab (:func:`notebook_settings`); ``abkit analyze --plan`` / ``abkit design --plan`` read
its ``plan:`` section (:func:`abkit.plan.experiment_plan.read_plan_spec`), and ``abkit run`` all of
it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from abkit.core.params import check_choice, load_yaml, notebook_values, shorten
from abkit.core.paths import in_kit
from abkit.plan.experiment_plan import (
    COVARIATE_PATHS,
    EXPERIMENT_SECTIONS,
    ExperimentPlan,
    plan_with_parameters,
    read_plan_spec,
)

__all__ = [
    "EXPERIMENT_FILE",
    "DesignAssumptions",
    "Experiment",
    "Inputs",
    "JudgingColumns",
    "experiment_yaml",
    "find_experiment",
    "notebook_settings",
    "read_experiment",
]

EXPERIMENT_FILE = "experiment.yaml"
DesignMetric = Literal["proportion", "mean"]


@dataclass(frozen=True)
class Inputs:
    """Where an experiment's data are; '' for an input it does not have (yet).

    In the file, paths are relative to the experiment's folder; once read, they are absolute.
    """

    log: str = ""
    table: str = "dialogs"
    pre_period_log: str = ""
    users_table: str = ""
    judgments: str = ""
    grades: str = ""
    judged_log: str = ""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            if not isinstance(getattr(self, item.name), str):
                raise TypeError(
                    f"inputs {item.name} == {shorten(getattr(self, item.name))}, must be a path "
                    "as text ('' for none)"
                )


@dataclass(frozen=True)
class DesignAssumptions:
    """What the sample size rests on: the names and meanings of notebook 01's parameters."""

    metric: DesignMetric = "proportion"
    baseline: float = 0.75
    mde: float = 0.05
    relative_mde: bool = False
    sd_control: float | None = None
    sd_treatment: float | None = None
    power: float = 0.8
    daily_dialogs: float = 550.0
    traffic_share: float = 1.0
    dialogs_per_user: float = 3.0
    intra_user_correlation: float = 0.2
    cuped_rho: float = 0.0

    def __post_init__(self) -> None:
        check_choice("design metric", self.metric, get_args(DesignMetric))
        if not isinstance(self.relative_mde, bool):
            raise TypeError(f"design relative_mde == {self.relative_mde!r}, must be true or false")
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            optional = item.name in ("sd_control", "sd_treatment")
            if item.name in ("metric", "relative_mde") or (optional and value is None):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(
                    f"design {item.name} == {shorten(value)} ({type(value).__name__}), must be a "
                    "number" + (" (null for none)" if optional else "")
                )


@dataclass(frozen=True)
class JudgingColumns:
    """The judged dialog log's columns (notebook 05's online section)."""

    judge_column: str = "judge_helpful"
    label_column: str = "human_helpful"


@dataclass(frozen=True)
class Experiment:
    """One experiment as its ``experiment.yaml`` declares it (:func:`read_experiment`).

    Attributes:
        path: the file.
        name: the experiment's name (its folder's, unless the file says otherwise).
        plan: the plan settings the file declares (covariate paths absolute), for
            :func:`abkit.plan.experiment_plan.load_plan`.
        inputs: the data, paths absolute.
    """

    path: Path
    name: str
    plan: Mapping[str, Any]
    inputs: Inputs
    design: DesignAssumptions
    judging: JudgingColumns

    @property
    def folder(self) -> Path:
        return self.path.parent

    def runnable(self) -> dict[str, str]:
        """Notebook stem -> why it runs, for the notebooks this experiment has inputs for:
        the design always, the analysis with a log, the judging with judgments."""
        chosen = {"01_design_sample_size": "design"}
        if self.inputs.log:
            chosen["03_significance_analysis"] = f"log {self.inputs.log}"
        if self.inputs.judgments:
            chosen["05_judge_evaluation"] = f"judgments {self.inputs.judgments}"
        return chosen


def _section(kind: type, value: Any, where: str) -> Any:
    """A section of the file as ``kind``: a mapping of its fields, unknown keys refused."""
    if value is None:
        return kind()
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} == {shorten(value)}, must be a mapping of settings")
    allowed = [item.name for item in dataclasses.fields(kind)]
    unknown = sorted(set(value) - set(allowed), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {allowed}")
    return kind(**value)


def _absolute(folder: Path, text: str) -> str:
    return "" if not text else str((folder / Path(text).expanduser()).resolve())


def find_experiment(given: str | Path, here: Path | None = None) -> Path | None:
    """The experiment file a notebook is run for.

    ``given`` (the ``experiment`` parameter: a file, or a folder holding experiment.yaml;
    relative to the kit) when set; else ``here/experiment.yaml`` (``here``: the current folder,
    which is the notebook's own when JupyterLab or ``jupyter nbconvert`` runs it); else None: a
    template runs on its bundled example.

    Raises:
        ValueError: ``given`` names nothing, or ``here`` holds an older abkit's params.yaml and
            no experiment.yaml (the notebook would otherwise analyse the bundled example).
    """
    if str(given).strip():
        path = in_kit(given)
        path = path / EXPERIMENT_FILE if path.is_dir() else path
        if not path.is_file():
            raise ValueError(
                f"experiment == {str(given)!r}: no such file ({path}); name an experiment.yaml "
                "or its folder (relative paths are read from the kit's folder)"
            )
        return path
    folder = Path.cwd() if here is None else here
    if (folder / EXPERIMENT_FILE).is_file():
        return folder / EXPERIMENT_FILE
    if (folder / "params.yaml").is_file():
        raise ValueError(
            f"{folder} holds params.yaml from an older abkit and no {EXPERIMENT_FILE}; "
            f"convert it: abkit new NEW_NAME --from {folder / 'params.yaml'}"
        )
    return None


def read_experiment(path: str | Path) -> Experiment:
    """Read and check an ``experiment.yaml`` (or the folder holding one).

    Raises:
        FileNotFoundError: no such file.
        ValueError / TypeError: naming the file, section and key: unknown sections or keys,
            duplicate keys, a plan without a split, an input that names no file.
    """
    path = Path(path)
    path = path / EXPERIMENT_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(
            f"experiment == '{path}': no such file; create one with: abkit new NAME"
        )
    spec = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(spec, Mapping) or not isinstance(spec.get("plan"), Mapping):
        raise ValueError(f"{path} must be a mapping with a plan: section (see abkit new)")
    unknown = sorted(set(spec) - set(EXPERIMENT_SECTIONS), key=str)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {list(EXPERIMENT_SECTIONS)}")
    if "split" not in spec["plan"]:
        raise ValueError(
            f"{path}: plan: has no split; write the planned treatment share of users "
            "(0.2 for 80/20), never left to a default"
        )
    plan = read_plan_spec(path)
    folder = path.parent.resolve()
    inputs = _section(Inputs, spec.get("inputs"), f"{path}: inputs")
    paths = {
        item.name: _absolute(folder, getattr(inputs, item.name))
        for item in dataclasses.fields(Inputs)
        if item.name != "table"
    }
    for key, resolved in paths.items():
        if resolved and not Path(resolved).exists():
            raise ValueError(
                f"{path}: inputs {key} == {getattr(inputs, key)!r}: no such file or folder "
                f"({resolved}; relative paths are read from {folder})"
            )
    name = spec.get("name") or folder.name
    if not isinstance(name, str):
        raise TypeError(f"{path}: name == {shorten(name)}, must be text")
    return Experiment(
        path=path.resolve(),
        name=name,
        plan=plan,
        inputs=dataclasses.replace(inputs, **paths),
        design=_section(DesignAssumptions, spec.get("design"), f"{path}: design"),
        judging=_section(JudgingColumns, spec.get("judging"), f"{path}: judging"),
    )


# ------------------------------------------------------------------------------ the written file

_PLAN_HELP = {
    "experiment": "rows of this experiment in the log's experiment column; '' when the log "
    "holds one experiment. Also the routing hash salt of notebook 02",
    "control": "label of the baseline in the log's variant column",
    "treatment": "label of the candidate",
    "split": "planned treatment share of users, in (0, 1): 0.2 for 80/20 (SRM gate, design)",
    "alpha": "significance level, in (0, 0.5): two-sided per family, one-sided per guardrail",
    "correction": "across the primary metrics: holm, bonferroni, bh or none",
    "secondary_correction": "across the secondary metrics (reported only): holm, bonferroni, "
    "bh or none",
    "primary": "the metric the decision rests on ('' to keep the roles of metrics:)",
    "metrics": "'default' (the default catalogue, as the log's columns allow) or a list of "
    "{name, kind: ratio|user_proportion|user_mean|quantile|judged, column, role: "
    "primary|secondary|guardrail|monitor, direction: increase|decrease, margin, valid_range, "
    "unit, covariate}",
    "column_map": "your column -> the log's, e.g. {customer: user_id}",
    "columns": "valid values per column: {column: {range: [low, high], integer: bool, unit: ms|s}}",
    "timestamp_unit": "numeric timestamps: auto (by magnitude), s or ms since 1970 (UTC)",
    "timezone": "zone of timestamps written without one (IANA name, e.g. Europe/Paris)",
    "unknown_variants": "rows of another variant label: error, or ignore (counted)",
    "crossover_max_share": "users seen in both arms are left out; above this share, invalid",
    "srm_p": "the sample-ratio-mismatch gate fails below this p-value",
    "missing_p": "the missing-value gate fails when missingness differs by arm below this p",
    "pre_period_days": "CUPED pre-period window: each user's N days before first exposure",
    "cuped": "decide on the CUPED estimate (decide) or only show it beside (report)",
    "monitoring": "fixed, or {kind: group_sequential|always_valid, planned_users: N, "
    "spending: obrien_fleming|pocock|...}",
}

_SECTION_HELP = {
    Inputs: {
        "log": "dialog log: .parquet (file or folder), .csv or .duckdb; '' until you have one "
        "(the analysis refuses to run without it, never falls back to example data)",
        "table": "table name when the log is a DuckDB database",
        "pre_period_log": "dialog log from before the experiment, for CUPED covariates; ''",
        "users_table": "table of per-user covariates (user_id, measured_at, ...); ''",
        "judgments": "pairwise judge verdicts (.csv / .parquet), for notebook 05; ''",
        "grades": "pointwise pass/fail grades per prompt and system, for notebook 05; ''",
        "judged_log": "dialog log with judge scores and some human labels, for notebook 05; ''",
    },
    DesignAssumptions: {
        "metric": "the primary metric's kind for sizing: proportion or mean",
        "baseline": "control rate in (0, 1), or control mean",
        "mde": "smallest effect worth detecting, treatment minus control",
        "relative_mde": "true: mde is a share of the baseline (0.05 = +5 %)",
        "sd_control": "standard deviation in control (mean metrics); null for proportions",
        "sd_treatment": "standard deviation in treatment; null: as control",
        "power": "probability of detecting an effect of size mde, in (0, 1)",
        "daily_dialogs": "eligible dialogs per day",
        "traffic_share": "share of eligible dialogs that enter the experiment, in (0, 1]",
        "dialogs_per_user": "average dialogs per user over the experiment",
        "intra_user_correlation": "correlation of one user's outcomes, in [0, 1]",
        "cuped_rho": "expected correlation with a pre-period covariate (CUPED); 0 for none",
    },
    JudgingColumns: {
        "judge_column": "judged_log's column of the judge's score (on the label's scale)",
        "label_column": "judged_log's column of the human label, missing where unlabeled",
    },
}


def _flow(value: Any) -> str:
    """One YAML value on one line (flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _key_lines(key: str, value: Any, comment: str) -> list[str]:
    lines = [f"  # {comment}"]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        lines.append(f"  {key}:")
        lines += [f"    - {_flow(dict(item))}" for item in value]
    else:
        lines.append(f"  {key}: {_flow(value)}")
    return lines


def experiment_yaml(
    name: str,
    plan: Mapping[str, Any],
    inputs: Inputs,
    design: DesignAssumptions,
    judging: JudgingColumns,
) -> str:
    """The text of an ``experiment.yaml``: every key with a comment saying what it means, its
    allowed values and its default. ``plan`` holds the settings declared (others are written
    with their defaults)."""
    defaults = ExperimentPlan().to_dict()
    declared = dict(plan)
    lines = [
        f"# experiment.yaml: experiment {name!r}, each fact once. Read by this folder's",
        "# notebooks (opened in JupyterLab or run by 'abkit run'), 'abkit analyze --plan' and",
        "# 'abkit design --plan'. Paths are relative to this folder. Edit, then:",
        f"#   abkit run {name}        (or: make run EXP={name})",
        "",
        f"name: {_flow(name)}",
        "",
        "# What is decided before the data are seen.",
        "plan:",
    ]
    for key, comment in _PLAN_HELP.items():
        value = declared.pop(key, defaults[key])
        if key == "metrics" and value is None:
            value = "default"
        shown = f"{comment}; default: {_flow(defaults[key] if key != 'metrics' else 'default')}"
        lines += _key_lines(key, value, shown if key != "split" else comment)
    for key, value in declared.items():  # what else the plan declares, as written
        if key not in COVARIATE_PATHS:
            lines += _key_lines(key, value, "see abkit.plan.experiment_plan.ExperimentPlan")
    sections = (
        ("inputs", inputs, "Where the data are."),
        ("design", design, "What the sample size rests on (notebook 01)."),
        ("judging", judging, "The judged log's columns (notebook 05)."),
    )
    for title, values, heading in sections:
        kind = type(values)
        lines += ["", f"# {heading}", f"{title}:"]
        for item in dataclasses.fields(kind):
            help_text = _SECTION_HELP[kind][item.name]
            shown = f"{help_text}; default: {_flow(item.default)}"
            lines += _key_lines(item.name, getattr(values, item.name), shown)
    return "\n".join(lines) + "\n"


def relative_to(folder: Path, path: str | Path) -> str:
    """``path`` relative to ``folder`` when inside it, else absolute (for the file's inputs)."""
    resolved = Path(path).expanduser().resolve()
    try:
        return str(resolved.relative_to(Path(folder).resolve()))
    except ValueError:
        return str(resolved)


def recorded_looks(folder: str | Path) -> int:
    """The most group-sequential looks any report of the experiment in ``folder`` records
    (its runs' and its notebook's ``summary.json``): a missing looks file must not restart
    the looks at 1."""
    most = 0
    for summary in sorted(Path(folder).glob("reports/*/03_significance_analysis/summary.json")):
        try:
            monitoring = json.loads(summary.read_text(encoding="utf-8")).get("monitoring") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if monitoring.get("kind") == "group_sequential":
            most = max(most, len(monitoring.get("looks") or ()))
    return most


# ---------------------------------------------------------------------- notebooks' parameters

# settings class name -> the notebook it belongs to
_NOTEBOOKS = {
    "DesignSettings": "01_design_sample_size",
    "RoutingSettings": "02_routing_simulation",
    "AnalysisSettings": "03_significance_analysis",
    "JudgeEvaluationSettings": "05_judge_evaluation",
}


def _notebook_values(experiment: Experiment, settings: str) -> dict[str, Any]:
    """The parameters ``experiment`` sets for the notebook whose settings class is named
    ``settings``; an input the notebook cannot run without is an error naming the key."""
    plan, inputs = experiment.plan, experiment.inputs
    where = f"{experiment.path}: inputs"
    if settings == "DesignSettings":
        values = dataclasses.asdict(experiment.design)
        values.update(plan_file=str(experiment.path), pre_period_log=inputs.pre_period_log)
        return values
    if settings == "RoutingSettings":
        salt = plan.get("experiment") or experiment.name
        if isinstance(plan["split"], Mapping):  # A/B/n: a share per arm
            return {"experiment_id": salt, "weights": dict(plan["split"])}
        return {"experiment_id": salt, "split": plan["split"]}
    if settings == "AnalysisSettings":
        if not inputs.log:
            raise ValueError(
                f"{where} log == '': this experiment names no dialog log, so there is nothing to "
                "analyse; set inputs: log: to your log's path (relative to the experiment's "
                "folder)"
            )
        # a group-sequential plan's looks belong to the experiment, not to one run's folder
        looks = str(experiment.folder / "looks.json")
        return {
            "events_path": inputs.log,
            "table": inputs.table,
            "plan": dict(plan),
            "looks_file": looks,
        }
    if settings == "JudgeEvaluationSettings":
        if isinstance(plan["split"], Mapping):
            raise ValueError(
                f"{experiment.path}: plan split == {dict(plan['split'])}: notebook 05 evaluates "
                "judges for two arms, and this plan has several candidates; give it one "
                "candidate's experiment (control and that candidate, split: its share)"
            )
        if not inputs.judgments:
            raise ValueError(
                f"{where} judgments == '': this experiment names no judge verdicts; set inputs: "
                "judgments: to a pairwise verdicts file (.csv / .parquet)"
            )
        return {
            "pairwise_file": inputs.judgments,
            "grades_file": inputs.grades,
            "judged_log": inputs.judged_log,
            **dataclasses.asdict(experiment.judging),
            "split": plan["split"],
            "alpha": plan.get("alpha", ExperimentPlan.alpha),
            "true_effect": None,
        }
    raise ValueError(f"notebook settings {settings!r} do not read an experiment file")


def field_defaults(kind: type) -> dict[str, Any]:
    """A dataclass's fields with their defaults (a default factory's value included)."""
    out = {}
    for item in dataclasses.fields(kind):
        if item.default is not dataclasses.MISSING:
            out[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            out[item.name] = item.default_factory()
    return out


def with_experiment(
    values: Mapping[str, Any], settings_type: type, here: Path | None = None
) -> dict[str, Any]:
    """A notebook's parameter values with its experiment file applied (:func:`find_experiment`).

    The file's values replace the template's defaults; a parameter changed from its default
    (injected by papermill, edited in the cell) must say what the file says, else it is an
    error naming both: one fact, one place. ``output_dir`` left at its default becomes the
    experiment's ``reports/lab/<notebook>``.
    """
    found = find_experiment(values.get("experiment", ""), here)
    if found is None:
        return dict(values)
    experiment = read_experiment(found)
    name = settings_type.__name__
    defaults = field_defaults(settings_type)
    given = _notebook_values(experiment, name)
    if name == "AnalysisSettings" and values.get("plan_file"):
        raise ValueError(
            f"plan_file == {values['plan_file']!r}, but the plan is {experiment.path}'s: edit it "
            "there, or leave experiment unset to analyse with plan_file"
        )
    merged = plan_with_parameters(given, values, defaults, source=str(experiment.path))
    merged["experiment"] = str(experiment.path)
    if values.get("output_dir") == defaults.get("output_dir"):
        merged["output_dir"] = str(experiment.folder / "reports" / "lab" / _NOTEBOOKS[name])
    return {key: merged[key] for key in values}


def notebook_settings(
    namespace: Mapping[str, Any], names_before: Collection[str], settings_type: type
) -> Any:
    """A notebook's validated settings with its experiment applied: what every template that
    belongs in an experiment folder calls after its parameters cell.

    :func:`abkit.core.params.notebook_values` collects the parameters (unknown names refused), then
    :func:`with_experiment` applies ``experiment.yaml`` (the ``experiment`` parameter, or the
    one beside the notebook), then ``settings_type`` checks every value.
    """
    values = notebook_values(namespace, names_before, settings_type)
    return settings_type(**with_experiment(values, settings_type))
