"""PyTorch Lightning version folders: `<save_dir>/<name>/<version>/` with `hparams.yaml`, and what the loggers
wrote there - CSVLogger's sparse `metrics.csv`, TensorBoardLogger's event files, or both (a fit given both
loggers on one version) - plus `checkpoints/*.ckpt`, listed and never loaded.

* `hparams.yaml` is dumped with `yaml.dump`, so Namespaces, dataclasses, tuples and functions appear as
  `!!python/...` tags: read as plain data, nothing constructed (`common.yamlconfig.tagged_yaml`).
* `metrics.csv` has a header that is the sorted union of the keys logged so far; each row holds `epoch`,
  `step` and only the metrics logged at that moment. A new key makes the logger rewrite the whole file with a
  wider header, so the reader starts over.
* Event files are read as the TensorBoard reader reads them (`common.eventfiles`). One fit logs the same
  values to every logger: a key both files hold is kept once, from the CSV (full precision); keys only the
  event files hold (TensorBoardLogger's `epoch`, `hp_metric`) are added. `info["metric_files"]` says which
  file held which keys.
* A folder holding only `hparams.yaml` is a fit that stopped before logging anything: a run with its params.

Every version folder of a logger is named `<name>/<version>` whichever logger wrote it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from expdesk.core.entities import Artifact, RunRef, RunUpdate, Status
from expdesk.core.errors import SourceError
from expdesk.core.lfs import is_pointer
from expdesk.core.paths import is_regular_file
from expdesk.sources.base import Reader, list_artifacts, require_folder, unread_entry
from expdesk.sources.common.eventfiles import (
    EventRead,
    event_files,
    has_event_files,
    is_event_file,
    read_event_files,
)
from expdesk.sources.common.tables import read_csv_table
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_tagged_yaml
from expdesk.sources.lightning._ckpt import checkpoint_state

#: checkpoints whose callback state is read per run (a run keeping every epoch's checkpoint has hundreds)
MAX_CHECKPOINTS = 200
#: a header longer than this is not a Lightning header (and we will not read a 1 GB line to find out)
MAX_HEADER_BYTES = 1 << 20
#: Lightning's default version folder name
VERSION_DIR = re.compile(r"^version_\d+$")


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
    # a TensorBoardLogger's version folder: the event files are read here (with the hparams.yaml beside them),
    # so the TensorBoard reader does not read that folder a second time
    covers = frozenset({"tensorboard"})

    def detect(self, path: Path) -> float:
        try:
            names = set(os.listdir(path))
        except OSError:
            return 0.0
        has_hparams = "hparams.yaml" in names and is_regular_file(path / "hparams.yaml")
        if has_hparams and has_event_files(path):
            return 0.92  # TensorBoardLogger's version folder: beats a plain TensorBoard run (0.9)
        columns = _header_columns(path / "metrics.csv") if "metrics.csv" in names else []
        if columns[:1] and is_pointer(columns[0].encode()) and "hparams.yaml" in names:
            return 0.6  # a clone without its LFS objects: read, so the run says the metrics are not here
        if "step" in columns:
            # generic claims metrics.csv at 0.4; a `step` column next to hparams.yaml is CSVLogger's
            if has_hparams:
                return 0.8
            # No hparams.yaml (yet): CSVLogger's header is the *sorted* key union with epoch and step,
            # which a hand-written `step,loss` file almost never is.
            if "epoch" in columns and columns == sorted(columns) and "metrics.jsonl" not in names:
                return 0.5
            return 0.0
        if (
            has_hparams
            and "metrics.csv" not in names
            and ("checkpoints" in names or VERSION_DIR.match(path.name))
        ):
            return 0.6  # fit started (or stopped) before anything was logged
        return 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = require_folder(ref)
        # `<save_dir>/<name>/<version>`: the logger name groups versions like an experiment
        update = RunUpdate(name=f"{folder.parent.name}/{folder.name}", experiment=folder.parent.name)
        errors: list[str] = []
        self._read_hparams(folder, update, errors)
        prev = dict(cursor or {})
        csv_cursor = self._read_metrics(folder / "metrics.csv", prev.get("csv_part") or {}, update, errors)
        csv_keys = sorted(csv_cursor.get("keys", []))
        files = event_files(folder)
        if cursor is not None and files and csv_keys != prev.get("csv_keys"):
            # which keys come from which file changed (the CSV gained a key the event files already gave):
            # read both from the start, so no point is held twice
            return self.read(ref, None)
        events = read_event_files(folder, prev.get("events"), files) if files else None
        if events is not None:
            errors.extend(events.errors)
            update.metrics_reset = update.metrics_reset or events.reset
            # one fit logs the same values to both loggers: a key the CSV holds is taken from the CSV only
            update.metrics += [s for s in events.series if s.key not in csv_keys]
            update.media = events.media  # images/histograms TensorBoardLogger logged: the CSV has none
            # TensorBoardLogger writes the same hparams twice: typed in hparams.yaml, and flattened with `/`
            # into the hparams plugin (numbers as doubles, tuples as text). The plugin's copy is only used when
            # hparams.yaml gave nothing (missing or unreadable); it stays visible in info["events"] either way.
            if not update.params:
                update.params = dict(events.params)
            event_keys = sorted(
                set(prev.get("event_keys", []) if not events.reset else []) | {s.key for s in events.series}
            )
            update.info["metric_files"] = {"metrics.csv": csv_keys, "event files": event_keys}
            update.info["events"] = events.info
        elif prev.get("events"):
            update.metrics_reset = True  # the event files vanished: what was indexed from them is stale
        update.status, update.native_status = Status.UNKNOWN, None  # Lightning's loggers record no status
        update.artifacts = [a for a in list_artifacts(folder) if not is_event_file(a.path.rsplit("/", 1)[-1])]
        update.info["checkpoints"] = [a.path for a in update.artifacts if a.path.startswith("checkpoints/")]
        states = _checkpoint_states(folder, update.artifacts, (cursor or {}).get("ckpt") or {})
        if states:
            update.info["checkpoint_states"] = {rel: state for rel, (_ident, state) in states.items()}
        self._times(update, events)
        update.cursor = {
            "csv_part": csv_cursor,
            "csv_keys": csv_keys,
            "events": events.cursor if events is not None else None,
            "event_keys": update.info.get("metric_files", {}).get("event files", []),
            "ckpt": {rel: [ident, state] for rel, (ident, state) in states.items()},
        }
        update.error = "; ".join(errors[:5]) or None
        return update

    def _read_hparams(self, folder: Path, update: RunUpdate, errors: list[str]) -> None:
        hparams = folder / "hparams.yaml"
        if not is_regular_file(hparams):
            return
        update.info["config_files"] = ["hparams.yaml"]
        try:
            data = read_tagged_yaml(hparams)
        except SourceError as exc:
            errors.append(str(exc))
            update.unread.append(unread_entry(folder, exc))
            return
        if isinstance(data, dict):
            update.params = flatten(data)
        elif data is not None:
            errors.append(f"{hparams}: expected a mapping of hyperparameters, found {type(data).__name__}")
            update.unread.append(("hparams.yaml", f"not read: a {type(data).__name__}, not a mapping"))

    def _read_metrics(
        self, path: Path, cursor: dict[str, Any], update: RunUpdate, errors: list[str]
    ) -> dict[str, Any]:
        """New rows of metrics.csv; the returned cursor also keeps every key the file has held."""
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
            update.unread.append(("metrics.csv", f"not read: {exc}"))
            return cursor
        except SourceError as exc:
            errors.append(str(exc))
            update.unread.append(unread_entry(path.parent, exc))
            return cursor
        errors.extend(errs)
        update.metrics = series
        update.metrics_reset = update.metrics_reset or reset
        keys = set() if reset or state is None else set(cursor.get("keys", []))
        keys |= {s.key for s in series}
        return {"csv": new_state, "header": header_digest, "keys": sorted(keys)}

    @staticmethod
    def _times(update: RunUpdate, events: EventRead | None) -> None:
        """Event wall times when TensorBoardLogger wrote any; else (said so) file mtimes: CSVLogger and
        hparams.yaml record no time, and a copied folder's mtimes are the copy's."""
        mtimes = [a.mtime_ns for a in update.artifacts]
        if events is not None and events.first_wall is not None:
            update.start_time, update.info["start_time_from"] = events.first_wall, "event wall time"
        elif mtimes:
            update.start_time = min(mtimes) / 1e9
            update.info["start_time_from"] = "file mtime (oldest file)"
        if events is not None and events.last_wall is not None:
            update.last_activity, update.info["last_activity_from"] = events.last_wall, "event wall time"
        elif mtimes:
            update.last_activity = max(mtimes) / 1e9
            update.info["last_activity_from"] = "file mtime"


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
