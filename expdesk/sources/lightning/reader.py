"""PyTorch Lightning CSVLogger version folders: `hparams.yaml`, sparse `metrics.csv`, `checkpoints/*.ckpt`.

`metrics.csv` has a header that is the sorted union of the keys logged so far; each row holds `epoch`, `step`
and only the metrics logged at that moment (other cells empty). When a new key appears the logger rewrites
the whole file with a wider header, so the reader starts over. Checkpoints are listed, never loaded.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any

from expdesk.core.entities import Artifact, RunRef, RunUpdate, Status
from expdesk.core.errors import SourceError
from expdesk.core.lfs import is_pointer
from expdesk.core.paths import is_regular_file
from expdesk.sources.base import Reader, list_artifacts, require_folder
from expdesk.sources.common.tables import read_csv_table
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked
from expdesk.sources.lightning._ckpt import checkpoint_state

#: checkpoints whose callback state is read per run (a run keeping every epoch's checkpoint has hundreds)
MAX_CHECKPOINTS = 200
#: a header longer than this is not a Lightning header (and we will not read a 1 GB line to find out)
MAX_HEADER_BYTES = 1 << 20


def _first_line(path: Path, limit: int = MAX_HEADER_BYTES) -> bytes | None:
    """The file's first whole line (without `\\n`), or None when there is none yet (or it is too long)."""
    if not is_regular_file(path):
        return None  # a FIFO or device named metrics.csv must not be opened
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        chunk = os.pread(fd, limit, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    end = chunk.find(b"\n")
    return chunk[:end] if end >= 0 else None


def _header_columns(path: Path) -> list[str]:
    line = _first_line(path, 4096)
    if line is None:
        return []
    return [c.strip() for c in line.decode("utf-8", "replace").split(",")]


class LightningReader(Reader):
    format = "lightning"
    priority = 60
    claims_subtree = True  # checkpoints/ below a version folder are this run's files, not runs

    def detect(self, path: Path) -> float:
        try:
            names = set(os.listdir(path))
        except OSError:
            return 0.0
        columns = _header_columns(path / "metrics.csv") if "metrics.csv" in names else []
        if columns[:1] and is_pointer(columns[0].encode()) and "hparams.yaml" in names:
            return 0.6  # a clone without its LFS objects: read, so the run says the metrics are not here
        if "step" in columns:
            # generic claims metrics.csv at 0.4; a `step` column next to hparams.yaml is CSVLogger's
            if "hparams.yaml" in names:
                return 0.8
            # No hparams.yaml (yet): CSVLogger's header is the *sorted* key union with epoch and step,
            # which a hand-written `step,loss` file almost never is.
            if "epoch" in columns and columns == sorted(columns) and "metrics.jsonl" not in names:
                return 0.5
            return 0.0
        if "hparams.yaml" in names and "checkpoints" in names and "metrics.csv" not in names:
            return 0.6  # fit started, nothing logged yet
        return 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = require_folder(ref)
        # `<save_dir>/<name>/<version>`: the logger name groups versions like an experiment
        update = RunUpdate(name=f"{folder.parent.name}/{folder.name}", experiment=folder.parent.name)
        errors: list[str] = []
        hparams = folder / "hparams.yaml"
        if is_regular_file(hparams):
            try:
                data = read_yaml_checked(hparams)
            except SourceError as exc:
                errors.append(str(exc))
            else:
                if isinstance(data, dict):
                    update.params = flatten(data)
                elif data is not None:
                    errors.append(
                        f"{hparams}: expected a mapping of hyperparameters, found {type(data).__name__}"
                    )
            update.info["config_files"] = ["hparams.yaml"]
        new_cursor = self._read_metrics(folder / "metrics.csv", dict(cursor or {}), update, errors)
        update.status, update.native_status = Status.UNKNOWN, None  # CSVLogger records no status
        update.artifacts = list_artifacts(folder)
        update.info["checkpoints"] = [a.path for a in update.artifacts if a.path.startswith("checkpoints/")]
        states = _checkpoint_states(folder, update.artifacts, (cursor or {}).get("ckpt") or {})
        if states:
            update.info["checkpoint_states"] = {rel: state for rel, (_ident, state) in states.items()}
            new_cursor["ckpt"] = {rel: [ident, state] for rel, (ident, state) in states.items()}
        mtimes = [a.mtime_ns for a in update.artifacts]
        update.last_activity = max(mtimes) / 1e9 if mtimes else None
        update.cursor = new_cursor
        update.error = "; ".join(errors[:5]) or None
        return update

    def _read_metrics(
        self, path: Path, cursor: dict[str, Any], update: RunUpdate, errors: list[str]
    ) -> dict[str, Any]:
        if not is_regular_file(path):
            if cursor.get("csv"):
                update.metrics_reset = True  # the file vanished: whatever was indexed is stale
            return {}
        header = _first_line(path)
        header_digest = hashlib.sha1(header).hexdigest() if header is not None else None
        state = cursor.get("csv")
        if state and cursor.get("header") != header_digest:
            # The shared tail cursor only hashes the first 512 bytes; a sorted header can gain a column
            # beyond that, so compare the whole header line and start over when it changed.
            state = None
        try:
            series, reset, new_state, errs = read_csv_table(path, state)
        except csv.Error as exc:  # e.g. a field over csv's field_size_limit (200 KB cells)
            errors.append(f"{path}: unreadable CSV: {exc}")
            return cursor
        except SourceError as exc:
            errors.append(str(exc))
            return cursor
        errors.extend(errs)
        update.metrics = series
        update.metrics_reset = reset
        return {"csv": new_state, "header": header_digest}


def _checkpoint_states(
    folder: Path, artifacts: list[Artifact], previous: dict[str, Any]
) -> dict[str, tuple[list[int], dict[str, Any]]]:
    """Epoch, step and ModelCheckpoint state of each `.ckpt` (never unpickled; see `_ckpt`), re-read only when
    a file's size or mtime changed: metrics.csv grows every few steps, the checkpoints do not."""
    out: dict[str, tuple[list[int], dict[str, Any]]] = {}
    for art in artifacts:
        if not art.path.endswith(".ckpt") or len(out) >= MAX_CHECKPOINTS:
            continue
        ident = [art.size, art.mtime_ns]
        known = previous.get(art.path)
        if isinstance(known, list) and len(known) == 2 and known[0] == ident and isinstance(known[1], dict):
            out[art.path] = (ident, known[1])
            continue
        try:
            state = checkpoint_state(folder / art.path)
        except SourceError as exc:
            state = {"error": exc.reason}
        out[art.path] = (ident, state)
    return out


READER = LightningReader()
