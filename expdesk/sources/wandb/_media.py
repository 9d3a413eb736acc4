"""Media referenced from a W&B run's history: image, table, audio... files under `files/`, and histograms.

`run.log({"sample": wandb.Image(...)})` writes the PNG to `files/media/images/<key>_<n>_<hash>.png` (the
number is a counter, not the step) and a history row naming it; current SDKs spell the row as nested items
(`sample/_type = "image-file"`, `sample/path`, `sample/width`...), older ones as one JSON object. The step
is the history row's. A list of images is one `images/separated` entry with `filenames`. Histograms live
in the row itself (`values` = counts, `bins` = edges, or `packedBins`): their item points at the record
(where the scan starts and its length) and is decoded from there when shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import MediaItem, MediaKind
from expdesk.core.errors import SourceError, UnsafePath
from expdesk.core.paths import resolve_inside
from expdesk.sources.wandb import _log
from expdesk.sources.wandb import _proto as pb

#: W&B media `_type` -> kind, for the types that name a file (`<type>-file`)
FILE_KINDS = {
    "image-file": MediaKind.IMAGE,
    "table-file": MediaKind.TABLE,
    "joinedtable-file": MediaKind.TABLE,
    "partitioned-table-file": MediaKind.TABLE,
    "audio-file": MediaKind.AUDIO,
}
_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
         "bmp": "image/bmp"}  # fmt: skip
#: a history row holds at most this many media entries we catalogue (a row of 10^5 images is an attack)
MAX_ENTRIES_PER_ROW = 10000


class MediaSink:
    """Collects the media of the records a read folds, into `out` (the update's media list)."""

    def __init__(self, log: Path, run: Path, out: list[MediaItem]) -> None:
        self.log, self.run, self.out = log, run, out

    def record(self, payload: bytes, step: int, start: int, end: int) -> None:
        # most records carry no media: a byte search is far cheaper than decoding them again
        if b"_type" in payload:
            collect(payload, step, start, end, self.log, self.run, self.out)


def collect(
    payload: bytes, step: int, start: int, end: int, log: Path, run: Path, out: list[MediaItem]
) -> None:
    """Media of one record (`payload`, scanned from byte `start` to `end` of `log`) logged at `step`."""
    found = pb.record_type(payload)
    if found is None or found[0] != pb.REC_HISTORY:
        return
    items, _ = pb.history(found[1])
    entries: dict[str, dict[str, Any]] = {}
    for name, nested, kind, value in items:
        if kind != pb.JSON:
            continue
        if nested and len(nested) > 1:
            # `sample/_type`, `sample/path`...: the media key is every part but the last
            entries.setdefault("/".join(nested[:-1]), {})[nested[-1]] = value
        elif value[:1] == b"{" and b'"_type"' in value:
            try:
                obj = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                entries[name] = {k: json.dumps(v).encode() for k, v in obj.items()}
    for key, fields in list(entries.items())[:MAX_ENTRIES_PER_ROW]:
        if "_type" not in fields:
            continue
        media_type = _text(fields["_type"])
        if media_type is None:
            continue
        _entry(key, media_type, fields, step, start, end, log, run, out)


def _entry(
    key: str,
    media_type: str,
    fields: dict[str, bytes],
    step: int,
    start: int,
    end: int,
    log: Path,
    run: Path,
    out: list[MediaItem],
) -> None:
    meta = tuple(
        (name, str(_json(fields[name])))
        for name in ("width", "height", "caption", "sha256", "nrows", "ncols")
        if name in fields and _json(fields[name]) is not None
    )
    if media_type == "histogram":
        out.append(MediaItem(key, MediaKind.HISTOGRAM, step, str(log), start, end - start, "wandb-history"))
    elif media_type == "images/separated":
        names = _json(fields.get("filenames", b"[]"))
        mime = _MIME.get(str(_json(fields.get("format", b'""'))).lower())
        for rel in names if isinstance(names, list) else []:
            out.append(_file_item(key, MediaKind.IMAGE, step, run, rel, mime, meta))
    elif "path" in fields:
        kind = FILE_KINDS.get(media_type, MediaKind.OTHER)
        rel = _json(fields["path"])
        mime = _MIME.get(str(_json(fields.get("format", b'""'))).lower()) if kind == MediaKind.IMAGE else None
        if kind == MediaKind.TABLE:
            mime = "application/json"
        item = _file_item(key, kind, step, run, rel, mime, meta)
        if kind == MediaKind.OTHER:
            item = MediaItem(**{**item.__dict__, "meta": (*item.meta, ("wandb_type", media_type))})
        out.append(item)
    else:
        out.append(
            MediaItem(
                key, MediaKind.OTHER, step, str(log), start, end - start, "wandb-history",
                meta=(("wandb_type", media_type),), error=f"W&B {media_type} entries are listed, not shown",
            )
        )  # fmt: skip


def _file_item(
    key: str, kind: str, step: int, run: Path, rel: Any, mime: str | None, meta: tuple[tuple[str, str], ...]
) -> MediaItem:
    """A media file the row names, relative to the run's `files/` folder, which it may never leave."""
    if not isinstance(rel, str) or not rel:
        return MediaItem(
            key, kind, step, str(run / "files"), error=f"the history row names no file ({rel!r})"
        )
    try:
        path = resolve_inside(run / "files", rel)
    except UnsafePath as exc:
        return MediaItem(key, kind, step, str(run / "files"), meta=meta, error=f"files/{rel}: {exc.reason}")
    if not os.path.lexists(path):
        return MediaItem(key, kind, step, str(path), mime=mime, meta=meta, error=f"files/{rel} is missing")
    return MediaItem(key, kind, step, str(run / "files" / rel), mime=mime, meta=meta)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _text(raw: bytes) -> str | None:
    value = _json(raw)
    return value if isinstance(value, str) else None


# -- decoding (when an item is shown) --------------------------------------------------------------------
def histogram_buckets(fd: int, start: int, length: int, key: str) -> np.ndarray:
    """The histogram `key` of the history record scanned from byte `start` (its `length` bytes), as (n, 3)
    rows left, right, count: `bins` are the n+1 edges of the n `values`; `packedBins` {min, size, count}
    spell evenly spaced edges."""
    end = start + length
    for payload, stop in _log.scan(fd, "<wandb log>", start, end):
        if stop != end:
            break
        fields: dict[str, bytes] = {}
        found = pb.record_type(payload)
        if found is None or found[0] != pb.REC_HISTORY:
            break
        for name, nested, kind, value in pb.history(found[1])[0]:
            if kind != pb.JSON:
                continue
            if nested and len(nested) > 1 and "/".join(nested[:-1]) == key:
                fields[nested[-1]] = value
            elif name == key and value[:1] == b"{":
                obj = _json(value)
                if isinstance(obj, dict):
                    fields = {k: json.dumps(v).encode() for k, v in obj.items()}
        if not fields:
            break
        return _buckets(fields, key)
    raise SourceError("<wandb log>", f"no history record with histogram {key!r} at byte {start}")


def _buckets(fields: dict[str, bytes], key: str) -> np.ndarray:
    counts = np.asarray(_json(fields.get("values", b"[]")) or [], dtype=np.float64)
    if "packedBins" in fields:
        packed = _json(fields["packedBins"]) or {}
        edges = float(packed["min"]) + float(packed["size"]) * np.arange(int(packed["count"]) + 1)
    else:
        edges = np.asarray(_json(fields.get("bins", b"[]")) or [], dtype=np.float64)
    if len(counts) == 0:
        return np.empty((0, 3))
    if len(edges) != len(counts) + 1:
        raise ValueError(f"histogram {key!r}: {len(edges)} bin edges for {len(counts)} values")
    return np.column_stack([edges[:-1], edges[1:], counts])
