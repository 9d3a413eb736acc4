"""matplotlib's zoom/pan toolbar with icons drawn once per process.

matplotlib 3.10+ gives each toolbar button an icon engine that, on every paint of the button, checks the
icon's SVG exists, reads it from disk and renders it again (`backend_qt._IconEngine.pixmap`); the engine
also holds the toolbar itself. The soak benchmark caught it: a compare window or a chart that follows live
runs gets a new canvas and toolbar with each render, and the GUI thread read and rendered ~9 SVG files each
time one appeared (stacks sampled in event-loop stalls, benchmarks/bench_soak.py --stacks). Here an icon
is rendered once per (name, size, pixel ratio, dark/light, mode) and kept; the SVG bytes are read once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from matplotlib import cbook
from matplotlib.backends.backend_qtagg import NavigationToolbar2QT
from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QIconEngine, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QStyleOption

#: rendered icons: (file name, width, height, pixel ratio, dark, mode) -> pixmap; a few dozen at most
_PIXMAPS: dict[tuple[str, int, int, float, bool, QIcon.Mode], QPixmap] = {}


@cache
def _svg(name: str) -> bytes | None:
    """The SVG of a toolbar image of matplotlib (`name` as matplotlib passes it, e.g. "home.png")."""
    path = Path(cbook._get_data_path("images", name)).with_suffix(".svg")
    try:
        return path.read_bytes()
    except OSError:
        return None


def _dark() -> bool:
    """The app's palette is dark (the theme follows the desktop's): icons are drawn white on it."""
    palette = QGuiApplication.palette()
    return palette.color(palette.ColorRole.Window).value() < 128


def _render(name: str, size: QSize, ratio: float, dark: bool) -> QPixmap:
    data = _svg(name)
    if data is None:  # no SVG shipped: matplotlib's PNG, scaled
        png = Path(cbook._get_data_path("images", name))
        large = png.with_name(png.stem + "_large.png")
        source = QPixmap(str(large if large.is_file() else png))
        if source.isNull():
            return source
        scaled = source.scaled(
            int(size.width() * ratio),
            int(size.height() * ratio),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(ratio)
        return scaled
    if dark:
        data = data.replace(b"fill:black;", b"fill:white;").replace(b"stroke:black;", b"stroke:white;")
    renderer = QSvgRenderer(QByteArray(data))
    pixmap = QPixmap(QSize(int(size.width() * ratio), int(size.height() * ratio)))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    if renderer.isValid():
        painter = QPainter(pixmap)
        try:
            renderer.render(painter, QRectF(0, 0, size.width(), size.height()))
        finally:
            painter.end()
    return pixmap


class _IconEngine(QIconEngine):
    """One toolbar image at any size, from the process-wide cache (it holds no widget)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        if size.width() <= 0 or size.height() <= 0:
            return QPixmap()
        app = QGuiApplication.instance()
        ratio = float(app.devicePixelRatio()) if isinstance(app, QGuiApplication) else 1.0
        dark = _dark()
        key = (self.name, size.width(), size.height(), ratio, dark, mode)
        pixmap = _PIXMAPS.get(key)
        if pixmap is None:
            pixmap = _render(self.name, size, ratio, dark)
            style = QApplication.style() if isinstance(app, QApplication) else None
            if mode == QIcon.Mode.Disabled and style is not None and not pixmap.isNull():
                pixmap = style.generatedIconPixmap(mode, pixmap, QStyleOption())
            _PIXMAPS[key] = pixmap
        return pixmap

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        pixmap = self.pixmap(rect.size(), mode, state)
        if not pixmap.isNull():
            painter.drawPixmap(rect, pixmap)


class ChartToolbar(NavigationToolbar2QT):
    """`NavigationToolbar2QT` whose icons come from the cache above."""

    def _icon(self, name: str) -> QIcon:
        return QIcon(_IconEngine(name))
