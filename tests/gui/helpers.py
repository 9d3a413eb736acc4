"""Helpers for driving the window like a user: drops, waiting for indexing and for table contents."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from expdesk.gui.window.main_window import MainWindow


def drop_folders(window: MainWindow, folders: list[Path]) -> None:
    """What the file manager does: a drag enter then a drop with file:// URLs."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in folders])
    centre = QPoint(window.width() // 2, window.height() // 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        enter = QDragEnterEvent(centre.toPointF(), *args)
    except TypeError:  # PySide6 before 6.12 binds only the QPoint overload (6.12 deprecates that one)
        enter = QDragEnterEvent(centre, *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        centre.toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()


def add_and_wait(qtbot: QtBot, window: MainWindow, folders: list[Path], rows: int) -> None:
    with qtbot.waitSignal(window.indexing_finished, timeout=60_000):
        drop_folders(window, folders)
    qtbot.waitUntil(lambda: window.model.rowCount() == rows, timeout=60_000)


def names(window: MainWindow) -> list[str]:
    column = [c.key for c in window.model.columns()].index("name")
    return [window.model.index(r, column).data() for r in range(window.model.rowCount())]


def wait_idle(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.pool.pending() == 0 and window.index_pool.pending() == 0, timeout=60_000)
