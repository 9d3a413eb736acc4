"""TensorBoard event files of one run folder, read incrementally (shared by the TensorBoard reader and by the
Lightning reader, whose TensorBoardLogger writes them into a version folder).

A run's event files are those directly in its folder and in its sub-directories (`add_hparams` writes
`<run>/<time.time()>/` or `<run>/hparams/`, `add_scalars("g", {"a": ..})` writes `<run>/g/a/` or `<run>/g_a/`).
Names of sub-directory scalars:

* an hparams session directory keeps its tags (`hparam/final_val_loss`): the sub-dir name is a timestamp;
* an `add_scalars` directory (`g/a` or `g_a` below a tag `g`) becomes `g/a`, the name the researcher gave;
* any other sub-directory prefixes its path: `<sub>/<tag>`.

Incremental reads keep, per event file, its identity, the offset after its last whole record and the small
state decoded so far (plugin of each tag, text, hparams, image/histogram catalogue). Event files only grow;
one that shrank, changed identity, changed its head or vanished makes the caller start the whole run over.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import MediaItem, Series
from expdesk.core.errors import SourceError
from expdesk.core.lfs import LfsPointer, refuse_pointer
from expdesk.core.safefile import walk_stats
from expdesk.sources.common import tfevent, tfrecord
from expdesk.sources.common.tbmedia import RawMedia, media_items

EVENT_PREFIX = "events.out.tfevents."
CURSOR_VERSION = 1
#: bytes read from an event file at a time (a 5 GB log is scanned in slices, never loaded whole)
CHUNK_BYTES = 64 << 20
#: event files per logical run we look at (a pathological tree must not stall the indexer)
MAX_EVENT_FILES = 2000
_HEAD_BYTES = 64

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, values, wall seconds


def is_event_file(name: str) -> bool:
    return name.startswith(EVENT_PREFIX)


def has_event_files(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(is_event_file(e.name) and e.is_file(follow_symlinks=False) for e in entries)
    except OSError:
        return False


def event_files(path: Path) -> list[str]:
    """Relative POSIX paths of the run's event files: its own first, then sub-directories, sorted."""
    found = []
    for rel, st in walk_stats(path):
        if is_event_file(rel.rsplit("/", 1)[-1]) and stat.S_ISREG(st.st_mode):
            found.append(rel)
            if len(found) >= MAX_EVENT_FILES:
                break
    return sorted(found, key=lambda r: (r.count("/"), r))


@dataclass
class EventRead:
    """What the event files of a run held (new points since the cursor, and the small state in full)."""

    series: list[Series] = field(default_factory=list)
    #: images, histograms, text and audio of the records read (where their bytes live, never the bytes)
    media: list[MediaItem] = field(default_factory=list)
    reset: bool = False
    cursor: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: hparams of the run's sessions (text as TensorBoard's own dashboard shows it)
    params: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: the first and last wall time the files recorded (seconds), and the newest file mtime
    first_wall: float | None = None
    last_wall: float | None = None
    newest_mtime: float | None = None


def read_event_files(
    folder: Path, cursor: dict[str, Any] | None, files: list[str] | None = None
) -> EventRead:
    """New points of every event file below `folder` since `cursor` (None = from the start)."""
    files = event_files(folder) if files is None else files
    previous = cursor.get("files") if cursor and cursor.get("v") == CURSOR_VERSION else None
    out = EventRead()
    out.reset = cursor is not None and (previous is None or not _cursor_still_valid(folder, previous, files))
    if out.reset:
        previous = None
    previous = previous or {}
    new_files: dict[str, Any] = {}
    parts: dict[str, list[Arrays]] = {}
    newest = 0.0
    media: dict[str, list[RawMedia]] = {}
    for rel in files:
        media[rel] = []
        entry, points, error, mtime = _read_file(folder / rel, previous.get(rel), media[rel])
        new_files[rel] = entry
        newest = max(newest, mtime)
        if error:
            out.errors.append(error)
        for tag, arrays in points.items():
            parts.setdefault(f"{rel}\0{tag}", []).extend(arrays)
    naming = _Naming(new_files)
    merged: dict[str, list[Arrays]] = {}
    for key, arrays in parts.items():
        rel, tag = key.split("\0", 1)
        merged.setdefault(naming.name(rel, tag), []).extend(arrays)
    for name, arrays in merged.items():
        steps = np.concatenate([a[0] for a in arrays])
        values = np.concatenate([a[1] for a in arrays])
        walls = np.concatenate([a[2] for a in arrays])
        out.series.append(Series(name, steps, values, walls * 1000.0))
    out.media = media_items(folder, media, naming.name)
    _small_state(out, new_files, naming)
    out.newest_mtime = newest or None
    out.cursor = {"v": CURSOR_VERSION, "files": new_files}
    return out


