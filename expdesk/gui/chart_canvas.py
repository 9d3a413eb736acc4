"""A matplotlib canvas for figures rendered on a worker: it paints the worker's pixels and draws on the GUI
thread only when the user zooms, pans or resizes it.

The compare charts and the detail pop-out build, lay out and render their figure with Agg on a worker
(`expdesk.compare.chart_layout.render`); drawing a 4-metric chart there takes 200-400 ms, which on the GUI
thread was the soak benchmark's longest stalls. This canvas adopts the worker's renderer, so showing the
figure is a copy of its buffer into the widget.
"""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QWidget


class ChartCanvas(FigureCanvasQTAgg):
    """`FigureCanvasQTAgg` that shows the pixels of `rendered` (the figure's Agg canvas on the worker that
    drew it) without drawing, keeps them on a resize to the size they were drawn for, and does not draw
    while hidden (a tab not shown: a chart following live runs would render for nobody).

    `on_resized`: resized to another size, the canvas paints the worker's pixels stretched and calls it (the
    owner has a chart of the new size rendered on its worker) instead of laying out and drawing here."""

    def __init__(
        self,
        figure: Figure,
        rendered: FigureCanvasAgg | None = None,
        on_resized: Callable[[], None] | None = None,
    ) -> None:
        # the figure's dpi before any screen scaled it (the worker's canvas scaled it by its pixel ratio)
        original_dpi = getattr(figure, "_original_dpi", figure.dpi)
        super().__init__(figure)
        self._missed = False
        self._on_resized = on_resized if rendered is not None else None
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
        if getattr(self, "renderer", None) is not None and (
            self._fits(event.size().width(), event.size().height()) or self._on_resized is not None
        ):
            QWidget.resizeEvent(self, event)
            if not self._fits(event.size().width(), event.size().height()) and self._on_resized is not None:
                self._on_resized()
            return
        super().resizeEvent(event)

    def _fits(self, width: int, height: int) -> bool:
        """The figure is (within a pixel) as large as the canvas would be at this size."""
        ratio, bbox = self.device_pixel_ratio, self.figure.bbox
        return abs(width * ratio - bbox.width) < 1 and abs(height * ratio - bbox.height) < 1

    def paintEvent(self, event: QPaintEvent) -> None:
        renderer = getattr(self, "renderer", None)
        if renderer is None or self._on_resized is None or self._fits(self.width(), self.height()):
            super().paintEvent(event)
            return
        # resized: the pixels drawn for the old size, stretched, until the owner's new chart comes
        buffer = memoryview(renderer.buffer_rgba())
        image = QImage(buffer, int(renderer.width), int(renderer.height), QImage.Format.Format_RGBA8888)
        painter = QPainter(self)
        try:
            painter.drawImage(self.rect(), image)
        finally:
            painter.end()
