"""The Compare view: diff table, metric charts, parallel coordinates and scatter for any number of runs.

All computation lives in `expdesk.compare` (Qt-free); this module wires widgets, a worker pool and the
matplotlib canvases. The GUI thread never queries the index nor writes files: runs, series and exports go
through `TaskRunner`, and live updates arrive from the index writer as a signal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from expdesk.compare.diff import METRIC_STATS, DiffTable, Direction, build_diff, infer_direction
from expdesk.compare.figures import MetricChart, metric_chart, parallel_figure, scatter_figure
from expdesk.compare.series import (
    PlotSeries,
    RawSeries,
    XMode,
    load_series,
    needs_timestamps,
    prepare,
    values_at,
)
from expdesk.gui.compare.model import DiffTableModel
from expdesk.gui.compare.workers import SERVER_FORMAT, ChangeRelay, TaskRunner, attach_listener, server_series
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

#: runs that keep writing are re-read at most this often (ms): a burst of commits is one reload
LIVE_DEBOUNCE_MS = 300
#: threads loading and preparing the chart's series (one run each at a time)
CHART_THREADS = 2
#: at most this many params become parallel-coordinate axes (the ones that differ)
MAX_PARALLEL_PARAMS = 8


@dataclass
class _RunsResult:
    runs: list[dict[str, Any]]
    table: DiffTable


def _plain_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class _Canvas(QWidget):
    """A figure canvas with matplotlib's zoom/pan toolbar."""

    def __init__(self, figure: Figure, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = figure
        self.canvas = FigureCanvasQTAgg(figure)
        self.toolbar = NavigationToolbar2QT(self.canvas, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)


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
        self.directions: dict[str, Direction] = {}
        self.chart: MetricChart | None = None
        self._raw: dict[tuple[str, str], RawSeries] = {}
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

    # -- UI -----------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.setWindowTitle(f"Compare {len(self.keys)} runs")
        layout = QVBoxLayout(self)
        self.status = _plain_label(f"Loading {len(self.keys)} runs…")
        layout.addWidget(self.status)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self.tabs.addTab(self._build_table_tab(), "Table")
        self.tabs.addTab(self._build_chart_tab(), "Charts")
        self.tabs.addTab(self._build_parallel_tab(), "Parallel coordinates")
        self.tabs.addTab(self._build_scatter_tab(), "Scatter")
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _build_table_tab(self) -> QWidget:
        tab = QWidget()
        v = QVBoxLayout(tab)
        bar = QHBoxLayout()
        self.only_diff = QCheckBox("Only differences")
        self.only_diff.setChecked(True)
        self.transpose = QCheckBox("Transpose")
        self.at_step_box = QCheckBox("Value at step")
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, 2**31 - 1)
        self.step_spin.setEnabled(False)
        copy_btn = QPushButton("Copy")
        csv_btn = QPushButton("Export CSV…")
        for w in (self.only_diff, self.transpose, self.at_step_box, self.step_spin):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(copy_btn)
        bar.addWidget(csv_btn)
        v.addLayout(bar)
        self.summary = _plain_label()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #666")
        v.addWidget(self.summary)
        self.model = DiffTableModel(self)
        self.table_view = QTableView()
        self.table_view.setModel(self.model)
        self.table_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table_view.customContextMenuRequested.connect(self._table_menu)
        self.table_view.setWordWrap(False)
        v.addWidget(self.table_view, 1)
        self.only_diff.toggled.connect(self._on_only_diff)
        self.transpose.toggled.connect(self._on_transpose)
        self.at_step_box.toggled.connect(self.step_spin.setEnabled)
        self.at_step_box.toggled.connect(lambda _on: self._request_table())
        self.step_spin.editingFinished.connect(self._request_table)
        copy_btn.clicked.connect(self.copy_table)
        csv_btn.clicked.connect(self._ask_csv)
        return tab

    def _build_chart_tab(self) -> QWidget:
        tab = QWidget()
        h = QHBoxLayout(tab)
        split = QSplitter()
        h.addWidget(split)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(_plain_label("Metrics"))
        self.metric_list = QListWidget()
        lv.addWidget(self.metric_list, 1)
        split.addWidget(left)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.x_combo = QComboBox()
        for mode, text in (
            (XMode.STEP, "step"),
            (XMode.WALL, "wall time"),
            (XMode.RELATIVE, "relative time"),
        ):
            self.x_combo.addItem(text, mode)
        self.smooth_spin = QDoubleSpinBox()
        self.smooth_spin.setRange(0.0, 0.999)
        self.smooth_spin.setSingleStep(0.05)
        self.smooth_spin.setDecimals(3)
        self.smooth_spin.setValue(0.6)
        self.log_x = QCheckBox("log x")
        self.log_y = QCheckBox("log y")
        export_btn = QPushButton("Export…")
        for w in (
            _plain_label("x:"),
            self.x_combo,
            _plain_label("smoothing:"),
            self.smooth_spin,
            self.log_x,
            self.log_y,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(export_btn)
        rv.addLayout(bar)
        self.chart_canvas = _Canvas(Figure(figsize=(8, 5), layout="constrained"))
        rv.addWidget(self.chart_canvas, 1)
        self.hover = _plain_label(" ")
        rv.addWidget(self.hover)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([200, 900])
        self.metric_list.itemChanged.connect(lambda _item: self._request_chart())
        self.x_combo.currentIndexChanged.connect(lambda _i: self._request_chart())
        self.smooth_spin.editingFinished.connect(self._request_chart)
        self.log_x.toggled.connect(lambda _on: self._request_chart())
        self.log_y.toggled.connect(lambda _on: self._request_chart())
        export_btn.clicked.connect(lambda: self._ask_figure(self.chart_canvas.figure, "chart"))
        canvas = self.chart_canvas.canvas
        canvas.mpl_connect("motion_notify_event", self._on_hover)
        canvas.mpl_connect("resize_event", lambda _e: self.chart.refresh() if self.chart else None)
        return tab

    def _build_parallel_tab(self) -> QWidget:
        tab = QWidget()
        v = QVBoxLayout(tab)
        bar = QHBoxLayout()
        self.par_metric = QComboBox()
        self.par_stat = QComboBox()
        self.par_stat.addItems(list(METRIC_STATS))
        export_btn = QPushButton("Export…")
        for w in (_plain_label("colour by"), self.par_metric, self.par_stat):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(export_btn)
        v.addLayout(bar)
        self.parallel_canvas = _Canvas(Figure(figsize=(8, 5), layout="constrained"))
        v.addWidget(self.parallel_canvas, 1)
        self.par_metric.currentIndexChanged.connect(lambda _i: self._draw_parallel())
        self.par_stat.currentIndexChanged.connect(lambda _i: self._draw_parallel())
        export_btn.clicked.connect(lambda: self._ask_figure(self.parallel_canvas.figure, "parallel"))
        return tab

    def _build_scatter_tab(self) -> QWidget:
        tab = QWidget()
        v = QVBoxLayout(tab)
        bar = QHBoxLayout()
        self.sc_param = QComboBox()
        self.sc_metric = QComboBox()
        self.sc_stat = QComboBox()
        self.sc_stat.addItems(list(METRIC_STATS))
        export_btn = QPushButton("Export…")
        for w in (
            _plain_label("param"),
            self.sc_param,
            _plain_label("against"),
            self.sc_metric,
            self.sc_stat,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(export_btn)
        v.addLayout(bar)
        self.scatter_canvas = _Canvas(Figure(figsize=(8, 5), layout="constrained"))
        v.addWidget(self.scatter_canvas, 1)
        for combo in (self.sc_param, self.sc_metric, self.sc_stat):
            combo.currentIndexChanged.connect(lambda _i: self._draw_scatter())
        export_btn.clicked.connect(lambda: self._ask_figure(self.scatter_canvas.figure, "scatter"))
        return tab

    # -- loading ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the runs (table, parallel, scatter) and then the chart's series."""
        self._raw.clear()
        self._request_table()

    def _request_table(self) -> None:
        keys = list(self.keys)
        directions = dict(self.directions)
        step = self.step_spin.value() if self.at_step_box.isChecked() else None

        def job(reader: IndexReader) -> _RunsResult:
            runs = reader.runs_json(keys)
            at = None
            if step is not None:
                at = values_at(
                    reader, [r["key"] for r in runs], sorted({m for r in runs for m in r["metrics"]}), step
                )
            return _RunsResult(runs, build_diff(runs, directions, at_step=step, values_at_step=at))

        self._tasks.submit("runs", job)

    def _request_chart(self) -> None:
        metrics = self.selected_metrics()
        keys = [r["key"] for r in self.runs]
        table = self.model.table()
        labels = dict(zip(keys, table.legend if table else keys, strict=False))
        x_mode = XMode(self.x_combo.currentData())
        smoothing = self.smooth_spin.value()
        with_ts = needs_timestamps(x_mode)
        # a series loaded for a step axis has no timestamps: a time axis loads it again
        cached = {pair: r for pair, r in self._raw.items() if r.timestamps is not None or not with_ts}

        index = self.index
        on_server = {r["key"]: r for r in self.runs if r.get("format") == SERVER_FORMAT}
        problems: list[str] = []

        def one(key: str) -> tuple[list[RawSeries], list[PlotSeries]]:
            """Load (unless cached) and prepare one run's series: EMA and decimation pyramid."""
            fresh: list[RawSeries] = []
            missing = [m for m in metrics if (key, m) not in cached]
            if missing and key in on_server:
                fresh = server_series(on_server[key], missing, with_ts, problems)
            elif missing:
                with index.reader() as reader:  # a connection per thread
                    fresh = load_series(reader, [key], missing, with_timestamps=with_ts)
            found = {(r.run_key, r.metric): r for r in fresh}
            raws = [r for m in metrics if (r := cached.get((key, m)) or found.get((key, m))) is not None]
            return fresh, [prepare(r, labels.get(key, key), x_mode, smoothing) for r in raws]

        def job(_reader: IndexReader) -> tuple[list[RawSeries], list[PlotSeries], list[str]]:
            # runs in parallel: SQLite reads and numpy (EMA, pyramid) release the GIL
            with ThreadPoolExecutor(CHART_THREADS) as pool:
                results = list(pool.map(one, keys))
            fresh = [r for f, _ in results for r in f]
            by_pair = {(p.run_key, p.metric): p for _, prepared in results for p in prepared}
            return fresh, [by_pair[(k, m)] for m in metrics for k in keys if (k, m) in by_pair], problems

        self._tasks.submit("chart", job)

    def _on_finished(self, kind: str, generation: int, result: Any) -> None:
        if self._closed or not self._tasks.is_current(kind, generation):
            return  # a newer request superseded this one
        if kind == "runs":
            self._show_runs(result)
        elif kind == "chart":
            fresh, prepared, problems = result
            for raw in fresh:
                self._raw[(raw.run_key, raw.metric)] = raw
            self._show_chart(prepared)
            if problems:
                more = f" (+{len(problems) - 2} more)" if len(problems) > 2 else ""
                self.status.setText(
                    f"Comparing {len(self.runs)} runs; not charted, the server did not answer: "
                    + "; ".join(problems[:2])
                    + more
                )
        elif kind == "export":
            self.status.setText(f"Saved {result}")

    def _on_failed(self, kind: str, generation: int, message: str) -> None:
        if self._closed:
            return
        self.status.setText(f"Could not load ({kind}): {message}")
        self.failed.emit(message)

    def _show_runs(self, result: _RunsResult) -> None:
        first = not self.runs
        self.runs = result.runs
        self.model.set_table(result.table)
        self._update_summary()
        self._fit_columns()
        found = len(self.runs)
        gone = len(self.keys) - found
        self.status.setText(f"Comparing {found} runs" + (f" ({gone} no longer in the index)" if gone else ""))
        metrics = sorted({m for r in self.runs for m in r["metrics"]})
        params = sorted({p for r in self.runs for p in r["params"]})
        self._fill_metric_list(metrics, first)
        _refill(self.par_metric, metrics, _default_metric(metrics))
        _refill(self.sc_metric, metrics, _default_metric(metrics))
        differing = [r.key for r in result.table.rows if r.section == "param" and not r.same]
        _refill(self.sc_param, params, differing[0] if differing else None)
        # parallel coordinates and scatter are drawn when their tab is shown, not on every reload
        self._on_tab_changed(self.tabs.currentIndex())
        self.table_ready.emit()
        self._request_chart()

    def _fill_metric_list(self, metrics: list[str], first: bool) -> None:
        checked = set(self.selected_metrics())
        if first and not checked:
            default = _default_metric(metrics)
            checked = {default} if default else set()
        self.metric_list.blockSignals(True)  # one chart request for the whole refill, not one per item
        self.metric_list.clear()
        for m in metrics:
            item = QListWidgetItem(m)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if m in checked else Qt.CheckState.Unchecked)
            self.metric_list.addItem(item)
        self.metric_list.blockSignals(False)

    def selected_metrics(self) -> list[str]:
        items = (self.metric_list.item(i) for i in range(self.metric_list.count()))
        return [it.text() for it in items if it.checkState() == Qt.CheckState.Checked]

    def set_selected_metrics(self, metrics: Sequence[str]) -> None:
        self.metric_list.blockSignals(True)
        for i in range(self.metric_list.count()):
            item = self.metric_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in metrics else Qt.CheckState.Unchecked)
        self.metric_list.blockSignals(False)
        self._request_chart()

    # -- chart --------------------------------------------------------------------------------------
    def _show_chart(self, prepared: list[PlotSeries]) -> None:
        previous = self.chart
        zoom: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        if previous is not None:
            for metric, ax in previous.axes.items():
                if getattr(ax, "_expdesk_home", None) != ax.get_xlim():
                    zoom[metric] = (ax.get_xlim(), ax.get_ylim())
        by_metric: dict[str, list[PlotSeries]] = {m: [] for m in self.selected_metrics()}
        for s in prepared:
            by_metric.setdefault(s.metric, []).append(s)
        fig = self.chart_canvas.figure
        self.chart = metric_chart(
            by_metric,
            [r["key"] for r in self.runs],
            XMode(self.x_combo.currentData()),
            self.smooth_spin.value(),
            self.log_x.isChecked(),
            self.log_y.isChecked(),
            figure=fig,
        )
        for metric, ax in self.chart.axes.items():
            ax._expdesk_home = ax.get_xlim()  # type: ignore[attr-defined]  # to tell "zoomed" on live reload
            if metric in zoom:
                # a live reload keeps the user's zoom; the decimator follows through xlim_changed
                ax.set_xlim(*zoom[metric][0])
                ax.set_ylim(*zoom[metric][1])
        self.chart_canvas.toolbar.update()  # the home view is the new data range
        self.chart_canvas.canvas.draw_idle()
        self.chart_ready.emit()

    def _on_hover(self, event: Any) -> None:
        if self.chart is None or event.inaxes is None:
            return
        hit = self.chart.nearest(event.inaxes, event.x, event.y)
        self.hover.setText(hit.text.replace("\n", "   ") if hit else " ")

    def _on_tab_changed(self, index: int) -> None:
        if index == 2:
            self._draw_parallel()
        elif index == 3:
            self._draw_scatter()

    def _draw_parallel(self) -> None:
        fig = self.parallel_canvas.figure
        table = self.model.table()
        params = [r.key for r in table.rows if r.section == "param" and not r.same] if table else []
        metric = self.par_metric.currentText() or None
        parallel_figure(
            self.runs, params[:MAX_PARALLEL_PARAMS], metric, self.par_stat.currentText(), figure=fig
        )
        self.parallel_canvas.canvas.draw_idle()

    def _draw_scatter(self) -> None:
        fig = self.scatter_canvas.figure
        param, metric = self.sc_param.currentText(), self.sc_metric.currentText()
        if not param or not metric:
            fig.clear()
            self.scatter_canvas.canvas.draw_idle()
            return
        table = self.model.table()
        labels = table.legend if table else None
        scatter_figure(self.runs, param, metric, self.sc_stat.currentText(), labels=labels, figure=fig)
        self.scatter_canvas.canvas.draw_idle()

    # -- table actions ------------------------------------------------------------------------------
    def _on_only_diff(self, on: bool) -> None:
        self.model.set_only_differences(on)
        self._update_summary()

    def _on_transpose(self, on: bool) -> None:
        self.model.set_transposed(on)
        self._fit_columns()

    def _fit_columns(self) -> None:
        # measuring every cell of hundreds of columns costs seconds; wide tables get a fixed width instead
        if self.model.columnCount() <= 60:
            self.table_view.resizeColumnsToContents()
        else:
            self.table_view.horizontalHeader().setDefaultSectionSize(110)

    def _update_summary(self) -> None:
        table = self.model.table()
        text = table.constant_summary() if table and self.only_diff.isChecked() else ""
        self.summary.setText(text)
        self.summary.setVisible(bool(text))

    def set_direction(self, metric: str, direction: Direction | None) -> None:
        """Override which way is best for a metric (None: back to the name-based guess)."""
        if direction is None:
            self.directions.pop(metric, None)
        else:
            self.directions[metric] = direction
        table = self.model.table()
        if table is not None:
            # CPU only (no I/O): rebuilt here so the highlight follows the click at once
            self.model.set_table(
                build_diff(
                    self.runs, self.directions, at_step=_at_step(table), values_at_step=_at_values(table)
                )
            )

    def _table_menu(self, pos: QPoint) -> None:
        row = self.model.row_at(self.table_view.indexAt(pos))
        if row is None or row.section != "metric":
            return
        menu = QMenu(self)
        guess = infer_direction(row.key)
        for text, value in (
            (f"Automatic ({guess})", None),
            ("Lower is better (min)", Direction.MIN),
            ("Higher is better (max)", Direction.MAX),
            ("No best value", Direction.NONE),
        ):
            action = menu.addAction(text)
            action.triggered.connect(lambda _c=False, v=value, m=row.key: self.set_direction(m, v))
        menu.exec(self.table_view.viewport().mapToGlobal(pos))

    def table_text(self, separator: str = "\t") -> str:
        table = self.model.table()
        if table is None:
            return ""
        buf = io.StringIO()
        csv.writer(buf, delimiter=separator, lineterminator="\n").writerows(
            table.as_matrix(self.only_diff.isChecked(), self.transpose.isChecked())
        )
        return buf.getvalue()

    def copy_table(self) -> None:
        QGuiApplication.clipboard().setText(self.table_text("\t"))

    def export_csv(self, path: Path | str) -> None:
        """Write the visible table as CSV (on the worker pool: no file I/O on the GUI thread)."""
        text = self.table_text(",")
        self._write_later(Path(path), text.encode("utf-8"))

    def export_figure(self, figure: Figure, path: Path | str) -> None:
        """PNG or SVG: rendered here (the figure belongs to this thread), written by the pool."""
        out = Path(path)
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            self.status.setText("Figures export to .png or .svg")
            return
        buf = io.BytesIO()
        figure.savefig(buf, format=fmt)
        self._write_later(out, buf.getvalue())

    def _write_later(self, path: Path, data: bytes) -> None:
        def job(_reader: IndexReader) -> str:
            path.write_bytes(data)
            return str(path)

        self._tasks.submit("export", job)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export table", "compare.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

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
        for key, metric in list(self._raw):
            if key in self._dirty:
                del self._raw[(key, metric)]
        self._dirty.clear()
        self._request_table()

    # -- lifetime -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop listening, stop the timer, wait for running tasks, let go of the series. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._changes.close()
        self._detach_listener()
        self._live_timer.stop()
        self._tasks.shutdown()
        # A closed window may live on until its owner drops it, and its series are ~25 MB per million
        # points: free them now. The lines hold slices of the full arrays, so the figure goes too, and
        # its layout engine calls back into the chart (a reference that outlives `clear()`). A compare
        # opened next then reuses this memory instead of faulting in fresh pages.
        self._raw.clear()
        self.chart = None
        self.chart_canvas.figure.clear()
        self.chart_canvas.figure.set_layout_engine("none")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


def _refill(combo: QComboBox, items: list[str], default: str | None) -> None:
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    wanted = current if current in items else default
    if wanted:
        combo.setCurrentText(wanted)
    combo.blockSignals(False)


def _default_metric(metrics: list[str]) -> str | None:
    """A validation loss if there is one, else any loss, else the first metric."""
    for test in (lambda m: "val" in m.lower() and "loss" in m.lower(), lambda m: "loss" in m.lower()):
        for m in metrics:
            if test(m):
                return m
    return metrics[0] if metrics else None


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
