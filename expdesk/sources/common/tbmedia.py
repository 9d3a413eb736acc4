"""Media in TensorBoard event files: where each image, histogram, text and audio item lives, and decoding.

`collect` walks the records the scalar fast path left over (images, histograms, text and tensors are never
plain scalars) and notes, per `Summary.Value`, the byte span that holds the item inside the event file:

* `Summary.Image` (torch, tensorboardX): the span of `encoded_image_string`, so the PNG/JPEG is read back
  byte for byte without decoding anything;
* a string tensor of the `images` plugin (TF2 `tf.summary.image`): `[width, height, image, image, ...]`, one
  item per encoded image, again the span of its bytes;
* `HistogramProto` (torch, tensorboardX) and a `[k, 3]` tensor of the `histograms` plugin (TF2): the span
  of the message, decoded into buckets when asked for (`histogram_buckets`);
* text (`text` plugin or any string tensor): the span of the `TensorProto`, decoded by `text_values`;
* `Summary.Audio` and `audio` plugin tensors: the span of the encoded audio.

Nothing is kept but spans: an event file with 10,000 images costs 10,000 small rows in the index.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import MediaItem
from expdesk.sources.common import protowire as pw
from expdesk.sources.common.tfrecord import Frames

#: first bytes of the encodings an image summary may hold (a PNG is what torch and TF write)
IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_DT_STRING = 7
_DT_FLOAT, _DT_DOUBLE = 1, 2


@dataclass(frozen=True)
class RawMedia:
    """One item found in a file's records, before the reader names its tag and makes it a `MediaItem`."""

    tag: str
    kind: str
    step: int
    offset: int  # file offset of the item's bytes
    length: int
    codec: str
    wall_time: float | None
    mime: str | None = None
    meta: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def sniff_image(head: bytes) -> str | None:
    """The MIME type of an encoded image from its first bytes, or None."""
    for signature, mime in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def collect(
    data: bytes, frames: Frames, which: np.ndarray, plugins: dict[str, str], out: list[RawMedia]
) -> None:
    """Media of the records `which` (indices into `frames`) of one scanned chunk. A record's data starts 12
    bytes after its header (`record_offsets` are file offsets). A malformed record stops the walk, as it
    stops the reader's own decoding there."""
    mv = memoryview(data)
    for i in which.tolist():
        start = int(frames.starts[i])
        shift = int(frames.record_offsets[i]) + 12 - start  # buffer position -> file offset
        try:
            _event(mv, start, start + int(frames.lens[i]), shift, plugins, out)
        except (pw.Malformed, ValueError, OverflowError):
            return


def _event(
    mv: memoryview, start: int, end: int, shift: int, plugins: dict[str, str], out: list[RawMedia]
) -> None:
    wall: float | None = None
    step = 0
    summaries = []
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 1:
            wall = pw.double_at(mv, a)
        elif number == 2 and wire == 0:
            step = pw.as_int64(a)
        elif number == 5 and wire == 2:
            summaries.append((a, b))
    if wall is not None and not math.isfinite(wall):
        wall = None
    for a, b in summaries:
        for number, wire, va, vb in pw.fields(mv, a, b):
            if number == 1 and wire == 2:
                _value(mv, va, vb, step, wall, shift, plugins, out)


def _value(
    mv: memoryview,
    start: int,
    end: int,
    step: int,
    wall: float | None,
    shift: int,
    plugins: dict[str, str],
    out: list[RawMedia],
) -> None:
    tag = ""
    spans: dict[int, tuple[int, int]] = {}
    plugin: str | None = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 2:
            tag = pw.text(mv, a, b, 4096)
        elif number == 2 and wire == 5:
            return  # simple_value: a scalar
        elif number in (4, 5, 6, 8) and wire == 2:
            spans[number] = (a, b)
        elif number == 9 and wire == 2:
            plugin = _plugin_name(mv, a, b)
    plugin = plugin if plugin is not None else plugins.get(tag, "")
    base: dict[str, Any] = {"tag": tag, "step": step, "wall_time": wall}
    if 4 in spans:
        out.append(_image(mv, *spans[4], shift, base))
    elif 5 in spans:
        a, b = spans[5]
        out.append(RawMedia(kind="histogram", offset=a + shift, length=b - a, codec="tb-histogram", **base))
    elif 6 in spans:
        out.append(_audio(mv, *spans[6], shift, base))
    elif 8 in spans:
        _tensor(mv, *spans[8], shift, plugin, base, out)


