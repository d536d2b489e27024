"""The decision memo, read as a browser reads it: parsed HTML, not string fragments."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from abkit.analysis.results import analyze
from abkit.core.paths import DATA_DIR, KIT_ROOT
from abkit.report.memo import memo_html, memo_table, write_memo

CASES = {
    "bundled": ("example_dialogs.parquet", {"split": 0.2}),
    "breach": ("scenario_guardrail_breach.parquet", {"split": 0.2}),
    "srm": ("scenario_srm.parquet", {"split": 0.2}),
    "custom": ("example_custom_columns.parquet", {"plan": DATA_DIR / "example_custom_plan.yaml"}),
}
SHARES = {
    "task_completion",
    "escalation_rate",
    "like_rate",
    "return_7d",
    "error_rate",
    "resolution_rate",
    "refusal_rate",
}
EXPECTED_VERDICT = {"bundled": "ship", "breach": "don't ship", "srm": "invalid", "custom": "ship"}


class _Page(HTMLParser):
    """Elements in document order (tag, attributes), the text, and each metric row's cells
    (the texts inside each <td>, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "tr" and "data-metric" in attributes:
            self._row = attributes["data-metric"]
            self.rows[self._row] = []
        elif tag == "td" and self._row is not None:
            self.rows[self._row].append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None and data.strip():
            self.rows[self._row][-1].append(data.strip())

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.elements if "id" in a]


@pytest.fixture(scope="module", params=sorted(CASES))
def memo(request, tmp_path_factory):
    name, options = CASES[request.param]
    result = analyze(DATA_DIR / name, **options)
    path = write_memo(result, tmp_path_factory.mktemp("memo") / "memo.html", DATA_DIR / name)
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return request.param, result, page, path.read_text(encoding="utf-8")


def test_the_decision_comes_first_then_gates_results_figure_plan_data(memo) -> None:
    case, result, page, _ = memo
    assert page.ids() == ["decision", "health", "results", "forest", "plan", "provenance"]
    tags = [tag for tag, _ in page.elements]
    assert tags.index("section") < tags.index("table")
    assert result.decision.verdict == EXPECTED_VERDICT[case]
    decision_text = " ".join(page.text)
    assert result.decision.verdict.upper() in decision_text
    for reason in result.decision.reasons:
        assert reason in decision_text


def test_no_code_no_external_resources_no_absolute_paths(memo) -> None:
    _, _, page, source = memo
    tags = {tag for tag, _ in page.elements}
    assert not tags & {"pre", "code", "script", "link", "iframe"}
    images = [a for tag, a in page.elements if tag == "img"]
    assert images and all(a["src"].startswith("data:image/svg+xml;base64,") for a in images)
    assert all(a.get("alt") for a in images)
    for fragment in (str(KIT_ROOT), str(DATA_DIR), "/tmp/", "file:", "import ", "In ["):
        assert fragment not in source
    assert "example" in source or "scenario" in source  # the log's base name is shown


def test_every_metric_has_a_row_with_effect_ci_unit_and_readable_p(memo) -> None:
    _, result, page, source = memo
    shown = result.table[result.table["role"] != "check"]
    assert list(page.rows) == [
        m
        for role in ("primary", "guardrail", "secondary", "monitor")
        for m in shown.loc[shown["role"] == role, "metric"]
    ]
    for row in shown.itertuples():
        name, control, treatment, effect, relative, p, verdict = page.rows[row.metric]
        assert name[0] == row.metric
        assert len(effect) == 2 and effect[1].startswith("[") and effect[1].endswith("]")
        assert relative[0].endswith(" %") and relative[1].startswith("[")
        unit = " pp" if row.metric in SHARES else f" {row.unit}" if row.unit else ""
        assert effect[0].endswith(unit) and bool(re.search(r"\d$", effect[0])) == (not unit)
        if row.metric in SHARES:
            assert control[0].endswith(" %") and treatment[0].endswith(" %")
        elif row.unit:
            assert control[0].endswith(f" {row.unit}") and treatment[0].endswith(f" {row.unit}")
        assert re.fullmatch(r"(< 1e-16|\d\.\d?e-\d+|[01](\.\d+)?|0\.\d+)", p[0]), p
        if row.role == "guardrail":
            assert verdict[-1].startswith("margin "), verdict
    assert "0.0000" not in source and "nan" not in " ".join(page.text).lower().split()


def test_an_invalid_experiment_says_its_numbers_are_not_to_be_read(memo) -> None:
    case, _, _, source = memo
    warned = "not to be interpreted" in source
    assert warned == (case == "srm")


def test_memo_table_formats_shares_units_p_values_and_colours() -> None:
    result = analyze(DATA_DIR / "scenario_guardrail_breach.parquet", split=0.2)
    table = memo_table(result).set_index("metric")
    raw = result.table.set_index("metric")
    completion = table.loc["task_completion"]
    assert completion["control"] == f"{raw.loc['task_completion', 'control'] * 100:.1f} %"
    low, high = raw.loc["task_completion", ["ci_low", "ci_high"]] * 100
    assert completion["effect"].endswith(f"[+{low:.1f}, +{high:.1f}]")
    p95 = table.loc["latency_p95"]
    assert p95["status"] == "worse" and p95["verdict"] == "worse than its margin"
    assert p95["margin"].startswith("+") and p95["margin"].endswith(" ms")
    assert table.loc["csat", "p"] == "< 1e-16"
    assert table.loc["return_7d", "status"] == "unclear"


