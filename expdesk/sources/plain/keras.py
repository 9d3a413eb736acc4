"""Keras CSVLogger folders (`training.log`: `epoch,<metric>,...,val_<metric>`, appended each epoch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.core.errors import SourceError
from expdesk.core.safefile import open_regular
from expdesk.sources.plain.generic import GenericReader, keras_history


def _looks_like_csvlogger(path: Path) -> bool:
    # never a plain `open`: a FIFO named training.log would block discovery forever
    try:
        fd, _st = open_regular(path)
    except SourceError:
        return False
    try:
        head = os.read(fd, 256)
    except OSError:
        return False
    finally:
        os.close(fd)
    first = head.split(b"\n", 1)[0].strip()
    return first.startswith(b"epoch,") or first.startswith(b"epoch;")


class KerasReader(GenericReader):
    format = "keras"
    priority = 10
    claims_subtree = True
    metric_files = ("training.log", "metrics.csv")
    json_file = None  # `history.json` is Keras' own (read below); a metrics.json is not a Keras file

    def detect(self, path: Path) -> float:
        try:
            names = set(os.listdir(path))
        except OSError:
            return 0.0
        if "training.log" in names and _looks_like_csvlogger(path / "training.log"):
            return 0.7
        if "history.json" in names and (names & {"best.keras", "model.keras", "model.h5"}):
            return 0.6
        return 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        update = super().read(ref, cursor)
        if not (ref.path / "training.log").exists() and not update.metrics:
            update.metrics = keras_history(ref.path)
            update.metrics_reset = True
        return update


READER = KerasReader()