def _plugin_name(mv: memoryview, start: int, end: int) -> str | None:
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 2:
            for n2, w2, a2, b2 in pw.fields(mv, a, b):
                if n2 == 1 and w2 == 2:
                    return pw.text(mv, a2, b2, 256)
    return None


def _image(mv: memoryview, start: int, end: int, shift: int, base: dict[str, Any]) -> RawMedia:
    """`Summary.Image {height 1, width 2, colorspace 3, encoded_image_string 4}`."""
    meta: list[tuple[str, str]] = []
    span = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 0:
            meta.append(("height", str(pw.as_int64(a))))
        elif number == 2 and wire == 0:
            meta.append(("width", str(pw.as_int64(a))))
        elif number == 4 and wire == 2:
            span = (a, b)
    if span is None:
        return RawMedia(
            kind="image", offset=start + shift, length=0, codec="raw", error="empty image", **base
        )
    return _encoded_image(mv, span, shift, tuple(sorted(meta)), base)


def _encoded_image(
    mv: memoryview, span: tuple[int, int], shift: int, meta: tuple[tuple[str, str], ...], base: dict[str, Any]
) -> RawMedia:
    a, b = span
    mime = sniff_image(bytes(mv[a : min(b, a + 16)]))
    error = None
    if mime is None:
        head = bytes(mv[a : min(b, a + 8)])
        error = f"not an encoded image (starts with {head!r})" if b > a else "empty image"
    return RawMedia(
        kind="image", offset=a + shift, length=b - a, codec="raw", mime=mime, meta=meta, error=error, **base
    )


def _audio(mv: memoryview, start: int, end: int, shift: int, base: dict[str, Any]) -> RawMedia:
    """`Summary.Audio {sample_rate 1, num_channels 2, length_frames 3, encoded_audio_string 4, content_type 5}`."""
    meta: list[tuple[str, str]] = []
    span = (start, start)
    mime = None
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 5:
            meta.append(("sample_rate", repr(pw.float_at(mv, a))))
        elif number == 2 and wire == 0:
            meta.append(("channels", str(pw.as_int64(a))))
        elif number == 4 and wire == 2:
            span = (a, b)
        elif number == 5 and wire == 2:
            mime = pw.text(mv, a, b, 256)
    return RawMedia(
        kind="audio",
        offset=span[0] + shift,
        length=span[1] - span[0],
        codec="raw",
        mime=mime,
        meta=tuple(meta),
        error=None if span[1] > span[0] else "empty audio",
        **base,
    )


def _tensor(
    mv: memoryview, start: int, end: int, shift: int, plugin: str, base: dict[str, Any], out: list[RawMedia]
) -> None:
    dtype = 0
    strings: list[tuple[int, int]] = []
    for number, wire, a, b in pw.fields(mv, start, end):
        if number == 1 and wire == 0:
            dtype = a
        elif number == 8 and wire == 2:
            strings.append((a, b))
    if plugin == "images":
        # [width, height, encoded image...] as strings (tf.summary.image)
        size = [bytes(mv[a:b][:16]).decode("ascii", "replace") for a, b in strings[:2]]
        meta = tuple(sorted(zip(("width", "height"), size, strict=False)))
        for span in strings[2:]:
            out.append(_encoded_image(mv, span, shift, meta, base))
    elif plugin == "audio":
        # [k, 2]: (encoded audio, label) per sample
        for a, b in strings[0::2]:
            out.append(
                RawMedia(kind="audio", offset=a + shift, length=b - a, codec="raw", mime="audio/wav", **base)
            )
    elif plugin == "histograms":
        out.append(
            RawMedia(
                kind="histogram",
                offset=start + shift,
                length=end - start,
                codec="tb-tensor-histogram",
                **base,
            )
        )
    elif plugin == "text" or (dtype == _DT_STRING and plugin not in ("hparams",)):
        out.append(RawMedia(kind="text", offset=start + shift, length=end - start, codec="tb-text", **base))


