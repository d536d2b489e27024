"""Strict YAML (#27): a key written twice, an alias, settings beside plan:, a plan without a
split and an implausible margin are refused with the key named; no message prints an unbounded
value."""

from __future__ import annotations

import time

import pytest
from kit_cli import abkit

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR
from abkit.plan.experiment_plan import load_plan, read_plan_spec

LOG = DATA_DIR / "example_dialogs.parquet"


def test_a_key_written_twice_is_named_with_its_line(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("split: 0.2\nalpha: 0.05\nsplit: 0.5\n")
    with pytest.raises(
        ValueError, match=r"line 3: key 'split' is written twice \(first on line 1\)"
    ):
        read_plan_spec(plan)
    done = abkit("analyze", str(LOG), "--plan", str(plan))
    assert done.returncode == 2 and "key 'split' is written twice" in done.stderr
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "split: 0.2\nmetrics:\n  - {name: a, kind: ratio, column: completed, name: b}\n"
    )
    with pytest.raises(ValueError, match=r"line 3: key 'name' is written twice"):
        read_plan_spec(nested)


def test_an_alias_expanding_file_is_refused_at_once(tmp_path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "split: *a8"]) + "\n")
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"line 2: YAML aliases \(\*a0\) are not allowed"):
        read_plan_spec(bomb)
    done = abkit("analyze", str(LOG), "--plan", str(bomb))
    assert time.perf_counter() - started < 10
    assert done.returncode == 2 and len(done.stderr) < 400


def test_settings_beside_a_plan_section_are_refused(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("plan:\n  split: 0.2\nalpha: 0.01\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['alpha'\] beside plan:"):
        read_plan_spec(plan)


def test_a_plan_without_a_split_is_refused_not_read_as_fifty_fifty(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("primary: task_completion\n")
    with pytest.raises(ValueError, match=r"split == None: the plan declares no split"):
        analyze(LOG, plan=plan)
    with pytest.raises(ValueError, match=r"split == None"):
        analyze(LOG, plan={"primary": "task_completion"})
    done = abkit("analyze", str(LOG), "--plan", str(plan))
    assert done.returncode == 2 and "the plan declares no split" in done.stderr
    assert analyze(LOG, plan=plan, split=0.2).plan.split == 0.2


@pytest.mark.parametrize(
    ("margin", "message"),
    [
        (
            {"margin": 10},
            r"margin == 10 with relative_margin true lets the treatment be 1000% worse",
        ),
        (
            {"margin": 1.5, "relative_margin": False, "valid_range": [0, 1]},
            r"margin == 1.5 is at least the width of its valid_range \[0.0, 1.0\]",
        ),
    ],
)
def test_implausible_guardrail_margins_are_refused(margin, message) -> None:
    metric = {"name": "p95", "kind": "quantile", "column": "latency_ms", "quantile": 0.95}
    metric.update(role="guardrail", direction="decrease", **margin)
    with pytest.raises(ValueError, match=message):
        load_plan({"split": 0.2, "metrics": [metric]})


def test_messages_cut_long_values(tmp_path) -> None:
    with pytest.raises(TypeError) as raised:
        load_plan({"split": 0.2, "metrics": "x" * 5000})
    assert len(str(raised.value)) < 300
