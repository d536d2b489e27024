"""Ingesting OpenTelemetry GenAI spans: 1M spans through abkit.ingest.otel.ingest_otel.

Times the ingestion (and its peak memory, in a child process) against a floor measured in the
same run: DuckDB reading the same files and counting the spans (no mapping, no folding). The
export is written once from a simulated dialog log into a cache folder.

    .venv/bin/python benchmarks/bench_ingest.py [--spans 1000000] [--cache /tmp/abkit-bench]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
kind, files, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
started = time.perf_counter()
if kind == "floor":
    import duckdb
    from abkit.ingest.otlp import _EXPORT_TYPE  # the same typed read as the kit's
    listing = "[" + ", ".join(repr(f) for f in files) + "]"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    count = con.execute(
        "SELECT sum(len(s.spans)) FROM (SELECT unnest(r.scopeSpans) AS s FROM (SELECT "
        f"unnest(resourceSpans) AS r FROM read_json({listing}, format='newline_delimited', "
        f"columns={{'resourceSpans': '{_EXPORT_TYPE}'}})))"
    ).fetchone()[0]
    detail = {"spans": int(count)}
else:
    from abkit.ingest.otel import ingest_otel
    report = ingest_otel(files, out)
    detail = {"spans": report.spans, "dialogs": report.dialogs, "summary": report.summary()}
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": peak, **detail}))
"""


def _run(kind: str, files: list[Path], out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, ",".join(map(str, files)), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="about this many spans")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/abkit-bench"))
    args = parser.parse_args()
    from abkit.teaching.examples import write_spans_from_dialogs
    from abkit.teaching.simulate import SimulationConfig, simulate_dialogs

    args.cache.mkdir(parents=True, exist_ok=True)
    export = args.cache / f"spans_{args.spans}.jsonl"
    if not export.exists():
        # about 4.1 spans per dialog (a root span and ~3.1 turns), ~3 dialogs per user
        users = max(1, int(args.spans / 4.0 / 3))
        dialogs = simulate_dialogs(SimulationConfig(n_users=users, seed=1))
        started = time.perf_counter()
        written = write_spans_from_dialogs(dialogs, export)
        print(f"wrote {written:,} spans in {time.perf_counter() - started:.0f} s -> {export}")
    out = args.cache / "ingested.parquet"
    floor = _run("floor", [export], out)
    ingest = _run("ingest", [export], out)
    print(
        "floor (DuckDB reads the spans with the same typed schema and counts them): "
        f"{floor['seconds']:.1f} s, peak {floor['peak_mib']:.0f} MiB, {floor['spans']:,} spans"
    )
    print(
        f"abkit ingest otel: {ingest['seconds']:.1f} s, peak {ingest['peak_mib']:.0f} MiB; "
        f"{ingest['summary']}"
    )
    print(
        f"ratio to the floor: time {ingest['seconds'] / floor['seconds']:.2f}, "
        f"memory {ingest['peak_mib'] / floor['peak_mib']:.2f}"
    )


if __name__ == "__main__":
    main()