# -- decoding (when an item is shown) ------------------------------------------------------------------
def histogram_buckets(data: bytes) -> np.ndarray:
    """`HistogramProto {min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7}` -> (n, 3)
    float64 rows (left, right, count), read as TensorBoard reads it (`data_compat._migrate_histogram_value`):
    `bucket_limit[i]` is bucket i's right edge; empty buckets at both ends are dropped (their outer limits
    are often -DBL_MAX/DBL_MAX), and the recorded `min` and `max` close the first and last bucket. Only
    the precision differs: TensorBoard narrows to float32, the values here are the doubles as stored."""
    mv = memoryview(data)
    lo = hi = 0.0
    limits: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for number, wire, a, b in pw.fields(mv, 0, len(mv)):
        if number == 1 and wire == 1:
            lo = pw.double_at(mv, a)
        elif number == 2 and wire == 1:
            hi = pw.double_at(mv, a)
        elif number in (6, 7):
            target = limits if number == 6 else counts
            if wire == 2:
                if (b - a) % 8:
                    raise pw.Malformed(f"packed doubles of {b - a} bytes")
                target.append(np.frombuffer(data, dtype="<f8", count=(b - a) // 8, offset=a))
            elif wire == 1:
                target.append(np.array([pw.double_at(mv, a)]))
    limit = np.concatenate(limits) if limits else np.empty(0)
    count = np.concatenate(counts) if counts else np.empty(0)
    if len(limit) != len(count):
        raise pw.Malformed(f"{len(limit)} bucket limits for {len(count)} bucket counts")
    filled = np.flatnonzero(count > 0)
    if not len(filled):
        return np.empty((0, 3), dtype=np.float64)
    start, end = int(filled[0]), int(filled[-1])
    inner = limit[start:end]
    out = np.empty((end - start + 1, 3), dtype=np.float64)
    out[:, 0] = np.concatenate([[lo], inner])
    out[:, 1] = np.concatenate([inner, [hi]])
    out[:, 2] = count[start : end + 1]
    return out


def tensor_histogram(data: bytes) -> np.ndarray:
    """A `histograms` plugin tensor of shape [k, 3] (left, right, count) as float64 rows."""
    values = _numeric_tensor(data)
    if values.size % 3:
        raise pw.Malformed(f"a histogram tensor of {values.size} values is not [k, 3]")
    return values.reshape(-1, 3)


def _numeric_tensor(data: bytes) -> np.ndarray:
    mv = memoryview(data)
    dtype = 0
    content: tuple[int, int] | None = None
    packed: list[np.ndarray] = []
    for number, wire, a, b in pw.fields(mv, 0, len(mv)):
        if number == 1 and wire == 0:
            dtype = a
        elif number == 4 and wire == 2:
            content = (a, b)
        elif number == 5 and wire == 2:
            packed.append(np.frombuffer(data, "<f4", count=(b - a) // 4, offset=a).astype(np.float64))
        elif number == 5 and wire == 5:
            packed.append(np.array([pw.float_at(mv, a)]))
        elif number == 6 and wire == 2:
            packed.append(np.frombuffer(data, "<f8", count=(b - a) // 8, offset=a))
        elif number == 6 and wire == 1:
            packed.append(np.array([pw.double_at(mv, a)]))
    if content is not None:
        np_dtype = {_DT_FLOAT: "<f4", _DT_DOUBLE: "<f8"}.get(dtype)
        if np_dtype is None:
            raise pw.Malformed(f"histogram tensor of dtype {dtype}")
        width = np.dtype(np_dtype).itemsize
        a, b = content
        return np.frombuffer(data, np_dtype, count=(b - a) // width, offset=a).astype(np.float64)
    return np.concatenate(packed) if packed else np.empty(0)


def text_values(data: bytes) -> list[str]:
    """The strings of a text tensor (`string_val`, field 8), in order, decoded as UTF-8."""
    mv = memoryview(data)
    return [
        bytes(mv[a:b]).decode("utf-8", "replace")
        for number, wire, a, b in pw.fields(mv, 0, len(mv))
        if number == 8 and wire == 2
    ]


def media_items(
    run: Path, found: dict[str, list[RawMedia]], name: Callable[[str, str], str]
) -> list[MediaItem]:
    """The items found per event file (relative path -> items) as `MediaItem`s, tags named as the reader
    names the file's scalars (`name(rel, tag)`: sub-directory runs get their prefix)."""
    out = []
    for rel, items in found.items():
        file = str(run / rel)
        for m in items:
            out.append(
                MediaItem(
                    key=name(rel, m.tag),
                    kind=m.kind,
                    step=m.step,
                    file=file,
                    offset=m.offset,
                    length=m.length,
                    codec=m.codec,
                    wall_time=m.wall_time,
                    mime=m.mime,
                    meta=m.meta,
                    error=m.error,
                )
            )
    return out
