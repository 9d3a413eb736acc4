"""Hand-written protobuf wire decoding for the W&B `wandb_internal.Record` messages we need.

expdesk does not depend on `protobuf` or `wandb`: the field numbers below were read from the descriptor in
`wandb/proto/wandb_internal_pb2.py` (wandb 0.31.0) and are stable across SDKs back to 0.17 (protobuf field
numbers are never reused). Unknown fields are skipped, as protobuf itself does, so newer SDKs still decode.

Every decoder raises `ProtoError` (and nothing else) on malformed bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

# wandb_internal.Record: the `record_type` oneof members we read
REC_HISTORY = 2
REC_SUMMARY = 3
REC_OUTPUT = 4
REC_CONFIG = 5
REC_FILES = 6
REC_STATS = 7
REC_OUTPUT_RAW = 13
REC_RUN = 17
REC_EXIT = 18
REC_FINAL = 20
REC_HEADER = 21
REC_PREEMPTING = 23
REC_ENVIRONMENT = 26

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")


class ProtoError(Exception):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        byte = buf[pos]  # IndexError past the end is turned into ProtoError by the callers
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint longer than 10 bytes")


def _varint2(buf: bytes, pos: int, first: int) -> tuple[int, int]:
    """A varint whose first byte (already read, >= 0x80) ends at `pos`: two-byte values inline, e.g. the
    value_json tag 0x82 0x01 of every item and record lengths of 128..16383 bytes."""
    second = buf[pos]
    if second < 0x80:
        return (first & 0x7F) | (second << 7), pos + 1
    return _varint(buf, pos - 1)


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field: ints for varint/fixed, bytes for length-delimited."""
    pos, end = 0, len(buf)
    try:
        while pos < end:
            key = buf[pos]
            if key < 0x80:
                pos += 1
            else:
                key, pos = _varint(buf, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ProtoError(f"field number 0 at byte {pos}")
            if wire == _LEN:
                length, pos = _varint(buf, pos)
                if pos + length > end:
                    raise ProtoError(f"field {number} runs {pos + length - end} bytes past the message end")
                value: Any = buf[pos : pos + length]
                pos += length
            elif wire == _VARINT:
                value, pos = _varint(buf, pos)
            elif wire == _I64:
                if pos + 8 > end:
                    raise ProtoError("truncated fixed64")
                value = int.from_bytes(buf[pos : pos + 8], "little")
                pos += 8
            elif wire == _I32:
                if pos + 4 > end:
                    raise ProtoError("truncated fixed32")
                value = int.from_bytes(buf[pos : pos + 4], "little")
                pos += 4
            else:  # 3/4 are proto2 groups, never used by wandb; 6/7 do not exist
                raise ProtoError(f"unsupported wire type {wire} for field {number}")
            yield number, wire, value
    except IndexError:
        raise ProtoError("message ends inside a varint") from None


def int64(value: int) -> int:
    """A varint read as two's-complement int64/int32 (negative int32 are sign-extended to 10 bytes)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise ProtoError("expected a length-delimited string")
    # protobuf strings are UTF-8 by contract; a broken writer must not make us fail the whole run
    return value.decode("utf-8", "replace")


def record_type(payload: bytes) -> tuple[int, bytes] | None:
    """The oneof member of a `Record`: (field number, its message bytes), or None for control-only records."""
    found = None
    pos, end = 0, len(payload)
    try:
        while pos < end:
            tag = payload[pos]
            pos += 1
            if tag > 0x7F:
                tag, pos = _varint2(payload, pos, tag)
            wire = tag & 7
            if tag < 8:
                raise ProtoError("field number 0")
            if wire == _LEN:
                length = payload[pos]
                pos += 1
                if length > 0x7F:
                    length, pos = _varint2(payload, pos, length)
                stop = pos + length
                if stop > end:
                    raise ProtoError("field runs past the record end")
                number = tag >> 3
                # Record.control (16), uuid (19), request (100) and _info (200) carry no run data
                if 2 <= number <= 27 and number != 16 and number != 19:
                    found = (number, payload[pos:stop])
                pos = stop
            elif wire == _VARINT:
                _, pos = _varint(payload, pos)
            elif wire == _I64:
                pos += 8
            elif wire == _I32:
                pos += 4
            else:
                raise ProtoError(f"unsupported wire type {wire}")
    except IndexError:
        raise ProtoError("record ends inside a varint") from None
    if pos != end:
        raise ProtoError("field overruns the record end")
    return found


def timestamp(buf: bytes) -> float:
    """google.protobuf.Timestamp {seconds = 1, nanos = 2} as epoch seconds."""
    seconds, nanos = 0, 0
    for number, wire, value in fields(buf):
        if number == 1 and wire == _VARINT:
            seconds = int64(value)
        elif number == 2 and wire == _VARINT:
            nanos = int64(value)
    return seconds + nanos / 1e9


def stamped(body: bytes) -> float | None:
    """The `timestamp` (field 2, a google.protobuf.Timestamp) of a StatsRecord or (raw) OutputRecord: when the
    run's system metrics were sampled or a console line was written - the run's own signs of life."""
    for number, wire, value in fields(body):
        if number == 2 and wire == _LEN:
            return timestamp(value)
    return None


# item value kinds returned by `_item` / `history`
NUMBER, JSON, OTHER = 0, 1, 2


Item = tuple[str, tuple[str, ...] | None, int, Any]


def _item(buf: bytes, pos: int, end: int) -> Item:
    """One HistoryItem/ConfigItem/SummaryItem in buf[pos:end] as (name, nested path, kind, value), inline.

    `name` is the key, or the nested_key parts joined with "/" (how W&B names nested keys); `nested` is the
    nested_key tuple or None.

    Fields: key 1, nested_key 2 (repeated), value_json 16, and HistoryItem's typed oneof none 3 / boolean 4 /
    integer 5 (sint64) / number 6 (double) / text 7 / json 8. Newer SDKs spell a nested entry as nested_key
    ["_wandb", "runtime"], older ones as key "_wandb". A typed number wins over value_json (exact, no parse).
    `value` is a float for NUMBER and the raw JSON bytes for JSON.
    """
    key = ""
    nested: list[str] | None = None
    kind: int = OTHER
    val: Any = None
    while pos < end:
        tag = buf[pos]
        pos += 1
        if tag > 0x7F:  # value_json's tag is 0x82 0x01: decode two-byte tags without a call
            second = buf[pos]
            if second < 0x80:
                tag = (tag & 0x7F) | (second << 7)
                pos += 1
            else:
                tag, pos = _varint(buf, pos - 1)
        wire = tag & 7
        if wire == _LEN:
            length = buf[pos]
            pos += 1
            if length > 0x7F:
                length, pos = _varint2(buf, pos, length)
            stop = pos + length
            if stop > end:
                raise ProtoError("item field runs past the item")
            number = tag >> 3
            if number == 16:
                if kind == OTHER:
                    kind, val = JSON, buf[pos:stop]
            elif number == 2:
                if nested is None:
                    nested = []
                nested.append(buf[pos:stop].decode("utf-8", "replace"))
            elif number == 1:
                key = buf[pos:stop].decode("utf-8", "replace")
            elif number == 8:
                kind, val = JSON, buf[pos:stop]
            elif number == 7:
                kind, val = OTHER, None  # text: not a metric value
            pos = stop
        elif wire == _VARINT:
            value = buf[pos]
            pos += 1
            if value > 0x7F:
                value, pos = _varint(buf, pos - 1)
            number = tag >> 3
            if number == 5:
                kind, val = NUMBER, float((value >> 1) ^ -(value & 1))  # zigzag sint64
            elif number == 3 or number == 4:
                kind, val = OTHER, None  # none / boolean: not a metric value
        elif wire == _I64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            if tag >> 3 == 6:
                kind, val = NUMBER, _DOUBLE.unpack_from(buf, pos)[0]
            pos += 8
        elif wire == _I32:
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        if tag < 8:
            raise ProtoError("field number 0")
    if pos != end:
        raise ProtoError("item overruns its length")
    if nested:
        return "/".join(nested), tuple(nested), kind, val
    return key, None, kind, val


def _items(buf: bytes) -> tuple[list[Item], list[tuple[int, bytes]]]:
    """Field 1 (the repeated items of History/Config/SummaryRecord) decoded; other LEN fields raw."""
    items: list[Item] = []
    others: list[tuple[int, bytes]] = []
    pos, end = 0, len(buf)
    try:
        while pos < end:
            tag = buf[pos]
            pos += 1
            if tag > 0x7F:
                tag, pos = _varint2(buf, pos, tag)
            wire = tag & 7
            if tag < 8:
                raise ProtoError("field number 0")
            if wire == _LEN:
                length = buf[pos]
                pos += 1
                if length > 0x7F:
                    length, pos = _varint2(buf, pos, length)
                stop = pos + length
                if stop > end:
                    raise ProtoError("field runs past the message end")
                if tag == 0x0A:
                    items.append(_item(buf, pos, stop))
                else:
                    others.append((tag >> 3, buf[pos:stop]))
                pos = stop
            elif wire == _VARINT:
                _, pos = _varint(buf, pos)
            elif wire == _I64:
                pos += 8
            elif wire == _I32:
                pos += 4
            else:
                raise ProtoError(f"unsupported wire type {wire}")
    except IndexError:
        raise ProtoError("message ends inside a varint") from None
    if pos != end:
        raise ProtoError("field overruns the message end")
    return items, others


def updates(buf: bytes) -> tuple[list[tuple[tuple[str, ...], bytes | None]], list[tuple[str, ...]]]:
    """ConfigRecord/SummaryRecord {update = 1, remove = 2}: ([(path, value_json bytes)], [removed paths])."""
    added, others = _items(buf)
    removed = []
    try:
        for number, raw in others:
            if number == 2:
                name, nested, _, _ = _item(raw, 0, len(raw))
                removed.append(nested or (name,))
    except IndexError:
        raise ProtoError("message ends inside a varint") from None
    return [
        (nested or (name,), value if kind == JSON else None) for name, nested, kind, value in added
    ], removed


def history(buf: bytes) -> tuple[list[Item], int | None]:
    """HistoryRecord {item = 1, step = 2 {num = 1}}: ([(name, nested, kind, value)], step or None)."""
    items, others = _items(buf)
    step: int | None = None
    for number, raw in others:
        if number == 2:
            step = 0  # a present but empty HistoryStep is step 0 (proto3 default)
            if raw[:1] == b"\x08" and raw[1:2] < b"\x80" and len(raw) == 2:
                step = raw[1]  # the usual single-byte-varint step < 128, without the generic walk
                continue
            for inner, wire, value in fields(raw):
                if inner == 1 and wire == _VARINT:
                    step = int64(value)
    return items, step


def run_record(buf: bytes) -> dict[str, Any]:
    """RunRecord: identity, config (4), start_time (17), git (21)."""
    strings = {
        1: "run_id",
        2: "entity",
        3: "project",
        6: "group",
        7: "job_type",
        8: "display_name",
        9: "notes",
        12: "sweep_id",
        13: "host",
        16: "storage_id",
    }
    out: dict[str, Any] = {"tags": []}
    for number, wire, value in fields(buf):
        if number in strings and wire == _LEN:
            out[strings[number]] = text(value)
        elif number == 10 and wire == _LEN:
            out["tags"].append(text(value))
        elif number == 4 and wire == _LEN:
            out["config"] = updates(value)
        elif number == 17 and wire == _LEN:
            out["start_time"] = timestamp(value)
        elif number == 14 and wire == _VARINT:
            out["starting_step"] = int64(value)
        elif number == 18 and wire == _VARINT:
            out["resumed"] = bool(value)
        elif number == 21 and wire == _LEN:
            out["git"] = git_repo(value)
    return out


def git_repo(buf: bytes) -> dict[str, str]:
    """GitRepoRecord {remote_url = 1, commit = 2}."""
    out = {}
    for number, wire, value in fields(buf):
        if number == 1 and wire == _LEN:
            out["remote"] = text(value)
        elif number == 2 and wire == _LEN:
            out["commit"] = text(value)
    return out


def exit_record(buf: bytes) -> dict[str, Any]:
    """RunExitRecord {exit_code = 1 (int32), runtime = 2 (int32), not_complete = 3}."""
    out: dict[str, Any] = {"exit_code": 0, "runtime": 0}
    for number, wire, value in fields(buf):
        if wire != _VARINT:
            continue
        if number == 1:
            out["exit_code"] = int64(value)
        elif number == 2:
            out["runtime"] = int64(value)
        elif number == 3:
            out["not_complete"] = bool(value)
    return out


def files_record(buf: bytes) -> list[str]:
    """FilesRecord {files = 1 [FilesItem {path = 1, policy = 2, type = 3}]}: the saved paths."""
    paths = []
    for number, wire, value in fields(buf):
        if number == 1 and wire == _LEN:
            for inner, iwire, ival in fields(value):
                if inner == 1 and iwire == _LEN:
                    paths.append(text(ival))
    return paths


_ENV_STRINGS = {
    1: "os",
    2: "python",
    4: "docker",
    6: "program",
    7: "code_path",
    8: "code_path_local",
    10: "email",
    11: "root",
    12: "host",
    13: "username",
    14: "executable",
    15: "colab",
    18: "gpu_type",
    25: "cuda_version",
}
_ENV_INTS = {16: "cpu_count", 17: "cpu_count_logical", 19: "gpu_count"}


def environment(buf: bytes) -> dict[str, Any]:
    """EnvironmentRecord: the machine and program (several records per run, each with some fields)."""
    out: dict[str, Any] = {}
    for number, wire, value in fields(buf):
        if number in _ENV_STRINGS and wire == _LEN:
            out[_ENV_STRINGS[number]] = text(value)
        elif number in _ENV_INTS and wire == _VARINT:
            out[_ENV_INTS[number]] = int64(value)
        elif number == 5 and wire == _LEN:
            out.setdefault("args", []).append(text(value))
        elif number == 3 and wire == _LEN:
            out["started_at"] = timestamp(value)
        elif number == 9 and wire == _LEN:
            out["git"] = git_repo(value)
    return out


def header_version(buf: bytes) -> str | None:
    """HeaderRecord {version_info = 1 {producer = 1}}: the SDK that wrote the file (current SDKs only)."""
    for number, wire, value in fields(buf):
        if number == 1 and wire == _LEN:
            for inner, iwire, ival in fields(value):
                if inner == 1 and iwire == _LEN:
                    return text(ival)
    return None
