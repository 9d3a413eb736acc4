"""The index's one-line notices (network filesystem, read-only, another process writing) carried from
whichever thread noticed to the GUI thread's status line; detached under a lock so no emit races teardown."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Signal


class Notices(QObject):
    said = Signal(str)

    def __init__(self, index: Any, parent: QObject) -> None:
        super().__init__(parent)
        self._index = index
        self._lock = threading.Lock()
        self._closed = False
        if hasattr(index, "add_notice_listener"):
            index.add_notice_listener(self._on_notice)

    def _on_notice(self, line: str) -> None:
        with self._lock:
            if not self._closed:
                self.said.emit(line)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if hasattr(self._index, "remove_notice_listener"):
            self._index.remove_notice_listener(self._on_notice)
