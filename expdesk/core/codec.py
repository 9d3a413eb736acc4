"""How values are encoded: a param's text, and the exact bytes of a series' last/min/max.

Params are stored as the text the run recorded (scalars with `str()`, containers as JSON). A series'
summary keeps its last, min and max as three little-endian doubles next to the SQL REAL columns, because
SQLite turns NaN into NULL and cannot tell -0.0 from 0.0; the bytes keep both exactly.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

_EXACT = struct.Struct("<3d")


def param_str(value: Any) -> str:
    """Params are shown as recorded: scalars with `str()`, lists/dicts as JSON (the corpus convention)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def pack_exact(last: float | None, vmin: float | None, vmax: float | None) -> bytes:
    """last, min and max as 24 bytes; None (no value) is stored as NaN."""
    return _EXACT.pack(_nan(last), _nan(vmin), _nan(vmax))


def unpack_exact(blob: bytes | None) -> tuple[float, float, float]:
    """The (last, min, max) packed by `pack_exact`; NaN for all three when there is no blob."""
    return _EXACT.unpack(blob) if blob else (math.nan, math.nan, math.nan)
