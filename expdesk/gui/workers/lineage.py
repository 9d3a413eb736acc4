"""A function run on the global QThreadPool whose result reaches the GUI thread through queued signals.

Each job carries a generation number; views drop answers whose generation is not the latest (the user
moved on to another run). `cancel()` sets a flag the job polls; jobs never touch widgets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class JobSignals(QObject):
    progress = Signal(int, int, int, str)  # generation, done, total, message
    finished = Signal(int, object)  # generation, result
    failed = Signal(int, str)  # generation, message


class Job(QRunnable):
    """Runs `fn(progress, cancelled)` off the GUI thread."""

    def __init__(
        self, generation: int, fn: Callable[[Callable[[int, int, str], None], Callable[[], bool]], Any]
    ) -> None:
        super().__init__()
        self.generation = generation
        self.fn = fn
        self.signals = JobSignals()
        self._cancel = threading.Event()
        self.setAutoDelete(False)  # the view keeps a reference until the answer arrives

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(self._progress, self._cancel.is_set)
        except InterruptedError:
            self.signals.failed.emit(self.generation, "cancelled")
        except Exception as exc:
            self.signals.failed.emit(self.generation, f"{type(exc).__name__}: {exc}")
        else:
            self.signals.finished.emit(self.generation, result)

    def _progress(self, done: int, total: int, message: str) -> None:
        self.signals.progress.emit(self.generation, done, total, message)

    def start(self) -> None:
        QThreadPool.globalInstance().start(self)
