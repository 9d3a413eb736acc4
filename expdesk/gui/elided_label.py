"""A label for values of any length: one line elided to the space it has, the whole value as tooltip and on
the clipboard (right-click "Copy"). Its minimum width never grows with the text, so a 3,000-character
param cannot make a window wider than the screen."""

from __future__ import annotations

import html

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import QLabel, QMenu, QSizePolicy, QWidget

#: characters of a value the tooltip shows (the clipboard gets all of it)
TOOLTIP_CHARS = 4000


class ElidedLabel(QLabel):
    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ) -> None:
        super().__init__(parent)
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)  # user strings are never rich text
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self._full = ""
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def text(self) -> str:  # the whole value: what the label says, however little of it fits
        return self._full

    def setText(self, text: str) -> None:
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        shown = text[:TOOLTIP_CHARS] + ("…" if len(text) > TOOLTIP_CHARS else "")
        self.setToolTip("" if not text else "<p style='white-space:pre-wrap'>" + html.escape(shown) + "</p>")
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(min(hint.width(), 600), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        line = " ".join(self._full[:2000].split("\n"))
        super().setText(
            self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideMiddle, max(self.width(), 40))
        )

    def _menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        copy = menu.addAction("Copy")
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(self._full))
        menu.exec(self.mapToGlobal(pos))
        menu.deleteLater()
