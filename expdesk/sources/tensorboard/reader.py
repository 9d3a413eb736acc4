"""TensorBoard event files (torch.utils.tensorboard, tensorboardX, TF summary writers).

A logical run is the shallowest directory that directly holds `events.out.tfevents.*` files; event files in
its sub-directories belong to it. Reading (incremental, CRC-checked) and metric naming are
`common.eventfiles`, shared with the Lightning reader. Times are the wall times the events recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate, Status
from expdesk.core.errors import SourceError
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.eventfiles import event_files, has_event_files, is_event_file, read_event_files


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
        events = read_event_files(ref.path, cursor, files)
        update = RunUpdate(name=ref.path.name, status=Status.UNKNOWN, metrics_reset=events.reset)
        update.metrics = events.series
        update.media = events.media
        update.params = events.params
        update.info = events.info
        if events.first_wall is not None:
            update.start_time = events.first_wall
            update.info["start_time_from"] = "event wall time"
        # the newest event's wall time is the run's last sign of life; a copy's mtimes say nothing
        if events.last_wall is not None:
            update.last_activity = events.last_wall
            update.info["last_activity_from"] = "event wall time"
        else:
            update.last_activity = events.newest_mtime
            update.info["last_activity_from"] = "file mtime"
        update.artifacts = [
            a for a in list_artifacts(ref.path) if not is_event_file(a.path.rsplit("/", 1)[-1])
        ]
        update.error = "; ".join(events.errors) if events.errors else None
        update.cursor = events.cursor
        return update


READER = TensorBoardReader()
