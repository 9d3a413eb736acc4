"""Reported results as `RunUpdate.finals`: the numbers a run wrote as its outcome (a W&B summary, a DVC
metrics file, a Trainer's `*_results.json`), by metric key.

Only numbers are results: a bool is a flag and a string a label (both stay visible where the reader keeps the
file's content, e.g. `info`). Strings that spell a number the way these tools write non-finite values
(`"NaN"`, `"Infinity"`, DVCLive's `"nan"`) are numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from expdesk.core.entities import Final

_NON_FINITE = {
    "nan": math.nan,
    "inf": math.inf,
    "infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}


def as_result(value: Any) -> float | None:
    """A reported value as a float result, or None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return _NON_FINITE.get(value.strip().lower())
    return None


def finals_from(values: Mapping[str, Any], source: str, skip_private: bool = False) -> dict[str, Final]:
    """The numeric entries of a flat mapping as finals from `source`; `skip_private` leaves out the
    `_runtime`-style keys a tool keeps for itself."""
    out = {}
    for key, value in values.items():
        if skip_private and str(key).startswith("_"):
            continue
        number = as_result(value)
        if number is not None:
            out[str(key)] = Final(number, source)
    return out
