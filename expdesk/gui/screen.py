"""Windows that fit the screen they are on: default sizes clamped to it, restored geometry pulled back onto it.

A window sized for a 1600 px monitor and opened on a 1280 px laptop (or restored after the screen shrank)
must still show its edges and title bar; these helpers are the one place that knows how.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QWidget

#: share of the available screen a default-sized window may take
SCREEN_SHARE = 0.92


def screen_of(widget: QWidget | None) -> QScreen | None:
    """The screen a widget is on (its parent's, before it is shown), or the primary one."""
    while widget is not None:
        screen = widget.screen()
        if screen is not None:
            return screen
        widget = widget.parentWidget()
    return QGuiApplication.primaryScreen()


def available(widget: QWidget | None) -> QRect:
    screen = screen_of(widget)
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 720)


def fit_to_screen(widget: QWidget | None, width: int, height: int) -> QSize:
    """`width` x `height`, shrunk to a share of the available screen when that is smaller."""
    area = available(widget)
    return QSize(min(width, int(area.width() * SCREEN_SHARE)), min(height, int(area.height() * SCREEN_SHARE)))


def onto_screen(widget: QWidget) -> None:
    """Pull a (restored) window back onto its screen: no larger than it, no edge outside it."""
    area = available(widget)
    frame = widget.frameGeometry()
    width = min(widget.width(), area.width() - (frame.width() - widget.width()))
    height = min(widget.height(), area.height() - (frame.height() - widget.height()))
    if (width, height) != (widget.width(), widget.height()):
        widget.resize(max(width, 200), max(height, 150))
    frame = widget.frameGeometry()
    x = min(max(frame.x(), area.x()), area.right() - frame.width() + 1)
    y = min(max(frame.y(), area.y()), area.bottom() - frame.height() + 1)
    if (x, y) != (frame.x(), frame.y()):
        widget.move(x, y)
