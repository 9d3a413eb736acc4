"""A run's reported results (`RunUpdate.finals`) as rows of `finals`: rewritten whole on every read, like
params. The value is kept twice: as REAL for filters and sorts (NaN is NULL there) and as its exact 8 bytes
(NaN, infinities and -0.0 come back as they were reported)."""

from __future__ import annotations

import math
import sqlite3
import struct
from collections.abc import Mapping

from expdesk.core.entities import Final

_F8 = struct.Struct("<d")


def pack(value: float) -> bytes:
    return _F8.pack(value)


def unpack(blob: bytes | None) -> float | None:
    return None if blob is None else _F8.unpack(blob)[0]


FINALS_INSERT = "INSERT OR REPLACE INTO finals (run_key, key, value, exact, source) VALUES (?,?,?,?,?)"


def final_rows(run_key: str, finals: Mapping[str, Final]) -> list[tuple[str, str, float | None, bytes, str]]:
    """The `finals` rows of a run's reported results (NaN is NULL in the REAL column, exact in the blob)."""
    return [
        (run_key, key, None if math.isnan(f.value) else f.value, pack(f.value), f.source)
        for key, f in finals.items()
    ]


def write_finals(conn: sqlite3.Connection, run_key: str, finals: Mapping[str, Final]) -> None:
    conn.execute("DELETE FROM finals WHERE run_key = ?", (run_key,))
    conn.executemany(FINALS_INSERT, final_rows(run_key, finals))
