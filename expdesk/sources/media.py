"""Reading one media item's bytes back from where the run keeps them, and turning them into the item.

A `MediaItem` names a span of a file (`offset`, `length`) and a `codec`. `raw` spans are the item itself
(an encoded PNG inside an event file, an MLflow or W&B media file) and can be streamed of any size; other
codecs are a tool's encoding of a histogram or text, decoded here by the tool's own module (looked up by
name, as the registry does, so tool packages stay independent of each other).

Every read checks the file: it must resolve inside the run's watched root, be a regular file and not a
link, and hold the span. Memory is bounded: `load` refuses spans over `MAX_LOAD_BYTES` with a reason (the
GUI shows it on a placeholder), `copy_raw` streams in blocks.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from expdesk.core.errors import SourceError, UnsafePath
from expdesk.core.paths import is_within
from expdesk.core.safefile import open_regular

#: the most bytes of one item loaded into memory (larger images are placeholders; the CLI streams them)
MAX_LOAD_BYTES = 64 * 1024 * 1024
#: the block size of streamed copies
COPY_BLOCK = 1 << 20

#: codec -> "module:function" turning the span's bytes into histogram buckets (n x 3: left, right, count)
HISTOGRAM_CODECS = {
    "tb-histogram": "expdesk.sources.common.tbmedia:histogram_buckets",
    "tb-tensor-histogram": "expdesk.sources.common.tbmedia:tensor_histogram",
}
#: codec -> "module:function" turning the span's bytes into text values
TEXT_CODECS = {"tb-text": "expdesk.sources.common.tbmedia:text_values"}
#: codecs whose span is a framed record of a log: the decoder reads it from the open file itself (framing
#: depends on absolute offsets) and picks the item's `key` among the record's values
RECORD_CODECS = {"wandb-history": "expdesk.sources.wandb._media:histogram_buckets"}


@dataclass(frozen=True)
class Location:
    """Where an item's bytes are: what the index keeps per item, plus the run's watched root."""

    file: str
    offset: int
    length: int
    codec: str
    root: str
    key: str = ""


@dataclass
class Payload:
    """An item as shown: the bytes as stored (`data`: images, audio, tables, other), histogram buckets
    (float64 rows left, right, count) or text values. `error` says why nothing could be loaded."""

    data: bytes | None = None
    buckets: np.ndarray | None = None
    texts: list[str] = field(default_factory=list)
    error: str | None = None


def _resolve(loc: Location) -> Path:
    path = Path(loc.file)
    try:
        resolved = path.resolve()
        root = Path(loc.root).resolve()
    except (OSError, RuntimeError) as exc:
        raise UnsafePath(path, f"cannot resolve: {exc}") from None
    if not is_within(resolved, root):
        raise UnsafePath(path, f"leaves its watched root {loc.root}")
    return path


def _open_span(loc: Location) -> tuple[int, int, int]:
    """(fd, start, length) of the item's span; the caller closes the fd."""
    path = _resolve(loc)
    fd, st = open_regular(path)
    length = st.st_size - loc.offset if loc.length < 0 else loc.length
    if loc.offset < 0 or length < 0 or loc.offset + length > st.st_size:
        os.close(fd)
        raise SourceError(
            path,
            f"the item's bytes {loc.offset}..{loc.offset + length} are past the end ({st.st_size} bytes)",
        )
    return fd, loc.offset, length


def span_size(loc: Location) -> int:
    """How many bytes the item's span holds (a whole-file item: the file's current size)."""
    fd, _start, length = _open_span(loc)
    os.close(fd)
    return length


def read_span(loc: Location, cap: int = MAX_LOAD_BYTES) -> bytes:
    """The span's bytes; `SourceError` when it is over `cap` (say so, never load it) or unreadable."""
    fd, start, length = _open_span(loc)
    try:
        if length > cap:
            raise SourceError(loc.file, f"{_size(length)}: over the {_size(cap)} limit for loading one item")
        data = os.pread(fd, length, start)
        if len(data) != length:
            raise SourceError(loc.file, f"short read: {len(data)} of {length} bytes")
        return data
    finally:
        os.close(fd)


def copy_raw(loc: Location, out: BinaryIO) -> int:
    """Stream the span into `out` block by block (any size, flat memory); returns the bytes written."""
    fd, start, length = _open_span(loc)
    try:
        done = 0
        while done < length:
            block = os.pread(fd, min(COPY_BLOCK, length - done), start + done)
            if not block:
                raise SourceError(loc.file, f"short read: {done} of {length} bytes")
            out.write(block)
            done += len(block)
        return done
    finally:
        os.close(fd)


def _decoder(table: dict[str, str], codec: str) -> Callable[..., object]:
    module, _, name = table[codec].partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def load(loc: Location, kind: str, cap: int = MAX_LOAD_BYTES) -> Payload:
    """The item, decoded as far as its codec goes. Never raises for a bad item: the reason is `error`."""
    try:
        if loc.codec in RECORD_CODECS:
            return Payload(buckets=_record_buckets(loc, cap))
        data = read_span(loc, cap)
        if loc.codec in HISTOGRAM_CODECS:
            buckets = np.asarray(_decoder(HISTOGRAM_CODECS, loc.codec)(data), dtype=np.float64)
            return Payload(buckets=buckets.reshape(-1, 3))
        if loc.codec in TEXT_CODECS:
            return Payload(texts=list(_decoder(TEXT_CODECS, loc.codec)(data)))  # type: ignore[call-overload]
        if loc.codec != "raw":
            return Payload(error=f"unknown media encoding {loc.codec!r}")
        if kind == "text":
            return Payload(data=data, texts=[data.decode("utf-8", "replace")])
        return Payload(data=data)
    except SourceError as exc:
        return Payload(error=exc.reason if exc.path == loc.file else str(exc))
    except (OSError, ValueError, KeyError, IndexError, TypeError, MemoryError) as exc:
        return Payload(error=f"cannot decode: {type(exc).__name__}: {exc}")


def _record_buckets(loc: Location, cap: int) -> np.ndarray:
    fd, start, length = _open_span(loc)
    try:
        if length > cap:
            raise SourceError(loc.file, f"{_size(length)}: over the {_size(cap)} limit for loading one item")
        buckets = _decoder(RECORD_CODECS, loc.codec)(fd, start, length, loc.key)
        return np.asarray(buckets, dtype=np.float64).reshape(-1, 3)
    finally:
        os.close(fd)


def buckets_csv(buckets: np.ndarray) -> bytes:
    """Histogram buckets as CSV (`left,right,count`), every number in full precision (repr round-trips)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["left", "right", "count"])
    for left, right, count in buckets.tolist():
        # repr of a float round-trips exactly (nan, inf and -0.0 included)
        writer.writerow([repr(left), repr(right), repr(count)])
    return buf.getvalue().encode("utf-8")


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n} bytes"
