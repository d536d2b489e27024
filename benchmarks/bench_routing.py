"""Routing and simulation speed (issue: routing, event log and traffic simulation).

Prints, in one run on this machine:
- ids/s of ``abkit.serve.routing.assign_many`` on 1M ids (from a Python list and from an Arrow
  column), and of the seed's per-id loop (``ABRouter.assign`` restated), with the ratio;
- the time to simulate about 1M dialogs with ``abkit.teaching.simulate.simulate_dialogs``.

Run: .venv/bin/python benchmarks/bench_routing.py [--ids 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import time

import pandas as pd
import pyarrow as pa

from abkit.serve.routing import assign_many
from abkit.teaching.simulate import simulate_dialogs


class SeedRouter:
    """The seed document's router, restated: one md5 per id in a Python method call."""

    def __init__(self, experiment_name: str, split: float = 0.5) -> None:
        self.experiment_name = experiment_name
        self.split = split

    def assign(self, user_id: str) -> str:
        hash_value = int(hashlib.md5(f"{self.experiment_name}:{user_id}".encode()).hexdigest(), 16)
        return "treatment" if (hash_value % 10000) / 10000 < self.split else "control"


def best_of(repeat: int, action) -> float:
    """Smallest wall time of ``repeat`` runs (after one warm-up run)."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ids = [f"user-{i:07d}" for i in range(args.ids)]
    column = pa.array(ids)
    series = pd.Series(ids, dtype="string[pyarrow]")
    router = SeedRouter("fine-tuned-v2-test", split=0.2)

    seed_s = best_of(args.repeat, lambda: [router.assign(user) for user in ids])
    list_s = best_of(args.repeat, lambda: assign_many("fine-tuned-v2-test", ids, 0.2))
    arrow_s = best_of(args.repeat, lambda: assign_many("fine-tuned-v2-test", column, 0.2))
    series_s = best_of(args.repeat, lambda: assign_many("fine-tuned-v2-test", series, 0.2))
    assert list(assign_many("fine-tuned-v2-test", ids[:10_000], 0.2)) == [
        router.assign(user) for user in ids[:10_000]
    ]
    print(f"ids: {args.ids:,}")
    print(f"seed per-id loop          {seed_s:7.3f} s  {args.ids / seed_s:13,.0f} ids/s")
    print(
        f"assign_many (Python list) {list_s:7.3f} s  {args.ids / list_s:13,.0f} ids/s  "
        f"x{seed_s / list_s:.1f} vs seed loop"
    )
    print(
        f"assign_many (Arrow array) {arrow_s:7.3f} s  {args.ids / arrow_s:13,.0f} ids/s  "
        f"x{seed_s / arrow_s:.1f} vs seed loop"
    )
    print(
        f"assign_many (pd.Series)   {series_s:7.3f} s  {args.ids / series_s:13,.0f} ids/s  "
        f"x{seed_s / series_s:.1f} vs seed loop"
    )

    n_users = 333_000  # about 3 dialogs per user: ~1M dialogs
    dialogs = simulate_dialogs(n_users=n_users, seed=1)
    simulate_s = best_of(args.repeat, lambda: simulate_dialogs(n_users=n_users, seed=1))
    print(
        f"simulate_dialogs: {len(dialogs):,} dialogs from {n_users:,} users in {simulate_s:.2f} s "
        f"({len(dialogs) / simulate_s:,.0f} dialogs/s; aim < 5 s)"
    )


if __name__ == "__main__":
    main()
