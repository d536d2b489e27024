"""A log folder's parts as the rollup sees them (:mod:`abkit.analysis.rollup`): each part's
print and checksum, and the small JSON files the rollup keeps beside its tables."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

__all__ = ["RACY_NS", "PartPrint", "checksum", "part_prints", "read_json", "write_json"]


@dataclass(frozen=True)
class PartPrint:
    """What a look reads of a part before trusting its stored statistics: its name, size,
    modification time, row count and a hash of its Parquet footer (row groups, offsets,
    statistics)."""

    name: str
    size: int
    modified_ns: int
    rows: int
    footer: str

    @property
    def text(self) -> str:
        return f"{self.name}|{self.size}|{self.modified_ns}|{self.rows}|{self.footer}"


def part_prints(folder: Path) -> tuple[PartPrint, ...]:
    """The :class:`PartPrint` of every ``*.parquet`` file of ``folder`` (by name)."""
    prints = []
    for path in sorted(folder.glob("*.parquet")):
        stat = path.stat()
        with path.open("rb") as file:
            file.seek(max(stat.st_size - 8, 0))
            tail = file.read(8)
            length = int.from_bytes(tail[:4], "little") if len(tail) == 8 else 0
            file.seek(max(stat.st_size - 8 - length, 0))
            footer = hashlib.md5(file.read(length)).hexdigest()
        rows = pq.read_metadata(path).num_rows
        prints.append(PartPrint(path.name, stat.st_size, stat.st_mtime_ns, rows, footer))
    return tuple(prints)


def checksum(path: Path) -> int:
    """CRC-32 of a file's bytes (about 0.25 s for 260 MB)."""
    value = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 24):
            value = zlib.crc32(chunk, value)
    return value


# A part modified less than this before its print was taken may change again within the
# clock's tick (or a file server's clock may differ): its bytes are checked at the next look.
RACY_NS = 10_000_000_000


def write_json(path: Path, value: Any) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none yet, or torn by a crash: rebuilt
