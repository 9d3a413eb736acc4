"""The compare window's Charts tab: every chosen metric of every run, on full data, smoothed and zoomable.

Series are loaded and prepared (EMA, decimation pyramid) on the owner's `TaskRunner`; this widget keeps
what was loaded so a redraw with new options does not read the index again. The GUI thread builds and
draws no chart: every answer is a new figure built, laid out and rendered (Agg) on the worker, with the
user's zoom carried over, which the GUI thread only puts on a canvas (`gui.chart_canvas`); it draws only
for the user's own zoom, pan and resize. One chart job runs at a time: a live run asking for reloads
faster than a chart renders gets one more after it, with everything that changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from expdesk.compare.chart_layout import ZoomStableLayout, dispose, render
from expdesk.compare.figures import MetricChart, View, metric_chart
from expdesk.compare.group_figures import group_chart
from expdesk.compare.groups import group_curves, group_runs
from expdesk.compare.series import PlotSeries, RawSeries, XMode, load_series, needs_timestamps, prepare
from expdesk.gui.compare.group_bar import GroupBar
from expdesk.gui.compare.widgets import (
    MIN_SMOOTHED_POINTS,
    default_metric,
    new_canvas,
    plain_label,
    smoothing_for,
)
from expdesk.gui.compare.workers import SERVER_FORMAT, TaskRunner, server_series
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

#: threads loading and preparing the chart's series (one run each at a time)
CHART_THREADS = 2

#: said under a grouped chart when another x axis was chosen
STEPS_ONLY = "Grouped curves are drawn over steps: runs share no wall-clock axis"


@dataclass
class ChartAnswer:
    """What a chart task returns: a chart built and rendered on the worker."""

    fresh: list[RawSeries]  # series read from the index (or a server) for this answer
    chart: MetricChart
    rendered: FigureCanvasAgg  # its pixels
    problems: list[str]  # runs whose curves a tracking server did not give
    views: dict[str, View]  # the shown chart's views when this was asked: a zoom since then is newer
    note: str  # said in the hover line


class ChartTab(QWidget):
    #: the chart was rebuilt from fresh data
    chart_ready = Signal()
    #: runs whose curves could not be fetched (a tracking server did not answer)
    problems = Signal(list)

    def __init__(
        self,
        index: Index,
        tasks: TaskRunner,
        export_figure: Callable[[Figure, str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._index = index
        self._tasks = tasks
        self.runs: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {}
        self.chart: MetricChart | None = None
        self._raw: dict[tuple[str, str], RawSeries] = {}
        self._inflight = False  # a chart job is running
        self._again = False  # asked for while it ran
        self._changed: set[str] = set()  # runs changed while it ran: what it read of them is old
        h = QHBoxLayout(self)
        split = QSplitter()
        h.addWidget(split)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(plain_label("Metrics"))
        self.metric_list = QListWidget()
        lv.addWidget(self.metric_list, 1)
        self.grouping = GroupBar(vertical=True)  # a curve per run, or per group of runs
        lv.addWidget(self.grouping)
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
        self.smooth_spin.setToolTip(
            f"EMA smoothing of each curve, drawn over its raw points; series under {MIN_SMOOTHED_POINTS}"
            " points are drawn unsmoothed"
        )
        self.log_x = QCheckBox("log x")
        self.log_y = QCheckBox("log y")
        export_btn = QPushButton("Export…")
        for w in (plain_label("x:"), self.x_combo, plain_label("smoothing:"), self.smooth_spin):
            bar.addWidget(w)
        bar.addWidget(self.log_x)
        bar.addWidget(self.log_y)
        bar.addStretch(1)
        bar.addWidget(export_btn)
        rv.addLayout(bar)
        self.canvas = new_canvas()
        rv.addWidget(self.canvas, 1)
        self.hover = plain_label(" ")
        rv.addWidget(self.hover)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([200, 900])
        self.metric_list.itemChanged.connect(lambda _item: self.request())
        self.x_combo.currentIndexChanged.connect(lambda _i: self.request())
        self.smooth_spin.editingFinished.connect(self.request)
        self.log_x.toggled.connect(lambda _on: self.request())
        self.log_y.toggled.connect(lambda _on: self.request())
        self.grouping.changed.connect(self.request)
        export_btn.clicked.connect(lambda: export_figure(self.canvas.figure, "chart"))
        self.canvas.home_view = self._home
        # a resized chart (the window, or the tab first shown) is rendered again on the worker
        self.canvas.on_resized = self.request
        self.canvas.mpl_connect("motion_notify_event", self._on_hover)
        self.canvas.mpl_connect("resize_event", lambda _e: self.chart.refresh() if self.chart else None)

    # -- runs and metrics ---------------------------------------------------------------------------
    def set_runs(self, runs: list[dict[str, Any]], labels: dict[str, str], first: bool) -> None:
        """New runs (or fresh values of the same runs): refill the metric list, then reload the chart."""
        self.runs = runs
        self.labels = labels
        self.grouping.set_runs(runs)
        metrics = sorted({m for r in runs for m in r["metrics"]})
        checked = set(self.selected_metrics())
        if first and not checked:
            default = default_metric(metrics, runs)
            checked = {default} if default else set()
        self.metric_list.blockSignals(True)  # one chart request for the whole refill, not one per item
        self.metric_list.clear()
        for m in metrics:
            item = QListWidgetItem(m)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if m in checked else Qt.CheckState.Unchecked)
            self.metric_list.addItem(item)
        self.metric_list.blockSignals(False)
        self.request()

    def selected_metrics(self) -> list[str]:
        items = (self.metric_list.item(i) for i in range(self.metric_list.count()))
        return [it.text() for it in items if it.checkState() == Qt.CheckState.Checked]

    def set_selected_metrics(self, metrics: Sequence[str]) -> None:
        self.metric_list.blockSignals(True)
        for i in range(self.metric_list.count()):
            item = self.metric_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in metrics else Qt.CheckState.Unchecked)
        self.metric_list.blockSignals(False)
        self.request()

    def forget(self, keys: set[str]) -> None:
        """Drop the loaded series of runs that changed; the next request reads them again."""
        if self._inflight:
            self._changed |= keys
        for key, metric in list(self._raw):
            if key in keys:
                del self._raw[(key, metric)]

    # -- loading ------------------------------------------------------------------------------------
    def request(self) -> None:
        if self._inflight:
            self._again = True
            return
        self._inflight = True
        metrics = self.selected_metrics()
        keys = [r["key"] for r in self.runs]
        labels = dict(self.labels)
        x_mode = XMode(self.x_combo.currentData())
        smoothing = self.smooth_spin.value()
        log_x, log_y = self.log_x.isChecked(), self.log_y.isChecked()
        with_ts = needs_timestamps(x_mode)
        # a series loaded for a step axis has no timestamps: a time axis loads it again
        cached = {pair: r for pair, r in self._raw.items() if r.timestamps is not None or not with_ts}
        index = self._index
        on_server = {r["key"]: r for r in self.runs if r.get("format") == SERVER_FORMAT}
        group_by, band, runs = self.grouping.group_by(), self.grouping.band(), list(self.runs)
        problems: list[str] = []
        width, height, dpi, ratio = self.canvas.figure_size()
        views = self._views()
        # the user's zoom goes to the new chart while the axes mean the same (x axis and scales)
        shown = self.chart
        same_axes = shown is not None and (shown.x_mode, shown.log_x, shown.log_y) == (
            XMode.STEP if group_by is not None else x_mode,
            log_x,
            log_y,
        )
        zoom = {
            m: v for m, v in views.items() if same_axes and shown is not None and shown.zoomed(shown.axes[m])
        }
        note = STEPS_ONLY if group_by is not None and x_mode is not XMode.STEP else " "
        tasks = self._tasks

        def one(key: str) -> tuple[list[RawSeries], list[RawSeries], list[PlotSeries]]:
            """Load (unless cached) and prepare one run's series: EMA and decimation pyramid (grouped: the
            raw series, aggregated with the other members' in `job`)."""
            tasks.check()
            fresh: list[RawSeries] = []
            missing = [m for m in metrics if (key, m) not in cached]
            if missing and key in on_server:
                fresh = server_series(on_server[key], missing, with_ts, problems)
            elif missing:
                with index.reader() as reader:
                    fresh = load_series(reader, [key], missing, with_timestamps=with_ts)
            found = {(r.run_key, r.metric): r for r in fresh}
            raws = [r for m in metrics if (r := cached.get((key, m)) or found.get((key, m))) is not None]
            if group_by is not None:
                return fresh, raws, []
            return (
                fresh,
                raws,
                [
                    prepare(r, labels.get(key, key), x_mode, smoothing_for(len(r.values), smoothing))
                    for r in raws
                ],
            )

        def job(_reader: IndexReader) -> ChartAnswer:
            # runs in parallel: SQLite reads and numpy (EMA, pyramid) release the GIL
            with ThreadPoolExecutor(CHART_THREADS) as pool:
                results = list(pool.map(one, keys))
            # the window closed meanwhile: building and drawing a chart for nobody would only make the
            # windows still open wait for the GIL (the soak's stalls after closing a comparison)
            tasks.check()
            fresh = [r for f, _, _ in results for r in f]
            if group_by is not None:
                groups = group_runs(runs, group_by)
                raws = [r for _, loaded, _ in results for r in loaded]
                curves = group_curves(groups, raws, metrics, band, smoothing)
                # over steps whatever the x choice: runs share no wall-clock axis (said in the hover line)
                chart = group_chart(curves, groups, log_x, log_y, figsize=(width, height), dpi=dpi)
            else:
                by_pair = {(p.run_key, p.metric): p for _, _, prepared in results for p in prepared}
                by_metric = {m: [by_pair[(k, m)] for k in keys if (k, m) in by_pair] for m in metrics}
                chart = metric_chart(
                    by_metric, keys, x_mode, smoothing, log_x, log_y, figsize=(width, height), dpi=dpi
                )
            chart.zoom_to(zoom)
            tasks.check()
            # laid out and drawn here, off the GUI thread; no canvas of the GUI holds this figure yet
            rendered = render(chart.figure, ratio)
            return ChartAnswer(fresh, chart, rendered, problems, views, note)

        self._tasks.submit("chart", job)

    def show_loaded(self, answer: ChartAnswer) -> None:
        self._inflight = False
        for raw in answer.fresh:
            if raw.run_key not in self._changed:
                self._raw[(raw.run_key, raw.metric)] = raw
        self._changed.clear()
        if self._views() != answer.views:
            # the user zoomed or panned while it was drawn: this chart would undo it; one with it follows
            _let_go(answer.chart)
            self._again = False
            self.request()
            return
        self._show_chart(answer.chart, answer.rendered)
        if answer.note.strip() or self.hover.text() == STEPS_ONLY:
            self.hover.setText(answer.note)  # (else the hover line keeps what the mouse is over)
        self.chart_ready.emit()
        if answer.problems:
            self.problems.emit(answer.problems)
        if self._again:
            self._again = False
            self.request()

    def load_failed(self) -> None:
        """The chart job failed (the owner says why): the next request may run."""
        self._inflight = False
        self._changed.clear()
        if self._again:
            self._again = False
            self.request()

    # -- drawing ------------------------------------------------------------------------------------
    def _views(self) -> dict[str, View]:
        chart = self.chart
        return {} if chart is None else {m: chart.view(ax) for m, ax in chart.axes.items()}

    def _show_chart(self, chart: MetricChart, rendered: FigureCanvasAgg) -> None:
        """Put a chart built and rendered on a worker on the canvas: no draw here."""
        if self.chart is not None:
            _let_go(self.chart)
        self.chart = chart
        self.canvas.set_figure(chart.figure, rendered)

    def _home(self) -> bool:
        if self.chart is None:
            return False
        self.chart.home()
        return True

    def _on_hover(self, event: Any) -> None:
        if self.chart is None or event.inaxes is None:
            return
        hit = self.chart.nearest(event.inaxes, event.x, event.y)
        self.hover.setText(hit.text.replace("\n", "   ") if hit else " ")

    def release(self) -> None:
        """Let go of the series and the figure's artists (a closed window may outlive its use)."""
        # Series are ~25 MB per million points; the lines hold slices of the full arrays, so the figure
        # goes too, and its layout engine calls back into the chart (a reference that outlives `clear()`).
        self._raw.clear()
        if self.chart is not None:
            _let_go(self.chart)
        self.chart = None
        dispose(self.canvas.figure)


def _let_go(chart: MetricChart) -> None:
    """Cut the figure's layout engine's call back into the chart: a canvas being deleted later (or a closed
    window's) holds the figure, which must not hold the series too."""
    engine = chart.figure.get_layout_engine()
    if isinstance(engine, ZoomStableLayout):
        engine.on_layout = None
