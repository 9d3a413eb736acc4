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
REC_CONFIG = 5
REC_FILES = 6
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


def message(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise ProtoError("expected an embedded message")
    return value


def record_type(payload: bytes) -> tuple[int, bytes] | None:
    """The oneof member of a `Record`: (field number, its message bytes), or None for control-only records."""
    found = None
    for number, wire, value in fields(payload):
        # Record.num (1), control (16), uuid (19), _info (200) and request (100) carry no run data
        if wire == _LEN and 2 <= number <= 27 and number != 16 and number != 19:
            found = (number, value)
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


def item_path(buf: bytes) -> tuple[tuple[str, ...], Any]:
    """ConfigItem/SummaryItem {key = 1, nested_key = 2 (repeated), value_json = 16}: (path, value_json text).

    Newer SDKs spell a nested entry as nested_key ["_wandb", "runtime"], older ones as key "_wandb".
    """
    key = ""
    nested: list[str] = []
    value_json: str | None = None
    for number, _wire, value in fields(buf):
        if number == 1:
            key = text(value)
        elif number == 2:
            nested.append(text(value))
        elif number == 16:
            value_json = text(value)
    return (tuple(nested) if nested else (key,)), value_json


def updates(buf: bytes) -> tuple[list[tuple[tuple[str, ...], Any]], list[tuple[str, ...]]]:
    """ConfigRecord/SummaryRecord {update = 1, remove = 2}: ([(path, value_json)], [removed paths])."""
    added: list[tuple[tuple[str, ...], Any]] = []
    removed: list[tuple[str, ...]] = []
    for number, _wire, value in fields(buf):
        if number == 1:
            added.append(item_path(message(value)))
        elif number == 2:
            removed.append(item_path(message(value))[0])
    return added, removed


# HistoryItem value kinds returned by `history`
NUMBER, JSON, OTHER = 0, 1, 2


def history(buf: bytes) -> tuple[list[tuple[tuple[str, ...], int, Any]], int | None]:
    """HistoryRecord {item = 1, step = 2 {num = 1}}: ([(path, kind, value)], step or None).

    HistoryItem: key 1, nested_key 2, typed oneof none 3 / boolean 4 / integer 5 (sint64) / number 6
    (double) / text 7 / json 8, and value_json 16. A typed number wins over value_json (exact, no parsing).
    """
    items: list[tuple[tuple[str, ...], int, Any]] = []
    step: int | None = None
    for number, wire, value in fields(buf):
        if number == 1 and wire == _LEN:
            key = ""
            nested: list[str] | None = None
            kind, val = OTHER, None
            for inner, iwire, ival in fields(value):
                if inner == 16 and iwire == _LEN:
                    if kind == OTHER:
                        kind, val = JSON, ival
                elif inner == 1 and iwire == _LEN:
                    key = ival.decode("utf-8", "replace")
                elif inner == 2 and iwire == _LEN:
                    if nested is None:
                        nested = []
                    nested.append(ival.decode("utf-8", "replace"))
                elif inner == 6 and iwire == _I64:
                    kind, val = NUMBER, _DOUBLE.unpack(ival.to_bytes(8, "little"))[0]
                elif inner == 5 and iwire == _VARINT:
                    kind, val = NUMBER, float((ival >> 1) ^ -(ival & 1))  # zigzag sint64
                elif inner == 8 and iwire == _LEN:
                    kind, val = JSON, ival
                elif 3 <= inner <= 7:
                    kind, val = OTHER, None  # none / bool / text: not a metric value
            items.append((tuple(nested) if nested else (key,), kind, val))
        elif number == 2 and wire == _LEN:
            step = 0  # an empty HistoryStep means step 0 (proto3 default)
            for inner, iwire, ival in fields(value):
                if inner == 1 and iwire == _VARINT:
                    step = int64(ival)
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
