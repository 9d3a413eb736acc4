"""The framing of a W&B `run-<id>.wandb` file: a 7-byte header, then LevelDB-log records in 32 KiB blocks.

    header  := ":W&B" uint16-LE 0xBEE1, uint8 version 0
    record  := crc32 uint32-LE, length uint16-LE, type uint8 (1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST), payload
    crc     := zlib.crc32(payload, zlib.crc32(bytes([type])))

Blocks are counted from byte 0 of the file (the header lives in block 0). A record never crosses a block
boundary; fewer than 7 bytes left in a block are zero padding. A payload bigger than what is left in a block
is split into FIRST, MIDDLE..., LAST fragments.

While the run is alive the file ends mid-record (or in a zero-filled preallocated tail): that is "not yet
written", so scanning stops there quietly and the cursor stays at the end of the last complete record.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

from expdesk.core.errors import SourceError

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
HEADER_LEN = 7
BLOCK = 32768
RECORD_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (FULL, FIRST, MIDDLE, LAST)}
#: bytes read per pread: a multiple of the block size, so every complete record of a chunk lies inside it
CHUNK = 256 * BLOCK


def check_header(fd: int, path: str) -> bool:
    """True when the file starts with a complete, valid header; False when the header is not written yet.

    Anything else (wrong ident, magic or version) is not a W&B log we understand: `SourceError`.
    """
    head = os.pread(fd, HEADER_LEN, 0)
    if len(head) < HEADER_LEN and (HEADER.startswith(head) or not head.strip(b"\0")):
        return False
    if head == b"\0" * HEADER_LEN:
        return False  # preallocated, the writer has not put the header in yet
    if head[:4] != HEADER[:4]:
        raise SourceError(
            path, f"not a W&B transaction log (starts with {head[:4]!r}, expected b':W&B')", "byte 0"
        )
    magic, version = struct.unpack_from("<HB", head, 4)
    if magic != 0xBEE1:
        raise SourceError(path, f"bad W&B log magic 0x{magic:04X} (expected 0xBEE1)", "byte 4")
    if version != 0:
        raise SourceError(path, f"unsupported W&B log version {version} (expected 0)", "byte 6")
    return True


def _rest_is_zero(fd: int, start: int, size: int) -> bool:
    pos = start
    while pos < size:
        chunk = os.pread(fd, min(CHUNK, size - pos), pos)
        if not chunk:
            return True
        if chunk.strip(b"\0"):
            return False
        pos += len(chunk)
    return True


def scan(fd: int, path: str, start: int, size: int) -> Iterator[tuple[bytes, int]]:
    """(payload, end offset) of every complete record from byte `start` (>= 7, the end of a record).

    Stops quietly at a torn record or a zero-filled tail. Raises `SourceError` naming the byte offset at
    a CRC mismatch, an impossible length or fragment order; everything yielded before stays valid.
    """
    pos = max(start, HEADER_LEN)
    pending: list[bytes] | None = None
    pending_at = 0
    while pos < size:
        base = pos - pos % BLOCK
        data = os.pread(fd, min(CHUNK, size - base), base)
        n = len(data)
        at_eof = base + n >= size
        i = pos - base
        while True:
            room = BLOCK - i % BLOCK  # bytes left in this block
            if room < HEADER_LEN:
                i += room  # the writer zero-pads block tails too short for a record header
                room = BLOCK
            if i + HEADER_LEN > n:
                if at_eof:
                    return  # torn record header: not yet written
                break
            crc, length, kind = RECORD_HEADER.unpack_from(data, i)
            where = f"byte {base + i}"
            if crc == 0 and length == 0 and kind == 0:
                if _rest_is_zero(fd, base + i, size):
                    return  # zero-filled (preallocated) tail: not yet written
                raise SourceError(path, "zero-filled gap followed by more data", where)
            if length > room - HEADER_LEN:
                raise SourceError(path, f"record length {length} overflows its 32 KiB block", where)
            end = i + HEADER_LEN + length
            if end > n:
                if at_eof:
                    return  # torn payload: the writer is mid-record
                raise SourceError(path, "short read inside a block", where)  # file shrank under us
            payload = data[i + HEADER_LEN : end]
            seed = _TYPE_CRC.get(kind)
            if seed is None:
                raise SourceError(path, f"unknown record type {kind}", where)
            if zlib.crc32(payload, seed) != crc:
                raise SourceError(path, "record CRC mismatch (corrupt data)", where)
            i = end
            if kind == FULL:
                if pending is not None:
                    raise SourceError(path, "FIRST fragment never completed by a LAST", f"byte {pending_at}")
                yield payload, base + i
            elif kind == FIRST:
                if pending is not None:
                    raise SourceError(path, "FIRST fragment never completed by a LAST", f"byte {pending_at}")
                pending, pending_at = [payload], base + i - HEADER_LEN - length
            elif pending is None:
                raise SourceError(
                    path, f"{'MIDDLE' if kind == MIDDLE else 'LAST'} fragment without FIRST", where
                )
            elif kind == MIDDLE:
                pending.append(payload)
            else:
                pending.append(payload)
                yield b"".join(pending), base + i
                pending = None
            if i >= n:
                break
        pos = base + i
    # reaching the end with `pending` set is a fragmented record whose LAST is not written yet: stop quietly
