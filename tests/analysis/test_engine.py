"""The engine on the logs real experiments produce: each case that once gave a confident wrong
answer now gives the right numbers or stops with a message, on a Parquet file, a CSV file and a
DataFrame alike (one engine)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abkit.analysis.results import analyze
from abkit.plan.experiment_plan import ExperimentPlan, load_plan
from abkit.plan.metrics import Metric, metrics_by_name
from abkit.serve.events import LogValidationError
from abkit.stats.two_sample import RatioStats, ratio_difference_test
from abkit.teaching.simulate import EXAMPLE_CONFIG, simulate_dialogs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return simulate_dialogs(EXAMPLE_CONFIG)


FORMATS = ["frame", ".parquet", ".csv"]


def source(frame: pd.DataFrame, form: str, tmp_path, name: str = "log"):
    """The same log as a DataFrame or as a file (written without any validation)."""
    if form == "frame":
        return frame
    path = tmp_path / f"{name}{form}"
    if form == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def row(result, metric: str) -> pd.Series:
    return result.table.set_index("metric").loc[metric]


@pytest.mark.parametrize("form", FORMATS)
def test_users_in_both_arms_are_left_out_and_counted(example, tmp_path, form) -> None:
    # 60 control users also get a treatment dialog: 12,060 "users" from 12,000 before
    movers = example[example["variant"] == "control"]["user_id"].drop_duplicates().head(60)
    extra = example[example["user_id"].isin(movers)].groupby("user_id").head(1).copy()
    extra["variant"] = "treatment"
    extra["dialog_id"] = extra["dialog_id"] + "-x"
    log = pd.concat([example, extra], ignore_index=True)
    result = analyze(source(log, form, tmp_path), split=0.2)
    gate = result.health.table.set_index("gate").loc["users in both arms"]
    assert gate["status"] == "warn" and "60 of 12,000 users (0.50%)" in gate["detail"]
    assert sum(result.engine.users) == 12_000 - 60
    clean = analyze(example[~example["user_id"].isin(movers)], split=0.2)
    assert row(result, "task_completion")["effect"] == pytest.approx(
        row(clean, "task_completion")["effect"], rel=1e-12
    )
    assert row(result, "latency_p95")["treatment"] == row(clean, "latency_p95")["treatment"]
    # past 1 % of users the comparison is invalid
    many = example[example["variant"] == "control"]["user_id"].drop_duplicates().head(300)
    extra = example[example["user_id"].isin(many)].groupby("user_id").head(1).copy()
    extra["variant"], extra["dialog_id"] = "treatment", extra["dialog_id"] + "-x"
    broken = analyze(pd.concat([example, extra]), split=0.2)
    assert broken.decision.verdict == "invalid"
    assert "users in both arms" in broken.decision.reasons[0]


@pytest.mark.parametrize("form", FORMATS)
def test_missing_outcomes_are_missing_not_failures(example, tmp_path, form) -> None:
    log = example.copy()
    late = log.sample(frac=0.33, random_state=1).index
    log.loc[late, "completed"] = np.nan  # outcome not known yet, in both arms alike
    result = analyze(source(log, form, tmp_path), split=0.2)
    known = log.loc[log["completed"].notna()]
    per_arm = known.groupby("variant")["completed"].mean()
    task = row(result, "task_completion")
    assert task["control"] == pytest.approx(per_arm["control"], rel=1e-12)
    assert task["treatment"] == pytest.approx(per_arm["treatment"], rel=1e-12)
    assert task["treatment"] > 0.77  # not 0.52
    assert result.decision.verdict == "ship"
    gate = result.health.table.set_index("gate").loc["missing completed"]
    assert gate["status"] == "pass" and gate["control"] == pytest.approx(0.33, abs=0.01)


def test_missingness_that_depends_on_the_arm_fails_its_gate(example) -> None:
    log = example.copy()
    treated = log.index[log["variant"] == "treatment"]
    log.loc[log.loc[treated].sample(frac=0.3, random_state=2).index, "completed"] = np.nan
    result = analyze(log, split=0.2)
    gate = result.health.table.set_index("gate").loc["missing completed"]
    assert gate["status"] == "fail" and "depends on the arm" in gate["detail"]
    assert result.decision.verdict == "invalid"


def test_missingness_gate_matches_the_clustered_ratio_test(example) -> None:
    log = example.copy()
    log.loc[log["csat"].isna() & (log["variant"] == "treatment"), "csat"] = 4.0
    result = analyze(log, split=0.2)
    gate = result.health.table.set_index("gate").loc["missing csat"]
    users = (
        log.assign(miss=log["csat"].isna())
        .groupby(["variant", "user_id"])
        .agg(y=("miss", "sum"), x=("miss", "size"))
    )
    stats = [
        RatioStats(len(g), g.y.sum(), g.x.sum(), (g.y**2).sum(), (g.x**2).sum(), (g.x * g.y).sum())
        for _, g in users.groupby(level="variant")
    ]
    assert gate["status"] == "fail"
    assert gate["control"] == pytest.approx(stats[0].sum_y / stats[0].sum_x, rel=1e-12)
    assert gate["treatment"] == 0.0
    assert ratio_difference_test(*stats).p_value < 0.001


@pytest.mark.parametrize("form", FORMATS)
def test_a_log_of_two_experiments_needs_a_choice(example, tmp_path, form) -> None:
    other = simulate_dialogs(n_users=3000, seed=11, experiment="other-test", split=0.5)
    log = pd.concat([example, other], ignore_index=True)
    path = source(log, form, tmp_path)
    with pytest.raises(LogValidationError, match=r"holds 2 experiments .*'other-test'.*choose"):
        analyze(path, split=0.2)
    alone = analyze(path, split=0.2, experiment=EXAMPLE_CONFIG.experiment)
    expected = analyze(example, split=0.2)
    assert row(alone, "task_completion")["effect"] == pytest.approx(
        row(expected, "task_completion")["effect"], rel=1e-12
    )
    gate = alone.health.table.set_index("gate").loc["rows of other experiments"]
    assert f"{len(other):,} row(s)" in gate["detail"]
    with pytest.raises(ValueError, match=r"experiment == 'nope' not in"):
        analyze(path, split=0.2, experiment="nope")


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("bad", [None, "treatment ", "Treatment"])
def test_unknown_variant_labels_are_counted_and_refused(example, tmp_path, form, bad) -> None:
    log = example.copy()
    log.loc[log.index[:7], "variant"] = bad
    path = source(log, form, tmp_path)
    with pytest.raises(LogValidationError, match=r"7 row\(s\) have a variant that is neither"):
        analyze(path, split=0.2)
    ignored = analyze(path, plan=ExperimentPlan(split=0.2, unknown_variants="ignore"))
    gate = ignored.health.table.set_index("gate").loc["unknown variant rows"]
    assert gate["status"] == "warn" and "7 row(s)" in gate["detail"]
    assert ignored.engine.rows == len(log) - 7


IMPOSSIBLE = [
    ("csat", 0.0, r"column 'csat': 1 value\(s\) outside numbers in \[1, 5\], e.g. 0.0"),
    ("csat", 40.0, r"column 'csat': 1 value\(s\) outside numbers in \[1, 5\]"),
    ("csat", math.inf, r"column 'csat': 1 value\(s\) outside"),
    ("latency_ms", -5.0, r"column 'latency_ms': 1 value\(s\) outside numbers in \[0, inf\]"),
    ("latency_ms", math.inf, r"column 'latency_ms'"),
    ("completed", 2.0, r"column 'completed': 1 value\(s\) outside whole numbers in \[0, 1\]"),
    ("turns", -1.0, r"column 'turns': 1 value\(s\) outside whole numbers"),
    ("turns", 2.5, r"column 'turns': 1 value\(s\) outside whole numbers"),
]


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize(("column", "value", "message"), IMPOSSIBLE)
def test_impossible_values_are_refused_with_an_example(
    example, tmp_path, form, column, value, message
) -> None:
    log = example.copy()
    log[column] = log[column].astype(float)
    log.loc[5, column] = value
    with pytest.raises(LogValidationError, match=message) as raised:
        analyze(source(log, form, tmp_path), split=0.2)
    assert repr(log.loc[5, "dialog_id"]) in str(raised.value)


@pytest.mark.parametrize(
    ("column", "metric"), [("csat", "csat"), ("latency_ms", "latency_p95"), ("csat", None)]
)
def test_nan_in_parquet_is_refused_whatever_its_statistics_say(
    example, tmp_path, column, metric
) -> None:
    """Parquet writers leave NaN out of a column's min / max statistics, and DuckDB answers a
    query of only min / max from them: a NaN (not a null) must still be found and refused,
    also when the plan reads no other column (no other aggregate forces a scan)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = example.assign(csat=example["csat"].fillna(3.0))
    table = pa.Table.from_pandas(log, preserve_index=False)
    values = log[column].to_numpy(dtype=float, copy=True)
    values[len(values) // 2] = np.nan
    index = table.schema.get_field_index(column)
    table = table.set_column(index, column, pa.array(values, from_pandas=False))
    path = tmp_path / "nan.parquet"
    pq.write_table(table, path, row_group_size=5_000)  # statistics per row group
    plan = ExperimentPlan(split=0.2)
    if metric:
        chosen = metrics_by_name([metric])[0]
        plan = ExperimentPlan(split=0.2, metrics=(dataclasses.replace(chosen, role="primary"),))
    with pytest.raises(LogValidationError, match=rf"column '{column}': 1 value\(s\) outside"):
        analyze(path, plan=plan)


def test_integer_columns_bounded_by_parquet_statistics_are_still_exact(example, tmp_path) -> None:
    """Integer columns of a Parquet log are bounded from its statistics first: a bad value is
    refused with its row, under a column map too, and one in rows not analysed (another
    experiment) leaves the analysis as it was."""
    log = example.assign(completed=example["completed"].astype("Int64"), experiment="a")
    path = source(log, ".parquet", tmp_path, "ints")
    base = analyze(path, split=0.2)
    bad = log.copy()
    bad.loc[7, "completed"] = 2
    with pytest.raises(LogValidationError, match=r"column 'completed': 1 value\(s\) outside"):
        analyze(source(bad, ".parquet", tmp_path, "bad"), split=0.2)
    mapped = source(bad.rename(columns={"completed": "done"}), ".parquet", tmp_path, "mapped")
    with pytest.raises(LogValidationError, match=r"column 'completed': 1 value\(s\) outside"):
        analyze(mapped, plan={"split": 0.2, "column_map": {"done": "completed"}})
    other = pd.concat([log, log.head(5).assign(experiment="b", completed=9)], ignore_index=True)
    other["dialog_id"] = [f"x{i}" for i in range(len(other))]
    result = analyze(
        source(other, ".parquet", tmp_path, "other"), plan={"split": 0.2, "experiment": "a"}
    )
    assert row(result, "task_completion")["control"] == row(base, "task_completion")["control"]


@pytest.mark.parametrize("per_part", [1_000, 10**9, None])
def test_repeated_dialog_ids_are_found_in_one_count_or_in_parts(
    example, tmp_path, monkeypatch, per_part
) -> None:
    """The exact id count split by hash into parts (8, the most, at 1,000 ids per part), in
    one SQL count, or (None) sorted in numpy finds a repeat wherever it sits: the same user,
    another user, the other arm."""
    import abkit.analysis.checks

    if per_part is not None:
        monkeypatch.setattr(abkit.analysis.checks, "SORTED_IDS_MAX", 0)
        monkeypatch.setattr(abkit.analysis.checks, "_IDS_PER_PART", per_part)
    assert analyze(source(example, ".parquet", tmp_path), split=0.2).engine.rows == len(example)
    treated = example.index[example["variant"] == "treatment"]
    log = example.copy()
    log.loc[treated[0], "dialog_id"] = log.loc[0, "dialog_id"]  # another user, the other arm
    log.loc[treated[1], "dialog_id"] = log.loc[treated[2], "dialog_id"]
    with pytest.raises(LogValidationError, match=r"2 row\(s\) repeat a dialog_id"):
        analyze(source(log, ".parquet", tmp_path, "repeats"), split=0.2)


def test_a_declared_range_overrides_the_default(example) -> None:
    log = example.assign(csat=example["csat"] * 2)  # a 2-10 scale
    with pytest.raises(LogValidationError, match="column 'csat'"):
        analyze(log, split=0.2)
    plan = {"split": 0.2, "columns": {"csat": {"range": [2, 10]}}}
    assert analyze(log, plan=plan).decision.verdict == "ship"


@pytest.mark.parametrize("name", ["exp[12]", "events[1]", "star*"])
def test_paths_are_paths_not_patterns(example, tmp_path, name) -> None:
    folder = tmp_path / name
    folder.mkdir()
    decoy = tmp_path / "exp1"
    decoy.mkdir()
    example.head(3).to_parquet(decoy / "x.parquet")
    path = folder / "log.parquet"
    example.to_parquet(path, index=False)
    assert analyze(path, split=0.2).engine.rows == len(example)
    csv = tmp_path / f"{name}.csv"
    example.to_csv(csv, index=False)
    assert analyze(csv, split=0.2).engine.rows == len(example)
    part_folder = tmp_path / f"{name}-parts"
    part_folder.mkdir()
    example.to_parquet(part_folder / "part-0.parquet", index=False)
    assert analyze(part_folder, split=0.2).engine.rows == len(example)


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("unit", ["s", "ms"])
def test_epoch_timestamps_are_read_as_seconds_or_milliseconds(
    example, tmp_path, form, unit
) -> None:
    seconds = (example["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    epoch = seconds if unit == "s" else seconds * 1000
    log = example.assign(timestamp=epoch.astype(str))  # written as text
    result = analyze(source(log, form, tmp_path), split=0.2)
    assert pd.Timestamp(result.engine.first) == example["timestamp"].min().floor("s")
    bad = example.assign(timestamp=np.arange(len(example)))
    with pytest.raises(LogValidationError, match=r"neither epoch seconds"):
        analyze(source(bad, form, tmp_path, "bad"), split=0.2)


def test_unreadable_text_timestamps_are_refused(example) -> None:
    log = example.assign(timestamp=example["timestamp"].astype(str))
    log.loc[3, "timestamp"] = "yesterday"
    with pytest.raises(LogValidationError, match=r"1 value\(s\) cannot be read.*'yesterday'"):
        analyze(log, split=0.2)


def test_primary_is_declared_not_assumed(example) -> None:
    no_completion = example.drop(columns=["completed"])
    with pytest.raises(
        ValueError,
        match=r"no primary metric: the default primary "
        r"'task_completion' needs column\(s\) \['completed'\]",
    ):
        analyze(no_completion, split=0.2)
    result = analyze(no_completion, split=0.2, primary="csat")
    assert row(result, "csat")["role"] == "primary"
    assert result.decision.verdict == "ship"
    assert "csat improved significantly" in result.decision.reasons[0]
    with pytest.raises(
        ValueError,
        match=r"primary == 'task_completion', not a metric of this "
        r"plan: it needs column\(s\) \['completed'\]",
    ):
        analyze(no_completion, split=0.2, primary="task_completion")
    # metrics chosen without a primary: the message says how to name one, on each path
    with pytest.raises(ValueError, match=r"Name one of \['csat'\] as primary \(abkit analyze "):
        analyze(example, split=0.2, metrics=metrics_by_name(["csat"]))


def test_only_primaries_are_in_the_decision_family(example) -> None:
    result = analyze(example, split=0.2)
    task = row(result, "task_completion")
    assert task["p_adjusted"] == task["p_value"]  # one primary: no adjustment


def test_relative_effect_keeps_its_sign_for_a_negative_control(example) -> None:
    log = example.assign(score=example["turns"] - 10.0)  # negative values, lower is worse
    metric = Metric("score", "ratio", "score", role="primary")
    table = analyze(log, split=0.2, metrics=[metric]).table.set_index("metric")
    effect, relative = table.loc["score", "effect"], table.loc["score", "relative_effect"]
    assert table.loc["score", "control"] < 0
    assert np.sign(relative) == np.sign(effect)
    assert relative == pytest.approx(effect / abs(table.loc["score", "control"]))


def test_latency_in_seconds_is_flagged(example) -> None:
    log = example.assign(latency_ms=example["latency_ms"] / 1000)
    result = analyze(log, split=0.2)
    gate = result.health.table.set_index("gate").loc["unit latency_ms"]
    assert gate["status"] == "warn" and "looks like seconds" in gate["detail"]
    assert any("unit latency_ms" in reason for reason in result.decision.reasons)


def test_custom_plan_gives_the_same_numbers_by_api_cli_and_plan_file(tmp_path) -> None:
    from kit_cli import abkit

    from abkit.core.paths import DATA_DIR

    log, plan_path = (
        DATA_DIR / "example_custom_columns.parquet",
        DATA_DIR / "example_custom_plan.yaml",
    )
    api = analyze(log, plan=load_plan(plan_path))
    assert row(api, "satisfaction")["role"] == "primary"
    assert api.decision.verdict == "ship"
    done = abkit("analyze", str(log), "--plan", str(plan_path), "--json")
    assert done.returncode == 0, done.stderr
    import json

    cli = pd.DataFrame(json.loads(done.stdout)["results"]).set_index("metric")
    for metric in ("satisfaction", "resolution_rate", "refusal_rate", "response_p95"):
        for key in ("effect", "p_value", "ci_low", "ci_high"):
            assert cli.loc[metric, key] == pytest.approx(row(api, metric)[key], rel=1e-12)
    # the same experiment analysed from the standard log under the default names
    standard = analyze(DATA_DIR / "example_dialogs.parquet", split=0.2)
    assert row(api, "satisfaction")["p_value"] == pytest.approx(
        row(standard, "csat")["p_value"], rel=1e-12
    )
    assert row(api, "response_p95")["effect"] * 1000 == pytest.approx(
        row(standard, "latency_p95")["effect"], rel=1e-9
    )


def test_plan_yaml_errors_are_named(tmp_path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("plan:\n  split: 0.2\n  metrics:\n    - {name: x, kind: ratio}\n")
    with pytest.raises(ValueError, match=r"plan metrics\[0\] .*missing 'column'"):
        load_plan(bad)
    bad.write_text("split: [0.2\n")
    with pytest.raises(ValueError, match=r"not valid YAML"):
        load_plan(bad)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['kindd'\]"):
        load_plan({"metrics": [{"name": "x", "kindd": "ratio", "column": "c"}]})
    # a margin on a primary would silently be a superiority test: refused where it is written
    primary = {"name": "x", "kind": "ratio", "column": "c", "role": "primary", "margin": 0.1}
    with pytest.raises(ValueError, match=r"metric 'x' has margin == 0.1, but only a guardrail"):
        load_plan({"metrics": [primary]})
    guardrail = load_plan({"metrics": [{**primary, "role": "guardrail"}]})
    made_primary = dataclasses.replace(guardrail.metrics[0], role="primary")
    assert load_plan(ExperimentPlan(metrics=(made_primary,)).to_dict()).metrics[0].margin is None
    # a column rule names its column; 'false' written as text is not read as true
    for rule, message in (
        ({"range": [5, 1]}, r"plan columns\['csat'\]: range == \[5.0, 1.0\], must have low"),
        ({"range": [1, 3, 5]}, r"plan columns\['csat'\]: range == \[1, 3, 5\], must be \[low, h"),
        ({"integer": "false"}, r"plan columns\['csat'\]: integer == 'false', must be true or"),
        ({"unit": "seconds"}, r"plan columns\['csat'\]: unit == 'seconds', must be one of"),
    ):
        with pytest.raises((TypeError, ValueError), match=message):
            load_plan({"columns": {"csat": rule}})
    assert load_plan({"columns": {"turns": {"range": [0, ".inf"], "integer": True}}}).columns
    # a metric's true / false fields: text is refused, not read as true (a margin read as
    # relative, a direction turned round)
    for key in ("relative_margin", "higher_is_better", "ordinal"):
        with pytest.raises(TypeError, match=rf"metric 'x': {key} == 'false', must be true or"):
            load_plan({"metrics": [{**primary, "role": "guardrail", key: "false"}]})


def test_metrics_by_name_still_picks_defaults() -> None:
    assert [m.name for m in metrics_by_name(["csat"])] == ["csat"]
    assert os.path.basename(__file__) == "test_engine.py"


def test_a_quantile_arm_without_values_leaves_the_other_arms_variance(example) -> None:
    """Each dialog's threshold is its own arm's Q̂ (by arithmetic on a 0/1 column); an arm with
    no value has no Q̂, and the other arm's clustered variance stays what it was."""
    from abkit.analysis.engine import aggregate
    from abkit.analysis.metric_kinds import KINDS

    metric = dataclasses.replace(metrics_by_name(["latency_p95"])[0], role="primary")
    plan = ExperimentPlan(split=0.2, metrics=(metric,))
    emptied = example.copy()
    emptied.loc[emptied["variant"] == "control", "latency_ms"] = np.nan
    variances = []
    for log in (example, emptied):
        found = aggregate(log, plan)
        estimate = KINDS["quantile"].estimate(
            found.plan.metrics[0], *found.sums[metric.name], 0.05, found.context
        )
        variances.append((estimate.var_control, estimate.var_treatment))
    assert math.isnan(variances[1][0]) and math.isfinite(variances[0][0])
    assert variances[1][1] == pytest.approx(variances[0][1], rel=1e-12)


def test_logs_open_at_once_see_only_their_own_rows(example, tmp_path) -> None:
    """Each opening is a connection to one shared in-memory database (or, for a DuckDB file, a
    database of its own): views, frames and temporary tables never leak between them, nested
    or in threads."""
    from concurrent.futures import ThreadPoolExecutor

    from abkit.analysis.log_source import open_log
    from abkit.serve.events import write_log

    plan = ExperimentPlan(split=0.2)
    half = example.iloc[: len(example) // 2]
    database = tmp_path / "log.duckdb"
    write_log(example.iloc[:1000], database)
    with (
        open_log(example, plan) as whole,
        open_log(half, plan) as part,
        open_log(database, plan) as stored,
    ):
        counted = [
            s.connection.execute("SELECT count(*) FROM log").fetchone()[0]
            for s in (whole, part, stored)
        ]
    assert counted == [len(example), len(half), 1000]
    logs = [example, half, example.iloc[len(example) // 2 :]] * 2
    alone = [analyze(log, split=0.2).table for log in logs[:3]]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda log: analyze(log, split=0.2).table, logs))
    for k, table in enumerate(together):
        pd.testing.assert_frame_equal(table, alone[k % 3])


@pytest.mark.parametrize("plan_kind", ["default", "judged", "cuped"])
def test_an_arm_whose_users_all_crossed_over_is_invalid_not_a_crash(example, plan_kind) -> None:
    """User ids reused across arms (here: row number mod 5,000) leave no treatment user: the
    crossover gate fails the experiment and every metric row says it has no data."""
    from abkit.judging.simulation import add_judge_labels

    log, options = example.copy(), {"split": 0.2}
    if plan_kind == "judged":
        log = add_judge_labels(log, helpful_rate={"control": 0.6, "treatment": 0.65}, seed=3)
    if plan_kind == "cuped":
        options = {"plan": load_plan(ROOT / "data" / "example_cuped_plan.yaml")}
        options["users"] = ROOT / "data" / "example_users.parquet"
        options["pre_period"] = ROOT / "data" / "example_pre_period.parquet"
    log["user_id"] = "u" + (np.arange(len(log)) % 5000).astype(str)
    result = analyze(log, **options)
    assert result.decision.verdict == "invalid"
    assert result.engine.users[1] == 0
    assert result.table["treatment"].isna().all() and result.table["p_value"].isna().all()
    if plan_kind == "judged":
        assert "judged" in set(result.table["kind"])
    if plan_kind == "cuped":
        assert result.engine.cuped  # the covariates were read


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize(
    "placeholder",
    ["", "   ", "\t", "None", "nan", "undefined", "\u00a0", "\u200b", "\ufeff", "N/A", "-", "0",
     "anonymous", "null ", "Guest"],
)  # fmt: skip
def test_blank_or_placeholder_user_ids_are_refused(example, tmp_path, form, placeholder) -> None:
    """Rows logged without a real user id (blank, or a missing value written as text) would be
    one user; they are refused with the count per id. An id that merely starts with a space or
    a symbol is an id."""
    log = example.copy()
    log.loc[log.index[:7], "user_id"] = placeholder
    log.loc[log.index[7:9], "user_id"] = " u-leading-space"
    expected = rf"'user_id' has 7 row\(s\) .*blank .*\{{{re.escape(repr(placeholder))}: 7\}}"
    if form == ".csv" and not placeholder:  # DuckDB reads an empty CSV field as NULL
        expected = r"column 'user_id' has 7 null value\(s\)"
    with pytest.raises(LogValidationError, match=expected):
        analyze(source(log, form, tmp_path), split=0.2)
    log.loc[log.index[:7], "user_id"] = "!first-printable"
    result = analyze(source(log, form, tmp_path, "fixed"), split=0.2)
    assert result.engine.rows == len(log)


def test_csv_booleans_written_as_text_read_as_one_and_zero(example, tmp_path) -> None:
    """pandas writes a boolean column as True / False: DuckDB types it BOOLEAN, the view reads
    it as 1 / 0 (by way of TINYINT: DuckDB 2.0 fails a BOOLEAN -> DOUBLE cast pushed into its
    CSV reader)."""
    log = example.assign(completed=example["completed"].astype(bool))
    expected = analyze(example, split=0.2).table
    got = analyze(source(log, ".csv", tmp_path), split=0.2).table
    pd.testing.assert_series_equal(got["treatment"], expected["treatment"], rtol=1e-12)


def test_a_csv_value_past_the_type_sniffer_is_named_with_its_line(example, tmp_path) -> None:
    """DuckDB types CSV columns from the first 20,480 rows; text further down stops the analysis
    with the column, the value, the line and the file, as a LogValidationError."""
    log = example.astype({"turns": object})
    log.loc[30_000, "turns"] = "three"
    path = source(log, ".csv", tmp_path)
    with pytest.raises(
        LogValidationError,
        match=r'CSV Error on Line: 30002; .*column "turns"\. Could not convert string "three"'
        rf".*; file = {re.escape(str(path))}",
    ):
        analyze(path, split=0.2)


def test_a_look_before_the_first_row_is_named(example) -> None:
    with pytest.raises(ValueError, match=r"until == '2020-01-01' is before the log's first row"):
        analyze(example, split=0.2, until="2020-01-01")
    naive = example.assign(timestamp=example["timestamp"].dt.tz_localize(None))
    assert analyze(naive, split=0.2, until="2026-01-08").engine.rows < len(example)


def test_too_few_users_for_a_variance_is_said_so(example) -> None:
    """Three users (2 control, 1 treatment): no delta-method variance, and the note says why
    rather than calling it zero variance; the decision does not ship."""
    log = example[example["user_id"].isin(example["user_id"].unique()[:3])]
    result = analyze(log, split=0.2)
    row = result.table.set_index("metric").loc["task_completion"]
    assert (row["n_control"], row["n_treatment"]) == (2, 1) and math.isnan(row["p_value"])
    assert row["note"] == "too few users for a variance (2 control, 1 treatment): no test possible"
    assert result.decision.verdict == "keep running"
    constant = analyze(example.assign(completed=1), split=0.2).table.set_index("metric")
    assert constant.loc["task_completion", "note"] == "zero variance in both arms: no test possible"


@pytest.mark.parametrize("form", FORMATS)
def test_placeholder_or_future_timestamps_are_flagged_with_counts(example, tmp_path, form) -> None:
    """Epoch 0 (a missing time written as a date) and a date a century ahead: a warning that
    counts them per arm; the metrics are those of the same rows with their real dates."""
    log = example.copy()
    control = log.index[log["variant"] == "control"][:2]
    treatment = log.index[log["variant"] == "treatment"][:1]
    log.loc[control, "timestamp"] = pd.Timestamp(0, tz="UTC")
    log.loc[treatment, "timestamp"] = pd.Timestamp("2126-01-05", tz="UTC")
    result = analyze(source(log, form, tmp_path), split=0.2)
    gate = result.health.table.set_index("gate").loc["timestamps"]
    assert (gate["status"], gate["control"], gate["treatment"]) == ("warn", 2, 1)
    assert "3 row(s) dated before 2000-01-01" in gate["detail"]
    assert "(1970-01-01 to 2126-01-05)" in gate["detail"]
    assert any(reason.startswith("Warning: timestamps") for reason in result.decision.reasons)
    plain = analyze(example, split=0.2)
    assert "timestamps" not in set(plain.health.table["gate"])
    pd.testing.assert_frame_equal(result.table, plain.table)
    # a look that leaves the future row out still warns of the one in 1970
    look = analyze(source(log, form, tmp_path, "look"), split=0.2, until="2026-01-12")
    gate = look.health.table.set_index("gate").loc["timestamps"]
    assert (gate["control"], gate["treatment"]) == (2, 0)


def test_parquet_parts_that_disagree_are_unified_or_refused_whatever_their_order(
    example, tmp_path
) -> None:
    """A folder's parts are read by column name: a part written with a float column (pandas
    does so when a value is missing) is not cast to another part's integers, so 0.5 is seen
    and refused whichever part comes first; a part without a column gives missing values,
    counted; a column that is text in one part is refused, naming the parts."""
    half = len(example) // 2
    first, second = example.iloc[:half], example.iloc[half:].copy()
    second["completed"] = second["completed"].astype(float)
    second.loc[second.index[:3], "completed"] = 0.5
    for order in ((first, second), (second, first)):
        folder = tmp_path / f"floats-{len(order[0])}"
        folder.mkdir()
        for k, part in enumerate(order):
            part.to_parquet(folder / f"part-{k}.parquet", index=False)
        with pytest.raises(LogValidationError, match=r"'completed': 3 value\(s\) outside whole"):
            analyze(folder, split=0.2)
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    first.to_parquet(lacking / "part-0.parquet", index=False)
    example.iloc[half:].drop(columns=["csat"]).to_parquet(lacking / "part-1.parquet", index=False)
    result = analyze(lacking, split=0.2)
    gate = result.health.table.set_index("gate").loc["missing csat"]
    unrated = example["csat"].isna() | (np.arange(len(example)) >= half)
    arms = example["variant"].eq("treatment")
    assert (gate["control"], gate["treatment"]) == pytest.approx(
        (unrated[~arms].mean(), unrated[arms].mean())
    )
    counts = f"{unrated[~arms].sum():,} control and {unrated[arms].sum():,} treatment"
    assert counts in gate["detail"]
    absent = result.health.table.set_index("gate").loc["parts without csat"]
    assert absent["status"] == "warn"
    where = f"absent from 1 of 2 parts (part-1.parquet; {len(example) - half:,} rows)"
    assert where in absent["detail"] and where in str(result.decision)
    text = tmp_path / "text"
    text.mkdir()
    first.to_parquet(text / "part-0.parquet", index=False)
    example.iloc[half:].assign(csat=lambda f: f["csat"].astype(str)).to_parquet(
        text / "part-1.parquet", index=False
    )
    with pytest.raises(
        LogValidationError,
        match=r"column 'csat' is text in 1 of 2 parts \(e.g. part-1.parquet\) and a number",
    ):
        analyze(text, split=0.2)


def test_a_part_that_renames_a_column_is_named_and_refused_for_a_key(example, tmp_path) -> None:
    """A part that writes a column under another name: for a metric's column its rows are
    missing values, and a health warning names the part, its rows and the name it has instead
    (the decision repeats it); for a column every row needs (the user id, also under the
    plan's column map) the log is refused, naming both."""
    half = len(example) // 2
    folder = tmp_path / "renamed"
    folder.mkdir()
    example.iloc[:half].to_parquet(folder / "day-1.parquet", index=False)
    late = example.iloc[half:].rename(columns={"completed": "resolved"})
    late.to_parquet(folder / "day-2.parquet", index=False)
    result = analyze(folder, split=0.2, metrics=metrics_by_name(["task_completion"]))
    gate = result.health.table.set_index("gate").loc["parts without completed"]
    assert gate["status"] == "warn"
    assert gate["detail"] == (
        f"column 'completed' is absent from 1 of 2 parts (day-2.parquet; {len(late):,} rows), "
        "which have ['resolved'] instead: their rows count as missing values of completed"
    )
    assert "Warning: parts without completed" in str(result.decision)
    assert result.decision.verdict == "ship"  # with the warning, not "every gate passed"
    assert "no health gate failed, 1 warned. Warning: parts without" in str(result.decision)
    late.rename(columns={"user_id": "customer"}).to_parquet(folder / "day-2.parquet", index=False)
    with pytest.raises(
        LogValidationError,
        match=r"column 'user_id' is absent from 1 of 2 parts \(day-2.parquet; [\d,]+ rows\), "
        r"which have \['customer', 'resolved'\] instead; every row needs it",
    ):
        analyze(folder, split=0.2)
    mapped = tmp_path / "mapped"
    mapped.mkdir()
    example.iloc[:half].rename(columns={"user_id": "customer"}).to_parquet(
        mapped / "day-1.parquet", index=False
    )
    example.iloc[half:].to_parquet(mapped / "day-2.parquet", index=False)
    with pytest.raises(LogValidationError, match=r"column 'customer' \(the log's user_id\) is"):
        analyze(mapped, plan=load_plan({"split": 0.2, "column_map": {"customer": "user_id"}}))


def test_until_means_the_same_on_every_path_and_must_be_iso(example) -> None:
    """A date means through that day whether given to the API, the CLI or the notebook; a
    spelling whose day and month could be swapped is refused, not guessed."""
    times = example["timestamp"]
    through = int((times < pd.Timestamp("2026-01-09", tz="UTC")).sum())
    assert analyze(example, split=0.2, until="2026-01-08").engine.rows == through
    assert analyze(example, split=0.2, until="2026-01-08T23:59:59.999999Z").engine.rows == through
    midnight = pd.Timestamp("2026-01-08", tz="UTC")
    assert analyze(example, split=0.2, until=midnight).engine.rows == int((times <= midnight).sum())
    with pytest.raises(ValueError, match=r"until == '01/08/2026', must be an ISO 8601 date"):
        analyze(example, split=0.2, until="01/08/2026")


@pytest.mark.parametrize("row", [3, 3000])
def test_a_dataframe_column_of_numbers_and_text_is_refused_wherever_the_text_sits(
    example, row
) -> None:
    """DuckDB types an object column from a sample of its rows: text in the sample made the
    column text, text past it a raw cast error. Either way the column is now named."""
    log = example.astype({"turns": object})
    log.loc[log.index[row], "turns"] = "three"
    with pytest.raises(
        LogValidationError,
        match=rf"DataFrame column 'turns' holds values of several types \(\{{'int': "
        rf"{len(log) - 1}, 'str': 1\}}\), e.g. 'three' in row {row}",
    ):
        analyze(log, split=0.2)
    ids = example.astype({"user_id": object})
    ids.loc[ids.index[5], "user_id"] = np.int64(12345)
    with pytest.raises(LogValidationError, match=r"'user_id' holds .* e.g. 12345 in row 5"):
        analyze(ids, split=0.2)


def test_a_reversed_valid_range_names_the_metric() -> None:
    with pytest.raises(ValueError, match=r"metric .x.: valid_range == \[1, 0\], must have low"):
        Metric("x", "ratio", "completed", valid_range=(1, 0))


@pytest.mark.parametrize("form", FORMATS)
def test_a_log_of_no_rows_says_so(example, tmp_path, form) -> None:
    """A CSV of its header alone reads every column as text: the message is that there are
    no rows, not that 'completed' must be numeric."""
    with pytest.raises(LogValidationError, match=r"has no rows"):
        analyze(source(example.head(0), form, tmp_path), split=0.2)
