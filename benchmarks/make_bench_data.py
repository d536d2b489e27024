"""Write the analysis benchmark's log: ~10M dialogs from 1M users in one Parquet file (seeded).

Run: .venv/bin/python benchmarks/make_bench_data.py [--users 1000000] [--out FILE]
Users average 10 dialogs (heavy-tailed), 80/20 split, a modest true effect.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from abkit.events import write_log
from abkit.simulate import SimulationConfig, simulate_dialogs

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


if __name__ == "__main__":
    main()
