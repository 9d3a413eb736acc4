"""The hash cache: SHA-256 digests of files in watched folders, by file identity `(dev, ino, size, mtime_ns)`.

A file is hashed once until it changes (lineage joins and exports re-use the digest). Lookups run on a
reader's thread; `store` is a writer task, so new digests reach the table through the index writer thread.
"""

from __future__ import annotations

import sqlite3

from expdesk.index.reader import IndexReader

Identity = tuple[int, int, int, int]  # (dev, ino, size, mtime_ns)
HashRow = tuple[int, int, int, int, str]  # an identity and its SHA-256 (hex)


def lookup(reader: IndexReader, identity: Identity) -> str | None:
    """The cached SHA-256 of a file with this identity, if any."""
    row = reader.conn.execute(
        "SELECT sha256 FROM hashes WHERE dev=? AND ino=? AND size=? AND mtime_ns=?", identity
    ).fetchone()
    return None if row is None else row[0]


def store(conn: sqlite3.Connection, rows: list[HashRow]) -> None:
    """Writer task: remember these digests (a changed file has a new identity, so nothing is overwritten
    that still describes a file on disk)."""
    conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?)", rows)
