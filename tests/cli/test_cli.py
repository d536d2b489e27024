"""The ``abkit`` command line: in-process through ``main`` (fast), and once as a subprocess of
the installed console script, as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kit_cli import ABKIT, abkit  # noqa: E402


def test_console_script_is_installed_and_runs() -> None:
    assert ABKIT, "the console script is installed with the package"
    done = subprocess.run(
        [ABKIT, "design", "--baseline", "1.2", "--mde", "0.05"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "abkit design: error: baseline == 1.2, must be in (0, 1)"
    )


def test_design_json_for_the_issue_example() -> None:
    done = abkit(
        "design",
        "--metric",
        "proportion",
        "--baseline",
        "0.75",
        "--mde",
        "0.05",
        "--split",
        "0.2",
        "--alpha",
        "0.05",
        "--power",
        "0.8",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"pooled", "cohen_h", "seed"}
    for method in result.values():
        assert {"n_control", "n_treatment", "n_total"} <= set(method)
        assert method["n_total"] == method["n_control"] + method["n_treatment"]
    # Fleiss eq. 4.19 in R (tests/reference/design_reference.R): total 3477.78 at 80/20
    assert result["pooled"]["n_total"] == 3479
    assert (result["pooled"]["n_control"], result["pooled"]["n_treatment"]) == (2783, 696)


def test_design_table_lists_the_methods() -> None:
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["method", "n_control", "n_treatment", "n_total"]
    assert [line.split()[0] for line in lines[1:]] == ["pooled", "cohen_h", "seed"]
    # 50/50: ceil of R power.prop.test n = 1093.74 per group
    assert lines[1].split()[1:4] == ["1094", "1094", "2188"]


def test_design_with_n_total_solves_power_and_mde() -> None:
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--n-total", "2000", "--json")
    assert done.returncode == 0, done.stderr
    pooled = json.loads(done.stdout)["pooled"]
    # R: power.prop.test(n = 1000, p1 = .75, p2 = .80)$power = 0.763844185836
    assert pooled["power"] == pytest.approx(0.763844185836, abs=1e-9)
    # R: power.prop.test(n = 1000, p1 = .75, power = .8, tol = 1e-10)$p2 - 0.75
    assert 0.75 < 0.75 + pooled["mde"] < 0.81
    assert pooled["n_total"] == 2000


def test_design_relative_mde() -> None:
    done = abkit("design", "--baseline", "0.4", "--mde", "0.2", "--relative", "--json")
    assert json.loads(done.stdout)["cohen_h"]["n_control"] == 603  # public_cases.md D3


PLANS = Path(__file__).parents[1] / "plans"


def test_design_with_a_plan_sizes_each_primary_at_the_analysis_level() -> None:
    """Two primaries under Holm at alpha 0.05 and an 80/20 split: each test is sized at
    0.025, exactly what --alpha 0.025 --split 0.2 gives; the table says where the level came
    from."""
    plan = str(PLANS / "two_primaries.yaml")
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", plan, "--json")
    assert done.returncode == 0, done.stderr
    by_plan = json.loads(done.stdout)
    explicit = ("design", "--baseline", "0.75", "--mde", "0.05", "--alpha", "0.025")
    direct = json.loads(abkit(*explicit, "--split", "0.2", "--json").stdout)
    assert by_plan == direct and by_plan["pooled"]["alpha"] == 0.025
    assert by_plan["pooled"]["split"] == 0.2
    table = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", plan).stdout
    assert table.splitlines()[0] == (
        f"plan {plan}: alpha 0.05 over 2 primary metrics (holm): each tested at 0.025; split 0.2"
    )
    assert table.splitlines()[1:] == abkit(*explicit, "--split", "0.2").stdout.splitlines()


def test_design_refuses_a_level_the_plan_contradicts() -> None:
    plan = str(PLANS / "two_primaries.yaml")
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", plan, "--split", "0.5")
    assert done.returncode == 2
    assert "split == 0.5 (parameter) but the plan says 0.2; set it in one place" in done.stderr
    same = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", plan, "--split", "0.2")
    assert same.returncode == 0, same.stderr


def test_design_with_a_plan_without_a_primary_or_a_correction_says_so(tmp_path) -> None:
    """A plan the analysis would refuse (no primary metric) is refused before sizing; two
    primaries with no correction are each sized at the full alpha, and the line says why."""
    metric = "{name: x, kind: ratio, column: completed"
    none = tmp_path / "none.yaml"
    none.write_text(f"split: 0.2\nmetrics: [{metric}}}]\n")
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", str(none))
    assert done.returncode == 2
    assert f"plan {none} has no primary metric, so the analysis would refuse it" in done.stderr
    both = tmp_path / "both.yaml"
    both.write_text(
        f"split: 0.2\ncorrection: none\nmetrics: [{metric}, role: primary}}, "
        "{name: y, kind: ratio, column: escalated, role: primary}]\n"
    )
    done = abkit("design", "--baseline", "0.75", "--mde", "0.05", "--plan", str(both))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        f"plan {both}: alpha 0.05 for each of 2 primary metrics (correction: none); split 0.2"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "1.2", "--mde", "0.05"], "baseline == 1.2, must be in (0, 1)"),
        (["--baseline", "0.75", "--mde", "0.3"], "mde == 0.3 (MDE) with baseline == 0.75"),
        (
            ["--baseline", "0.75", "--mde", "0.05", "--alpha", "1.5"],
            "alpha == 1.5, must be in (0, 1)",
        ),
        (
            ["--baseline", "0.75", "--mde", "0.05", "--split", "0"],
            "split == 0.0, must be in (0, 1)",
        ),
        (["--baseline", "abc", "--mde", "0.05"], "argument --baseline: 'abc' is not a number"),
        (["--baseline", "0.75"], "mde == None: give --mde, or --n-total"),
        (
            ["--baseline", "0.75", "--mde", "0.05", "--n-total", "-5"],
            "n_total == -5, must be an integer >= 1",
        ),
        (
            ["--baseline", "0.75", "--mde", "0.05", "--metric", "ratio"],
            "argument --metric: invalid choice",
        ),
    ],
)
def test_design_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    done = abkit("design", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_help_explains_commands() -> None:
    done = abkit("--help")
    assert done.returncode == 0
    for command in ("design", "new", "run"):
        assert command in done.stdout
    design_help = abkit("design", "--help").stdout
    assert "80/20" in design_help and "examples:" in design_help


def test_simulate_writes_a_valid_log(tmp_path) -> None:
    from abkit.analysis.log_source import read_log

    target = tmp_path / "log.duckdb"
    done = abkit("simulate", "--users", "500", "--seed", "3", "--out", str(target))
    assert done.returncode == 0, done.stderr
    log = read_log(target)
    assert log["user_id"].nunique() == 500
    missing = abkit("simulate", "--users", "5")
    assert missing.returncode == 2 and "give --out FILE" in missing.stderr
    bad = abkit("simulate", "--users", "0", "--out", str(tmp_path / "x.csv"))
    assert bad.returncode == 2 and "n_users == 0, must be an integer >= 1" in bad.stderr


def test_design_of_an_abn_plan_sizes_each_comparison_at_dunnetts_level() -> None:
    """Shares 0.5 / 0.25 / 0.25: each comparison at Dunnett's per-comparison level
    (abkit.stats.many_to_one.per_comparison_alpha), for control vs one candidate (split 1/3
    within the pair); all_arms = the pair's users / 0.75; the explicit two-arm design at that
    level and split gives the same pair."""
    from abkit.stats.many_to_one import per_comparison_alpha

    plan = str(Path(__file__).parents[2] / "data" / "example_abn_plan.yaml")
    level = per_comparison_alpha([0.5, 0.25, 0.25], 0.05)
    done = abkit("design", "--baseline", "0.71", "--mde", "0.03", "--plan", plan, "--json")
    assert done.returncode == 0, done.stderr
    pooled = json.loads(done.stdout)["pooled"]
    assert pooled["alpha"] == pytest.approx(level, rel=1e-9)
    explicit = ("design", "--baseline", "0.71", "--mde", "0.03", "--alpha", repr(level))
    direct = json.loads(abkit(*explicit, "--split", repr(1 / 3), "--json").stdout)["pooled"]
    assert pooled["n_total"] == direct["n_total"]
    assert pooled["all_arms"] == -(-pooled["n_total"] * 4 // 3)
    table = abkit("design", "--baseline", "0.71", "--mde", "0.03", "--plan", plan).stdout
    assert "over 2 candidates (Dunnett)" in table.splitlines()[0]
    assert "for an A/B test of these two arms alone (alpha 0.05)" in table.splitlines()[-1]


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """``abkit analyze ... | head``: the closed pipe ends the command quietly with the shell's
    status for it (141), not a one-line error about a broken pipe."""
    log = Path(__file__).resolve().parents[2] / "data" / "example_dialogs.parquet"
    command = [ABKIT, "analyze", str(log), "--split", "0.2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:
        run.stdout.close()  # before the analysis prints anything
        err = run.stderr.read().decode()
        assert run.wait(timeout=120) == 141, err
    assert err == ""
