"""Background work for the compare view: queries and series preparation on a private thread pool.

Each task opens its own read-only `IndexReader` (one per thread), runs a plain function and reports through
a `TaskRelay` living on the GUI thread (queued signals), tagged with the kind and generation of the request
so the view drops answers that a newer request has made stale. The index writer's change listener is wrapped
in a gate that can be closed: the writer has no way to remove a listener, and it must never emit into a
deleted QObject.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from expdesk.compare.series import RawSeries
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

#: the format of runs browsed on an MLflow tracking server (`expdesk.remote.browse.FORMAT`)
SERVER_FORMAT = "mlflow-remote"


class TaskRelay(QObject):
    finished = Signal(str, int, object)  # kind, generation, result
    failed = Signal(str, int, str)  # kind, generation, message


class Cancelled(Exception):
    """Raised by a task whose window closed while it ran (`TaskRunner.cancelled`): it ends quietly."""


class _Task:
    """One query on the pool, handed over as a bound method: PySide keeps every QRunnable given to
    `QThreadPool.start` referenced from the pool's wrapper, so a compare window open all day with live
    runs kept each of its reloads alive (see expdesk/gui/workers/pool.py)."""

    def __init__(
        self, index: Index, relay: TaskRelay, kind: str, generation: int, fn: Callable[[IndexReader], Any]
    ) -> None:
        self._index, self._relay, self._kind, self._gen, self._fn = index, relay, kind, generation, fn

    def run(self) -> None:  # worker thread
        try:
            with self._index.reader() as reader:
                result = self._fn(reader)
        except Cancelled:
            return
        except Exception as exc:  # reported to the GUI, which shows it; the pool thread must survive
            message = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            self._relay.failed.emit(self._kind, self._gen, message)
            return
        self._relay.finished.emit(self._kind, self._gen, result)


#: pools of closed windows whose last task was still running (a chart rendering): kept, not waited for on the
#: GUI thread, and let go once idle; `wait_retired` at the app's exit
_RETIRED: list[tuple[QThreadPool, TaskRelay]] = []


def wait_retired() -> None:
    """Wait for the tasks of closed windows (the app's exit: before the index closes)."""
    for pool, _relay in _RETIRED:
        pool.waitForDone()
    _RETIRED.clear()


def _reap() -> None:
    _RETIRED[:] = [(pool, relay) for pool, relay in _RETIRED if pool.activeThreadCount()]


class TaskRunner:
    """A private pool (so shutdown can wait for exactly our tasks) and a generation counter per kind."""

    def __init__(self, index: Index, parent: QObject, threads: int = 2) -> None:
        self.index = index
        self.relay = TaskRelay(parent)
        self.pool = QThreadPool(parent)
        self.pool.setMaxThreadCount(threads)
        self._generations: dict[str, int] = {}
        #: set by `shutdown`: a long task checks it between its steps (`check`) and stops early
        self.cancelled = threading.Event()

    def check(self) -> None:
        """Raise `Cancelled` if the owner shut down (worker thread: between a task's steps)."""
        if self.cancelled.is_set():
            raise Cancelled

    def submit(self, kind: str, fn: Callable[[IndexReader], Any]) -> int:
        generation = self._generations.get(kind, 0) + 1
        self._generations[kind] = generation
        self.pool.start(_Task(self.index, self.relay, kind, generation, fn).run)
        return generation

    def is_current(self, kind: str, generation: int) -> bool:
        return self._generations.get(kind) == generation

    def shutdown(self, wait: bool = True) -> None:
        """Drop queued tasks; running ones finish. `wait=False`: not waited for here (a compare window
        closing while its chart renders held the GUI thread 0.1-0.3 s, bench_soak.py): the pool and relay
        leave their owner and stay alive until idle; what they report reaches nobody (or a closed owner)."""
        self.cancelled.set()
        self.pool.clear()
        if wait:
            self.pool.waitForDone()
            return
        _reap()
        if self.pool.activeThreadCount():
            self.pool.setParent(None)
            self.relay.setParent(None)
            _RETIRED.append((self.pool, self.relay))


class ChangeRelay(QObject):
    """Carries the writer's "runs changed" callbacks to the GUI thread."""

    changed = Signal(object)  # set[str]

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._open = True

    def listener(self, keys: set[str]) -> None:  # writer thread: only emit, and never once closed
        with self._lock:
            if self._open:
                self.changed.emit(set(keys))

    def close(self) -> None:
        # holding the lock means no emit is in flight once this returns
        with self._lock:
            self._open = False


def attach_listener(index: Index, relay: ChangeRelay) -> Callable[[], None]:
    """Register a closure that does not keep the relay alive and tolerates it being gone; returns the
    function that detaches it (a closed window must: the writer kept one listener per compare ever
    opened, each called on every commit, for the whole session; bench_soak.py)."""
    ref = weakref.ref(relay)

    def listener(keys: set[str]) -> None:
        target = ref()
        if target is None:
            index.writer.remove_listener(listener)  # the window is gone without detaching: clean up
            return
        # RuntimeError: the C++ object was deleted between the lookup and the emit
        with contextlib.suppress(RuntimeError):
            target.listener(keys)

    index.writer.add_listener(listener)
    return lambda: index.writer.remove_listener(listener)


def server_series(
    run: Mapping[str, Any], metrics: Sequence[str], with_timestamps: bool, problems: list[str]
) -> list[RawSeries]:
    """Series of a run browsed on an MLflow tracking server (worker thread): the index keeps only its latest
    values, so the full history comes from the server, as for the detail charts (`fetch_histories`)."""
    from expdesk.remote.browse import fetch_histories

    return [
        RawSeries(run["key"], metric, steps, values, stamps if with_timestamps else None)
        for metric, (steps, values, stamps) in fetch_histories(run, metrics, problems).items()
    ]
