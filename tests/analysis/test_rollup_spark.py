"""The rollup of a folder of parts on Spark (abkit.analysis.rollup with
abkit.analysis.spark_source): every look from Spark's rollup equals the full scan of the folder
(cache=False) on every bundled log and on the bad logs of the DuckDB rollup's tests, and an
added, changed or removed part is detected. The full scan is DuckDB's, which Spark's own full
scan equals on the same logs (tests/analysis/test_spark.py); Spark's own for a folder with a
file only Spark reads. Skipped, with the reason, where pyspark or a Java
runtime is missing."""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_rollup
from conftest import slow_scale
from test_rollup import (  # the DuckDB rollup's helpers and bad logs, reused as they are
    BAD_CASES,
    BUNDLED,
    _assert_same_outcome,
    _bad_logs,
    _day,
    all_but_the_last_day,
    assert_same,
    both,
    bundled_in_parts,
    split_by_day,
    stored_parts,
)

from abkit.analysis.results import analyze_plan, cumulative_effects
from abkit.analysis.rollup import PartsChanged, reads_the_log

pytest.importorskip("pyspark", reason="pyspark not installed: pip install 'abkit[spark]'")
pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install 'abkit[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17+", allow_module_level=True)

from abkit.analysis.spark_source import spark_session  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning")


def split_in_fives(frame: pd.DataFrame, folder: Path) -> Path:
    """Parts of five UTC days each: a Spark look costs about 0.1 s more per part file."""
    folder.mkdir(parents=True, exist_ok=True)
    days = pd.to_datetime(frame["timestamp"], utc=True).dt.floor("D")
    for _, rows in frame.groupby(((days - days.min()).dt.days // 5).to_numpy(), sort=True):
        first = days[rows.index].min().strftime("%Y-%m-%d")
        table = pa.Table.from_pandas(rows, preserve_index=False)
        pq.write_table(table, folder / f"days-from-{first}.parquet")
    return folder


# At a reduced size (ABKIT_SLOW_SCALE < 1, as in CI) the cases that reach each of the rollup's
# paths on Spark: the default plan (quantiles), three arms, an experiment filter, a column map;
# a repeat across parts, a range, a non-finite value, a crossover, an implausible time.
FULL = slow_scale() >= 1
LOGS = sorted(BUNDLED) if FULL else ["abn", "custom", "example", "otel"]
CASES = BAD_CASES if FULL else [BAD_CASES[i] for i in (0, 1, 2, 5, 7)]

parts = test_rollup.parts  # the example log in daily parts and its plan without quantiles
build_at_the_first_look = test_rollup.build_at_the_first_look  # autouse: built at once


@pytest.fixture(scope="module")
def spark():
    return spark_session("local[2]")


def on_spark(folder: Path, plan, cache: Path, spark, **kwargs):
    """DuckDB's full scan, and the look on Spark from Spark's rollup."""
    full = analyze_plan(folder, plan, cache=False, novelty=False, **kwargs)
    return full, analyze_plan(folder, plan, cache=cache, novelty=False, spark=spark, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", LOGS)
def test_rollup_on_spark_equals_the_full_scan_on_every_bundled_log(name, spark, tmp_path):
    folder, plan = bundled_in_parts(name, tmp_path / "log", split_in_fives)
    cache = tmp_path / "rollup"
    count = len(list(folder.glob("*.parquet")))
    if reads_the_log(plan):  # the checks from the rollup, the per-user pass on the log
        if name == "example":  # the default plan (the pass on the log is test_spark.py's)
            assert_same(*on_spark(folder, plan, cache, spark))
        plan = dataclasses.replace(
            plan, metrics=tuple(m for m in plan.metrics if m.kind != "quantile")
        )
    full, rolled = on_spark(folder, plan, cache, spark)
    assert_same(full, rolled)
    assert rolled.engine.read_from.startswith(f"rollup of {count} part(s)")
    assert len(stored_parts(cache)) == count  # looks through a day: the bad logs' test


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_rollup_on_spark_gives_the_full_scans_verdicts_on_bad_logs(case, parts, spark, tmp_path):
    frame, plan = parts
    folder = split_in_fives(_bad_logs(frame)[case], tmp_path / "log")
    cache = tmp_path / "rollup"
    whole = _assert_same_outcome(folder, plan, cache, spark)
    if case in ("value out of range", "infinite value", "repeated id across parts"):
        assert isinstance(whole, str)  # the bad part is the last: a look before it passes
        early = _assert_same_outcome(folder, plan, cache, spark, until="2026-01-10")
        assert not isinstance(early, str)


def test_parts_added_changed_or_removed_on_spark_are_detected(parts, spark, tmp_path) -> None:
    frame, plan = parts
    days, folder, cache = all_but_the_last_day(frame, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartsChanged)
        assert_same(*on_spark(folder, plan, cache, spark))
        split_by_day(frame[_day(frame, days[-1])], folder)  # the next day's part arrives
        full, rolled = both(folder, plan, cache, spark=spark)
        assert_same(full, rolled)
        assert (
            rolled.engine.read_from == f"rollup of {len(days)} part(s) (1 rolled up by this look)"
        )

    changed = folder / f"day-{days[3]}.parquet"
    rows = pq.read_table(changed).to_pandas()
    rows.loc[rows.index[0], "completed"] = 1 - rows.loc[rows.index[0], "completed"]
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), changed)
    with pytest.warns(PartsChanged, match=rf"part day-{days[3]}.parquet changed"):
        rolled = analyze_plan(folder, plan, cache=cache, novelty=False, spark=spark)
    assert_same(analyze_plan(folder, plan, cache=False, novelty=False), rolled)

    (folder / f"day-{days[5]}.parquet").unlink()
    with pytest.warns(PartsChanged, match=rf"part day-{days[5]}.parquet is no longer"):
        rolled = analyze_plan(folder, plan, cache=cache, novelty=False, spark=spark)
    assert_same(analyze_plan(folder, plan, cache=False, novelty=False), rolled)

    metric = next(m.name for m in plan.metrics if m.role == "primary")
    full = cumulative_effects(folder, plan, metric, cache=False)  # DuckDB's looks, scanned
    over = cumulative_effects(folder, plan, metric, cache=cache, spark=spark)  # Spark's rollup
    pd.testing.assert_frame_equal(full, over, check_exact=False, rtol=1e-10)
    assert len(over) == len(days)

    # DuckDB keeps a rollup of its own (its dialog-id hash is another function than Spark's)
    assert analyze_plan(folder, plan, cache=cache, novelty=False).engine.read_from
    assert len(list(cache.glob("*/parts.json"))) == 2


def test_a_folder_where_spark_reads_more_than_the_parts_is_scanned(parts, spark, tmp_path):
    """Spark reads every file of a folder, ``*.parquet`` or not; the rollup keeps the
    ``*.parquet`` parts. A folder with another file (here the last day as ``.parq``) is
    scanned whole, never read from a rollup that misses that file."""
    frame, plan = parts
    folder = split_by_day(frame, tmp_path / "log")
    last = sorted(folder.glob("*.parquet"))[-1]
    last.rename(last.with_suffix(".parq"))
    full, rolled = both(folder, plan, tmp_path / "rollup", spark=spark)
    assert_same(full, rolled)
    assert rolled.engine.read_from == ""
    assert rolled.engine.rows == len(frame)
