"""The single writer thread: a queue of write tasks, one transaction per batch, stopped by a sentinel.

Every mutation of the index goes through `Writer.submit`. Tasks that arrive together are committed in one
`BEGIN IMMEDIATE` transaction (fast bulk indexing); a failing task rolls back only itself (savepoint) and
its future carries the exception. Listeners are told which run keys changed after each commit.

Several processes may share the index: each batch runs under the inter-process `WriterLock` (lock.py),
so writers alternate batch by batch, and each commit records its keys in `changes`. While idle, the writer
thread watches `PRAGMA data_version` (it moves only when another connection committed) and tells its
listeners which runs the other process changed: a window follows a CLI `index` or `expdesk watch`.
On a read-only filesystem there is no writer connection: tasks fail with one clear message and the
thread only follows.
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

from expdesk.core.errors import ExpdeskError
from expdesk.index.db import journal_mode, open_reader, open_writer
from expdesk.index.lock import Holder, LockUnavailable, WriterLock
from expdesk.index.parts.build import hidden_among, rejoin
from expdesk.index.storage import Storage, describe

_log = logging.getLogger(__name__)

Task = Callable[[sqlite3.Connection], Any]
Notice = Callable[[str], None]
_STOP = object()
#: tasks per transaction at most: bounds the time a reader waits for a fresh snapshot
BATCH_MAX = 256
#: seconds between two looks at `data_version` while idle (how soon another process's writes show)
FOLLOW_EVERY = 0.5
#: seconds the constructor waits for another process's batch before it gives up opening the index
OPEN_WAIT = 60.0
#: `changes` rows kept (other processes only need the ones since their last look)
CHANGES_KEPT = 20_000
#: SQLite's words for "the file cannot be written" (a read-only mount, permissions)
_READ_ONLY_ERRORS = ("readonly database", "read-only", "unable to open database file", "permission denied")


class Writer:
    def __init__(
        self, db_path: Path, storage: Storage | None = None, follow_every: float = FOLLOW_EVERY
    ) -> None:
        self.db_path = db_path
        self.storage = storage or describe(db_path)
        self.follow_every = follow_every
        #: why this process cannot write the index (None: it can); tasks fail with this message
        self.read_only: str | None = None
        #: one-line notices for the user so far (storage mode, waits, takeovers), oldest first
        self.notices: list[str] = []
        self._notice_listeners: list[Notice] = []
        self._stopping = threading.Event()
        self._told_waits: set[int] = set()
        self._lock: WriterLock | None = None
        self._conn = self._open()
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        self._seen_seq = self._last_change()
        self._commits = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1024)
        self._listeners: list[Callable[[set[str]], None]] = []
        if (notice := self.storage.notice()) is not None and self.read_only is None:
            self._notice(notice)
        self._thread = threading.Thread(target=self._run, name="expdesk-writer", daemon=True)
        self._thread.start()

    # -- opening ------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        """The writer connection, created and migrated under the lock; a read-only connection (and
        `read_only` set) where the index cannot be written but can be read."""
        if self.storage.read_only:
            return self._open_read_only(f"{self.db_path.parent} is on a read-only filesystem")
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = WriterLock(self.db_path)
            if not self._lock.acquire(timeout=OPEN_WAIT):
                message = self._lock.busy_message()
                self._lock.close()
                raise ExpdeskError(f"cannot open the index at {self.db_path}: {message}")
        except (LockUnavailable, OSError) as exc:
            if self._lock is not None:
                self._lock.close()
                self._lock = None
            if isinstance(exc, FileNotFoundError):
                raise ExpdeskError(f"cannot open the index at {self.db_path}: {exc.strerror}") from None
            return self._open_read_only(f"{self.db_path.parent} cannot be written ({exc.strerror or exc})")
        try:
            conn = open_writer(self.db_path, self.storage.journal_mode)
        except ExpdeskError as exc:
            self._lock.close()
            self._lock = None
            if self.db_path.exists() and any(w in str(exc).lower() for w in _READ_ONLY_ERRORS):
                return self._open_read_only(f"it cannot be written ({str(exc).rsplit(': ', 1)[-1]})")
            raise
        finally:
            if self._lock is not None:
                self._lock.release()
        if self.storage.network and journal_mode(conn) == "WAL":
            self._notice(
                f"the index at {self.db_path} stays in WAL mode on a network filesystem because another"
                " process has it open; close other expdesk windows so it can switch to a rollback journal"
            )
        self._take_over_notices()
        return conn

    def _open_read_only(self, why: str) -> sqlite3.Connection:
        if not self.db_path.exists():
            raise ExpdeskError(f"cannot open the index at {self.db_path}: {why}")
        self.read_only = f"the index at {self.db_path} is read-only: {why}; showing what it holds, indexing and edits are off"
        self._notice(self.read_only)
        return open_reader(self.db_path)

    # -- notices ------------------------------------------------------------------------------------
    def add_notice_listener(self, callback: Notice) -> None:
        """`callback(line)` for each later notice (any thread); earlier ones are in `notices`."""
        self._notice_listeners.append(callback)

    def remove_notice_listener(self, callback: Notice) -> None:
        if callback in self._notice_listeners:
            self._notice_listeners.remove(callback)

    def _notice(self, line: str) -> None:
        self.notices.append(line)
        for listener in tuple(self._notice_listeners):
            listener(line)

    def _take_over_notices(self) -> None:
        if self._lock is None:
            return
        while self._lock.taken_over:
            gone = self._lock.taken_over.pop(0)
            self._notice(
                f"{gone.describe()} stopped while writing the index (its lock was left behind);"
                " its last unfinished batch was rolled back, this process writes now"
            )

    def _waiting(self, holder: Holder | None) -> None:
        # once per other process, not per batch: two busy writers would otherwise say it every batch
        pid = holder.pid if holder is not None else 0
        if pid in self._told_waits:
            return
        self._told_waits.add(pid)
        who = holder.describe() if holder is not None else "another expdesk process"
        self._notice(f"waiting for {who} to finish writing the index (one writer at a time)")

    def add_listener(self, callback: Callable[[set[str]], None]) -> None:
        """`callback(changed_keys)` runs on the writer thread after each commit: keep it tiny (emit a signal)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[set[str]], None]) -> None:
        """Detach a listener (a stopped watcher or a closed window); unknown callbacks are ignored."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def submit(self, task: Task, changed: set[str] | None = None) -> Future[Any]:
        fut: Future[Any] = Future()
        if self.read_only is not None:
            fut.set_exception(ExpdeskError(self.read_only))
            return fut
        self._queue.put((task, fut, changed or set()))
        return fut

    def call(self, task: Task, changed: set[str] | None = None) -> Any:
        """Submit and wait for the result (re-raises the task's exception)."""
        return self.submit(task, changed).result()

    def stop(self) -> None:
        """Finish queued tasks, then close. Returns promptly once the queue drains; a batch still waiting
        for another process's lock fails instead of waiting on (never a hang at exit)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._stopping.set()
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.follow_every)
                except queue.Empty:
                    self._follow()
                    continue
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
            if self._lock is not None:
                self._lock.close()

    # -- following other processes ------------------------------------------------------------------
    def _last_change(self) -> int:
        try:
            return int(self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # a read-only index from before the `changes` table

    def _follow(self) -> None:
        """Tell listeners what another process committed since the last look (writer thread, idle)."""
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return
            self._data_version = version
            rows = self._conn.execute(
                "SELECT seq, run_key FROM changes WHERE seq > ? ORDER BY seq", (self._seen_seq,)
            ).fetchall()
        except sqlite3.OperationalError:
            rows = [(self._seen_seq, "*")]  # busy, or no `changes` table: reload everything
        if not rows:
            return
        self._seen_seq = max(self._seen_seq, int(rows[-1][0]))
        self._tell({str(key) for _seq, key in rows})

    def _tell(self, changed: set[str]) -> None:
        # a copy: other threads add and remove listeners while this thread notifies
        for listener in tuple(self._listeners):
            listener(changed)

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
        assert self._lock is not None
        if not self._lock.acquire(self._stopping, self._waiting):
            error = ExpdeskError(
                f"not written: expdesk stopped while waiting for the index ({self._lock.busy_message()})"
            )
            for _task, fut, _ in batch:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(error)
            return
        try:
            self._take_over_notices()
            self._commit_locked(batch)
        finally:
            self._lock.release()

    def _commit_locked(self, batch: list[tuple[Task, Future[Any], set[str]]]) -> None:
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
            last_seq = self._record_changes(conn, changed)
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
        if last_seq is not None:
            # no other process committed since the last look: this commit's rows need no following
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                self._seen_seq = last_seq
        for fut, result, err in results:
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)
        if changed:
            self._tell(changed)

    def _record_changes(self, conn: sqlite3.Connection, changed: set[str]) -> int | None:
        """Append this commit's keys to `changes` (for other processes); prune now and then."""
        if not changed:
            return None
        conn.executemany("INSERT INTO changes (run_key) VALUES (?)", [(k,) for k in sorted(changed)])
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        self._commits += 1
        if self._commits % 100 == 0:
            conn.execute("DELETE FROM changes WHERE seq <= ?", (last - CHANGES_KEPT,))
        return last
