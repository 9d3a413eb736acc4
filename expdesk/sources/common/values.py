"""Value conventions shared by readers: flattening nested configs, numbers from text, exact CSV floats.

Reading the files themselves (safe YAML, tolerant JSON, size caps) is `expdesk.core.safefile`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from expdesk.core.codec import param_str


def exact_float_options() -> dict[str, Any]:
    """`pd.read_csv` options that parse every float to the nearest double, bit for bit as `float()` does:
    pandas 3's default parser is exact, pandas 2's default can be off by an ulp (`round_trip` is not)."""
    import pandas as pd

    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def flatten(tree: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, str]:
    """Nested dicts become dotted keys; lists stay one param (JSON). Insertion order is kept."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = param_str(dict(value) if isinstance(value, Mapping) else value)
    return out


def to_float(value: Any) -> float | None:
    """A metric value as float, or None when it is not a number (strings "nan"/"inf" count as numbers)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
