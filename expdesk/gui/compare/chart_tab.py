"""The compare window's Charts tab: every chosen metric of every run, on full data, smoothed and zoomable.

Series are loaded and prepared (EMA, decimation pyramid) on the owner's `TaskRunner`; this widget keeps
what was loaded so a redraw with new options does not read the index again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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

from expdesk.compare.figures import MetricChart, metric_chart
from expdesk.compare.group_figures import group_chart, pyramids_of
from expdesk.compare.groups import group_curves, group_runs
from expdesk.compare.series import PlotSeries, RawSeries, XMode, load_series, needs_timestamps, prepare
from expdesk.gui.compare.group_bar import GroupBar, Grouped
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

#: what a chart task returns: freshly loaded series, prepared series in draw order (or the groups' curves),
#: server problems
ChartResult = tuple[list[RawSeries], list[PlotSeries] | Grouped, list[str]]


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
        mpl = self.canvas.canvas
        mpl.mpl_connect("motion_notify_event", self._on_hover)
        mpl.mpl_connect("resize_event", lambda _e: self.chart.refresh() if self.chart else None)

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
        for key, metric in list(self._raw):
            if key in keys:
                del self._raw[(key, metric)]

    # -- loading ------------------------------------------------------------------------------------
    def request(self) -> None:
        metrics = self.selected_metrics()
        keys = [r["key"] for r in self.runs]
        labels = dict(self.labels)
        x_mode = XMode(self.x_combo.currentData())
        smoothing = self.smooth_spin.value()
        with_ts = needs_timestamps(x_mode)
        # a series loaded for a step axis has no timestamps: a time axis loads it again
        cached = {pair: r for pair, r in self._raw.items() if r.timestamps is not None or not with_ts}
        index = self._index
        on_server = {r["key"]: r for r in self.runs if r.get("format") == SERVER_FORMAT}
        group_by, band, runs = self.grouping.group_by(), self.grouping.band(), list(self.runs)
        problems: list[str] = []

        def one(key: str) -> tuple[list[RawSeries], list[RawSeries], list[PlotSeries]]:
            """Load (unless cached) and prepare one run's series: EMA and decimation pyramid (grouped: the
            raw series, aggregated with the other members' in `job`)."""
            fresh: list[RawSeries] = []
            missing = [m for m in metrics if (key, m) not in cached]
            if missing and key in on_server:
                fresh = server_series(on_server[key], missing, with_ts, problems)
            elif missing:
                with index.reader() as reader:  # a connection per thread
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

        def job(_reader: IndexReader) -> ChartResult:
            # runs in parallel: SQLite reads and numpy (EMA, pyramid) release the GIL
            with ThreadPoolExecutor(CHART_THREADS) as pool:
                results = list(pool.map(one, keys))
            fresh = [r for f, _, _ in results for r in f]
            if group_by is not None:
                groups = group_runs(runs, group_by)
                raws = [r for _, loaded, _ in results for r in loaded]
                curves = group_curves(groups, raws, metrics, band, smoothing)
                for curve in (c for cs in curves.values() for c in cs):
                    pyramids_of(curve)  # here, on the worker: the GUI thread only draws
                return fresh, Grouped(groups, curves), problems
            by_pair = {(p.run_key, p.metric): p for _, _, prepared in results for p in prepared}
            return fresh, [by_pair[(k, m)] for m in metrics for k in keys if (k, m) in by_pair], problems

        self._tasks.submit("chart", job)

    def show_loaded(self, result: ChartResult) -> None:
        fresh, prepared, problems = result
        for raw in fresh:
            self._raw[(raw.run_key, raw.metric)] = raw
        self._draw(prepared)
        if problems:
            self.problems.emit(problems)

    # -- drawing ------------------------------------------------------------------------------------
    def _draw(self, prepared: list[PlotSeries] | Grouped) -> None:
        previous = self.chart
        zoom: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        if previous is not None:
            for metric, ax in previous.axes.items():
                if getattr(ax, "_expdesk_home", None) != ax.get_xlim():
                    zoom[metric] = (ax.get_xlim(), ax.get_ylim())
        if isinstance(prepared, Grouped):
            # over steps whatever the x choice: runs share no wall-clock axis (said in the hover line)
            self.chart = group_chart(
                prepared.curves, prepared.groups, self.log_x.isChecked(), self.log_y.isChecked(),
                figure=self.canvas.figure,
            )  # fmt: skip
            if XMode(self.x_combo.currentData()) is not XMode.STEP:
                self.hover.setText("Grouped curves are drawn over steps: runs share no wall-clock axis")
        else:
            by_metric: dict[str, list[PlotSeries]] = {m: [] for m in self.selected_metrics()}
            for s in prepared:
                by_metric.setdefault(s.metric, []).append(s)
            self.chart = metric_chart(
                by_metric,
                [r["key"] for r in self.runs],
                XMode(self.x_combo.currentData()),
                self.smooth_spin.value(),
                self.log_x.isChecked(),
                self.log_y.isChecked(),
                figure=self.canvas.figure,
            )
        for metric, ax in self.chart.axes.items():
            ax._expdesk_home = ax.get_xlim()  # type: ignore[attr-defined]  # to tell "zoomed" on live reload
            if metric in zoom:
                # a live reload keeps the user's zoom; the decimator follows through xlim_changed
                ax.set_xlim(*zoom[metric][0])
                ax.set_ylim(*zoom[metric][1])
        self.canvas.toolbar.update()  # the home view is the new data range
        self.canvas.canvas.draw_idle()
        self.chart_ready.emit()

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
        self.chart = None
        self.canvas.figure.clear()
        self.canvas.figure.set_layout_engine("none")
