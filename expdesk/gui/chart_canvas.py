"""A matplotlib canvas for figures rendered on a worker: it paints the worker's pixels and draws on the GUI
thread only when the user zooms, pans or resizes it.

The compare charts and the detail pop-out build, lay out and render their figure with Agg on a worker
(`expdesk.compare.chart_layout.render`); drawing a 4-metric chart there takes 200-400 ms, which on the GUI
thread was the soak benchmark's longest stalls. This canvas adopts the worker's renderer, so showing the
figure is a copy of its buffer into the widget.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QWidget


class ChartCanvas(FigureCanvasQTAgg):
    """`FigureCanvasQTAgg` that shows the pixels of `rendered` (the figure's Agg canvas on the worker that
    drew it) without drawing, keeps them on a resize to the size they were drawn for, and does not draw
    while hidden (a tab not shown: a chart following live runs would render for nobody)."""

    def __init__(self, figure: Figure, rendered: FigureCanvasAgg | None = None) -> None:
        # the figure's dpi before any screen scaled it (the worker's canvas scaled it by its pixel ratio)
        original_dpi = getattr(figure, "_original_dpi", figure.dpi)
        super().__init__(figure)
        self._missed = False
        if rendered is not None:
            # matplotlib's canvases note the unscaled dpi when they take a figure; this one takes it scaled
            figure._original_dpi = original_dpi  # type: ignore[attr-defined]
            # the ratio the worker drew at: the Qt canvas finds it unchanged when shown (no redraw)
            self._set_device_pixel_ratio(rendered.device_pixel_ratio)
            self.renderer = rendered.renderer
            self._lastKey = rendered._lastKey

    def draw_idle(self) -> None:
        if not self.isVisible():
            self._missed = True
            return
        super().draw_idle()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._missed:
            self._missed = False
            super().draw_idle()

    def resizeEvent(self, event: QResizeEvent) -> None:
        # a canvas taking the place of another (or shown) gets the size its figure was drawn for: those
        # pixels are right, and matplotlib would lay the figure out and draw it again on this thread
        ratio = self.device_pixel_ratio
        width, height = event.size().width() * ratio, event.size().height() * ratio
        bbox = self.figure.bbox
        if getattr(self, "renderer", None) is not None and (
            abs(width - bbox.width) < 1 and abs(height - bbox.height) < 1
        ):
            QWidget.resizeEvent(self, event)
            return
        super().resizeEvent(event)
