"""`Index`: the one object the CLI, the watcher and the GUI hold. Owns the writer; hands out readers."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from expdesk.core.entities import RunRef
from expdesk.core.errors import ExpdeskError, UsageError
from expdesk.core.paths import default_db_path, is_server_url
from expdesk.index import storage
from expdesk.index.indexer import Indexer, IndexReport, Progress
from expdesk.index.media_store import delete_media
from expdesk.index.parts.build import run_members, set_choices
from expdesk.index.reader import IndexReader
from expdesk.index.storage import FsProbe, describe
from expdesk.index.writer import Notice, Writer


def _root_id(path: Path | str) -> str:
    text = str(path)
    return text if is_server_url(text) else os.path.abspath(path)


class Index:
    def __init__(
        self, db_path: Path | None = None, workers: int = 2, fs_probe: FsProbe | None = None
    ) -> None:
        self.db_path = Path(db_path) if db_path else default_db_path()
        #: the index file's filesystem: network (rollback journal, no mmap) or read-only (no writes)
        self.storage = describe(self.db_path, fs_probe or storage.probe_filesystem)
        self.writer = Writer(self.db_path, self.storage)
        self.indexer = Indexer(self.writer, workers)

    @property
    def notices(self) -> list[str]:
        """One-line notices for the user so far (network filesystem, read-only, waits, takeovers)."""
        return list(self.writer.notices)

    @property
    def read_only(self) -> str | None:
        """Why this process cannot write the index (None when it can)."""
        return self.writer.read_only

    def add_notice_listener(self, callback: Notice) -> None:
        """`callback(line)` for each later notice; it runs on whichever thread noticed (keep it tiny)."""
        self.writer.add_notice_listener(callback)

    def remove_notice_listener(self, callback: Notice) -> None:
        self.writer.remove_notice_listener(callback)

    def close(self) -> None:
        self.writer.stop()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self, stale_after: float | None = None) -> IndexReader:
        """A fresh read-only connection; give each thread its own. `stale_after`: seconds without a sign of
        life after which a running run is shown as stale (default `DEFAULT_STALE_AFTER`)."""
        mmap = self.storage.mmap_reads
        if stale_after is None:
            return IndexReader(self.db_path, mmap_reads=mmap)
        return IndexReader(self.db_path, stale_after=stale_after, mmap_reads=mmap)

    # -- roots --------------------------------------------------------------------------------------
    def add_root(self, path: Path | str, network: bool | None = None) -> str:
        """Register a watched root (the one place that writes the `roots` table). `network`: poll it instead
        of watching natively; `None` keeps what the root already has (a new root is local), so indexing
        or re-adding a root never forgets that it lives on NFS/SMB."""
        root = _root_id(path)
        self.writer.call(
            lambda c: c.execute(
                "INSERT INTO roots (path, added_at, network) VALUES (?,?,?)"
                " ON CONFLICT(path) DO UPDATE SET network=COALESCE(?, network)",
                (root, time.time(), int(bool(network)), None if network is None else int(network)),
            )
        )
        return root

    def remove_root(self, path: Path | str) -> None:
        """Forget a root and its cached runs (annotations stay, keyed by run key)."""
        root = _root_id(path)

        def task(conn: sqlite3.Connection) -> None:
            keys = [r[0] for r in conn.execute("SELECT key FROM runs WHERE root=?", (root,))]
            for table, col in (
                ("params", "run_key"),
                ("tags", "run_key"),
                ("artifacts", "run_key"),
                ("files", "run_key"),
                ("links", "run_key"),
                ("unread", "run_key"),
                ("finals", "run_key"),
            ):
                conn.executemany(f"DELETE FROM {table} WHERE {col}=?", [(k,) for k in keys])
            conn.executemany(
                "DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_key=?)",
                [(k,) for k in keys],
            )
            conn.executemany("DELETE FROM series WHERE run_key=?", [(k,) for k in keys])
            delete_media(conn, keys)
            conn.execute("DELETE FROM runs WHERE root=?", (root,))
            conn.execute("DELETE FROM roots WHERE path=?", (root,))

        self.writer.call(task, {"*"})

    # -- indexing -----------------------------------------------------------------------------------
    def index(
        self,
        roots: Iterable[Path | str],
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        force: bool = False,
        remember: bool = True,
        network: bool | None = None,
    ) -> IndexReport:
        """Index every run below `roots`; `remember` registers them as roots first (`network` as in
        `add_root`)."""
        paths = [Path(os.path.abspath(r)) for r in roots]
        try:
            if remember:
                for p in paths:
                    self.add_root(p, network)
            return self.indexer.index(paths, progress, cancelled, force)
        except sqlite3.OperationalError as exc:
            # the index itself cannot be written (disk full, read-only location, I/O error): one clear
            # message; the transaction rolled back, so the DB is as it was after the last commit
            raise ExpdeskError(f"cannot write the index at {self.db_path}: {exc}") from None

    def refresh(self, refs: list[RunRef], force: bool = False) -> IndexReport:
        return self.indexer.refresh(refs, force)

    # -- the user's own data (never written into run folders) ---------------------------------------
    def set_star(self, key: str, starred: bool) -> None:
        self.writer.call(
            lambda c: c.execute(
                "INSERT INTO annotations (run_key, starred) VALUES (?,?)"
                " ON CONFLICT(run_key) DO UPDATE SET starred=excluded.starred",
                (key, int(starred)),
            ),
            {key},
        )

    def set_hidden(self, keys: Iterable[str], hidden: bool) -> None:
        """Hide runs from the runs table (or show them again): the user's annotation, never a deletion."""
        rows = [(key, int(hidden)) for key in dict.fromkeys(keys)]
        self.writer.call(
            lambda c: c.executemany(
                "INSERT INTO annotations (run_key, hidden) VALUES (?,?)"
                " ON CONFLICT(run_key) DO UPDATE SET hidden=excluded.hidden",
                rows,
            ),
            {key for key, _ in rows},
        )

    def set_note(self, key: str, note: str) -> None:
        self.writer.call(
            lambda c: c.execute(
                "INSERT INTO annotations (run_key, note) VALUES (?,?)"
                " ON CONFLICT(run_key) DO UPDATE SET note=excluded.note",
                (key, note),
            ),
            {key},
        )

    def set_labels(self, key: str, labels: Iterable[str]) -> None:
        wanted = sorted({label.strip() for label in labels if label.strip()})

        def task(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM user_tags WHERE run_key=?", (key,))
            c.executemany("INSERT INTO user_tags (run_key, tag) VALUES (?,?)", [(key, t) for t in wanted])

        self.writer.call(task, {key})

    # -- parts and runs: the user's word on joins (kept in the index, never in a folder) -----------------
    def split(self, key: str) -> list[str]:
        """Undo a join. `key` a joined run's key: every part becomes a run of its own; a part's key: that
        part alone leaves its run. Kept across re-indexing (`part_choices`). Returns the parts set apart."""

        def task(conn: sqlite3.Connection) -> list[str]:
            run_key, parts = run_members(conn, key)
            chosen = parts if key == run_key else [key]
            set_choices(conn, [(p, "alone", None) for p in chosen])
            return chosen

        return list(self.writer.call(task, {key}))

    def join(self, keys: Sequence[str]) -> str:
        """Make the runs or parts named one run, keyed by the first one's run. Undoes earlier splits of
        those parts and survives re-indexing. Returns the run's key."""
        if len(keys) < 2:
            raise UsageError("join needs at least two runs")

        def task(conn: sqlite3.Connection) -> str:
            anchor, _ = run_members(conn, keys[0])
            rows: list[tuple[str, str, str | None]] = []
            for key in keys:
                run_key, parts = run_members(conn, key)
                named = parts if key == run_key else [key]
                rows += [(p, "with", anchor) for p in named if p != anchor]
            rows.append((anchor, "auto", None))  # the anchor itself may have been split off before
            set_choices(conn, rows)
            return anchor

        return str(self.writer.call(task, set(keys)))
