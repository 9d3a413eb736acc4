"""A function run on the global QThreadPool whose result reaches the GUI thread through queued signals.

Each job carries a generation number; views drop answers whose generation is not the latest (the user
moved on to another run). `cancel()` sets a flag the job polls; jobs never touch widgets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal


class JobSignals(QObject):
    progress = Signal(int, int, int, str)  # generation, done, total, message
    finished = Signal(int, object)  # generation, result
    failed = Signal(int, str)  # generation, message


class Job:
    """Runs `fn(progress, cancelled)` off the GUI thread.

    Not a QRunnable subclass: QThreadPool.start(runnable) hands the wrapper to C++, and with auto-delete
    off (needed to keep the Python object) nothing ever released it, so every job (one per selected run,
    for its lineage) stayed alive with its signals, events and locks: +20 objects per selection in
    bench_soak.py. A bound method handed to the pool is released by it once run."""

    def __init__(
        self, generation: int, fn: Callable[[Callable[[int, int, str], None], Callable[[], bool]], Any]
    ) -> None:
        self.generation = generation
        self.fn = fn
        self.signals = JobSignals()
        self._cancel = threading.Event()

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
        QThreadPool.globalInstance().start(self.run)
