"""`make data` (abkit simulate --bundled) runs to its end and writes what data/ holds."""

from __future__ import annotations

import filecmp
import shutil

import pandas as pd

from abkit.core.paths import DATA_DIR


def test_simulate_bundled_rewrites_every_committed_log(tmp_path, monkeypatch, capsys) -> None:
    import abkit.cli.experiments as experiments
    from abkit.cli.main import main

    shutil.copy(DATA_DIR / "example_prices.yaml", tmp_path)  # kept by hand, not generated
    monkeypatch.setattr(experiments, "DATA_DIR", tmp_path)
    assert main(["simulate", "--bundled"]) == 0
    printed = capsys.readouterr().out
    assert "GenAI spans (OTLP/JSON)" in printed and "judge-file example" in printed
    written = sorted(p.name for p in tmp_path.glob("*.parquet"))
    assert len(written) >= 10
    for name in written:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / name),
            pd.read_parquet(DATA_DIR / name),
            check_exact=False,
            rtol=1e-12,
            obj=name,
        )
    texts = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".csv", ".jsonl"))
    assert len(texts) == 5  # the judge files and the OTel span export: the same bytes
    for name in texts:
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), name
