"""The Compare window: one tab widget each for the diff table, metric charts, parallel coordinates and
scatter, over any number of runs.

All computation lives in `expdesk.compare` (Qt-free); the tabs wire widgets and matplotlib canvases, and
this view coordinates them: it owns the runs, the worker pool and the live updates. The GUI thread never
queries the index nor writes files: runs, series and exports go through `TaskRunner`, and live updates
arrive from the index writer as a signal.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from matplotlib.figure import Figure
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QTabWidget, QVBoxLayout, QWidget

from expdesk.compare.diff import DiffTable, Direction, build_diff
from expdesk.compare.series import values_at
from expdesk.gui.compare.chart_tab import ChartTab
from expdesk.gui.compare.media_tab import MediaTab
from expdesk.gui.compare.plots_tab import ParallelTab, ScatterTab
from expdesk.gui.compare.table_tab import TableTab
from expdesk.gui.compare.widgets import LazyTab
from expdesk.gui.compare.workers import ChangeRelay, TaskRunner, attach_listener
from expdesk.gui.elided_label import ElidedLabel
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

_Plots = TypeVar("_Plots", ParallelTab, ScatterTab)

#: runs that keep writing are re-read at most this often (ms): a burst of commits is one reload. A live
#: chart costs 200-400 ms of rendering on a worker, whose GIL the GUI thread shares: at 300 ms a comparison
#: of live runs re-rendered back to back (bench_soak.py). Once a second still follows a training run closely.
LIVE_DEBOUNCE_MS = 1000


@dataclass
class _RunsResult:
    runs: list[dict[str, Any]]
    table: DiffTable


class CompareView(QWidget):
    """Compare `keys` from `index`. Call `shutdown()` (or close the widget) before dropping it."""

    table_ready = Signal()  # the diff table holds fresh data
    chart_ready = Signal()  # the metric chart was rebuilt from fresh data
    failed = Signal(str)

    def __init__(self, index: Index, keys: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.keys = list(dict.fromkeys(keys))
        self.runs: list[dict[str, Any]] = []
        self._table: DiffTable | None = None  # the diff of `runs` (the lazily made tabs start from it)
        self.directions: dict[str, Direction] = {}
        self._closed = False
        self._tasks = TaskRunner(index, self)
        self._tasks.relay.finished.connect(self._on_finished)
        self._tasks.relay.failed.connect(self._on_failed)
        self._changes = ChangeRelay(self)
        self._changes.changed.connect(self._on_runs_changed)
        self._dirty: set[str] = set()
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self._reload_dirty)
        self._build_ui()
        self._detach_listener = attach_listener(index, self._changes)
        self.reload()

    def _build_ui(self) -> None:
        self.setWindowTitle(f"Compare {len(self.keys)} runs")
        layout = QVBoxLayout(self)
        self.status = ElidedLabel(f"Loading {len(self.keys)} runs…")
        layout.addWidget(self.status)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self.table_tab = TableTab(lambda path, data: self._write_later(Path(path), data))
        self.charts = ChartTab(self.index, self._tasks, self._ask_figure)
        # the other tabs are made when first shown (or used), with the runs loaded by then
        self.tabs.addTab(self.table_tab, "Table")
        self.tabs.addTab(self.charts, "Charts")
        self._parallel = LazyTab(self.tabs, "Parallel coordinates", lambda: self._new_plots(ParallelTab))
        self._scatter = LazyTab(self.tabs, "Scatter", lambda: self._new_plots(ScatterTab))
        self._media = LazyTab(self.tabs, "Media", self._new_media)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.table_tab.step_changed.connect(self._request_table)
        self.table_tab.direction_chosen.connect(self.set_direction)
        self.charts.chart_ready.connect(self.chart_ready)
        self.charts.problems.connect(self._on_chart_problems)
        # Ctrl+W (the platform's Close key) and Escape close this window, as they do a browser tab
        for keys in (
            QKeySequence(QKeySequence.StandardKey.Close),
            QKeySequence("Ctrl+W"),
            QKeySequence("Esc"),
        ):
            QShortcut(keys, self, self.close)

    @property
    def parallel(self) -> ParallelTab:
        return self._parallel.page()

    @property
    def scatter(self) -> ScatterTab:
        return self._scatter.page()

    @property
    def media(self) -> MediaTab:
        return self._media.page()

    def _new_plots(self, kind: type[_Plots]) -> _Plots:
        tab = kind(self._ask_figure)
        if self._table is not None:
            tab.set_runs(self.runs, self._table)
        return tab

    def _new_media(self) -> MediaTab:
        tab = MediaTab(self.index.reader)
        if self._table is not None:
            tab.show_runs(self.runs, self._legend())
        return tab

    def _legend(self) -> dict[str, str]:
        legend = self._table.legend if self._table is not None else []
        return dict(zip([r["key"] for r in self.runs], legend, strict=False))

    # -- loading ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the runs (table, parallel, scatter) and then the chart's series."""
        self.charts.forget(set(self.keys))
        self._request_table()

    def _request_table(self) -> None:
        keys = list(self.keys)
        directions = dict(self.directions)
        step = self.table_tab.step()

        def job(reader: IndexReader) -> _RunsResult:
            runs = reader.runs_json(keys)
            at = None
            if step is not None:
                at = values_at(
                    reader, [r["key"] for r in runs], sorted({m for r in runs for m in r["metrics"]}), step
                )
            return _RunsResult(runs, build_diff(runs, directions, at_step=step, values_at_step=at))

        self._tasks.submit("runs", job)

    def _on_finished(self, kind: str, generation: int, result: Any) -> None:
        if self._closed or not self._tasks.is_current(kind, generation):
            return  # a newer request superseded this one
        if kind == "runs":
            self._show_runs(result)
        elif kind == "chart":
            self.charts.show_loaded(result)
        elif kind == "export":
            self.status.set_full_text(f"Saved {result}")

    def _on_failed(self, kind: str, generation: int, message: str) -> None:
        if self._closed:
            return
        if kind == "chart":
            self.charts.load_failed()
        self.status.set_full_text(f"Could not load ({kind}): {message}")
        self.failed.emit(message)

    def _on_chart_problems(self, problems: list[str]) -> None:
        more = f" (+{len(problems) - 2} more)" if len(problems) > 2 else ""
        self.status.set_full_text(
            f"Comparing {len(self.runs)} runs; not charted, the server did not answer: "
            + "; ".join(problems[:2])
            + more
        )

    def _show_runs(self, result: _RunsResult) -> None:
        first = not self.runs
        self.runs, self._table = result.runs, result.table
        self.table_tab.show_table(result.table)
        found = len(self.runs)
        gone = len(self.keys) - found
        self.status.set_full_text(
            f"Comparing {found} runs" + (f" ({gone} no longer in the index)" if gone else "")
        )
        for plots in (self._parallel.made(), self._scatter.made()):
            if plots is not None:
                plots.set_runs(self.runs, result.table)
        # parallel coordinates and scatter are drawn when their tab is shown, not on every reload
        self._on_tab_changed(self.tabs.currentIndex())
        legend = self._legend()
        self.charts.set_runs(self.runs, legend, first)
        if (media := self._media.made()) is not None:
            media.show_runs(self.runs, legend)
        self.table_ready.emit()

    def _on_tab_changed(self, index: int) -> None:
        tab = self.tabs.widget(index)
        for lazy in (self._parallel, self._scatter, self._media):
            if lazy.holds(tab):
                tab = lazy.page()
        if isinstance(tab, (ParallelTab, ScatterTab)):
            tab.draw()

    def set_direction(self, metric: str, direction: Direction | None) -> None:
        """Override which way is best for a metric (None: back to the name-based guess)."""
        if direction is None:
            self.directions.pop(metric, None)
        else:
            self.directions[metric] = direction
        table = self.table_tab.table()
        if table is not None:
            # CPU only (no I/O): rebuilt here so the highlight follows the click at once
            self.table_tab.show_table(
                build_diff(
                    self.runs, self.directions, at_step=_at_step(table), values_at_step=_at_values(table)
                )
            )

    # -- export -------------------------------------------------------------------------------------
    def export_figure(self, figure: Figure, path: Path | str) -> None:
        """PNG or SVG: rendered here (the figure belongs to this thread), written by the pool."""
        out = Path(path)
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            self.status.set_full_text("Figures export to .png or .svg")
            return
        buf = io.BytesIO()
        figure.savefig(buf, format=fmt)
        self._write_later(out, buf.getvalue())

    def _write_later(self, path: Path, data: bytes) -> None:
        def job(_reader: IndexReader) -> str:
            path.write_bytes(data)
            return str(path)

        self._tasks.submit("export", job)

    def _ask_figure(self, figure: Figure, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export figure", f"{name}.png", "PNG (*.png);;SVG (*.svg)"
        )
        if path:
            self.export_figure(figure, path)

    # -- live updates -------------------------------------------------------------------------------
    def _on_runs_changed(self, keys: set[str]) -> None:
        mine = keys & set(self.keys)
        if mine and not self._closed:
            self._dirty |= mine
            if not self._live_timer.isActive():
                self._live_timer.start()

    def _reload_dirty(self) -> None:
        self.charts.forget(self._dirty)
        self._dirty.clear()
        self._request_table()

    # -- lifetime -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop listening, stop the timer, drop queued tasks (a running one ends on its own, reporting to
        nobody: `workers.wait_retired`), let go of the series. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._changes.close()
        self._detach_listener()
        self._live_timer.stop()
        self._tasks.shutdown(wait=False)  # a chart rendering on it finishes on its own
        if (media := self._media.made()) is not None:
            media.shutdown()
        # A closed window may live on until its owner drops it: free its series now, so a compare
        # opened next reuses this memory instead of faulting in fresh pages.
        self.charts.release()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


def _at_step(table: DiffTable) -> int | None:
    for row in table.rows:
        if row.stat and row.stat.startswith("@step "):
            return int(row.stat.split()[1])
    return None


def _at_values(table: DiffTable) -> dict[str, dict[str, float | None]] | None:
    out: dict[str, dict[str, float | None]] = {}
    for row in table.rows:
        if row.stat and row.stat.startswith("@step "):
            out[row.key] = {k: c.number for k, c in zip(table.run_keys, row.cells, strict=True)}
    return out or None
