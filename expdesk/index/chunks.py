"""The chunk encodings of metric points: packed little-endian arrays, and two lossless compact forms.

Steps that go up by a constant stride are stored as `<start, stride>` (16 bytes), and whole-millisecond
timestamps close to each other as a float64 base plus int16 deltas between neighbours (less than ~33 s
apart) or else int32 offsets from the base. The blob length says which encoding a chunk uses (a plain
array is exactly 8 bytes per point; encodings are only used for 3+ points, where their lengths differ from
that), and every encoded blob is checked to decode to the exact bytes it replaces.
"""

from __future__ import annotations

import struct

import numpy as np

_STRIDE = struct.Struct("<qq")
_BASE = struct.Struct("<d")
_INT32 = np.iinfo(np.int32)
_INT16 = np.iinfo(np.int16)


def _encode_steps(steps: np.ndarray) -> bytes:
    raw = steps.astype("<i8")
    if len(raw) >= 3:
        start, stride = int(raw[0]), int(raw[1]) - int(raw[0])
        if -(2**63) <= stride < 2**63:
            blob = _STRIDE.pack(start, stride)
            if np.array_equal(decode_steps(blob, len(raw)), raw):
                return blob
    return raw.tobytes()


def stride_of(blob: bytes, n: int) -> tuple[int, int] | None:
    """(start, stride) of a chunk whose steps are stored as a constant stride; None for a plain array."""
    return _STRIDE.unpack(blob) if len(blob) == _STRIDE.size and n >= 3 else None


def decode_steps(blob: bytes, n: int) -> np.ndarray:
    stride = stride_of(blob, n)
    if stride is not None:
        # int64 arithmetic wraps exactly like the encoder's check did
        return np.arange(n, dtype=np.int64) * np.int64(stride[1]) + np.int64(stride[0])
    return np.frombuffer(blob, dtype="<i8")


def _encode_ts(ts: np.ndarray) -> bytes:
    raw = ts.astype("<f8")
    if len(raw) >= 3 and np.isfinite(raw[0]):
        base = float(raw[0])
        with np.errstate(invalid="ignore", over="ignore"):
            offsets = raw - base
            fits = np.isfinite(offsets).all() and offsets.min() >= _INT32.min and offsets.max() <= _INT32.max
        if fits:
            off32 = offsets.astype("<i4")
            deltas = np.diff(off32.astype(np.int64), prepend=0)
            if deltas.min() >= _INT16.min and deltas.max() <= _INT16.max:
                # neighbours less than ~33 s apart (a training loop's cadence): 2 bytes a point
                blob = _BASE.pack(base) + deltas.astype("<i2").tobytes()
            else:
                blob = _BASE.pack(base) + off32.tobytes()
            # whole milliseconds only, and -0.0/NaN payloads too: the decoded bytes must be the same bytes
            if decode_ts(blob, len(raw)).tobytes() == raw.tobytes():
                return blob
    return raw.tobytes()


def decode_ts(blob: bytes, n: int) -> np.ndarray:
    if n >= 3 and len(blob) == _BASE.size + 4 * n:
        (base,) = _BASE.unpack_from(blob)
        return np.frombuffer(blob, dtype="<i4", offset=_BASE.size).astype(np.float64) + base
    if n >= 3 and len(blob) == _BASE.size + 2 * n:
        (base,) = _BASE.unpack_from(blob)
        offsets = np.cumsum(np.frombuffer(blob, dtype="<i2", offset=_BASE.size), dtype=np.int64)
        return offsets.astype(np.float64) + base
    return np.frombuffer(blob, dtype="<f8")


def _pack(steps: np.ndarray, values: np.ndarray, ts: np.ndarray) -> tuple[bytes, bytes, bytes]:
    return (_encode_steps(steps), values.astype("<f8").tobytes(), _encode_ts(ts))


def unpack(steps: bytes, vals: bytes, ts: bytes, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk's (steps int64, values float64, timestamps float64 ms); `n` is the chunk's point count."""
    return decode_steps(steps, n), np.frombuffer(vals, dtype="<f8"), decode_ts(ts, n)
