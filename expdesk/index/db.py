"""Connections. Only this package opens the index DB: one writer connection (owned by the writer
thread) and any number of read-only connections (`mode=ro`); WAL on a local disk, a rollback journal on a
network filesystem (`storage.py`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from expdesk.core.errors import ExpdeskError
from expdesk.index.schema import migrate

BUSY_TIMEOUT_MS = 30_000


def open_writer(path: Path, journal_mode: str = "WAL") -> sqlite3.Connection:
    """The one read-write connection. Creates and migrates the DB; `check_same_thread=False` because the
    writer thread, not the creating thread, uses it from then on.

    `journal_mode="DELETE"` is the network-filesystem mode (see `storage.py`): a rollback journal, which
    needs no shared memory, and `synchronous=FULL`, which a rollback journal needs to survive a crash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            conn.execute(f"PRAGMA journal_mode={journal_mode}")
        except sqlite3.OperationalError:
            # leaving WAL needs the only connection; another process has the index open. It stays in WAL
            # for now (the caller checks `journal_mode` and says so) and switches at a later start.
            if journal_mode == "WAL":
                raise
        conn.execute("PRAGMA synchronous=NORMAL" if journal_mode == "WAL" else "PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=OFF")
        migrate(Database(conn))
    except (sqlite3.Error, OSError) as exc:
        raise ExpdeskError(f"cannot open the index at {path}: {exc}") from None
    return conn


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection; it never creates, migrates or locks the DB for writing.

    A WAL index in a folder this process cannot write (a read-only mount, another user's folder) cannot
    be opened `mode=ro` once its last writer has closed: SQLite must create the `-shm` file. Nothing on
    this side can change such a file, so it is then read as `immutable=1` (no locks, no `-shm`)."""
    base = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        try:
            conn = _connect_ro(base)
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc) or not path.is_file() or os.access(path.parent, os.W_OK):
                raise
            conn = _connect_ro(base + "&immutable=1")
    except sqlite3.Error as exc:
        raise ExpdeskError(f"cannot read the index at {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def _connect_ro(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA schema_version").fetchone()  # opens the file now, not at the first query
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def journal_mode(conn: sqlite3.Connection) -> str:
    """The journal mode the DB really uses (a switch away from WAL fails while others have it open)."""
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).upper()


def ensure_db(path: Path) -> None:
    """Create/migrate the DB once (so read-only connections find a schema), as a writer would: under the
    writer lock and in the journal mode its filesystem calls for."""
    from expdesk.index.lock import LockUnavailable, WriterLock
    from expdesk.index.storage import describe

    mode = describe(path).journal_mode
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(path)
    except OSError as exc:
        raise ExpdeskError(f"cannot open the index at {path}: {exc.strerror or exc}") from None
    try:
        if not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            raise ExpdeskError(f"cannot open the index at {path}: {lock.busy_message()}")
        try:
            open_writer(path, mode).close()
        finally:
            lock.release()
    except LockUnavailable as exc:
        raise ExpdeskError(f"cannot open the index at {path}: {exc.strerror or exc}") from None
    finally:
        lock.close()
