"""The SQLite functions that compiled filters and sorts call, registered per connection.

`regexp` backs `~` and `!~`; `expdesk_num` is the numeric shadow of a tag (params store theirs);
`chunk_step_index` and `chunk_value_at` find a step inside a packed chunk for `metrics.<key>.at(step)`.
"""

from __future__ import annotations

import math
import re
import sqlite3
import struct
from functools import lru_cache
from typing import Any

import numpy as np

from expdesk.index import store

_F8 = struct.Struct("<d")


@lru_cache(maxsize=256)
def cached_regex(pattern: str) -> re.Pattern[str]:
    """Compiled once per pattern: the filter compiler checks it, then SQLite calls `regexp` on every row."""
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> int | None:
    if pattern is None or value is None:
        return None
    return int(cached_regex(pattern).search(value if isinstance(value, str) else str(value)) is not None)


def _finite_number(value: Any) -> float | None:
    """The numeric shadow of a text value, as the store computes it for params (finite numbers only)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _step_index(steps: bytes | None, n: int | None, step: int | None) -> int | None:
    """Index of the last occurrence of `step` in a chunk's steps (the last write wins): a packed <i8 array,
    or `<start, stride>` (see `store`), found by arithmetic."""
    if not isinstance(steps, bytes) or not isinstance(step, int) or not isinstance(n, int):
        return None
    if len(steps) != 8 * n:
        encoded = store.stride_of(steps, n)
        if encoded is None:
            return None
        start, stride = encoded
        if -(2**63) <= start + (n - 1) * stride < 2**63:  # no int64 wrap-around inside the chunk
            if stride == 0:
                return n - 1 if step == start else None
            offset, rest = divmod(step - start, stride)
            return offset if rest == 0 and 0 <= offset < n else None
        steps = store.decode_steps(steps, n).tobytes()
    if len(steps) > 1024:
        hits = np.flatnonzero(np.frombuffer(steps, dtype="<i8") == step)
        return int(hits[-1]) if len(hits) else None
    # small chunks (live runs, short series): a byte search beats numpy's per-call overhead 5x
    try:
        needle = step.to_bytes(8, "little", signed=True)
    except OverflowError:
        return None
    end = len(steps)
    while (found := steps.rfind(needle, 0, end)) >= 0:
        if found % 8 == 0:
            return found // 8
        end = found + 7  # a match straddling two elements: look further left
    return None


def _value_at(steps: bytes | None, n: int | None, vals: bytes | None, step: int | None) -> float | None:
    index = _step_index(steps, n, step)
    if index is None or not isinstance(vals, bytes) or len(vals) < 8 * (index + 1):
        return None
    (value,) = _F8.unpack_from(vals, 8 * index)
    return None if math.isnan(value) else value


def install_functions(conn: sqlite3.Connection) -> None:
    """Register what compiled filters and sorts call. Per connection; pure functions, so deterministic."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("expdesk_num", 1, _finite_number, deterministic=True)
    conn.create_function("chunk_step_index", 3, _step_index, deterministic=True)
    conn.create_function("chunk_value_at", 4, _value_at, deterministic=True)
