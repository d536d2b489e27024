"""Sequential monitoring inside the analysis: looks of a group-sequential plan (boundaries
against rpact, tests/reference/sequential_reference.R), the looks file, always-valid results,
the CLI and notebook 03 at three looks."""

from __future__ import annotations

import json

import numpy as np
import papermill
import pytest
from references import RPACT

from abkit.analysis.monitoring import read_looks
from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR, NOTEBOOKS_DIR
from abkit.experiment.settings import parse_until
from abkit.plan.experiment_plan import Monitoring, load_plan

LOG = DATA_DIR / "example_dialogs.parquet"
LOOK_DAYS = ["2026-01-08", "2026-01-12", None]  # 6316, 9396, 12000 users of 12000 planned
LOOK_USERS = [6316, 9396, 12000]


def _plan(kind: str = "group_sequential", spending: str = "obrien_fleming") -> dict:
    return {
        "split": 0.2,
        "monitoring": {"kind": kind, "planned_users": 12000, "spending": spending},
    }


@pytest.mark.parametrize(
    ("spending", "case"),
    [("obrien_fleming", "looks_obf_two_sided"), ("obrien_fleming_per_side", "looks_obf_per_side")],
)
def test_three_looks_use_rpact_boundaries_for_the_fractions_taken(spending, case, tmp_path) -> None:
    looks_file = tmp_path / "looks.json"
    verdicts = []
    for k, day in enumerate(LOOK_DAYS):
        until = None if day is None else parse_until("until", day)
        result = analyze(LOG, plan=_plan(spending=spending), looks_file=looks_file, until=until)
        monitoring = result.monitoring
        assert monitoring.look == k + 1 and monitoring.users == LOOK_USERS[k]
        if until is not None:  # the look's rows and period, as the memo shows them
            assert result.engine.last <= until
            assert result.engine.rows == sum(result.engine.dialogs)
        assert monitoring.information_fraction == pytest.approx(LOOK_USERS[k] / 12000)
        assert monitoring.z_boundary == pytest.approx(RPACT[case][k], abs=1e-6)
        primary = result.table.iloc[0]
        z = primary["effect"] / primary["se"]
        assert bool(primary["significant"]) == (abs(z) >= monitoring.z_boundary)
        verdicts.append(result.decision.verdict)
        assert f"look {k + 1}" in " ".join(result.decision.reasons)
    assert [look.users for look in read_looks(looks_file)] == LOOK_USERS
    assert verdicts[-1] == "ship"


def test_the_same_data_is_the_same_look_and_the_looks_file_is_kept(tmp_path) -> None:
    looks_file = tmp_path / "looks.json"
    until = parse_until("until", "2026-01-08")
    first = analyze(LOG, plan=_plan(), looks_file=looks_file, until=until)
    again = analyze(LOG, plan=_plan(), looks_file=looks_file, until=until)
    assert again.monitoring.look == first.monitoring.look == 1
    assert len(json.loads(looks_file.read_text())["looks"]) == 1


def test_fewer_users_than_a_look_and_a_look_after_the_final_are_refused(tmp_path) -> None:
    looks_file = tmp_path / "looks.json"
    analyze(LOG, plan=_plan(), looks_file=looks_file, until=parse_until("until", "2026-01-12"))
    with pytest.raises(ValueError, match=r"users == 6,316, fewer than the 9,396 of look 1"):
        analyze(LOG, plan=_plan(), looks_file=looks_file, until=parse_until("u", "2026-01-08"))
    small = {**_plan(), "monitoring": {**_plan()["monitoring"], "planned_users": 6000}}
    ended = tmp_path / "ended.json"
    first = analyze(LOG, plan=small, looks_file=ended, until=parse_until("u", "2026-01-08"))
    assert first.monitoring.final  # 6316 users of 6000 planned: the final look
    state = ended.read_text()
    with pytest.raises(ValueError, match="look 1 was the final look"):
        analyze(LOG, plan=small, looks_file=ended, until=parse_until("u", "2026-01-12"))
    assert ended.read_text() == state  # a refused look leaves the file as it was


