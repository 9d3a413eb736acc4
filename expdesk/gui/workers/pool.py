"""Worker pool and the bridge that carries results and index changes to the GUI thread.

Thread ownership: a job's function runs on a pool thread and must not touch widgets; its result travels
through a queued signal of the `Dispatcher` (a QObject living on the GUI thread) and the callback runs
there. Callers capture a generation in the callback so stale answers are dropped (ndv's `_request_data`).
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

Callback = Callable[[Any], None]
ErrorCallback = Callable[[str], None]


class PaintGate:
    """Held by the GUI thread while it paints the runs table; workers' Python loops pass through it.

    A paint enters Python twice per visible cell (index, multiData), and each entry has to win the GIL
    back from a worker that is assembling a page: measured, a worker busy in Python doubles a paint
    (hand-offs, not the switch interval). A worker that reaches `wait()` during a paint blocks on the
    lock without the GIL until the paint is over, so the cells run uncontended. Workers only ever
    wait here between chunks of work and never while holding anything the GUI thread needs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> PaintGate:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait(self, timeout: float = 0.25) -> None:
        """On a worker: return at once unless a paint is running, else when it ends (or `timeout`)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()


#: the runs table's paints and the jobs that prepare its rows
PAINT_GATE = PaintGate()


class Dispatcher(QObject):
    """Lives on the GUI thread; pool threads emit its signals, Qt queues them to the GUI thread."""

    finished = Signal(int, object)
    failed = Signal(int, str)


class _Job:
    """One call on a pool thread. Handed to the pool as a bound method, not as a QRunnable: PySide keeps
    a reference to every runnable given to `QThreadPool.start` on the pool's wrapper and never drops it,
    so each job (a query, a page, a refresh: several a second with live runs) stayed alive with its
    closure for the whole session (bench_soak.py; +1 job per filter edit). A callable is released once run,
    and only then: one dropped from the queue (`QThreadPool.clear`) stays referenced for good, so a stopping
    pool runs its queued jobs as no-ops instead (`closing`)."""

    def __init__(
        self, job_id: int, fn: Callable[[], Any], dispatcher: Dispatcher, closing: threading.Event
    ) -> None:
        self.job_id = job_id
        self.fn = fn
        self.dispatcher = dispatcher
        self.closing = closing

    def run(self) -> None:
        if self.closing.is_set():
            return  # the pool is stopping: nobody wants the answer
        try:
            result = self.fn()
        except Exception as exc:  # any failure is reported to the GUI, never lost on a pool thread
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.dispatcher.failed.emit(self.job_id, detail)
        else:
            self.dispatcher.finished.emit(self.job_id, result)


class WorkerPool(QObject):
    """A QThreadPool whose results come back as callbacks on the GUI thread. `stop()` waits for jobs."""

    #: jobs that fail without their own error callback end up here (the window shows them)
    error = Signal(str)

    def __init__(self, max_threads: int, parent: QObject | None = None, name: str = "expdesk") -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._pool.setObjectName(name)
        self._dispatcher = Dispatcher(self)
        self._dispatcher.finished.connect(self._on_finished)
        self._dispatcher.failed.connect(self._on_failed)
        self._callbacks: dict[int, tuple[Callback | None, ErrorCallback | None]] = {}
        self._ids = itertools.count(1)
        self.closing = threading.Event()

    def submit(
        self, fn: Callable[[], Any], on_done: Callback | None = None, on_error: ErrorCallback | None = None
    ) -> int:
        if self.closing.is_set():
            return 0
        job_id = next(self._ids)
        self._callbacks[job_id] = (on_done, on_error)
        self._pool.start(_Job(job_id, fn, self._dispatcher, self.closing).run)
        return job_id

    def pending(self) -> int:
        return len(self._callbacks)

    def wait_idle(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)

    def stop(self) -> None:
        """Drop queued jobs (each returns at once: run, not cleared, so that it is released), wait for running
        ones (they check `closing` when long), forget callbacks."""
        self.closing.set()
        self._pool.waitForDone()
        self._callbacks.clear()

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        on_done, _ = self._callbacks.pop(job_id, (None, None))
        if on_done is not None and not self.closing.is_set():
            on_done(result)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        _, on_error = self._callbacks.pop(job_id, (None, None))
        if self.closing.is_set():
            return
        if on_error is not None:
            on_error(message)
        else:
            self.error.emit(message)


class IndexBridge(QObject):
    """Carries "runs changed" notifications (writer thread, or the watcher, which adds runs that just
    turned stale) to the GUI thread as a signal.

    `on_change` checks `closed` under a lock and `close()` takes the same lock, so no emit races the
    window's teardown even if the source calls once more while it is being detached.
    """

    runs_changed = Signal(object)  # set[str] of run keys

    def __init__(self, source: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._lock = threading.Lock()
        self._closed = False
        source.add_listener(self.on_change)

    def on_change(self, keys: set[str]) -> None:
        # writer (or watcher) thread: emit only (queued to the GUI thread), never touch widgets here
        with self._lock:
            if not self._closed:
                self.runs_changed.emit(set(keys))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._source.remove_listener(self.on_change)
