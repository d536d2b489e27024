"""The README's "One folder per experiment" walk-through, run as written: a `;`-separated log
with other column names, a custom plan, `abkit new`, `analyze`, `design` and `run`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from abkit.core.paths import KIT_ROOT


def walkthrough() -> str:
    text = (KIT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S
    )
    assert block, "README.md has no walk-through block"
    return block.group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path) -> None:
    # the kit's folders as a user sees them from its root; experiments go to tmp_path
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "data").symlink_to(KIT_ROOT / "data")
    env = {**os.environ, "ABKIT_EXPERIMENTS": str(tmp_path / "experiments")}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    folder = tmp_path / "experiments" / "support-bot-v2"
    assert (folder / "experiment.yaml").is_file()
    assert "SHIP: stars improved significantly" in done.stdout
    assert "response_p95 guardrail  1.89 s    1.95 s" in done.stdout
    memo = next(line for line in done.stdout.splitlines() if line.startswith("memo: "))
    assert Path(memo.removeprefix("memo: ")).is_file()
    assert (folder / "reports" / "latest" / "03_significance_analysis" / "memo.html").is_file()
