"""A tiny TensorBoard event writer for cases real writers will not produce on demand (a million-bucket
histogram, 10,000 images, a file appended in two halves). It writes the `Event`/`Summary` wire format by
hand; the fixtures under tests/data/media/ come from the real writers."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from expdesk.sources.common.tfrecord import masked_crc32c


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def field_double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def event(step: int, wall: float, *values: bytes) -> bytes:
    """An `Event {wall_time 1, step 2, summary 5 {value 1...}}`."""
    summary = b"".join(field_bytes(1, v) for v in values)
    return field_double(1, wall) + field_varint(2, step) + field_bytes(5, summary)


def image_value(tag: str, png: bytes, width: int = 1, height: int = 1) -> bytes:
    image = field_varint(1, height) + field_varint(2, width) + field_varint(3, 3) + field_bytes(4, png)
    return field_bytes(1, tag.encode()) + field_bytes(4, image)


def histogram_value(tag: str, lo: float, hi: float, limits: bytes, counts: bytes) -> bytes:
    """`limits` and `counts` are packed little-endian doubles."""
    histo = field_double(1, lo) + field_double(2, hi) + field_bytes(6, limits) + field_bytes(7, counts)
    return field_bytes(1, tag.encode()) + field_bytes(5, histo)


def scalar_value(tag: str, value: float) -> bytes:
    return field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)


def record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def write_events(path: Path, events: list[bytes], append: bool = False, start: float = 1.7e9) -> None:
    """Events as records; a new file starts with the `file_version` event real writers put first."""
    with open(path, "ab" if append else "wb") as f:
        if not append:
            f.write(record(field_double(1, start) + field_bytes(3, b"brain.Event:2")))
        for e in events:
            f.write(record(e))


def tiny_png(width: int, height: int, seed: int) -> bytes:
    """A valid RGB PNG (zlib + CRC32 by hand: no imaging library needed); different for every seed."""
    y, x = np.mgrid[0:height, 0 : width * 3]
    pixels = ((x * 37 + y * 11 + seed * 53) % 256).astype(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
