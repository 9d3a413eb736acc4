"""The compare window's Media tab: the runs' images and text side by side on one step slider, histograms
over steps per run (see `expdesk.gui.media.view`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from expdesk.gui.media.view import MediaView
from expdesk.index.reader import IndexReader


class MediaTab(MediaView):
    def __init__(self, reader_factory: Callable[[], IndexReader], parent: QWidget | None = None) -> None:
        super().__init__(reader_factory, parent)

    def show_runs(self, runs: list[dict[str, Any]], legend: dict[str, str]) -> None:
        """The compared runs, labelled as in the other tabs' legends; reloaded only when they changed media."""
        wanted = [(r["key"], legend.get(r["key"]) or r.get("name") or r["key"]) for r in runs]
        signature = [(r["key"], r.get("media")) for r in runs]
        if wanted != self.runs or signature != getattr(self, "_signature", None):
            self._signature = signature
            self.set_runs(wanted)