def _cursor_still_valid(run: Path, previous: dict[str, Any], files: list[str]) -> bool:
    """Event files only grow: a vanished, replaced, shrunk or rewritten file invalidates the cursor."""
    present = set(files)
    for rel, entry in previous.items():
        if rel not in present:
            return False
        try:
            fd = os.open(run / rel, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            offset = int(entry.get("offset", 0))
            if (st.st_ino, st.st_dev) != (entry.get("ino"), entry.get("dev")) or st.st_size < offset:
                return False
            if not stat.S_ISREG(st.st_mode) or _head(fd, offset) != entry.get("head"):
                return False
        finally:
            os.close(fd)
    return True


def _head(fd: int, upto: int) -> str:
    return hashlib.sha1(os.pread(fd, min(upto, _HEAD_BYTES), 0)).hexdigest()


def _read_file(
    path: Path, entry: dict[str, Any] | None, media: list[RawMedia] | None = None
) -> tuple[dict[str, Any], dict[str, list[Arrays]], str | None, float]:
    """Read one event file from its cursor entry. Returns (new entry, points per tag, error, mtime); media
    items of the records read are appended to `media`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return entry or {}, {}, str(SourceError(path, f"cannot open: {exc.strerror}")), 0.0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return entry or {}, {}, str(SourceError(path, "not a regular file")), 0.0
        try:
            refuse_pointer(fd, st.st_size, path)  # a clone without its LFS objects: said, not "bad CRC"
        except LfsPointer as exc:
            return entry or {}, {}, str(exc), st.st_mtime
        offset = 0
        state = tfevent.new_state()
        if entry and entry.get("head") == _head(fd, int(entry.get("offset", 0))):
            offset, state = int(entry["offset"]), entry["state"]
        points: dict[str, list[Arrays]] = {}
        error = None
        while offset < st.st_size:
            want = CHUNK_BYTES
            data = os.pread(fd, want, offset)
            frames = tfrecord.scan(data, 0, str(path), base=offset)
            while frames.end == 0 and frames.pending and len(data) == want and frames.error is None:
                # one record bigger than the chunk: read exactly as much as it needs
                want = max(want * 2, 16 + int.from_bytes(data[:8], "little"))
                data = os.pread(fd, want, offset)
                frames = tfrecord.scan(data, 0, str(path), base=offset)
            chunk_points, decode_error = tfevent.decode(data, frames, state, str(path), media)
            for tag, pts in chunk_points.items():
                points.setdefault(tag, []).append(pts.arrays())
            if decode_error:
                error = decode_error
                break
            offset += frames.end
            if frames.error is not None:
                error = str(frames.error)
                break
            if frames.pending and len(data) < want:
                break  # torn last record: the writer is still at it
            if frames.end == 0:
                break
        new_entry = {
            "ino": st.st_ino,
            "dev": st.st_dev,
            "offset": offset,
            "head": _head(fd, offset),
            "state": state,
        }
        return new_entry, points, error, st.st_mtime
    finally:
        os.close(fd)


class _Naming:
    """Metric names for scalars of sub-directories (see the module docstring)."""

    def __init__(self, files: dict[str, Any]) -> None:
        self.hparam_dirs = {
            rel.rpartition("/")[0]
            for rel, e in files.items()
            if e.get("state", {}).get("hparams", {}).get("values")
        }

    def name(self, rel: str, tag: str) -> str:
        sub = rel.rpartition("/")[0]
        if not sub or sub in self.hparam_dirs:
            return tag
        flat = tag.replace("/", "_")
        for sep in ("/", "_"):
            if sub.startswith(flat + sep) and len(sub) > len(flat) + 1:
                return f"{tag}/{sub[len(flat) + 1 :]}"
        return f"{sub}/{tag}"


def hparam_text(value: Any, domain: list[Any] | None, seen: list[Any]) -> str:
    """An hparam as TensorBoard's dashboard shows it. `add_hparams` stores every number as a double, so an
    integer comes back as 8.0: shown as `8` when the session's discrete domain holds only whole numbers, or
    (no domain) when every value recorded for it in the run is whole."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    pool = [v for v in domain if isinstance(v, (int, float)) and not isinstance(v, bool)] if domain else seen
    whole = pool and all(math.isfinite(v) and float(v).is_integer() for v in pool)
    if whole and math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return repr(value)


def _small_state(out: EventRead, files: dict[str, Any], naming: _Naming) -> None:
    """Params from hparams sessions; text, images, histograms and other tensors as run info."""
    info: dict[str, Any] = {"event_files": list(files)}
    starts, ends = [], []
    values: dict[str, list[Any]] = {}
    domains: dict[str, list[Any]] = {}
    for rel, entry in files.items():
        state = entry.get("state") or {}
        if state.get("first_wall") is not None:
            starts.append(state["first_wall"])
        if state.get("last_wall") is not None:
            ends.append(state["last_wall"])
        hp = state.get("hparams") or {}
        for key, value in (hp.get("values") or {}).items():
            values.setdefault(key, []).append(value)
        for key, domain in (hp.get("domains") or {}).items():
            domains[key] = domain
        if hp:
            session = {k: v for k, v in hp.items() if k not in ("values", "experiment")}
            info.setdefault("hparams_sessions", {})[rel.rpartition("/")[0]] = session
        for kind in ("text", "images", "histograms", "tensors"):
            for tag, value in (state.get(kind) or {}).items():
                info.setdefault(kind, {})[naming.name(rel, tag)] = value
        if state.get("file_version") and "file_version" not in info:
            info["file_version"] = state["file_version"]
    for key, recorded in values.items():
        numbers = [v for v in recorded if isinstance(v, float)]
        out.params[key] = hparam_text(recorded[-1], domains.get(key), numbers)
    out.first_wall = min(starts) if starts else None
    out.last_wall = max(ends) if ends else None
    out.info = info
