"""Hand-written run folders: params/config/hparams files plus metrics.json (any common shape, see
`common.metricjson`) / metrics.jsonl / metrics.csv / results.json.

The fallback reader: it claims a folder only when no tool-specific reader does, and it does not claim the
subtree (a project folder with a config.yaml may still hold real runs below it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file
from expdesk.core.safefile import read_json_file
from expdesk.sources.base import Reader, list_artifacts, require_folder, unread_entry
from expdesk.sources.common.folders import METRIC_FILES, run_name
from expdesk.sources.common.jobmetrics import JSON_FILE, read_job_metrics
from expdesk.sources.common.tables import flatten_record, history_dict_to_series, number
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked

PARAM_FILES = (
    "params.json",
    "params.yaml",
    "params.yml",
    "config.json",
    "config.yaml",
    "config.yml",
    "hparams.json",
    "hparams.yaml",
    "hparams.yml",
)
MARKERS = ("DONE", "results.json")


def _exists(folder: Path, name: str) -> bool:
    return is_regular_file(folder / name)


def read_params(
    folder: Path, names: tuple[str, ...] = PARAM_FILES, unread: list[tuple[str, str]] | None = None
) -> tuple[dict[str, str], list[str], list[str]]:
    """Merge every params/config file present (in `names` order) -> (params, files used, errors). A file that
    cannot be read is also added to `unread` (name, reason) when given."""
    params: dict[str, str] = {}
    used, errors = [], []
    for name in names:
        path = folder / name
        if not is_regular_file(path):
            continue
        try:
            data = read_json_file(path) if name.endswith(".json") else read_yaml_checked(path)
        except SourceError as exc:
            errors.append(str(exc))
            if unread is not None:
                unread.append(unread_entry(folder, exc))
            continue
        used.append(name)
        if isinstance(data, dict):
            params.update(flatten(data))
        elif data is not None:
            errors.append(f"{path}: expected a mapping of params, found {type(data).__name__}")
            if unread is not None:
                unread.append((name, f"not read: a {type(data).__name__}, not a mapping of params"))
    return params, used, errors


def newest_mtime(folder: Path) -> float | None:
    newest = None
    try:
        for entry in os.scandir(folder):
            try:
                m = entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            newest = m if newest is None else max(newest, m)
    except OSError:
        return None
    return newest


class GenericReader(Reader):
    format = "generic"
    priority = 0
    claims_subtree = False
    fallback = True  # hand-written files: only where no tool's reader recognises the folder
    metric_files: tuple[str, ...] = METRIC_FILES
    #: the whole-document metrics file this reader also reads (None: none)
    json_file: str | None = JSON_FILE

    def detect(self, path: Path) -> float:
        try:
            names = set(os.listdir(path))
        except OSError:
            return 0.0
        if names & set(self.metric_files):
            return 0.4
        if self.json_file in names and names & set(PARAM_FILES):
            # metrics.json alone is too common (DVC stage outputs, eval dumps); next to a params file it is a run
            return 0.4
        if names & set(PARAM_FILES) and names & set(MARKERS):
            return 0.3
        if "results.json" in names:
            return 0.2
        return 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = require_folder(ref)
        update = RunUpdate(name=run_name(folder, ref.root))
        update.params, used, errors = read_params(folder, unread=update.unread)
        update.info["config_files"] = used
        was_read_before = cursor is not None
        was_running = bool((cursor or {}).get("running"))
        cursor = dict(cursor or {})
        try:
            found = read_job_metrics(folder, cursor.get("job"), self.metric_files, self.json_file)
        except IncompleteRead:
            pass  # metrics.json is being rewritten: keep the cursor, the next read gets it
        else:
            update.metrics, update.metrics_reset = found.series, found.reset
            cursor["job"] = found.cursor
            errors.extend(found.errors)
            update.unread.extend(found.unread)
            if found.summary:
                update.info["summary"] = found.summary
        self.read_results(folder, update, errors)
        update.artifacts = list_artifacts(folder)
        self._times(folder, update, cursor)
        update.status, update.native_status = self.status_of(folder)
        grew = was_read_before and not update.metrics_reset and any(len(x.steps) for x in update.metrics)
        if update.status == Status.UNKNOWN and (
            grew or (was_running and _written_recently(update.last_activity))
        ):
            # no end marker and we saw its metrics grow: it is running (and turns stale, like a crashed
            # MLflow run, if the writes stop without a DONE/results.json marker). A first read cannot tell
            # a live run from a finished one without a marker: a fresh copy has fresh mtimes too.
            update.status, update.native_status = Status.RUNNING, "metrics being written"
        cursor["running"] = update.status == Status.RUNNING
        update.cursor = cursor
        update.error = "; ".join(errors[:5]) or None
        return update

    def _times(self, folder: Path, update: RunUpdate, cursor: dict[str, Any]) -> None:
        """Start and last sign of life from the metrics' own timestamps when they have any, else mtimes
        (said so in `info`: a copied folder's mtimes are the copy's). An incremental read holds only the new
        points, so the span seen so far is kept in the cursor."""
        stamps = [s.timestamps[np.isfinite(s.timestamps)] for s in update.metrics]
        recorded = np.concatenate(stamps) if stamps else np.array([])
        span = None if update.metrics_reset else cursor.get("stamps")
        if len(recorded):
            low, high = float(recorded.min()), float(recorded.max())
            span = [min(low, span[0]), max(high, span[1])] if span else [low, high]
        cursor["stamps"] = span
        if span:
            update.start_time, update.last_activity = span[0] / 1000.0, span[1] / 1000.0
            update.info["start_time_from"] = update.info["last_activity_from"] = "metric timestamps"
            return
        if update.artifacts:
            update.start_time = min(a.mtime_ns for a in update.artifacts) / 1e9
            update.info["start_time_from"] = "file mtime (oldest file)"
        update.last_activity = newest_mtime(folder)
        update.info["last_activity_from"] = "file mtime"

    def read_results(self, folder: Path, update: RunUpdate, errors: list[str]) -> None:
        """`results.json` holds final numbers: kept as run info (a summary, not a history)."""
        if not _exists(folder, "results.json"):
            return
        try:
            data = read_json_file(folder / "results.json", partial_ok=True)
        except IncompleteRead:
            return
        except SourceError as exc:
            errors.append(str(exc))
            return
        if isinstance(data, dict):
            flat = flatten_record(data)
            update.info["results"] = {
                k: v for k, v in flat.items() if number(v) is not None or isinstance(v, str)
            }

    def status_of(self, folder: Path) -> tuple[Status, str | None]:
        if _exists(folder, "DONE"):
            return Status.FINISHED, "DONE marker"
        if _exists(folder, "results.json"):
            return Status.FINISHED, "results.json"
        return Status.UNKNOWN, None


#: a hand-written run counts as running while its files changed within this many seconds
RECENT_WRITE_SECONDS = 120.0


def _written_recently(mtime: float | None) -> bool:
    return mtime is not None and 0 <= time.time() - mtime <= RECENT_WRITE_SECONDS


def keras_history(folder: Path) -> list[Series]:
    """`history.json` as Keras `History.history` (used by the Keras reader when there is no training.log)."""
    try:
        data = read_json_file(folder / "history.json")
    except SourceError:
        return []
    return history_dict_to_series(data) if isinstance(data, dict) else []


READER = GenericReader()
