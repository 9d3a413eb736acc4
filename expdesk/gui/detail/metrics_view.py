"""The detail panel's Metrics tab: small charts of every series, and the full series behind each one.

Small charts: one worker job loads every series of the run with its own reader, decimates (min/max per
pixel column) and renders each Figure with Agg to an RGBA buffer; the GUI thread only shows images.
Clicking a chart opens the full series, decimated at the dialog's width, in an interactive canvas with the
matplotlib toolbar; its figure too is built and rendered on the worker (`gui.chart_canvas`): the GUI thread
draws it only for the user's zoom, pan or resize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.detail.charts import ChartStyle, SeriesView, decimate, metric_figure, render_rgba
from expdesk.gui.screen import fit_to_screen
from expdesk.gui.workers.pool import WorkerPool
from expdesk.index.reader import IndexReader

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

SMALL_SIZE = (2.6, 1.7)  # inches at 100 dpi: ~260x170 px, two columns in the detail panel
SMALL_COLUMNS_PX = 300
#: the large chart's canvas (logical pixels), at most: a new pop-out fits its chart
LARGE_PX = (900, 500)
#: charts rendered per batch; "Show all" renders the rest
FIRST_BATCH = 24


@dataclass
class SmallChart:
    name: str
    rgba: bytes
    width: int
    height: int


def load_series_views(reader: IndexReader, key: str, names: list[str], columns: int) -> list[SeriesView]:
    """Series of a run, decimated for a chart (worker thread). Runs browsed on an MLflow tracking server keep
    only their latest values in the index: their full history is fetched from the server here, lazily."""
    views = []
    finals = reader.metric_finals(key)
    run = reader.run_basics(key)
    remote = run if run is not None and run.format == "mlflow-remote" else None
    for info in reader.series_infos(key):
        if info.key not in names:
            continue
        if remote is not None:
            from expdesk.remote.browse import fetch_history

            steps, values, _ = fetch_history(remote.path, remote.native_id or "", info.key)
        else:
            steps, values, _ = reader.series_by_id(info.id)
        x, y = decimate(steps, values, columns)
        last = float(values[-1]) if len(values) else None
        views.append(SeriesView(info.key, x, y, info.count, info.nan_count, last, finals.get(info.key)))
    return views


def chart_style(palette: QPalette) -> ChartStyle:
    return ChartStyle(
        foreground=palette.color(QPalette.ColorRole.WindowText).name(),
        background=palette.color(QPalette.ColorRole.Base).name(),
        line=palette.color(QPalette.ColorRole.Highlight).name(),
        grid=palette.color(QPalette.ColorRole.Mid).name(),
    )


class _ChartLabel(QLabel):
    clicked = Signal(str)

    def __init__(self, name: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.name = name
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.name)
        super().mouseReleaseEvent(event)


class MetricsView(QWidget):
    #: emitted when a batch of small charts is on screen (tests and the benchmark wait on it)
    rendered = Signal(int)

    def __init__(
        self, pool: WorkerPool, reader_factory: Callable[[], IndexReader], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self._reader_factory = reader_factory
        self._key: str | None = None
        self._names: list[str] = []
        self._generation = 0
        self._shown_limit = FIRST_BATCH
        # a live run changes faster than charts render: one render in flight, the latest request after it
        self._inflight: tuple[str, str, int] | None = None
        self._again = False
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search metrics")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._render())
        self.info = QLabel(self)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setObjectName("mutedLabel")
        self.results = QLabel(self)
        self.results.setTextFormat(Qt.TextFormat.PlainText)  # metric keys are user strings
        self.results.setWordWrap(True)
        self.results.hide()
        self.more = QPushButton("Show all", self)
        self.more.clicked.connect(self._show_all)
        self.more.hide()
        self.grid_host = QWidget(self)
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(6)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        self._scroll = scroll
        self._labels: list[_ChartLabel] = []
        self._columns = 2
        scroll.viewport().installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.info)
        layout.addWidget(self.results)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.more)
        #: open pop-outs (the window closes them on shutdown); at most one per metric
        self.dialogs: list[QDialog] = []
        self._popouts: dict[str, ChartPopOut] = {}
        self._loading: set[str] = set()

    def set_results(self, results: dict[str, float]) -> None:
        """Results the run reported for keys it logged no points of (shown as text, not charts)."""
        text = ", ".join(f"{k} = {v:.6g}" for k, v in sorted(results.items()))
        self.results.setText(f"Reported results with no logged points: {text}" if text else "")
        self.results.setVisible(bool(text))

    def show_run(self, key: str | None, metric_names: list[str]) -> None:
        if key != self._key:
            self._shown_limit = FIRST_BATCH
        self._key = key
        self._names = metric_names
        self._render()

    def _show_all(self) -> None:
        self._shown_limit = len(self._names)
        self._render()

    def _render(self) -> None:
        self._generation += 1
        generation = self._generation
        if self._key is None or not self._names:
            # (with data, the old charts stay until the new ones are ready: no flicker on live runs)
            self._clear()
            self.info.setText("This run has no metrics." if self._key else "")
            self.more.hide()
            return
        needle = self.search.text().strip().lower()
        request = (self._key, needle, self._shown_limit)
        if self._inflight is not None:
            self._again = True
            return
        self._inflight = request
        matching = [n for n in self._names if needle in n.lower()]
        wanted = matching[: self._shown_limit]
        hidden = len(matching) - len(wanted)
        self.info.setText(f"{len(matching)} of {len(self._names)} metrics")
        self.more.setVisible(hidden > 0)
        self.more.setText(f"Show all ({hidden} more)")
        key, factory, style = self._key, self._reader_factory, chart_style(self.palette())

        def job() -> list[SmallChart]:
            out = []
            with factory() as reader:
                for view in load_series_views(reader, key, wanted, SMALL_COLUMNS_PX):
                    if self._pool.closing.is_set():
                        break
                    rgba, w, h = render_rgba(metric_figure(view, style, SMALL_SIZE))
                    out.append(SmallChart(view.name, rgba, w, h))
            return out

        def done(charts: list[SmallChart]) -> None:
            self._inflight = None
            if self._again:
                self._again = False
                if request[0] == self._key:
                    self._show_charts(charts, len(matching))
                self._render()
                return
            if generation == self._generation:
                self._show_charts(charts, len(matching))

        def failed(message: str) -> None:
            self._inflight = None
            self.info.setText(f"Could not draw the metrics: {message}")

        self._pool.submit(job, done, failed)

    def _show_charts(self, charts: list[SmallChart], matching: int) -> None:
        self._clear()
        for chart in charts:
            label = _ChartLabel(chart.name, self.grid_host)
            image = QImage(chart.rgba, chart.width, chart.height, QImage.Format.Format_RGBA8888).copy()
            label.setPixmap(QPixmap.fromImage(image))
            label.setToolTip("Click for the full series")
            label.clicked.connect(self.open_large)
            self._labels.append(label)
        self._columns = self._fitting_columns()
        self._place()
        self.info.setText(f"{matching} of {len(self._names)} metrics")
        self.rendered.emit(len(charts))

    def _fitting_columns(self) -> int:
        """As many charts side by side as the pane shows without scrolling sideways (at least one)."""
        if not self._labels:
            return self._columns
        chart_w = self._labels[0].pixmap().width()
        spacing = self.grid.horizontalSpacing()
        margins = self.grid.contentsMargins()
        room = self._scroll.viewport().width() - margins.left() - margins.right()
        return max(1, (room + spacing) // (chart_w + spacing))

    def _place(self) -> None:
        for label in self._labels:
            self.grid.removeWidget(label)
        for i, label in enumerate(self._labels):
            self.grid.addWidget(label, i // self._columns, i % self._columns)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # the pane was resized (splitter, window): re-flow the charts, without drawing them again
        if watched is self._scroll.viewport() and event.type() == QEvent.Type.Resize:
            columns = self._fitting_columns()
            if columns != self._columns:
                self._columns = columns
                self._place()
        return False

    def _clear(self) -> None:
        self._labels.clear()
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def open_large(self, name: str) -> None:
        """The full series behind a small chart: loaded and decimated at 1600 columns on a worker, shown in
        this chart's pop-out (one per metric: a second click brings it back with fresh data)."""
        key, factory, style = self._key, self._reader_factory, chart_style(self.palette())
        if key is None:
            return
        existing = self._popouts.get(name)
        if existing is not None:
            existing.show()
            existing.raise_()
            existing.activateWindow()
        if name in self._loading:
            return  # a click while its series loads: the answer on its way fills the same pop-out
        self._loading.add(name)

        # drawn for the canvas it goes to: the pop-out's as it is, or a new one's (which fits the chart)
        canvas = existing.canvas if existing is not None else None
        if canvas is not None and canvas.width() > 10:
            width, height = canvas.width(), canvas.height()
        else:
            size = fit_to_screen(self, *LARGE_PX)
            width, height = size.width(), size.height()
        ratio = float(self.devicePixelRatioF() or 1.0)

        def job() -> tuple[list[SeriesView], Figure | None, FigureCanvasAgg | None]:
            from expdesk.compare.chart_layout import render

            with factory() as reader:
                views = load_series_views(reader, key, [name], 1600)
            if not views:
                return views, None, None
            # the figure (no Qt, no pyplot) is built, laid out and rendered here: built in `done` its
            # layout alone held the GUI thread for 0.3 s, and its first draw as long (bench_soak.py)
            figure = metric_figure(views[0], style, (width / style.dpi, height / style.dpi), small=False)
            return views, figure, render(figure, ratio)

        def done(result: tuple[list[SeriesView], Figure | None, FigureCanvasAgg | None]) -> None:
            views, figure, rendered = result
            self._loading.discard(name)
            if not views or figure is None or rendered is None or key != self._key:
                return
            popout = self._popouts.get(name)
            if popout is None:
                popout = ChartPopOut(name, self)
                popout.destroyed.connect(lambda *_: self._forget_popout(name, popout))
                self._popouts[name] = popout
                self.dialogs.append(popout)
            popout.show_view(views[0], figure, rendered)
            popout.show()
            popout.raise_()

        def failed(message: str) -> None:
            self._loading.discard(name)
            self.info.setText(f"Could not load {name}: {message}")

        self._pool.submit(job, done, failed)

    def _forget_popout(self, name: str, popout: QDialog) -> None:
        if self._popouts.get(name) is popout:
            del self._popouts[name]
        if popout in self.dialogs:
            self.dialogs.remove(popout)


