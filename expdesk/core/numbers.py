"""Reading numbers the way researchers' files write them (shared by the readers and the compare tables)."""

from __future__ import annotations

import math
from typing import Any


def as_float(value: Any) -> float | None:
    """A metric or param value as float: JSON numbers (not bools) and numeric strings ("nan", "inf", "1e-3");
    None for anything else. Integers too large for a float become ±inf rather than raising."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return None
    return None
