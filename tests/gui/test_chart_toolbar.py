"""The charts' zoom/pan toolbar draws each icon once per process (expdesk/gui/chart_toolbar.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QImage
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from expdesk.gui import chart_toolbar
from expdesk.gui.chart_toolbar import ChartToolbar

_KEEP: list[QWidget] = []  # the hosts live until the test's end (qtbot closes them)


def _toolbar(qtbot: QtBot) -> ChartToolbar:
    host = QWidget()
    qtbot.addWidget(host)
    canvas = FigureCanvasQTAgg(Figure())
    canvas.setParent(host)
    toolbar = ChartToolbar(canvas, host)
    host.show()
    _KEEP.append(host)
    return toolbar


def _icons(toolbar: ChartToolbar) -> list[QIcon]:
    return [a.icon() for a in toolbar.actions() if not a.icon().isNull()]


def test_every_button_has_its_icon_and_repaints_read_nothing(qtbot: QtBot) -> None:
    toolbar = _toolbar(qtbot)
    icons = _icons(toolbar)
    assert len(icons) >= 6  # home, back, forward, pan, zoom, subplots, save
    first = [icon.pixmap(QSize(24, 24)) for icon in icons]
    assert all(not p.isNull() and p.width() >= 24 for p in first)
    reads = chart_toolbar._svg.cache_info().misses
    again = [icon.pixmap(QSize(24, 24)) for icon in icons]
    other_toolbar = _icons(_toolbar(qtbot))
    [icon.pixmap(QSize(24, 24)) for icon in other_toolbar]
    assert chart_toolbar._svg.cache_info().misses == reads, "no file read once an icon was drawn"
    assert [p.cacheKey() for p in again] == [p.cacheKey() for p in first], "the same pixmaps, not redrawn"


@pytest.fixture(autouse=True)
def _let_go() -> Iterator[None]:
    yield
    _KEEP.clear()


@pytest.mark.parametrize("dark", [False, True])
def test_icons_follow_the_palette(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, dark: bool) -> None:
    monkeypatch.setattr(chart_toolbar, "_dark", lambda: dark)
    home = _icons(_toolbar(qtbot))[0]
    image = home.pixmap(QSize(31, 31)).toImage().convertToFormat(QImage.Format.Format_ARGB32)
    inked = [
        image.pixelColor(x, y)
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() > 200
    ]
    assert inked, "the icon draws something"
    lightness = sum(c.lightness() for c in inked) / len(inked)
    assert (lightness > 200) if dark else (lightness < 60)
