"""TensorBoard event files (torch.utils.tensorboard, tensorboardX, TF summary writers).

A logical run is the shallowest directory that directly holds `events.out.tfevents.*` files; event files in
its sub-directories belong to it (`add_hparams` writes `<run>/<time.time()>/` or `<run>/hparams/`,
`add_scalars("g", {"a": ..})` writes `<run>/g/a/` or `<run>/g_a/`). Names of sub-directory scalars:

* an hparams session directory keeps its tags (`hparam/final_val_loss`): the sub-dir name is a timestamp;
* an `add_scalars` directory (`g/a` or `g_a` below a tag `g`) becomes `g/a`, the name the researcher gave;
* any other sub-directory prefixes its path: `<sub>/<tag>`.

Incremental reads keep, per event file, its identity, the offset after its last whole record and the small
state decoded so far (plugin of each tag, text, hparams, image/histogram catalogue). Event files only grow;
one that shrank, changed identity, changed its head or vanished makes us start the whole run over.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.codec import param_str
from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.core.errors import SourceError
from expdesk.core.lfs import LfsPointer, refuse_pointer
from expdesk.core.safefile import walk_stats
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.tensorboard import _tfevent, _tfrecord
from expdesk.sources.tensorboard._media import RawMedia, media_items

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


class TensorBoardReader(Reader):
    format = "tensorboard"
    priority = 60
    claims_subtree = True  # sub-directories with event files are parts of this run, not runs of their own

    def detect(self, path: Path) -> float:
        return 0.9 if has_event_files(path) else 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        files = event_files(ref.path)
        if not files:
            raise SourceError(ref.path, "no TensorBoard event files")
        previous = cursor.get("files") if cursor and cursor.get("v") == CURSOR_VERSION else None
        reset = cursor is not None and (
            previous is None or not _cursor_still_valid(ref.path, previous, files)
        )
        if reset:
            previous = None
        previous = previous or {}
        update = RunUpdate(name=ref.path.name, status=Status.UNKNOWN, metrics_reset=reset)
        new_files: dict[str, Any] = {}
        parts: dict[str, list[Arrays]] = {}
        errors = []
        newest = 0.0
        media: dict[str, list[RawMedia]] = {}
        for rel in files:
            media[rel] = []
            entry, points, error, mtime = _read_file(ref.path / rel, rel, previous.get(rel), media[rel])
            new_files[rel] = entry
            newest = max(newest, mtime)
            if error:
                errors.append(error)
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
            update.metrics.append(Series(name, steps, values, walls * 1000.0))
        _fill_small_state(update, new_files, naming)
        update.media = media_items(ref.path, media, naming.name)
        update.last_activity = newest or None
        update.artifacts = [
            a for a in list_artifacts(ref.path) if not is_event_file(a.path.rsplit("/", 1)[-1])
        ]
        update.error = "; ".join(errors) if errors else None
        update.cursor = {"v": CURSOR_VERSION, "files": new_files}
        return update


def event_files(path: Path) -> list[str]:
    """Relative POSIX paths of the run's event files: its own first, then sub-directories, sorted."""
    found = []
    for rel, st in walk_stats(path):
        if is_event_file(rel.rsplit("/", 1)[-1]) and stat.S_ISREG(st.st_mode):
            found.append(rel)
            if len(found) >= MAX_EVENT_FILES:
                break
    return sorted(found, key=lambda r: (r.count("/"), r))


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
    path: Path, rel: str, entry: dict[str, Any] | None, media: list[RawMedia] | None = None
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
            refuse_pointer(fd, st.st_size, path)
        except LfsPointer as exc:
            return entry or {}, {}, str(exc), st.st_mtime
        offset = 0
        state = _tfevent.new_state()
        if entry and entry.get("head") == _head(fd, int(entry.get("offset", 0))):
            offset, state = int(entry["offset"]), entry["state"]
        points: dict[str, list[Arrays]] = {}
        error = None
        while offset < st.st_size:
            want = CHUNK_BYTES
            data = os.pread(fd, want, offset)
            frames = _tfrecord.scan(data, 0, str(path), base=offset)
            while frames.end == 0 and frames.pending and len(data) == want and frames.error is None:
                # one record bigger than the chunk: read exactly as much as it needs
                want = max(want * 2, 16 + int.from_bytes(data[:8], "little"))
                data = os.pread(fd, want, offset)
                frames = _tfrecord.scan(data, 0, str(path), base=offset)
            chunk_points, decode_error = _tfevent.decode(data, frames, state, str(path), media)
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


def _fill_small_state(update: RunUpdate, files: dict[str, Any], naming: _Naming) -> None:
    """Params from hparams sessions; text, images, histograms and other tensors as run info."""
    info: dict[str, Any] = {"event_files": list(files)}
    starts = []
    for rel, entry in files.items():
        state = entry.get("state") or {}
        if state.get("first_wall") is not None:
            starts.append(state["first_wall"])
        hp = state.get("hparams") or {}
        for key, value in (hp.get("values") or {}).items():
            update.params[key] = param_str(value)
        if hp:
            session = {k: v for k, v in hp.items() if k not in ("values", "experiment")}
            info.setdefault("hparams_sessions", {})[rel.rpartition("/")[0]] = session
        for kind in ("text", "images", "histograms", "tensors"):
            for tag, value in (state.get(kind) or {}).items():
                info.setdefault(kind, {})[naming.name(rel, tag)] = value
        if state.get("file_version") and "file_version" not in info:
            info["file_version"] = state["file_version"]
    if starts:
        update.start_time = min(starts)
    update.info = info


READER = TensorBoardReader()