def test_a_group_sequential_plan_needs_a_looks_file_and_planned_users() -> None:
    with pytest.raises(ValueError, match="needs a looks file"):
        analyze(LOG, plan=_plan())
    with pytest.raises(ValueError, match="planned_users == 0"):
        Monitoring(kind="group_sequential")
    with pytest.raises(ValueError, match="monitoring kind == 'weekly'"):
        load_plan({"monitoring": "weekly"})


def test_a_final_look_without_a_crossing_does_not_ship(tmp_path) -> None:
    # the A/A-like scenario: a tiny planned size makes the first look final
    plan = {
        "split": 0.2,
        "metrics": [
            {
                "name": "return_7d",
                "kind": "user_proportion",
                "column": "returned_7d",
                "role": "primary",
            }
        ],
        "monitoring": {"kind": "group_sequential", "planned_users": 100},
    }
    result = analyze(LOG, plan=plan, looks_file=tmp_path / "looks.json")
    assert result.monitoring.final and result.decision.verdict == "don't ship"
    assert "final look" in " ".join(result.decision.reasons)


def test_always_valid_intervals_are_wider_and_p_values_larger() -> None:
    fixed = analyze(LOG, split=0.2).table.set_index("metric")
    valid = analyze(LOG, plan=_plan("always_valid"))
    table = valid.table.set_index("metric")
    rows = [m for m in table.index if table.loc[m, "role"] != "check"]
    width = lambda t: t.loc[rows, "ci_high"] - t.loc[rows, "ci_low"]  # noqa: E731
    assert (width(table) > width(fixed)).all()
    assert (table.loc[rows, "p_value"] >= fixed.loc[rows, "p_value"] - 1e-15).all()
    assert np.allclose(table.loc[rows, "effect"], fixed.loc[rows, "effect"])
    assert valid.monitoring.kind == "always_valid"
    assert valid.decision.verdict == "ship"
    assert "Always-valid" in " ".join(valid.decision.reasons)


def test_cli_takes_looks_and_until(tmp_path) -> None:
    from kit_cli import abkit

    plan = tmp_path / "plan.yaml"
    plan.write_text("split: 0.2\nmonitoring: {kind: group_sequential, planned_users: 12000}\n")
    looks = tmp_path / "looks.json"
    done = abkit(
        "analyze",
        str(LOG),
        "--plan",
        str(plan),
        "--looks",
        str(looks),
        "--until",
        "2026-01-08",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    monitoring = json.loads(done.stdout)["monitoring"]
    assert monitoring["look"] == 1 and monitoring["users"] == 6316
    assert monitoring["z_boundary"] == pytest.approx(RPACT["looks_obf_two_sided"][0], abs=1e-6)
    bad = abkit(
        "analyze", str(LOG), "--plan", str(plan), "--looks", str(looks), "--until", "next week"
    )
    assert bad.returncode == 2 and "--until == 'next week'" in bad.stderr
    missing = abkit("analyze", str(LOG), "--plan", str(plan))
    assert missing.returncode == 2 and "needs a looks file" in missing.stderr


def test_notebook_03_at_three_looks_of_one_experiment(tmp_path) -> None:
    """The papermill runs of one experiment: the same output folder keeps looks.json."""
    out = tmp_path / "out"
    expected_verdicts = []
    for k, day in enumerate(LOOK_DAYS):
        result = analyze(
            LOG,
            plan=_plan(),
            looks_file=tmp_path / "api_looks.json",
            until=None if day is None else parse_until("until", day),
        )
        expected_verdicts.append(result.decision.verdict)
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "03_significance_analysis.ipynb"),
            str(tmp_path / f"look{k + 1}.ipynb"),
            parameters={"plan": _plan(), "until": day or "", "output_dir": str(out)},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(tmp_path),
        )
        summary = json.loads((out / "summary.json").read_text())
        monitoring = summary["monitoring"]
        assert monitoring["look"] == k + 1
        assert monitoring["information_fraction"] == pytest.approx(LOOK_USERS[k] / 12000)
        assert monitoring["z_boundary"] == pytest.approx(RPACT["looks_obf_two_sided"][k], abs=1e-6)
        assert summary["decision"]["verdict"] == expected_verdicts[k]
    assert len(json.loads((out / "looks.json").read_text())) == 3


