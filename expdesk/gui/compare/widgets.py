"""Small pieces the compare tabs share: plain-text labels, a canvas with its toolbar, combo refills."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QTabWidget, QVBoxLayout, QWidget

from expdesk.gui.chart_canvas import ChartCanvas
from expdesk.gui.chart_toolbar import ChartToolbar


def plain_label(text: str = "") -> QLabel:
    """A label that never interprets run names or keys as rich text."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class Toolbar(ChartToolbar):
    """matplotlib's toolbar, whose Home fits the chart to all of its data now (a live run has grown since
    the view was first recorded), when the owner says how (`home_view`)."""

    def __init__(self, canvas: FigureCanvasQTAgg, parent: QWidget, home_view: Callable[[], bool]) -> None:
        super().__init__(canvas, parent)
        self._home_view = home_view

    def home(self, *args: Any) -> None:
        self.push_current()  # Back returns to the zoom
        if not self._home_view():
            super().home(*args)
            return
        self.push_current()
        self.set_history_buttons()
        self.canvas.draw_idle()


class Canvas(QWidget):
    """A figure canvas with matplotlib's zoom/pan toolbar. `set_figure` shows another figure (one built and
    rendered on a worker) on a new canvas in the same place; handlers given to `mpl_connect` follow it."""

    def __init__(self, figure: Figure, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._handlers: list[tuple[Any, Callable[[Any], Any]]] = []
        #: fits the figure to its data for the toolbar's Home; returns False to leave Home to matplotlib
        self.home_view: Callable[[], bool] = lambda: False
        #: the canvas of a figure rendered on a worker has another size: None draws it again here
        self.on_resized: Callable[[], None] | None = None
        self.figure = figure
        self.canvas = ChartCanvas(figure)
        self.toolbar = Toolbar(self.canvas, self, lambda: self.home_view())
        self._layout.addWidget(self.toolbar)
        self._layout.addWidget(self.canvas, 1)

    def mpl_connect(self, event: Any, handler: Callable[[Any], Any]) -> None:
        self._handlers.append((event, handler))
        self.canvas.mpl_connect(event, handler)

    def set_figure(self, figure: Figure, rendered: FigureCanvasAgg | None = None) -> None:
        """Show `figure` instead (built for this canvas' size, see `figure_size`; its pixels in `rendered`
        when a worker drew it); the old canvas goes."""
        old_canvas, old_toolbar = self.canvas, self.toolbar
        canvas = ChartCanvas(figure, rendered, self._resized if self.on_resized is not None else None)
        canvas.resize(old_canvas.size())  # its size before the layout places it (its first resize event)
        toolbar = Toolbar(canvas, self, lambda: self.home_view())
        # the size it will have once shown, now: the layout gives the canvas what the toolbar leaves, and a
        # canvas resized after it was placed draws its figure again on this thread
        for event, handler in self._handlers:
            canvas.mpl_connect(event, handler)
        self._layout.replaceWidget(old_toolbar, toolbar)
        self._layout.replaceWidget(old_canvas, canvas)
        # shown now, not when the layout's queued show comes: a canvas placed while the toolbar is still
        # hidden gets its height, is resized when it appears, and would draw its figure again on this thread
        toolbar.show()
        canvas.show()
        for old in (old_toolbar, old_canvas):
            old.hide()
            old.deleteLater()
        self.figure, self.canvas, self.toolbar = figure, canvas, toolbar

    def _resized(self) -> None:
        if self.on_resized is not None:
            self.on_resized()

    def figure_size(self) -> tuple[float, float, float, float]:
        """(width, height in inches, dpi, pixel ratio) a figure needs to fill the canvas as it is now, without
        resizing: the dpi is the unscaled one, `chart_layout.render` scales it by the ratio."""
        ratio = float(self.canvas.devicePixelRatioF() or 1.0)
        dpi = float(self.figure.dpi) / self.canvas.device_pixel_ratio
        return self.canvas.width() / dpi, self.canvas.height() / dpi, dpi, ratio


_Page = TypeVar("_Page", bound=QWidget)


class LazyTab(Generic[_Page]):
    """A tab of `tabs` whose page is made the first time it is asked for (its tab shown, or code using it),
    in place of an empty placeholder: a compare window opens on one tab, and building the others' canvases,
    toolbars and media grid was ~20 ms of the GUI thread's work at each opening (bench_soak.py)."""

    def __init__(self, tabs: QTabWidget, title: str, make: Callable[[], _Page]) -> None:
        self._tabs, self._title = tabs, title
        self._placeholder: QWidget | None = QWidget()
        self._make: Callable[[], _Page] | None = make
        self._page: _Page | None = None
        tabs.addTab(self._placeholder, title)

    def made(self) -> _Page | None:
        """The page if it was made (None: nothing to update or shut down)."""
        return self._page

    def holds(self, widget: QWidget | None) -> bool:
        """`widget` is this tab's placeholder (a tab not made yet)."""
        return widget is not None and widget is self._placeholder

    def page(self) -> _Page:
        if self._page is None:
            assert self._make is not None and self._placeholder is not None
            page = self._make()
            tabs, index, current = (
                self._tabs,
                self._tabs.indexOf(self._placeholder),
                self._tabs.currentIndex(),
            )
            blocked = tabs.blockSignals(True)  # the same tab stays current: no "changed" for it
            try:
                tabs.removeTab(index)
                tabs.insertTab(index, page, self._title)
                tabs.setCurrentIndex(current)
            finally:
                tabs.blockSignals(blocked)
            self._placeholder.deleteLater()
            self._page, self._make, self._placeholder = page, None, None
        return self._page


def new_canvas() -> Canvas:
    return Canvas(Figure(figsize=(8, 5), layout="constrained"))


def key_combo() -> QComboBox:
    """A combo of param/metric keys: as wide as ~14 characters (wider if the window is) whatever the keys (a 400-character key would
    set the window's minimum width); the popup shows them whole."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
    view = combo.view()
    if view is not None:
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return combo


def refill(combo: QComboBox, items: list[str], default: str | None) -> None:
    """Replace a combo's items, keeping the current choice when it is still there (no signal storm)."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    wanted = current if current in items else default
    if wanted:
        combo.setCurrentText(wanted)
    combo.blockSignals(False)


def by_coverage(
    runs: Sequence[Mapping[str, Any]], section: str, keys: Iterable[str] | None = None
) -> list[str]:
    """Keys of a run section ("params", "metrics") that most runs have first, A to Z among equals."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.get(section) or {}:
            counts[key] = counts.get(key, 0) + 1
    wanted = list(counts) if keys is None else [k for k in keys if k in counts]
    return sorted(wanted, key=lambda k: (-counts[k], k.lower(), k))


def common(runs: Sequence[Mapping[str, Any]], section: str, keys: Iterable[str] | None = None) -> list[str]:
    """`by_coverage` keys that at least half of the runs have (a default axis nobody lacks)."""
    ordered = by_coverage(runs, section, keys)
    half = (len(runs) + 1) // 2
    return [k for k in ordered if sum(1 for r in runs if k in (r.get(section) or {})) >= half]


def default_metric(metrics: list[str], runs: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """A validation loss if there is one, else any loss, else the first metric; among the metrics at least
    half of `runs` have, when runs are given (a default axis most runs can be drawn on)."""
    if runs:
        metrics = common(runs, "metrics", metrics) or metrics
    for test in (lambda m: "val" in m.lower() and "loss" in m.lower(), lambda m: "loss" in m.lower()):
        for m in metrics:
            if test(m):
                return m
    return metrics[0] if metrics else None


#: series shorter than this are drawn unsmoothed: an EMA over a handful of points only shifts them
MIN_SMOOTHED_POINTS = 50


def smoothing_for(points: int, smoothing: float) -> float:
    """The smoothing a series of `points` gets: none when it is short."""
    return smoothing if points >= MIN_SMOOTHED_POINTS else 0.0
