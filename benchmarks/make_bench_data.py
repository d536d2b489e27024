"""Write the analysis benchmark's log: ~10M dialogs from 1M users in one Parquet file (seeded).

Beside it, for the CUPED lines: the same users' pre-period (14 days, ``*_pre.parquet``) and a
users table built from it (``*_users.parquet``: past completion, measured at the start).

Run: .venv/bin/python benchmarks/make_bench_data.py [--users 1000000] [--out FILE]
Users average 10 dialogs (heavy-tailed), 80/20 split, a modest true effect.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from abkit.serve.events import write_log
from abkit.teaching.simulate import (
    SimulationConfig,
    simulate_dialogs,
    simulate_pre_period,
    users_table,
)

DEFAULT_OUT = Path(__file__).parent / "output" / "dialogs_10m.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dialogs-per-user", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    config = SimulationConfig(
        n_users=args.users,
        dialogs_per_user=args.dialogs_per_user,
        split=0.2,
        seed=10_000_000,
        experiment="bench-10m",
        effects={"treatment": {"completion": 0.02, "latency": 0.03}},
    )
    dialogs = simulate_dialogs(config)
    simulated = time.perf_counter() - started
    write_log(dialogs, args.out)
    print(
        f"{len(dialogs):,} dialogs from {args.users:,} users: simulated in {simulated:.1f} s, "
        f"written to {args.out} ({args.out.stat().st_size / 2**20:.0f} MiB) in "
        f"{time.perf_counter() - started - simulated:.1f} s"
    )
    del dialogs
    pre = simulate_pre_period(config, days=14, stability=0.8, coverage=0.7)
    write_log(pre, covariate_paths(args.out)[0])
    # summaries taken a second before the start (a first dialog at 00:00:00 is exposure)
    users_table(pre, config.start + "T00:00:00+00:00").assign(
        measured_at=lambda t: t["measured_at"] - pd.Timedelta(seconds=1)
    ).to_parquet(covariate_paths(args.out)[1], index=False)
    print(f"{len(pre):,} pre-period dialogs and a users table beside it")


def covariate_paths(log: Path) -> tuple[Path, Path]:
    """The pre-period log and users table written beside a benchmark log."""
    return log.with_name(log.stem + "_pre.parquet"), log.with_name(log.stem + "_users.parquet")


if __name__ == "__main__":
    main()
