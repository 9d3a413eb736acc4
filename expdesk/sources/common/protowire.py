"""A minimal protobuf wire-format walker (varints, fixed32/64, length-delimited) for TensorBoard events.

No generated code and no protobuf import: we only need a handful of fields of `Event`, `Summary`,
`TensorProto` and the hparams plugin messages, and we must survive arbitrary bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from


class Malformed(ValueError):
    """The bytes are not a valid protobuf message (the caller names the file and record)."""


def varint(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; returns (value as uint64, position after it)."""
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Malformed("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def as_int64(value: int) -> int:
    """int64 fields are two's complement in 10 varint bytes when negative."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buf: bytes | memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field number, wire type, a, b) for each field of the message in `buf[pos:end]`.

    Varint: a = value. Fixed64/fixed32: a = offset of the bytes. Length-delimited: a, b = start, end.
    """
    while pos < end:
        key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Malformed("field number 0")
        if wire == 0:
            value, pos = varint(buf, pos, end)
            yield number, 0, value, 0
        elif wire == 1:
            if pos + 8 > end:
                raise Malformed("truncated fixed64")
            yield number, 1, pos, 0
            pos += 8
        elif wire == 2:
            length, pos = varint(buf, pos, end)
            if pos + length > end:
                raise Malformed("length-delimited field runs past its message")
            yield number, 2, pos, pos + length
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise Malformed("truncated fixed32")
            yield number, 5, pos, 0
            pos += 4
        else:
            raise Malformed(f"unsupported wire type {wire}")


def double_at(buf: bytes | memoryview, pos: int) -> float:
    return float(_DOUBLE(buf, pos)[0])


def float_at(buf: bytes | memoryview, pos: int) -> float:
    return float(_FLOAT(buf, pos)[0])


def text(buf: bytes | memoryview, start: int, end: int, limit: int = 1 << 16) -> str:
    """A string field, capped (a 100 MB tag or text is an attack or a mistake) and decoded leniently."""
    return bytes(buf[start : min(end, start + limit)]).decode("utf-8", "replace")
