"""Recorded text to Python values: the one typing rule for params, in `Run.params` and in `runs()` columns.

The index keeps params as text: MLflow records text, and the other readers store what a config held with
`str()` (scalars: `None` becomes "None") or as JSON (lists, dicts). Read back, a value is
  - None when the text is "None" (what a null or Python None was stored as; never the string "None"),
  - a bool when it is true/false in any case (Python's True, YAML's true),
  - an int when it is a whole decimal number, a float when Python's `float` reads it (the numbers the
    index keeps a numeric shadow of, which filters compare),
  - a list or dict when it is a JSON array or object,
  - the text itself otherwise.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_BOOLEANS = {"true": True, "false": False}
#: how the index stores a None (`expdesk.core.codec.param_str`)
NONE_TEXT = "None"

ParamValue = bool | int | float | str | list[Any] | dict[str, Any] | None


def typed_value(text: str) -> ParamValue:
    """A recorded param text as None, bool, int, float, list, dict or (unchanged) text."""
    if text == NONE_TEXT:
        return None
    word = text.strip().lower()
    if word in _BOOLEANS:
        return _BOOLEANS[word]
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    if word[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return text
        if isinstance(value, list | dict):
            return value
    return text


def is_integer_text(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None


def is_boolean_text(text: str) -> bool:
    return text.strip().lower() in _BOOLEANS


def utc_datetime(seconds: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime; None when unknown or beyond what datetime can hold."""
    if seconds is None or seconds != seconds:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