def test_a_dataframe_source_is_named_by_its_size(tmp_path) -> None:
    from abkit.analysis.log_source import read_log

    log = read_log(DATA_DIR / "example_dialogs.parquet")
    page = memo_html(analyze(log, split=0.2), log)
    assert f"a DataFrame of {len(log):,} rows" in page


def test_cli_writes_the_memo_and_refuses_a_non_html_name(tmp_path) -> None:
    from kit_cli import abkit

    target = tmp_path / "out" / "memo.html"
    done = abkit(
        "analyze",
        str(DATA_DIR / "example_dialogs.parquet"),
        "--split",
        "0.2",
        "--memo",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"memo: {target}")
    assert "SHIP" in target.read_text(encoding="utf-8")
    wrong = abkit(
        "analyze",
        str(DATA_DIR / "example_dialogs.parquet"),
        "--split",
        "0.2",
        "--memo",
        str(tmp_path / "memo.txt"),
    )
    assert wrong.returncode == 2
    assert "must name an .html file" in wrong.stderr
    assert not (tmp_path / "memo.txt").exists()


def test_the_memo_names_files_by_base_name_only(tmp_path) -> None:
    copy = tmp_path / "deep" / "folder" / "my_log.parquet"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((DATA_DIR / "example_dialogs.parquet").read_bytes())
    page = memo_html(analyze(copy, split=0.2), copy)
    assert "my_log.parquet" in page and str(copy.parent) not in page and "deep" not in page


def test_forest_plot_panels_per_role_show_every_interval_and_margin() -> None:
    import matplotlib.pyplot as plt

    from abkit.report import plots

    result = analyze(DATA_DIR / "example_dialogs.parquet", split=0.2)
    axes = plots.forest_plot(result.table)
    titles = [ax.get_title(loc="left").split(":")[0] for ax in axes]
    assert titles == ["Primary", "Guardrails", "Secondary", "Monitors"]
    table = result.table[result.table["role"] != "check"]
    for ax, role in zip(axes, ("primary", "guardrail", "secondary", "monitor"), strict=True):
        rows = table[table["role"] == role]
        low, high = ax.get_xlim()
        assert low <= rows["relative_ci_low"].min() and rows["relative_ci_high"].max() <= high
        for row in rows[rows["role"] == "guardrail"].itertuples():
            bound = row.margin / abs(row.control) * (-1 if row.higher_is_better else 1)
            assert low < bound < high  # the margin is drawn inside the visible range
        assert ax.get_legend() is None
        drawn = [label.get_text().split(" (")[0] for label in ax.get_yticklabels()]
        assert sorted(drawn) == sorted(rows["metric"])
    # the primary's panel is scaled to the primary: its interval spans > 1/4 of the axis
    low, high = axes[0].get_xlim()
    primary = table[table["role"] == "primary"].iloc[0]
    assert (primary["relative_ci_high"] - primary["relative_ci_low"]) / (high - low) > 0.25
    plt.close("all")


def test_a_group_sequential_memo_names_the_look_and_its_boundary(tmp_path) -> None:
    from abkit.experiment.settings import parse_until

    plan = {"split": 0.2, "monitoring": {"kind": "group_sequential", "planned_users": 12000}}
    result = analyze(
        DATA_DIR / "example_dialogs.parquet",
        plan=plan,
        looks_file=tmp_path / "looks.json",
        until=parse_until("until", "2026-01-08"),
    )
    page = memo_html(result, DATA_DIR / "example_dialogs.parquet")
    assert f"look 1: significant when |z| &gt;= {result.monitoring.z_boundary:.3f}" in page
    assert "group-sequential, obrien fleming spending, 12,000 planned users" in page
    assert "2026-01-08 23:59" in page and "2026-01-18" not in page  # the look's period


def test_the_memo_names_the_judge_model_of_a_judged_metric() -> None:
    from abkit.plan.experiment_plan import ExperimentPlan
    from abkit.plan.metrics import Metric

    log = DATA_DIR / "example_judged_dialogs.parquet"

    def page(model: str) -> str:
        metric = Metric("helpful", "judged", "human_helpful", judge="judge_helpful",
                        judge_model=model, role="primary")  # fmt: skip
        plan = ExperimentPlan(split=0.2, metrics=(metric,))
        return memo_html(analyze(log, plan=plan), log)

    assert "judge judge_helpful (gpt-4o-2024-08-06)" in page("gpt-4o-2024-08-06")
    assert "judge judge_helpful (judge model not recorded)" in page("")


def test_only_a_judged_metric_has_a_judge_model() -> None:
    from abkit.plan.metrics import Metric

    with pytest.raises(ValueError, match=r"judge_model == 'gpt-4o': only a 'judged' metric has"):
        Metric("done", "ratio", "completed", judge_model="gpt-4o")
