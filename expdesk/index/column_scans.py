"""Every run's values at once: the tables read whole, for `column_queries` when (almost) every run is wanted.

A notebook's first `runs()` reads the columns of every run (`expdesk.api.cache` keeps them). Joining each
table to the wanted keys (`json_each`) made SQLite look up every row by its run key, and numbering the names
in SQL (a DISTINCT over the table, then a join to it) cost as much again; read whole, a table is one pass
in its storage order (measured in `benchmarks/bench_api.py`: a cold `runs()` of 10,000 runs was 0.75-1 s,
two thirds of it in those joins). Rows come back as JSON arrays (run key, name, value) that `json.loads`
parses in C, and Python maps run keys to positions and names to codes with dicts, also in C (`map`).

A run is either a lone part, whose values are its rows of the per-part table (`params`, `tags`, `series`,
`finals`), or a joined run (issue 23), whose merged values are the `joined_*` table's rows under its key:
its head part's own rows (same key) are skipped, as are the rows of parts that are not runs, of runs gone
from disk and of runs not asked for.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

#: `expdesk.core.codec.pack_exact`'s layout: (last, min, max) as little-endian doubles, 24 bytes
EXACT_SIZE = 24


@dataclass(frozen=True)
class Places:
    """Where each table row goes: run key -> position in the keys asked for."""

    joined: dict[str, int]  # the wanted runs that are joined runs (for the `joined_*` tables)
    parts: dict[str, int]  # the wanted runs that are lone parts (for the per-part tables)


def places(conn: sqlite3.Connection, keys: Sequence[str], whole: bool | None) -> Places | None:
    """The places of `keys` when reading the tables whole is the cheaper way (`whole` None: when at least
    half of the index's runs are wanted; True/False forces it), else None. Keys asked twice need a row
    each, which only the join gives: None then too. Call inside the read transaction of the reads."""
    if whole is False:
        return None
    parts = dict(zip(keys, range(len(keys)), strict=True))
    if len(parts) != len(keys):
        return None
    if whole is None:
        total = conn.execute("SELECT COUNT(*) FROM run_rows").fetchone()[0]
        if len(keys) * 2 < total:
            return None
    # as the join does (`column_queries._WANTED`): a run is joined when `joined_runs` says so, whatever
    # rows the tables hold
    joined = {}
    for key in json.loads(conn.execute("SELECT json_group_array(key) FROM joined_runs").fetchone()[0]):
        if key in parts:
            joined[key] = parts.pop(key)
    return Places(joined, parts)


def _positions(run_keys: list[str], where: dict[str, int]) -> np.ndarray:
    """The position of each row's run (-1: a row no wanted run owns)."""
    return np.fromiter(map(where.get, run_keys, repeat(-1)), dtype=np.int64, count=len(run_keys))


def codes(row_names: list[str]) -> tuple[list[str], np.ndarray]:
    """(the distinct names sorted as SQLite sorts text, each row's index into them). Python orders str by
    code point, which is the byte order of UTF-8: SQLite's BINARY collation."""
    code: dict[str, Any] = dict.fromkeys(row_names)
    names = sorted(code)
    for i, name in enumerate(names):
        code[name] = i
    return names, np.fromiter(map(code.__getitem__, row_names), dtype=np.int64, count=len(row_names))


def text_rows(
    conn: sqlite3.Connection, where: Places, table: str
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(positions, names, name codes, texts as an object array) of the wanted runs' rows of `table` (params
    or tags) and of its joined table, in no particular order: each row's name is `names[code]`."""
    positions, names, texts = [], [], []
    for source, place in ((table, where.parts), (f"joined_{table}", where.joined)):
        row = conn.execute(
            f"SELECT json_group_array(run_key), json_group_array(key), json_group_array(value) FROM {source}"
        ).fetchone()
        positions.append(_positions(json.loads(row[0]), place))
        names.extend(json.loads(row[1]))
        texts.extend(json.loads(row[2]))
    at = np.concatenate(positions)
    sorted_names, name_codes = codes(names)
    kept = np.flatnonzero(at >= 0)
    return at[kept], sorted_names, name_codes[kept], np.array(texts, dtype=object)[kept]


def metric_rows(
    conn: sqlite3.Connection, where: Places
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, list[tuple[int, str, float | None]]]:
    """(positions, names, name codes, exact last values as float64) of the wanted runs' series with points,
    and (position, name, last) of those written before the exact blob existed (their REAL column, read as
    stored; few, if any). The last value is the blob's first 8 bytes: only those are sent (as hex)."""
    ok = f"length(exact) = {EXACT_SIZE}"
    legacy = f"count > 0 AND (exact IS NULL OR length(exact) != {EXACT_SIZE})"
    positions, names, blobs = [], [], []
    old: list[tuple[int, str, float | None]] = []
    for source, place in (("series", where.parts), ("joined_metrics", where.joined)):
        # one pass: the blobs' rows and their names from the same aggregate scan, in the same order
        row = conn.execute(
            f"SELECT json_group_array(run_key) FILTER (WHERE {ok}), json_group_array(key) FILTER (WHERE {ok}),"
            f" group_concat(hex(substr(exact, 1, 8)), '') FILTER (WHERE {ok}), COUNT(*) FILTER (WHERE NOT COALESCE({ok}, 0))"
            f" FROM {source} WHERE count > 0"
        ).fetchone()
        positions.append(_positions(json.loads(row[0]), place))
        names.extend(json.loads(row[1]))
        blobs.append(bytes.fromhex(row[2] or ""))
        if row[3]:
            for run_key, name, last in conn.execute(
                f"SELECT run_key, key, last FROM {source} WHERE {legacy}"
            ):
                if (pos := place.get(run_key, -1)) >= 0:
                    old.append((pos, name, last))
    at = np.concatenate(positions)
    lasts = np.frombuffer(b"".join(blobs), dtype="<f8")
    sorted_names, name_codes = codes(names)
    kept = np.flatnonzero(at >= 0)
    return at[kept], sorted_names, name_codes[kept], lasts[kept], old


def final_rows(conn: sqlite3.Connection, where: Places) -> list[tuple[int, str, bytes]]:
    """(position, name, exact blob) of the results the wanted runs reported (`finals`; a joined run's are
    on its `joined_metrics` rows)."""
    out = []
    for sql, place in (
        ("SELECT run_key, key, exact FROM finals", where.parts),
        ("SELECT run_key, key, final_exact FROM joined_metrics WHERE final_exact IS NOT NULL", where.joined),
    ):
        for run_key, name, blob in conn.execute(sql):
            if (pos := place.get(run_key, -1)) >= 0:
                out.append((pos, name, blob))
    return out
