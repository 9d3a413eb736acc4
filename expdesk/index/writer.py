"""The single writer thread: a queue of write tasks, one transaction per batch, stopped by a sentinel.

Every mutation of the index goes through `Writer.submit`. Tasks that arrive together are committed in one
`BEGIN IMMEDIATE` transaction (fast bulk indexing); a failing task rolls back only itself (savepoint) and
its future carries the exception. Listeners are told which run keys changed after each commit.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from expdesk.index.db import open_writer
from expdesk.index.parts.build import hidden_among, rejoin

_log = logging.getLogger(__name__)

Task = Callable[[sqlite3.Connection], Any]
_STOP = object()
#: tasks per transaction at most: bounds the time a reader waits for a fresh snapshot
BATCH_MAX = 256


class Writer:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._conn = open_writer(db_path)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1024)
        self._listeners: list[Callable[[set[str]], None]] = []
        self._thread = threading.Thread(target=self._run, name="expdesk-writer", daemon=True)
        self._thread.start()

    def add_listener(self, callback: Callable[[set[str]], None]) -> None:
        """`callback(changed_keys)` runs on the writer thread after each commit: keep it tiny (emit a signal)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[set[str]], None]) -> None:
        """Detach a listener (a stopped watcher or a closed window); unknown callbacks are ignored."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def submit(self, task: Task, changed: set[str] | None = None) -> Future[Any]:
        fut: Future[Any] = Future()
        self._queue.put((task, fut, changed or set()))
        return fut

    def call(self, task: Task, changed: set[str] | None = None) -> Any:
        """Submit and wait for the result (re-raises the task's exception)."""
        return self.submit(task, changed).result()

    def stop(self) -> None:
        """Finish queued tasks, then close. Returns promptly once the queue drains."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                stop_after = False
                while len(batch) < BATCH_MAX:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)
                self._commit(batch)
                if stop_after:
                    return
        finally:
            self._conn.close()

    @staticmethod
    def _rejoin(conn: sqlite3.Connection, changed: set[str]) -> set[str]:
        """Parts into runs, in the batch's own transaction: a reader never sees a part that joins a run
        listed as a run of its own first. Returns the keys to announce (runs, not hidden parts). A failure
        here keeps the batch (the parts are written, their runs are re-planned with the next batch that
        touches them) and is logged."""
        conn.execute("SAVEPOINT joins")
        try:
            runs = rejoin(conn, changed)
            # listeners hear runs: a part joined into another run is announced as that run
            hidden = hidden_among(conn, changed - {"*"})
        except sqlite3.OperationalError:
            conn.execute("ROLLBACK TO joins")
            conn.execute("RELEASE joins")
            raise
        except Exception:
            conn.execute("ROLLBACK TO joins")
            conn.execute("RELEASE joins")
            _log.exception("re-planning the runs of %d changed parts failed", len(changed))
            return changed
        conn.execute("RELEASE joins")
        return (changed - hidden) | runs

    def _commit(self, batch: list[tuple[Task, Future[Any], set[str]]]) -> None:
        conn = self._conn
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        changed: set[str] = set()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for i, (task, fut, keys) in enumerate(batch):
                if not fut.set_running_or_notify_cancel():
                    continue
                conn.execute(f"SAVEPOINT t{i}")
                try:
                    result = task(conn)
                except BaseException as exc:
                    conn.execute(f"ROLLBACK TO t{i}")
                    conn.execute(f"RELEASE t{i}")
                    results.append((fut, None, exc))
                    continue
                conn.execute(f"RELEASE t{i}")
                results.append((fut, result, None))
                changed |= keys
            if changed:
                changed = self._rejoin(conn, changed)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _task, fut, _ in batch:
                if not fut.done():
                    if not fut.running():
                        fut.set_running_or_notify_cancel()
                    fut.set_exception(exc)
            for fut, _result, _err in results:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, result, err in results:
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)
        if changed:
            # a copy: other threads add and remove listeners while this thread notifies
            for listener in tuple(self._listeners):
                listener(changed)
