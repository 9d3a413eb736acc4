"""The non-scalar parts of TensorBoard summaries: text, hparams, images, histograms, scalar tensors.

Each function reads one protobuf sub-message and folds what the run table needs into the per-file state
(JSON-able, carried in the cursor). Pixels and bucket arrays are never kept: images are catalogued by
file record offset so a preview can fetch them later.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from expdesk.sources.common import protowire as pw

#: text entries kept per tag and characters per entry (run info, not a document store)
MAX_TEXT_ENTRIES = 50
MAX_TEXT_CHARS = 20000
#: image records remembered per tag (for previews: record offset in the event file, never the pixels)
MAX_IMAGE_ENTRIES = 20
#: distinct tags catalogued per kind and file (10^5 tags is an attack or a bug)
MAX_TAGS = 5000

# TensorProto dtype -> (numpy dtype of tensor_content, repeated field number holding the values)
_DTYPES: dict[int, tuple[str, int]] = {
    1: ("<f4", 5),  # DT_FLOAT -> float_val
    2: ("<f8", 6),  # DT_DOUBLE -> double_val
    3: ("<i4", 7),  # DT_INT32 -> int_val
    4: ("u1", 7),  # DT_UINT8 -> int_val
    5: ("<i2", 7),  # DT_INT16 -> int_val
    6: ("i1", 7),  # DT_INT8 -> int_val
    9: ("<i8", 10),  # DT_INT64 -> int64_val
    14: ("<u2", 13),  # DT_BFLOAT16 -> half_val (raw bits)
    17: ("<u2", 7),  # DT_UINT16 -> int_val
    19: ("<f2", 13),  # DT_HALF -> half_val (raw bits in an int32)
    22: ("<u4", 16),  # DT_UINT32 -> uint32_val
    23: ("<u8", 17),  # DT_UINT64 -> uint64_val
}
_DT_STRING = 7
_SCALAR_PLUGINS = frozenset({"", "scalars"})
# google.protobuf.Value in HParams session_start_info: 2 number, 3 string, 4 bool
_HP_STATUS = {0: "STATUS_UNKNOWN", 1: "STATUS_SUCCESS", 2: "STATUS_FAILURE", 3: "STATUS_RUNNING"}


def _room(table: dict[str, Any], tag: str) -> bool:
    return tag in table or len(table) < MAX_TAGS


def tensor_entry(
    mv: memoryview, start: int, end: int, tag: str, step: int, plugin: str, state: dict[str, Any]
) -> float | None:
    """A `TensorProto`: returns the value when it is a one-element numeric scalar, else catalogues it."""
    dtype = 0
    dims: list[int] = []
    content: tuple[int, int] | None = None
    strings: list[str] = []
    repeated: dict[int, list[tuple[int, int, int]]] = {}
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 0:
            dtype = a
        elif number == 2 and wire == 2:
            dims = _shape(mv, a, b)
        elif number == 4 and wire == 2:
            content = (a, b)
        elif number == 8 and wire == 2:
            if len(strings) < MAX_TEXT_ENTRIES:
                strings.append(pw.text(mv, a, b, MAX_TEXT_CHARS))
        elif number in (5, 6, 7, 10, 11, 13, 16, 17):
            repeated.setdefault(number, []).append((wire, a, b))
    if plugin == "text" or (dtype == _DT_STRING and plugin not in ("images", "audio")):
        _text(state, tag, step, strings)
        return None
    if plugin in _SCALAR_PLUGINS and dtype in _DTYPES and math.prod(dims) == 1:
        value = _one_value(mv, dtype, content, repeated)
        if value is not None:
            return value
    if plugin == "histograms":
        _count(state["histograms"], tag, step, None)
    elif plugin == "images":
        _count(state["images"], tag, step, None)
    elif _room(state["tensors"], tag):
        entry = state["tensors"].setdefault(tag, {"plugin": plugin, "count": 0, "shape": dims})
        entry["count"] += 1
    return None


def _shape(mv: memoryview, start: int, end: int) -> list[int]:
    dims = []
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 2 and wire == 2:
            size = 1
            for n2, w2, a2, _ in pw.fields(mv, a, b):
                if n2 == 1 and w2 == 0:
                    size = pw.as_int64(a2)
            dims.append(size)
    return dims[:64]


def _one_value(
    mv: memoryview,
    dtype: int,
    content: tuple[int, int] | None,
    repeated: dict[int, list[tuple[int, int, int]]],
) -> float | None:
    np_dtype, field_number = _DTYPES[dtype]
    if content is not None and content[1] > content[0]:
        raw = bytes(mv[content[0] : content[1]])
        width = np.dtype(np_dtype).itemsize
        if len(raw) < width:
            return None
        value = np.frombuffer(raw[:width], dtype=np_dtype)[0]
        return _as_float(dtype, value)
    entries = repeated.get(field_number)
    if not entries:
        # proto3 drops a zero value entirely: an empty scalar tensor of a known dtype is 0
        return 0.0
    wire, a, b = entries[0]
    if field_number == 5:
        return pw.float_at(mv, a) if wire == 5 else (pw.float_at(mv, a) if b - a >= 4 else None)
    if field_number == 6:
        return pw.double_at(mv, a) if wire == 1 else (pw.double_at(mv, a) if b - a >= 8 else None)
    # varint-encoded repeated fields: unpacked (wire 0) or packed (wire 2)
    raw_value = a if wire == 0 else (pw.varint(mv, a, b)[0] if b > a else None)
    if raw_value is None:
        return None
    if dtype in (19, 14):
        bits = np.array([raw_value & 0xFFFF], dtype=np.uint16)
        if dtype == 19:
            return float(bits.view(np.float16)[0])
        return float((bits.astype(np.uint32) << 16).view(np.float32)[0])
    if dtype in (3, 5, 6, 9):
        return float(pw.as_int64(raw_value) if dtype == 9 else _int32(raw_value))
    return float(raw_value)


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _as_float(dtype: int, value: Any) -> float:
    if dtype == 14:  # bfloat16: the upper half of a float32
        return float((np.array([value], np.uint32) << 16).view(np.float32)[0])
    return float(value)


def _text(state: dict[str, Any], tag: str, step: int, strings: list[str]) -> None:
    table = state["text"]
    if not _room(table, tag):
        return
    entries = table.setdefault(tag, [])
    entries.append({"step": step, "text": strings})
    del entries[:-MAX_TEXT_ENTRIES]


def _count(table: dict[str, Any], tag: str, step: int, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    if not _room(table, tag):
        return None
    entry = table.setdefault(tag, {"count": 0, "first_step": step, "last_step": step})
    entry["count"] += 1
    entry["first_step"] = min(entry["first_step"], step)
    entry["last_step"] = max(entry["last_step"], step)
    if extra is not None:
        entry["last"] = extra
    return entry


def image_entry(
    mv: memoryview, start: int, end: int, tag: str, step: int, offset: int, state: dict[str, Any]
) -> None:
    """`Summary.Image`: size and where the record is, for a later preview."""
    info = {"step": step, "record_offset": offset}
    for number, wire, a, _ in pw.fields(mv, start, end):
        if number == 1 and wire == 0:
            info["height"] = pw.as_int64(a)
        elif number == 2 and wire == 0:
            info["width"] = pw.as_int64(a)
    entry = _count(state["images"], tag, step, None)
    if entry is not None:
        items = entry.setdefault("items", [])
        items.append(info)
        del items[:-MAX_IMAGE_ENTRIES]


def histogram(mv: memoryview, start: int, end: int, tag: str, step: int, state: dict[str, Any]) -> None:
    """`HistogramProto`: keep the latest min/max/num/sum and the bucket count."""
    last: dict[str, Any] = {"step": step, "bucket_count": 0}
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    for number, wire, a, b in pw.fields(mv, start, end):
        if number in names and wire == 1:
            last[names[number]] = _json_float(pw.double_at(mv, a))
        elif number == 7:
            last["bucket_count"] += (b - a) // 8 if wire == 2 else 1
    _count(state["histograms"], tag, step, last)


def _json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def hparams(mv: memoryview, start: int, end: int, state: dict[str, Any]) -> None:
    """HParamsPluginData: session_start_info.hparams become params; experiment and end status are info."""
    hp = state["hparams"]
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 2 and wire == 2:
            hp["experiment"] = True
            _experiment_domains(mv, a, b, hp)
        elif number == 3 and wire == 2:
            values = hp.setdefault("values", {})
            for n2, w2, a2, b2 in pw.fields(mv, a, b):
                if n2 == 1 and w2 == 2 and len(values) < MAX_TAGS:
                    key, value = _hp_entry(mv, a2, b2)
                    if key is not None:
                        values[key] = value
                elif n2 == 4 and w2 == 2:
                    hp["group_name"] = pw.text(mv, a2, b2, 1024)
                elif n2 == 5 and w2 == 1:
                    hp["start_time_secs"] = _json_float(pw.double_at(mv, a2))
        elif number == 4 and wire == 2:
            for n2, w2, a2, _ in pw.fields(mv, a, b):
                if n2 == 1 and w2 == 0:
                    hp["end_status"] = _HP_STATUS.get(a2, str(a2))
                elif n2 == 2 and w2 == 1:
                    hp["end_time_secs"] = _json_float(pw.double_at(mv, a2))


def _experiment_domains(mv: memoryview, start: int, end: int, hp: dict[str, Any]) -> None:
    """Experiment.hparam_infos (4): each HParamInfo's name (1) and discrete domain (5, a ListValue of Values).
    The domain tells what kind of values an hparam takes (all whole numbers: an integer stored as a double)."""
    domains = hp.setdefault("domains", {})
    for number, wire, a, b in pw.fields(mv, start, end):
        if number != 4 or wire != 2 or len(domains) >= MAX_TAGS:
            continue
        name, values = None, None
        for n2, w2, a2, b2 in pw.fields(mv, a, b):
            if n2 == 1 and w2 == 2:
                name = pw.text(mv, a2, b2, 1024)
            elif n2 == 5 and w2 == 2:
                values = [
                    _value(mv, a3, b3) for n3, w3, a3, b3 in pw.fields(mv, a2, b2) if n3 == 1 and w3 == 2
                ]
        if name is not None and values is not None:
            domains[name] = values[:MAX_TAGS]


def _value(mv: memoryview, start: int, end: int) -> Any:
    """One google.protobuf.Value: number, string or bool (nested structs and lists are named, not kept)."""
    value: Any = None
    for n2, w2, a2, b2 in pw.fields(mv, start, end):
        if n2 == 2 and w2 == 1:
            value = pw.double_at(mv, a2)
        elif n2 == 3 and w2 == 2:
            value = pw.text(mv, a2, b2, MAX_TEXT_CHARS)
        elif n2 == 4 and w2 == 0:
            value = bool(a2)
        elif n2 in (5, 6) and w2 == 2:
            value = "<struct>" if n2 == 5 else "<list>"
    return value


def _hp_entry(mv: memoryview, start: int, end: int) -> tuple[str | None, Any]:
    """One `map<string, google.protobuf.Value>` entry -> (name, Python value as the tool logged it)."""
    key = None
    value: Any = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 2:
            key = pw.text(mv, a, b, 1024)
        elif number == 2 and wire == 2:
            value = _value(mv, a, b)
    return key, value
