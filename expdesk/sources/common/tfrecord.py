"""TFRecord framing (the container of TensorBoard event files) with masked CRC32C checks, vectorised.

A record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`, all little
endian. The record boundaries are a chain (each length says where the next record starts), so they are
found with a tight Python loop; the CRCs of all records are then checked at once with numpy, grouped by
record length, which costs a few numpy operations per byte *column* instead of per byte. Python has no
CRC32C (zlib's crc32 uses the other polynomial) and the project takes no C extension for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from expdesk.core.errors import SourceError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
#: a length field above this is corruption, not a record (TensorBoard's own writers stay far below it)
MAX_RECORD_BYTES = 1 << 30
#: below this many records of one length, a plain Python loop beats numpy's per-column overhead
_NUMPY_MIN_GROUP = 48
#: records per CRC block (the working arrays stay in cache) and bytes per gathered block
_BLOCK_RECORDS = 16384
#: record lengths remembered for guessing the cycle, and candidate periods tried per guess
_HISTORY = 3072
_MAX_CANDIDATES = 64
_GATHER_BYTES = 1 << 24


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_NP_TABLE = np.array(_TABLE, dtype=np.uint32)


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C of `data` (pure Python, table driven: fine for the odd large record)."""
    table = _TABLE
    crc = 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    """TFRecord stores the CRC rotated and offset, so a CRC of data containing CRCs stays well-behaved."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _mask_np(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


def _make_table16() -> np.ndarray:
    """Two bytes per lookup: T16[x] is the register after feeding the 16-bit word x to a zero register."""
    x = np.arange(65536, dtype=np.uint32)
    low = _NP_TABLE[x & np.uint32(0xFF)]
    return _NP_TABLE[(low ^ (x >> np.uint32(8))) & np.uint32(0xFF)] ^ (low >> np.uint32(8))


_NP_TABLE16 = _make_table16()


def masked_crc32c_many(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of `buf[starts[i]:starts[i] + lens[i]]` for every i, as uint32.

    Records are grouped by length; each group is gathered as a (records x bytes) matrix through a sliding
    window view (no index matrix), in blocks that stay in cache, and fed two bytes per table lookup.
    """
    out = np.zeros(len(starts), dtype=np.uint32)
    if not len(starts):
        return out
    order = np.argsort(lens, kind="stable")
    bounds = np.flatnonzero(np.diff(lens[order])) + 1
    for group in np.split(order, bounds):
        length = int(lens[group[0]])
        if len(group) < _NUMPY_MIN_GROUP or length < 2:
            raw = buf.data
            for i in group:
                s = int(starts[i])
                out[i] = masked_crc32c(raw[s : s + length])
            continue
        windows = np.lib.stride_tricks.sliding_window_view(buf, length)
        block = max(1, min(_BLOCK_RECORDS, _GATHER_BYTES // length))
        for lo in range(0, len(group), block):
            part = group[lo : lo + block]
            out[part] = _mask_np(_crc_block(windows[starts[part]], length))
    return out


def _crc_block(matrix: np.ndarray, length: int) -> np.ndarray:
    """CRC-32C of each row of a (n, length) uint8 matrix."""
    even = length & ~1
    # one contiguous row per 16-bit column: the loop below then streams through memory
    words = np.ascontiguousarray(matrix[:, :even]).view("<u2").T.copy()
    crc = np.full(matrix.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    tmp = np.empty_like(crc)
    val = np.empty_like(crc)
    for row in words:
        np.bitwise_and(crc, 0xFFFF, out=tmp)
        np.bitwise_xor(tmp, row, out=tmp)
        np.take(_NP_TABLE16, tmp, out=val)
        np.right_shift(crc, 16, out=crc)
        np.bitwise_xor(crc, val, out=crc)
    if length & 1:
        np.bitwise_and(crc, 0xFF, out=tmp)
        np.bitwise_xor(tmp, matrix[:, -1], out=tmp)
        np.take(_NP_TABLE, tmp, out=val)
        np.right_shift(crc, 8, out=crc)
        np.bitwise_xor(crc, val, out=crc)
    return crc ^ np.uint32(0xFFFFFFFF)


@dataclass
class Frames:
    """Whole, CRC-checked records found from `start`: data offsets and lengths (into the scanned buffer)."""

    starts: np.ndarray  # int64 offsets of each record's data
    lens: np.ndarray  # int64 data lengths
    record_offsets: np.ndarray  # int64 offsets of each record's header
    end: int  # offset just past the last good record: the next read starts here
    error: SourceError | None  # corruption that stopped the scan (records before it are good)
    pending: int  # bytes of a torn last record left for the next read


def scan(data: bytes, start: int, path: str, base: int = 0) -> Frames:
    """Split `data[start:]` into records. A torn tail is pending, a bad record with data after it an error.

    `base` is the file offset of `data[0]` (for messages and `record_offsets`).
    """
    size = len(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    rec, lengths, pos = _boundaries(data, buf, start)
    torn_at = pos if pos < size else -1
    lens = lengths
    starts = rec
    error: SourceError | None = None
    if len(rec):
        header_crc = masked_crc32c_many(buf, rec, np.full(len(rec), 8, np.int64))
        bad = np.flatnonzero(header_crc != _gather_u32(buf, rec + 8))
        if len(bad):
            k = int(bad[0])
            bad_at = int(rec[k])
            if any(data[bad_at:]):
                error = SourceError(
                    path, "length header fails its CRC check", f"record at byte {base + bad_at}"
                )
                torn_at = -1
            else:
                torn_at = bad_at  # zero-filled preallocation after a crash: nothing written here yet
            rec, lens = rec[:k], lens[:k]
        starts = rec + 12
        lens = lens.astype(np.int64)
        bad = np.flatnonzero(masked_crc32c_many(buf, starts, lens) != _gather_u32(buf, starts + lens))
        if len(bad):
            k = int(bad[0])
            is_last = (
                k == len(rec) - 1 and error is None and torn_at < 0 and int(starts[k] + lens[k]) + 4 == size
            )
            if is_last:
                # the writer may still be flushing this record: leave it for the next read
                torn_at = int(rec[k])
            else:
                error = SourceError(
                    path, "record data fails its CRC check", f"record at byte {base + int(rec[k])}"
                )
                torn_at = -1
            rec, lens, starts = rec[:k], lens[:k], starts[:k]
    end = int(rec[-1] + 16 + lens[-1]) if len(rec) else start
    pending = 0
    if error is None and torn_at >= 0:
        error, pending = _judge_tail(data, torn_at, path, base)
    return Frames(starts, lens, rec + base, end, error, pending)


def _judge_tail(data: bytes, pos: int, path: str, base: int) -> tuple[SourceError | None, int]:
    """A record cut short by the end of the file is normal (being written) unless its header is corrupt."""
    size = len(data)
    if pos + 12 <= size:
        (length,) = struct.unpack_from("<Q", data, pos)
        (crc,) = struct.unpack_from("<I", data, pos + 8)
        if masked_crc32c(data[pos : pos + 8]) != crc:
            if not any(data[pos:]):
                return None, size - pos  # zero-filled preallocation after a crash: nothing to read yet
            return SourceError(path, "length header fails its CRC check", f"record at byte {base + pos}"), 0
        if length > MAX_RECORD_BYTES:
            return SourceError(
                path, f"record length {length} is implausible", f"record at byte {base + pos}"
            ), 0
    return None, size - pos


def _gather_u32(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    if len(buf) < 4:
        return np.zeros(len(offsets), dtype=np.uint32)
    windows = np.lib.stride_tricks.sliding_window_view(buf, 4)
    return np.ascontiguousarray(windows[offsets]).view("<u4").reshape(-1)


def _boundaries(data: bytes, buf: np.ndarray, pos: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Offsets and data lengths of the records that fit whole in `data` from `pos`, and where they stop.

    The chain of lengths is inherently sequential, but training logs repeat a cycle of record lengths
    (the same tags every step). After a short Python walk we guess the cycle, predict the next thousands
    of record offsets at once and keep the prefix whose length fields read back exactly as predicted;
    since each verified record starts where its verified predecessor ends, the prefix is exact.
    """
    size = len(data)
    unpack = struct.Struct("<Q").unpack_from
    offsets: list[int] = []  # walked by Python since the last flush into `blocks`
    lengths: list[int] = []
    recent: list[int] = []  # the latest lengths, walked or predicted: what the next guess is made from
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    walk = 64  # records to walk before the next guess; doubles while guesses fail
    budget = 4096  # records to predict per guess; doubles while guesses hold, halves when they break
    limit = size - 12
    windows = np.lib.stride_tricks.sliding_window_view(buf, 8) if size >= 8 else None
    while pos <= limit:
        stop = len(offsets) + walk
        while pos <= limit and len(offsets) < stop:
            length = unpack(data, pos)[0]
            nxt = pos + 16 + length
            if nxt > size:  # also catches absurd lengths: they run past the end of any real file
                return _join(blocks, offsets, lengths, pos)
            offsets.append(pos)
            lengths.append(length)
            pos = nxt
        if pos > limit or windows is None:
            break
        recent = (recent + lengths[-_HISTORY:])[-_HISTORY:]
        predicted = _predict(recent, pos, size, budget)
        good = 0
        if predicted is not None:
            at, lens = predicted
            wrong = np.flatnonzero(np.ascontiguousarray(windows[at]).view("<u8").reshape(-1) != lens)
            good = int(wrong[0]) if len(wrong) else len(at)
        if good:
            blocks.append(_flush(offsets, lengths))
            blocks.append((at[:good], lens[:good].astype(np.int64)))
            pos = int(at[good - 1]) + 16 + int(lens[good - 1])
            recent = lens[max(0, good - _HISTORY) : good].astype(np.int64).tolist()
        # a guess that held pays for a bigger one; one that broke early costs a longer walk (bounded work
        # per record even on logs with no cycle at all)
        if predicted is not None and good == len(predicted[0]):
            budget, walk = min(budget * 2, 1 << 16), 64
        else:
            budget, walk = max(budget // 2, 256), min(walk * 2, 1 << 14)
    return _join(blocks, offsets, lengths, pos)


def _flush(offsets: list[int], lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    block = (np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64))
    offsets.clear()
    lengths.clear()
    return block


def _join(
    blocks: list[tuple[np.ndarray, np.ndarray]], offsets: list[int], lengths: list[int], pos: int
) -> tuple[np.ndarray, np.ndarray, int]:
    blocks.append(_flush(offsets, lengths))
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]), pos


def _predict(lengths: list[int], pos: int, size: int, budget: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Offsets and lengths of the next records if the recent lengths repeat with some period, else None.

    A period must have held for three whole cycles; the shortest such period wins.
    """
    recent = np.array(lengths, dtype=np.int64)
    n = len(recent)
    candidates = n - 1 - np.flatnonzero(recent[:-1] == recent[-1])[::-1]  # nearest first
    for period in candidates[candidates * 3 <= n][:_MAX_CANDIDATES].tolist():
        tail = recent[n - 3 * period :].reshape(3, period)
        if not ((tail[0] == tail[1]).all() and (tail[1] == tail[2]).all()):
            continue
        cycle = tail[2]
        sizes = cycle + 16
        span = int(sizes.sum())
        repeats = min((size - pos) // span, max(1, budget // period))
        if repeats < 1:
            return None
        starts = pos + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        at = (np.arange(repeats, dtype=np.int64)[:, None] * span + starts[None, :]).reshape(-1)
        return at, np.tile(cycle, repeats).astype(np.uint64)
    return None


def frame(data: bytes) -> bytes:
    """One TFRecord around `data` (for tests and the benchmark: the reader never writes)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))