@pytest.mark.parametrize(("log", "status"), [("example_dialogs", "pass"), ("scenario_srm", "fail")])
def test_a_sequentially_monitored_plan_reads_the_srm_gate_with_the_always_valid_test(log, status):
    import pandas as pd

    from abkit.analysis.log_source import read_log
    from abkit.stats.sequential import sequential_srm_p_values

    path = DATA_DIR / f"{log}.parquet"
    result = analyze(path, plan=_plan("always_valid"))
    gate = result.health.table.set_index("gate").loc["sample ratio"]
    assert gate["status"] == status
    # the users first seen each day, counted by pandas: the same always-valid p as the gate's
    frame = read_log(path)
    first = (
        frame.sort_values("timestamp")
        .groupby("user_id")
        .agg(
            day=("timestamp", lambda t: t.min().date()),
            arms=("variant", "nunique"),
            variant=("variant", "first"),
        )
    )
    first = first[first["arms"] == 1]
    daily = pd.crosstab(first["day"], first["variant"])[["control", "treatment"]].to_numpy()
    expected = sequential_srm_p_values(daily, [0.8, 0.2])[-1]
    assert f"always-valid p over {len(daily)} day(s) = {expected:.3g}" in gate["detail"]


# --------------------------------------------------------- sequential state that cannot be tampered


def _two_looks(tmp_path):
    looks_file = tmp_path / "looks.json"
    for day in ("2026-01-08", "2026-01-12"):
        analyze(LOG, plan=_plan(), looks_file=looks_file, until=parse_until("until", day))
    return looks_file


def test_a_plan_changed_between_looks_stops_the_look(tmp_path) -> None:
    looks_file = _two_looks(tmp_path)
    pocock = _plan(spending="pocock")
    more = _plan()
    more["monitoring"] = {**more["monitoring"], "planned_users": 20000}
    for plan, named in (
        ({**_plan(), "alpha": 0.1}, "alpha: 0.05 at look 1, now 0.1"),
        (pocock, "spending: 'obrien_fleming' at look 1, now 'pocock'"),
        (more, "planned_users: 12000 at look 1, now 20000"),
    ):
        with pytest.raises(ValueError, match=r"the plan changed since the looks") as raised:
            analyze(LOG, plan=plan, looks_file=looks_file)
        assert named in str(raised.value)


def test_an_edited_reordered_or_truncated_looks_file_stops_the_look(tmp_path) -> None:
    looks_file = _two_looks(tmp_path)
    stored = json.loads(looks_file.read_text())
    edits = {
        "information fraction": lambda d: d["looks"][0].update(information_fraction=0.9),
        "boundary": lambda d: d["looks"][1].update(z_boundary=1.96),
        "users": lambda d: d["looks"][0].update(users=d["looks"][0]["users"] + 1),
        "reordered": lambda d: d["looks"].reverse(),
        "first look removed": lambda d: d["looks"].pop(0),
    }
    for name, edit in edits.items():
        document = json.loads(json.dumps(stored))
        edit(document)
        looks_file.write_text(json.dumps(document))
        with pytest.raises(ValueError, match=r"looks file .*(edited|reordered|removed)"):
            analyze(LOG, plan=_plan(), looks_file=looks_file)
        assert name  # each edit above was refused
        looks_file.write_text(json.dumps(stored))
    analyze(LOG, plan=_plan(), looks_file=looks_file)  # the file as written is accepted


def test_a_deleted_looks_file_does_not_restart_at_look_one(tmp_path) -> None:
    looks_file = tmp_path / "looks.json"
    from abkit.analysis.results import analyze_plan
    from abkit.plan.experiment_plan import load_plan

    with pytest.raises(ValueError, match=r"missing or empty, but 2 look\(s\) of this experiment"):
        analyze_plan(LOG, load_plan(_plan()), looks_file=looks_file, recorded_looks=2)
    assert not looks_file.exists()


def test_an_experiments_reports_count_as_its_recorded_looks(tmp_path) -> None:
    from abkit.experiment.file import recorded_looks

    run = tmp_path / "reports" / "20260101-000000" / "03_significance_analysis"
    run.mkdir(parents=True)
    looks = [{"look": 1}, {"look": 2}]
    run.joinpath("summary.json").write_text(
        json.dumps({"monitoring": {"kind": "group_sequential", "looks": looks}})
    )
    assert recorded_looks(tmp_path) == 2
