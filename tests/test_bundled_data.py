"""The bundled example log is what `make data` regenerates, and the data dictionary covers it."""

from __future__ import annotations

import pandas as pd
import pytest

from abkit.analysis.log_source import read_log
from abkit.core.paths import DATA_DIR
from abkit.serve.events import DIALOG_SCHEMA, EVENT_SCHEMA
from abkit.teaching.simulate import SCENARIOS, simulate_dialogs


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_committed_logs_are_up_to_date(name: str) -> None:
    arms = list(SCENARIOS[name].arms)  # an A/B/n log has more labels than control / treatment
    committed = read_log(DATA_DIR / f"{name}.parquet", variants=arms)
    regenerated = simulate_dialogs(SCENARIOS[name])
    assert 20_000 <= len(committed) <= 60_000
    pd.testing.assert_frame_equal(
        committed.reset_index(drop=True),
        regenerated.reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-12,
    )


def test_data_dictionary_documents_every_column() -> None:
    text = (DATA_DIR / "README.md").read_text()
    for column in DIALOG_SCHEMA.columns + EVENT_SCHEMA.columns:
        assert f"| `{column.name}` |" in text, column.name


def test_case_study_reconstruction_is_up_to_date() -> None:
    from abkit.teaching.casestudy import CASE_STUDY_LOG, SEED_CASE, reconstruct_dialogs

    committed = read_log(DATA_DIR / CASE_STUDY_LOG)
    pd.testing.assert_frame_equal(
        committed.reset_index(drop=True),
        reconstruct_dialogs(SEED_CASE, seed=0).reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-12,
    )


def test_custom_columns_log_is_up_to_date() -> None:
    from abkit.teaching.simulate import CUSTOM_COLUMNS_LOG, EXAMPLE_CONFIG, custom_columns_log

    committed = pd.read_parquet(DATA_DIR / CUSTOM_COLUMNS_LOG)
    pd.testing.assert_frame_equal(
        committed.reset_index(drop=True),
        custom_columns_log(simulate_dialogs(EXAMPLE_CONFIG)).reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-12,
    )


def test_pre_period_and_users_table_are_up_to_date() -> None:
    from abkit.teaching.simulate import (
        EXAMPLE_CONFIG,
        EXAMPLE_PRE_PERIOD,
        EXAMPLE_PRE_PERIOD_LOG,
        EXAMPLE_USERS_TABLE,
        simulate_pre_period,
        users_table,
    )

    pre = simulate_pre_period(EXAMPLE_CONFIG, **EXAMPLE_PRE_PERIOD)
    pd.testing.assert_frame_equal(
        pd.read_parquet(DATA_DIR / EXAMPLE_PRE_PERIOD_LOG), pre, check_dtype=False, rtol=1e-12
    )
    users = users_table(pre, pd.Timestamp(EXAMPLE_CONFIG.start, tz="UTC"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(DATA_DIR / EXAMPLE_USERS_TABLE), users, check_dtype=False, rtol=1e-12
    )


def test_judging_examples_are_up_to_date(tmp_path) -> None:
    from abkit.teaching import examples as judging

    written = judging.write_examples(tmp_path)
    assert [p.name for p in written] == [
        judging.EXAMPLE_PAIRWISE,
        judging.EXAMPLE_GRADES,
        judging.EXAMPLE_JUDGED_LOG,
    ]
    for path in written[:2]:
        pd.testing.assert_frame_equal(pd.read_csv(DATA_DIR / path.name), pd.read_csv(path))
    pd.testing.assert_frame_equal(
        pd.read_parquet(DATA_DIR / judging.EXAMPLE_JUDGED_LOG), pd.read_parquet(written[2])
    )
    for path in judging.write_judge_file_examples(tmp_path):
        pd.testing.assert_frame_equal(pd.read_csv(DATA_DIR / path.name), pd.read_csv(path))
    text = (DATA_DIR / "README.md").read_text()
    for column in ("shown_first", "winner", "length_a", "passed", "judge_helpful", "human_helpful",
                   "model_a", "left_model", "left_tokens"):  # fmt: skip
        assert f"`{column}`" in text, column