class ChartPopOut(QDialog):
    """The large chart of one metric; Escape closes it (a QDialog's reject), and closing deletes it."""

    def __init__(self, name: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.name = name
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._box = QVBoxLayout(self)
        #: the chart's canvas; the dialog takes the size of the first one (drawn for `LARGE_PX`)
        self.canvas: QWidget | None = None
        self._toolbar: QWidget | None = None

    def show_view(self, view: SeriesView, figure: Figure, rendered: FigureCanvasAgg) -> None:
        """Replace the chart (a new run or fresh points) in place, keeping the window where the user put it;
        `rendered` holds the figure's pixels, drawn on a worker for the current canvas' size."""
        # imported on first use: the Qt backend costs ~0.5 s of start-up otherwise
        from expdesk.gui.chart_canvas import ChartCanvas
        from expdesk.gui.chart_toolbar import ChartToolbar

        self.setWindowTitle(f"{self.name[:80]} — {view.count:,} points")
        canvas = ChartCanvas(figure, rendered)
        old_canvas = self.canvas
        if old_canvas is not None:
            canvas.resize(old_canvas.size())  # (its size before the layout places it)
        for old in (self._toolbar, old_canvas):
            if old is not None:
                self._box.removeWidget(old)
                old.hide()
                old.deleteLater()
        self._toolbar = ChartToolbar(canvas, self)
        self.canvas = canvas
        self._box.addWidget(self._toolbar)
        self._box.addWidget(canvas, 1)
        # shown now, not by the layout's queued show: placed while the toolbar is hidden, the canvas would
        # get its height, be resized when it appears, and draw on this thread
        self._toolbar.show()
        canvas.show()
        if old_canvas is None:
            # a new pop-out takes the size of its chart (drawn for `LARGE_PX`, fitted to the screen): a
            # canvas of any other size would draw it again on this thread
            margins = self._box.contentsMargins()
            width, height = canvas.get_width_height()
            self.resize(
                width + margins.left() + margins.right(),
                height
                + self._toolbar.sizeHint().height()
                + self._box.spacing()
                + margins.top()
                + margins.bottom(),
            )
