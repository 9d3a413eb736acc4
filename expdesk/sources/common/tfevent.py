"""Decoding `tensorflow.Event` records: a vectorised fast path for plain scalars, a full path for the rest.

Almost every record of a training log is one scalar: `wall_time, step, summary{value{tag, simple_value}}`.
Those have a fixed byte shape, so numpy decodes all of them at once (wall time, step varint, tag, float);
anything else (text, hparams, images, histograms, tensors, several values per event) goes through the
field walker in `_protowire`. Small per-file state (which plugin a tag belongs to, text, hparams, image and
histogram catalogues) lives in a JSON-able dict carried in the reader's cursor: TensorBoard writers send a
tag's plugin metadata only with its first event, so it must survive between incremental reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from struct import error as struct_error
from typing import Any

import numpy as np

from expdesk.core.errors import SourceError
from expdesk.sources.common import protowire as pw
from expdesk.sources.common.tbmedia import RawMedia
from expdesk.sources.common.tbmedia import collect as collect_media
from expdesk.sources.common.tbplugins import histogram, hparams, image_entry, tensor_entry
from expdesk.sources.common.tfrecord import Frames

#: tags per file beyond which we stop cataloguing new plugin names (10^5 distinct tags is an attack)
MAX_TAGS = 20000


def new_state() -> dict[str, Any]:
    return {
        "plugins": {},
        "text": {},
        "images": {},
        "histograms": {},
        "tensors": {},
        "hparams": {},
        "first_wall": None,
        "last_wall": None,
        "file_version": None,
    }


@dataclass
class Points:
    """Scalar points of one file read, per tag, in record order."""

    order: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    walls: list[np.ndarray] = field(default_factory=list)

    def add(self, order: np.ndarray, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> None:
        self.order.append(order)
        self.steps.append(steps)
        self.values.append(values)
        self.walls.append(walls)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, values, wall seconds) sorted by record order (the fast and slow paths interleave)."""
        if len(self.order) == 1:
            return self.steps[0], self.values[0], self.walls[0]
        order = np.concatenate(self.order)
        idx = np.argsort(order, kind="stable")
        return (
            np.concatenate(self.steps)[idx],
            np.concatenate(self.values)[idx],
            np.concatenate(self.walls)[idx],
        )


def decode(
    data: bytes, frames: Frames, state: dict[str, Any], path: str, media: list[RawMedia] | None = None
) -> tuple[dict[str, Points], str | None]:
    """Decode the records in `frames`; scalars are returned, everything else folded into `state`.

    Returns (points per tag, error message or None). A malformed record stops decoding there. With a
    `media` list, where each image/histogram/text/audio item's bytes live is appended to it.
    """
    points: dict[str, Points] = {}
    n = len(frames.starts)
    if not n:
        return points, None
    buf = np.frombuffer(data, dtype=np.uint8)
    fast = _fast_scalars(buf, frames.starts, frames.lens)
    slow_idx = np.flatnonzero(~fast.ok)
    error = None
    if len(slow_idx):
        # a malformed record ends the file's good part: later records are dropped with it
        slow: dict[str, Any] = {}
        stop, error = _slow_records(data, frames, slow_idx, state, slow, path)
        if media is not None:
            collect_media(data, frames, slow_idx[slow_idx < stop], state["plugins"], media)
        if stop < n:
            keep = fast.ok.copy()
            keep[stop:] = False
            fast.ok = keep
        for tag, (order, steps, values, walls) in slow.items():
            points.setdefault(tag, Points()).add(
                np.array(order, np.int64),
                np.array(steps, np.int64),
                np.array(values, np.float64),
                np.array(walls, np.float64),
            )
    _collect_fast(buf, fast, points)
    walls = fast.walls[fast.ok]
    if len(walls):
        _note_walls(state, float(walls.min()), float(walls.max()))
    return points, error


@dataclass
class _Fast:
    ok: np.ndarray
    walls: np.ndarray
    steps: np.ndarray
    values: np.ndarray
    tag_at: np.ndarray
    tag_len: np.ndarray


