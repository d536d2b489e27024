"""Cold start of the ``abkit`` command, timed against the floor of starting Python itself.

Each command runs --repeat times as a fresh process (best and median printed); the floor is
``python -c pass`` with the same interpreter, in the same run. Aims (issue 12, this machine):
``--help`` <= 0.3 s, ``design`` <= 0.6 s; ``analyze`` on the bundled log is reported.
With ``--simulate``: ``abkit simulate`` of 10M dialogs (3.33M users; streamed in blocks), its
time and peak memory (aim <= 15 s, <= 1 GiB), once.

Run: .venv/bin/python benchmarks/bench_startup.py [--repeat 5] [--simulate]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
ABKIT = str(Path(sys.executable).parent / "abkit")
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "abkit --help": [ABKIT, "--help"],
    "abkit design": [ABKIT, "design", "--baseline", "0.75", "--mde", "0.05", "--split", "0.2"],
    "abkit analyze (bundled log)": [
        ABKIT,
        "analyze",
        str(KIT / "data" / "example_dialogs.parquet"),
        "--split",
        "0.2",
    ],
}
AIMS = {"abkit --help": 0.3, "abkit design": 0.6}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--simulate", action="store_true", help="also simulate 10M dialogs")
    args = parser.parse_args()
    floor = None
    for name, command in COMMANDS.items():
        times = [timed(command) for _ in range(args.repeat)]
        best, median = min(times), statistics.median(times)
        floor = floor or best
        aim = (
            f"  aim <= {AIMS[name]} s: {'met' if median <= AIMS[name] else 'missed'}"
            if name in AIMS
            else ""
        )
        print(
            f"{name:30s} best {best:5.2f} s  median {median:5.2f} s  "
            f"x{best / floor:5.1f} of the floor{aim}"
        )

    if args.simulate:
        out = KIT / "benchmarks" / "output" / "simulated_10m.parquet"
        command = ["/usr/bin/time", "-f", "%e %M", ABKIT, "simulate", "--users", "3333334"]
        done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
        seconds, kib = done.stderr.strip().splitlines()[-1].split()
        print(
            f"{done.stdout.strip()}\nabkit simulate 10M dialogs: {float(seconds):.1f} s, peak "
            f"{int(kib) / 2**20:.2f} GiB (aim <= 15 s, <= 1 GiB)"
        )


if __name__ == "__main__":
    main()
