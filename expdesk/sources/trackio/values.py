"""One logged Trackio row (a JSON object) -> metric points, media references and values that are not charted.

The rules, from Trackio's own writer and reader (`utils.serialize_values` / `deserialize_values`, `Run.log`):

- a number is a point (`int` and `float`; a `bool` is not a number here, as in Trackio's charts);
- the strings `"NaN"`, `"Infinity"`, `"-Infinity"` are the non-finite floats Trackio wrote that way (orjson
  cannot write NaN); Trackio's reader turns top-level ones back into floats, and its writer produced nested
  ones the same way, so they are decoded at every level. Files of Trackio < 0.5 hold the bare JSON literals,
  which the JSON parser reads as floats directly;
- a nested object without `_type` is a group: its numbers are charted as `outer/inner`, the way W&B-style
  nested logs are read elsewhere in expdesk;
- an object with `_type` is a Trackio value: images, video, audio, HTML and 3-D objects are files under
  `media/` (`file_path` relative to it), tables may hold such files in their cells, histograms, markdown and
  traces are kept in the row. All are listed as media of the run, never charted;
- anything else (strings, booleans, lists, null) is listed as "not charted" with its type and count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Trackio's spellings of the non-finite floats (`utils.serialize_values`)
TOKENS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
#: `_type` values whose object points at a file below `media/`
FILE_TYPES = {
    "trackio.image": "image",
    "trackio.video": "video",
    "trackio.audio": "audio",
    "trackio.html": "html",
    "trackio.object3d": "object3d",
}
#: a table's cells can nest media; this bounds the walk through a hostile row
MAX_DEPTH = 32


@dataclass
class MediaRef:
    key: str
    kind: str  # "image", "table", "histogram", ... (the `_type` without its `trackio.` prefix)
    file_path: str | None = None  # relative to TRACKIO_DIR/media, as recorded
    caption: str | None = None
    #: a file inside a table's cells: listed as a file of the run, counted with its table
    in_table: bool = False


@dataclass
class Decoded:
    """What one row holds, in the order the row lists it."""

    points: list[tuple[str, float]] = field(default_factory=list)
    media: list[MediaRef] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # (key, type name)


def decode(row: Any, prefix: str = "") -> Decoded:
    out = Decoded()
    if isinstance(row, dict):
        _walk(row, prefix, out, 0)
    else:
        out.other.append((prefix or "(row)", type(row).__name__))
    return out


def number(value: Any) -> float | None:
    """The value as a metric, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # a 400-digit integer: beyond float64, as a chart it is infinite
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return TOKENS.get(value)
    return None


def _walk(obj: dict[str, Any], prefix: str, out: Decoded, depth: int) -> None:
    for raw_key, value in obj.items():
        key = f"{prefix}/{raw_key}" if prefix else str(raw_key)
        point = number(value)
        if point is not None:
            out.points.append((key, point))
        elif isinstance(value, dict) and isinstance(value.get("_type"), str):
            _typed(key, value, out, depth)
        elif isinstance(value, dict) and depth < MAX_DEPTH:
            if value:
                _walk(value, key, out, depth + 1)
            else:
                out.other.append((key, "empty object"))
        else:
            out.other.append((key, _type_name(value)))


def _typed(key: str, value: dict[str, Any], out: Decoded, depth: int) -> None:
    type_name = value["_type"]
    kind = type_name.removeprefix("trackio.")
    if type_name in FILE_TYPES:
        out.media.append(MediaRef(key, kind, _text(value.get("file_path")), _text(value.get("caption"))))
        return
    out.media.append(MediaRef(key, kind))
    # a table's rows (`_value`) may hold images and other files: each is listed under the table's key
    _files_inside(key, value.get("_value"), out, depth + 1)


def _files_inside(key: str, value: Any, out: Decoded, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        if value.get("_type") in FILE_TYPES:
            kind = FILE_TYPES[value["_type"]]
            caption = _text(value.get("caption"))
            out.media.append(MediaRef(key, kind, _text(value.get("file_path")), caption, in_table=True))
            return
        for item in value.values():
            _files_inside(key, item, out, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _files_inside(key, item, out, depth + 1)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
