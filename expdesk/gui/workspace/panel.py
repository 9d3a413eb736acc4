"""Workspace charts: the compare window's chart (chosen metrics, x = step / wall / relative time, smoothing,
grouped curves) for the runs the runs table shows now. Filter the table and the charts follow.

Everything is loaded off the GUI thread on the panel's own `TaskRunner`: the shown runs' JSON first (to
know their metrics, labels and group fields), then the chart's series. Both answers carry a generation, so
a filter typed quickly draws only its last answer. A hidden panel loads nothing and catches up when shown.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from expdesk.compare.diff import legend_labels
from expdesk.compare.series import XMode
from expdesk.core.views import ChartPanel
from expdesk.gui.compare.chart_tab import ChartTab
from expdesk.gui.compare.widgets import plain_label
from expdesk.gui.compare.workers import ChangeRelay, TaskRunner, attach_listener
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

#: the first this many runs of the table are charted (a legend stops helping long before; loading 1,000
#: runs' full histories for a glance would be minutes of memory); the panel says when it cut
MAX_RUNS = 100
#: a burst of table reloads (typing a filter) becomes one load
SETTLE_MS = 250


class WorkspaceCharts(QWidget):
    #: a chart was drawn for the current runs
    chart_ready = Signal()

    def __init__(self, index: Index, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._index = index
        self._tasks = TaskRunner(index, self, threads=2)
        self._tasks.relay.finished.connect(self._on_finished)
        self._tasks.relay.failed.connect(self._on_failed)
        self._relay = ChangeRelay(self)
        self._relay.changed.connect(self._on_runs_changed)
        attach_listener(index, self._relay)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.status = plain_label("No runs in the table")
        layout.addWidget(self.status)
        self.charts = ChartTab(index, self._tasks, self._export_figure)
        self.charts.chart_ready.connect(self.chart_ready)
        layout.addWidget(self.charts, 1)
        self._keys: list[str] = []  # the table's runs, in its order
        self._loaded_keys: list[str] | None = None  # the runs the chart shows now
        self._first = True  # the first runs loaded choose a default metric
        self._pending: ChartPanel | None = None  # a saved view's chart panel, applied once runs are known
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._load_runs)
        self._closed = False

    # -- what the table shows -----------------------------------------------------------------------
    def set_visible_keys(self, keys: Sequence[str]) -> None:
        """The runs table shows these runs now (in its order): the charts follow, once shown."""
        self._keys = list(keys)
        if self.isVisible():
            self._settle.start()

    def shown_keys(self) -> list[str]:
        return self._keys[:MAX_RUNS]

    def _load_runs(self) -> None:
        if self._closed:
            return
        keys = self.shown_keys()
        if keys == self._loaded_keys and self.charts.runs:
            return

        def job(reader: IndexReader) -> tuple[list[str], list[dict[str, Any]], list[str]]:
            runs = reader.runs_json(keys)
            return keys, runs, legend_labels(runs)

        self._tasks.submit("runs", job)

    def _on_runs_changed(self, changed: set[str]) -> None:
        """Runs were re-indexed: series of the shown ones are read again (the table reloads on its own)."""
        if self._closed:
            return
        shown = set(self._loaded_keys or ())
        if "*" in changed or shown & changed:
            self.charts.forget(changed if "*" not in changed else shown)
            self._loaded_keys = None
            if self.isVisible():
                self._settle.start()

    # -- answers from the workers -------------------------------------------------------------------
    def _on_finished(self, kind: str, generation: int, result: Any) -> None:
        if self._closed or not self._tasks.is_current(kind, generation):
            return  # a newer request is on its way
        if kind == "runs":
            keys, runs, labels = result
            self._loaded_keys = keys
            cut = len(self._keys) - len(keys)
            self.status.setText(
                "No runs in the table" if not keys else
                f"The {len(keys)} runs the table shows" if not cut else
                f"The first {len(keys)} of the {len(self._keys)} runs the table shows (filter to see others)"
            )  # fmt: skip
            self.charts.set_runs(runs, dict(zip(keys, labels, strict=True)), self._first)
            self._first = False
            if self._pending is not None:
                self._apply_now(self._pending)
                self._pending = None
        elif kind == "chart":
            self.charts.show_loaded(result)
        elif kind == "export":
            self.status.setText(f"Saved {result}")

    def _on_failed(self, kind: str, generation: int, message: str) -> None:
        if not self._closed and self._tasks.is_current(kind, generation):
            self.status.setText(f"Could not load the charts: {message}")

    # -- saved views --------------------------------------------------------------------------------
    def state(self) -> ChartPanel:
        group_by = self.charts.grouping.group_by()
        return ChartPanel(
            visible=self.isVisible(),
            metrics=tuple(self.charts.selected_metrics()),
            x=XMode(self.charts.x_combo.currentData()).value,
            smoothing=round(self.charts.smooth_spin.value(), 6),
            group_by=group_by.text if group_by is not None else "",
            band=self.charts.grouping.band().value,
            log_y=self.charts.log_y.isChecked(),
        )

    def apply(self, panel: ChartPanel) -> None:
        """Show a saved chart panel (its metrics once the runs that have them are loaded)."""
        self._first = False  # the view chooses the metrics, not the default
        if self.charts.runs:
            self._apply_now(panel)
        else:
            self._pending = panel

    def _apply_now(self, panel: ChartPanel) -> None:
        charts = self.charts
        for widget in (charts.x_combo, charts.smooth_spin, charts.log_y):
            widget.blockSignals(True)
        charts.x_combo.setCurrentIndex(max(charts.x_combo.findData(XMode(panel.x)), 0))
        charts.smooth_spin.setValue(panel.smoothing)
        charts.log_y.setChecked(panel.log_y)
        for widget in (charts.x_combo, charts.smooth_spin, charts.log_y):
            widget.blockSignals(False)
        charts.grouping.blockSignals(True)
        charts.grouping.set_choice(panel.group_by, panel.band)
        charts.grouping.blockSignals(False)
        charts.set_selected_metrics(panel.metrics)  # one request with everything set

    # -- life cycle ---------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._settle.start()  # catch up with what the table did while hidden

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._settle.stop()

    def _export_figure(self, figure: Figure, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export figure", f"{name}.png", "PNG (*.png);;SVG (*.svg)"
        )
        if not path:
            return
        out = Path(path)
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            self.status.setText("Figures export to .png or .svg")
            return
        buf = io.BytesIO()
        figure.savefig(buf, format=fmt)  # drawn here (the figure belongs to the GUI thread) ...
        data = buf.getvalue()

        def job(reader: IndexReader) -> str:  # ... written on a worker
            from expdesk.core.paths import watched_folder_holding

            folder = watched_folder_holding(out, reader.watched_folders())
            if folder is not None:
                raise ValueError(f"{out} is inside the watched folder {folder}; expdesk never writes there")
            out.write_bytes(data)
            return str(out)

        self._tasks.submit("export", job)

    def shutdown(self) -> None:
        """Stop loading and let go of the series (the window is closing)."""
        self._closed = True
        self._settle.stop()
        self._relay.close()
        self._tasks.shutdown()
        self.charts.release()
