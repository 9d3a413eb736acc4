"""Connections. Only this package opens the index DB: one writer connection (owned by the writer
thread) and any number of read-only connections (`mode=ro`), all in WAL mode.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from expdesk.core.errors import ExpdeskError
from expdesk.index.schema import migrate

BUSY_TIMEOUT_MS = 30_000


def open_writer(path: Path) -> sqlite3.Connection:
    """The one read-write connection. Creates and migrates the DB; `check_same_thread=False` because the
    writer thread, not the creating thread, uses it from then on."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=OFF")
        migrate(Database(conn))
    except (sqlite3.Error, OSError) as exc:
        raise ExpdeskError(f"cannot open the index at {path}: {exc}") from None
    return conn


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection; it never creates, migrates or locks the DB for writing."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise ExpdeskError(f"cannot read the index at {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def ensure_db(path: Path) -> None:
    """Create/migrate the DB once (so read-only connections find a schema)."""
    open_writer(path).close()
