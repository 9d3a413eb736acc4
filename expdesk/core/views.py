"""A saved view: the runs table's filter, columns, sort and grouping, the chart panel and the selection, under
a name. Stored in the index (`expdesk.index.views`), never in a watched folder; exported and imported as a
small JSON file, the same document the index stores.

Importing never trusts the file: `parse_view` refuses, with the reason, anything that is not exactly this
shape (unknown or duplicate keys, wrong types, NaN, deep nesting, control characters in names, oversize
strings or lists, a newer format version). The filter's syntax is checked where the filter language lives
(`expdesk.index.views.import_view`).
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from expdesk.core.errors import ExpdeskError
from expdesk.core.safefile import read_bytes_capped

FORMAT = "expdesk-view"
VERSION = 1
#: a view file is a few kB; anything near this is not one
MAX_FILE_BYTES = 1 << 20
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000  # a filter expression
MAX_KEY_CHARS = 1_000  # a column id, metric key, run key
MAX_ITEMS = 10_000  # columns, metrics, selected runs
X_MODES = ("step", "wall", "relative")  # expdesk.compare.series.XMode values
BANDS = ("minmax", "std", "none")  # expdesk.compare.groups.BandKind values


class ViewError(ExpdeskError):
    """A view file or stored view that is not a valid view; the message says what is wrong and where."""


@dataclass(frozen=True)
class ChartPanel:
    """The workspace charts: shown or not, which metrics, the x axis, smoothing, grouping of the curves."""

    visible: bool = False
    metrics: tuple[str, ...] = ()
    x: str = "step"
    smoothing: float = 0.6
    group_by: str = ""  # "" = a curve per run; else `params.KEY`, `tags.KEY`, `experiment`, ...
    band: str = "minmax"
    log_y: bool = False


@dataclass(frozen=True)
class SavedView:
    name: str
    filter: str = ""
    columns: tuple[str, ...] = ()  # the runs table's column ids, in the order shown (empty: automatic)
    sort: str = ""  # a column id ("" = the default order)
    descending: bool = False
    table_group: str = ""  # the param the runs table is grouped by ("" = none)
    starred_only: bool = False
    charts: ChartPanel = field(default_factory=ChartPanel)
    selection: tuple[str, ...] = ()  # run keys

    def renamed(self, name: str) -> SavedView:
        return replace(self, name=check_name(name))

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["columns"] = list(self.columns)
        doc["selection"] = list(self.selection)
        doc["charts"]["metrics"] = list(self.charts.metrics)
        return {"format": FORMAT, "version": VERSION, **doc}

    def to_json(self) -> str:
        return json.dumps(self.to_doc(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def check_name(name: str) -> str:
    """A view name as the user typed it, trimmed; refused when empty, too long or holding control characters
    (a name is shown in menus and file names are suggested from it)."""
    if not isinstance(name, str):
        raise ViewError("the view's name is not text")
    name = name.strip()
    if not name:
        raise ViewError("a view needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise ViewError(f"the view's name is {len(name)} characters long (at most {MAX_NAME_CHARS})")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise ViewError("the view's name holds control characters")
    return name


# -- reading a document, refusing anything else ---------------------------------------------------------
def _refuse_constant(token: str) -> float:
    raise ViewError(f"{token} is not a JSON number (a view holds none)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ViewError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ViewError(f"{where}: expected text, found {type(value).__name__}")
    if len(value) > limit:
        raise ViewError(f"{where}: {len(value)} characters (at most {limit})")
    if "\x00" in value:
        raise ViewError(f"{where}: holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ViewError(f"{where}: not valid Unicode (a lone surrogate)") from None
    return value


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ViewError(f"{where}: expected a list, found {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise ViewError(f"{where}: {len(value)} items (at most {MAX_ITEMS})")
    return tuple(_text(v, f"{where}[{i}]", MAX_KEY_CHARS) for i, v in enumerate(value))


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ViewError(f"{where}: expected true or false, found {type(value).__name__}")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    text = _text(value, where, MAX_KEY_CHARS)
    if text not in choices:
        raise ViewError(f"{where}: {text!r} is not one of {', '.join(choices)}")
    return text


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ViewError(f"{where}: expected a number, found {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number < 1.0):
        raise ViewError(f"{where}: {value!r} is not a smoothing weight (0 <= w < 1)")
    return number


def _fields(doc: Any, where: str, readers: dict[str, Callable[[Any, str], Any]]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ViewError(f"{where}: expected an object, found {type(doc).__name__}")
    unknown = sorted(set(doc) - set(readers))
    if unknown:
        raise ViewError(
            (f"{where}: " if where else "")
            + f"unknown key {unknown[0]!r}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    return {k: readers[k](doc[k], f"{where}.{k}" if where else k) for k in readers if k in doc}


def _charts(value: Any, where: str) -> ChartPanel:
    found = _fields(
        value,
        where,
        {
            "visible": _flag,
            "metrics": _texts,
            "x": lambda v, w: _choice(v, w, X_MODES),
            "smoothing": _weight,
            "group_by": lambda v, w: _text(v, w, MAX_KEY_CHARS),
            "band": lambda v, w: _choice(v, w, BANDS),
            "log_y": _flag,
        },
    )
    return ChartPanel(**found)


def _version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ViewError(f"{where}: expected a whole number")
    if value > VERSION:
        raise ViewError(f"made by a newer expdesk (view format {value}; this one reads up to {VERSION})")
    if value < 1:
        raise ViewError(f"{where}: {value} is not a view format version")
    return value


def parse_view(data: bytes | str, source: str = "view") -> SavedView:
    """The view a document describes; `ViewError` naming the first thing wrong with it otherwise."""
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise ViewError(f"{source}: {len(data)} bytes, not a view (at most {MAX_FILE_BYTES})")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ViewError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    else:
        text = data
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except ViewError as exc:
        raise ViewError(f"{source}: {exc}") from None
    except RecursionError:
        raise ViewError(f"{source}: nested too deeply to be a view") from None
    except ValueError as exc:  # JSONDecodeError, and int() of a 5000-digit number
        raise ViewError(f"{source}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ViewError(f'{source}: not an expdesk view (no "format": "{FORMAT}")')
    try:
        found = _fields(
            doc,
            "",
            {
                "format": lambda v, w: v,
                "version": _version,
                "name": lambda v, w: check_name(_text(v, w, MAX_NAME_CHARS)),
                "filter": lambda v, w: _text(v, w, MAX_TEXT_CHARS),
                "columns": _texts,
                "sort": lambda v, w: _text(v, w, MAX_KEY_CHARS),
                "descending": _flag,
                "table_group": lambda v, w: _text(v, w, MAX_KEY_CHARS),
                "starred_only": _flag,
                "charts": _charts,
                "selection": _texts,
            },
        )
    except ViewError as exc:
        raise ViewError(f"{source}: {exc}") from None
    if "version" not in found:
        raise ViewError(f"{source}: no format version")
    if "name" not in found:
        raise ViewError(f"{source}: the view has no name")
    found.pop("format")
    found.pop("version")
    return SavedView(**found)


def read_view_file(path: Path) -> SavedView:
    """A view file from disk: a regular file (no link, FIFO or device), at most `MAX_FILE_BYTES`."""
    try:
        data = read_bytes_capped(path, MAX_FILE_BYTES)
    except ExpdeskError as exc:
        raise ViewError(str(exc)) from None
    return parse_view(data, path.name)