def _window(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """`buf[o:o + width]` for every offset as an (n, width) matrix; offsets too close to the end are clamped
    (the caller rejects those records by a bounds check, so clamped bytes are never trusted)."""
    if len(buf) < width:
        return np.zeros((len(offsets), width), dtype=np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    return windows[np.clip(offsets, 0, len(buf) - width)]


def _fast_scalars(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> _Fast:
    """Which records are `09 wall [10 step] 2a L1 0a L2 0a T tag 15 float` exactly, and their fields.

    Every gathered window lies inside the record when the record matches: the final length identity
    `q + 2 + L1 == end` with `L1 = L2 + 2 = T + 9` pins every field to the record's own bytes.
    """
    ends = starts + lens
    head = _window(buf, starts, 16)  # 09 + wall (8) + 10 + up to 5 step bytes + next byte
    ok = (lens >= 17) & (head[:, 0] == 0x09) & (starts + 16 <= len(buf))
    walls = np.ascontiguousarray(head[:, 1:9]).view("<f8").reshape(-1)
    has_step = head[:, 9] == 0x10
    # steps below 2**35 (five varint bytes) take the fast path; bigger or negative ones the full decoder
    steps = np.zeros(len(starts), dtype=np.int64)
    going = has_step.copy()
    vlen = np.zeros(len(starts), dtype=np.int64)
    for k in range(5):
        byte = head[:, 10 + k]
        steps += (
            (byte & 0x7F).astype(np.int64) << (7 * k)
            if k == 0
            else np.where(going, (byte & 0x7F).astype(np.int64) << (7 * k), 0)
        )
        vlen += going
        going &= byte >= 0x80
        if not going.any():
            break
    ok &= ~going
    steps *= has_step
    q = starts + 9 + has_step + vlen
    sub = _window(buf, q, 6)
    l1, l2, tlen = sub[:, 1].astype(np.int64), sub[:, 3], sub[:, 5].astype(np.int64)
    ok &= (sub[:, 0] == 0x2A) & (sub[:, 2] == 0x0A) & (sub[:, 4] == 0x0A)
    ok &= (l1 < 0x80) & (l2 == tlen + 7) & (l1 == tlen + 9) & (q + 2 + l1 == ends)
    tail = _window(buf, q + 6 + tlen, 5)
    ok &= tail[:, 0] == 0x15
    with np.errstate(invalid="ignore"):  # signalling NaNs widen to quiet NaNs: data, not an error
        values = np.ascontiguousarray(tail[:, 1:5]).view("<f4").reshape(-1).astype(np.float64)
    return _Fast(ok, walls, steps, values, q + 6, tlen)


def _collect_fast(buf: np.ndarray, fast: _Fast, points: dict[str, Points]) -> None:
    idx = np.flatnonzero(fast.ok)
    if not len(idx):
        return
    tlen = fast.tag_len[idx]
    lengths = np.unique(tlen).tolist()
    for length in lengths:
        group = idx if len(lengths) == 1 else idx[tlen == length]
        labels, inverse = _tag_ids(buf, fast.tag_at[group], length)
        if len(labels) == 1:
            parts = [group]
        else:
            order = np.argsort(inverse, kind="stable")
            bounds = np.flatnonzero(np.diff(inverse[order])) + 1
            parts = np.split(group[order], bounds)
            labels = [labels[int(inverse[order[0]])]] + [labels[int(inverse[order[b]])] for b in bounds]
        # simple_value is a scalar whatever plugin the tag names (EventAccumulator files it under Scalars too)
        for tag, sel in zip(labels, parts, strict=True):
            points.setdefault(tag, Points()).add(sel, fast.steps[sel], fast.values[sel], fast.walls[sel])


def _tag_ids(buf: np.ndarray, at: np.ndarray, length: int) -> tuple[list[str], np.ndarray]:
    """Distinct tags (all `length` bytes long) and each record's index into them.

    Tags are hashed to uint64 (cheap to sort), then every record is compared byte for byte with its
    group's first tag; a hash collision falls back to sorting the raw bytes.
    """
    if length == 0:
        return [""], np.zeros(len(at), dtype=np.int64)
    names = _window(buf, at, length)
    # pack the tag into 64-bit words; up to 8 bytes the word *is* the tag, longer tags are hashed
    width = -(-length // 8) * 8
    padded = np.zeros((len(at), width), dtype=np.uint8)
    padded[:, :length] = names
    words = padded.view("<u8")
    hashes = words[:, 0].copy()
    with np.errstate(over="ignore"):
        for k in range(1, words.shape[1]):
            hashes *= np.uint64(0x9E3779B97F4A7C15)
            hashes ^= words[:, k]
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if width > 8 and not (names == names[first][inverse]).all():
        _, first, inverse = np.unique(
            names.view(f"V{length}").reshape(-1), return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
    return [bytes(names[i]).decode("utf-8", "replace") for i in first.tolist()], inverse


def _note_walls(state: dict[str, Any], lo: float, hi: float) -> None:
    if math.isfinite(lo):
        state["first_wall"] = lo if state["first_wall"] is None else min(state["first_wall"], lo)
    if math.isfinite(hi):
        state["last_wall"] = hi if state["last_wall"] is None else max(state["last_wall"], hi)


def _slow_records(
    data: bytes, frames: Frames, which: np.ndarray, state: dict[str, Any], points: dict[str, Any], path: str
) -> tuple[int, str | None]:
    """Decode records one by one. Returns (index of the first malformed record or len, error)."""
    mv = memoryview(data)
    for i in which.tolist():
        start = int(frames.starts[i])
        end = start + int(frames.lens[i])
        try:
            _event(mv, start, end, i, int(frames.record_offsets[i]), state, points)
        except (pw.Malformed, ValueError, OverflowError, struct_error) as exc:
            where = f"record at byte {int(frames.record_offsets[i])}"
            return i, str(SourceError(path, f"malformed event: {exc}", where))
    return len(frames.starts), None


def _event(
    mv: memoryview,
    start: int,
    end: int,
    index: int,
    offset: int,
    state: dict[str, Any],
    points: dict[str, Any],
) -> None:
    wall = math.nan
    step = 0
    summaries = []
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 1:
            wall = pw.double_at(mv, a)
        elif number == 2 and wire == 0:
            step = pw.as_int64(a)
        elif number == 3 and wire == 2:
            state["file_version"] = pw.text(mv, a, b, 256)
        elif number == 5 and wire == 2:
            summaries.append((a, b))
    _note_walls(state, wall, wall)
    for a, b in summaries:
        for number, wire, va, vb in pw.fields(mv, a, b):
            if number == 1 and wire == 2:
                _value(mv, va, vb, step, wall, index, offset, state, points)


def _value(
    mv: memoryview,
    start: int,
    end: int,
    step: int,
    wall: float,
    index: int,
    offset: int,
    state: dict[str, Any],
    points: dict[str, Any],
) -> None:
    tag = ""
    simple: float | None = None
    image = histo = tensor = None
    plugin: str | None = None
    content = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 2:
            tag = pw.text(mv, a, b, 4096)
        elif number == 2 and wire == 5:
            simple = pw.float_at(mv, a)
        elif number == 4 and wire == 2:
            image = (a, b)
        elif number == 5 and wire == 2:
            histo = (a, b)
        elif number == 8 and wire == 2:
            tensor = (a, b)
        elif number == 9 and wire == 2:
            plugin, content = _plugin_data(mv, a, b)
    plugins = state["plugins"]
    if plugin is not None and (tag in plugins or len(plugins) < MAX_TAGS):
        plugins[tag] = plugin
    plugin = plugins.get(tag, "")
    if simple is not None:
        _point(points, tag, index, step, simple, wall)
    elif plugin == "hparams":
        if content is not None:
            hparams(mv, content[0], content[1], state)
    elif image is not None:
        image_entry(mv, image[0], image[1], tag, step, offset, state)
    elif histo is not None:
        histogram(mv, histo[0], histo[1], tag, step, state)
    elif tensor is not None:
        value = tensor_entry(mv, tensor[0], tensor[1], tag, step, plugin, state)
        if value is not None:
            _point(points, tag, index, step, value, wall)


def _point(points: dict[str, Any], tag: str, index: int, step: int, value: float, wall: float) -> None:
    # slow-path points gather in plain lists (one numpy array per point would dominate the cost)
    rows: tuple[list[int], list[int], list[float], list[float]] | None = points.get(tag)
    if rows is None:
        rows = points[tag] = ([], [], [], [])
    rows[0].append(index)
    rows[1].append(step)
    rows[2].append(value)
    rows[3].append(wall)


def _plugin_data(mv: memoryview, start: int, end: int) -> tuple[str | None, tuple[int, int] | None]:
    """SummaryMetadata.plugin_data -> (plugin_name, content span)."""
    name = None
    content = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 2:
            for n2, w2, a2, b2 in pw.fields(mv, a, b):
                if n2 == 1 and w2 == 2:
                    name = pw.text(mv, a2, b2, 256)
                elif n2 == 2 and w2 == 2:
                    content = (a2, b2)
    return name, content
