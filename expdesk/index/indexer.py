"""The indexing service: discover runs below roots, read what changed, hand updates to the writer.

Reads run on a small thread pool (parsing is mostly C code in numpy/json, so two workers overlap I/O and
parsing with the writer's commits); the writer thread alone touches the DB. A run whose fingerprint is
unchanged is not read at all, which makes a warm re-index of an unchanged store a walk plus a few stats.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.core.errors import SourceError
from expdesk.index import store
from expdesk.index.db import open_reader
from expdesk.index.writer import Writer
from expdesk.sources import registry
from expdesk.sources.base import unread_from_error

#: runs read but not yet written that the indexer lets pile up before it waits for the writer
MAX_UNWRITTEN = 4

Progress = Callable[[int, int, str], None]  # (done, found so far, current run path)


@dataclass
class IndexReport:
    found: int = 0
    read: int = 0
    unchanged: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (run path, message)
    #: runs read this pass that hold files they could not read (listed on the run, with the reason)
    unread: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    keys: list[str] = field(default_factory=list)
    #: the refs behind `keys`, as discovered (with reader hints, which the runs table does not store)
    refs: list[RunRef] = field(default_factory=list)
    #: keys whose rows this pass wrote (read, errored or marked gone): what listeners hear about
    changed: list[str] = field(default_factory=list)


def read_and_prepare(
    ref: RunRef, cursor: dict[str, Any] | None
) -> tuple[RunUpdate | None, str, str | None, list[store.PreparedSeries] | None]:
    """`read_run`, then the update's series encoded for storage (on the reading thread: the one writer
    thread should only bind bytes). Encoding a well-formed update cannot fail; if it does, it is redone,
    and the failure reported, on the writer."""
    update, fingerprint, error = read_run(ref, cursor)
    prepared = None
    if update is not None:
        with contextlib.suppress(ValueError, TypeError, OverflowError, MemoryError):
            prepared = store.prepare(update)
    return update, fingerprint, error, prepared


def read_run(ref: RunRef, cursor: dict[str, Any] | None) -> tuple[RunUpdate | None, str, str | None]:
    """(update or None, fingerprint, error). Never raises for a bad run: the error is the run's."""
    reader = registry.reader_for(ref.format)
    try:
        fingerprint = reader.fingerprint(ref)
    except OSError as exc:
        return None, "", f"{ref.path}: {exc.strerror or exc}"
    try:
        update = reader.read(ref, cursor)
        if cursor is None:
            # no cursor = read from the start (a new run, or `--force`): the points replace whatever the
            # index holds, or a forced re-read would append every point a second time
            update.metrics_reset = True
        # a file a reader could only name in its error is listed as not read too: nothing goes unsaid
        update.unread += unread_from_error(ref.path, update)
        return update, fingerprint, None
    except SourceError as exc:
        return None, fingerprint, str(exc)
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        UnicodeError,
        RecursionError,
        MemoryError,
    ) as exc:
        # a reader bug or an input no reader anticipated: contained to this run, reported with the run
        return None, fingerprint, f"{ref.path}: unexpected {type(exc).__name__}: {exc}"


class CursorMoved(Exception):
    """The run's stored cursor is not the one its read started from: another writer (another expdesk
    process on the same index, or an overlapping pass) stored a newer state meanwhile."""


def apply_from_cursor(
    conn: sqlite3.Connection,
    *,
    expected: str | None,
    ref: RunRef,
    update: RunUpdate,
    fingerprint: str,
    prepared: list[store.PreparedSeries] | None,
) -> None:
    """`store.apply_update`, unless the run moved on since its cursor was read (writer thread): `expected`
    is that cursor as canonical JSON, taken before the read (readers update the cursor they are given in
    place). Appending points read from an old cursor would store them twice; the caller re-reads."""
    if expected is not None:
        row = conn.execute("SELECT cursor FROM runs WHERE key=?", (ref.key,)).fetchone()
        if row is None or _canonical(json.loads(row[0] or "{}")) != expected:
            raise CursorMoved(ref.key)
    store.apply_update(conn, ref=ref, update=update, fingerprint=fingerprint, prepared=prepared)


def _canonical(cursor: dict[str, Any] | None) -> str | None:
    return None if cursor is None else json.dumps(cursor, sort_keys=True)


#: rounds of re-reading runs whose cursor moved under a pass (each round reads only what is new)
MOVED_ROUNDS = 3


class Indexer:
    def __init__(self, writer: Writer, workers: int = 2) -> None:
        self.writer = writer
        self.workers = workers

    def known(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        conn = open_reader(self.writer.db_path)
        try:
            rows = conn.execute("SELECT key, fingerprint, cursor, error, gone FROM runs").fetchall()
        finally:
            conn.close()
        # a run that errored is re-read even if unchanged (the error may have been a torn file), and so is a
        # run marked gone that reappeared (its folder came back, e.g. a remounted disk)
        return {
            r["key"]: (None if r["error"] or r["gone"] else r["fingerprint"], json.loads(r["cursor"] or "{}"))
            for r in rows
        }

    def index(
        self,
        roots: Iterable[Path],
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        force: bool = False,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        known = self.known()
        writes: list[tuple[Future[Any], RunRef, str]] = []
        for root in roots:
            root = Path(os.path.abspath(root))
            seen: set[str] = set()
            refs = list(registry.discover(root, cancelled))
            report.found += len(refs)
            self._read_all(refs, known, force, report, writes, seen, progress, cancelled)
            if cancelled():
                report.cancelled = True
                break
            report.gone += self.writer.call(partial(store.mark_gone, root=str(root), seen=seen))
        self._settle(writes, report)
        report.changed += report.gone
        # always after a full pass: a crash between a run's write and the resolution leaves links unresolved
        # (resolve_links writes only rows whose answer changed, so an unchanged index stays untouched)
        self.writer.call(store.resolve_links, set(report.gone))
        report.seconds = time.perf_counter() - started
        return report

    def _settle(self, writes: list[tuple[Future[Any], RunRef, str]], report: IndexReport) -> None:
        """Wait for every write, then re-read the runs another writer moved on meanwhile (from their new
        cursor: only what is new since). A run whose rows cannot be written (a value SQLite refuses, a
        reader handing back something odd) gets that as its error; the other runs are not affected."""
        moved = self._wait_writes(writes, report)
        for _round in range(MOVED_ROUNDS):
            if not moved:
                return
            again = IndexReport()
            retried: list[tuple[Future[Any], RunRef, str]] = []
            self._read_all(moved, self.known(), False, again, retried, set(), None, lambda: False)
            moved = self._wait_writes(retried, report)
            report.errors += again.errors

    def _wait_writes(
        self, writes: list[tuple[Future[Any], RunRef, str]], report: IndexReport
    ) -> list[RunRef]:
        moved: list[RunRef] = []
        for fut, ref, fingerprint in writes:
            try:
                fut.result()
            except CursorMoved:
                moved.append(ref)
            except sqlite3.OperationalError:
                raise  # the DB cannot be written at all (full, read-only): not this run's fault
            except Exception as exc:
                message = f"{ref.path}: could not be stored: {type(exc).__name__}: {exc}"
                report.errors.append((str(ref.path), message))
                # if even the error row fails, the report still names the run
                with contextlib.suppress(Exception):
                    self.writer.call(
                        partial(store.record_error, ref=ref, error=message, fingerprint=fingerprint)
                    )
        return moved

    def refresh(self, refs: list[RunRef], force: bool = False) -> IndexReport:
        """Re-read specific runs (the watcher's path): same rules as `index`, no discovery."""
        report = IndexReport(found=len(refs))
        writes: list[tuple[Future[Any], RunRef, str]] = []
        self._read_all(refs, self.known(), force, report, writes, set(), None, lambda: False)
        self._settle(writes, report)
        self._resolve_links(report)
        return report

    def _resolve_links(self, report: IndexReport) -> None:
        # nothing written, nothing to resolve: a warm reconcile stays read-only and tells no listener.
        # Runs read were announced by their own commits; runs marked gone are announced here.
        if report.changed:
            self.writer.call(store.resolve_links, set(report.gone))

    def _read_all(
        self,
        refs: list[RunRef],
        known: dict[str, tuple[str | None, dict[str, Any]]],
        force: bool,
        report: IndexReport,
        writes: list[tuple[Future[Any], RunRef, str]],
        seen: set[str],
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> None:
        todo: list[tuple[RunRef, dict[str, Any] | None]] = []
        for ref in refs:
            seen.add(ref.key)
            report.keys.append(ref.key)
            report.refs.append(ref)
            previous = known.get(ref.key)
            if not force and previous is not None and previous[0] is not None:
                reader = registry.reader_for(ref.format)
                try:
                    if reader.fingerprint(ref) == previous[0]:
                        report.unchanged += 1
                        continue
                except OSError:
                    pass
            todo.append((ref, None if force or previous is None else previous[1]))
        done = report.unchanged
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="expdesk-read") as pool:
            pending: dict[Future[Any], tuple[RunRef, str | None]] = {}
            queue = iter(todo)
            exhausted = False
            while pending or not exhausted:
                # keep only a few runs in flight: memory stays flat however large the store is
                while not exhausted and len(pending) < self.workers * 2 and not cancelled():
                    item = next(queue, None)
                    if item is None:
                        exhausted = True
                        break
                    # the cursor's JSON before the read: the reader updates the dict it is given
                    pending[pool.submit(read_and_prepare, *item)] = (item[0], _canonical(item[1]))
                if cancelled():
                    exhausted = True
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    ref, cursor = pending.pop(fut)
                    update, fingerprint, error, prepared = fut.result()
                    if update is not None:
                        writes.append(
                            (
                                self.writer.submit(
                                    partial(
                                        apply_from_cursor,
                                        expected=cursor,
                                        ref=ref,
                                        update=update,
                                        fingerprint=fingerprint,
                                        prepared=prepared,
                                    ),
                                    {ref.key},
                                ),
                                ref,
                                fingerprint,
                            )
                        )
                        if update.unread:
                            report.unread.append(str(ref.path))
                        if update.error:
                            report.errors.append((str(ref.path), update.error))
                    else:
                        assert error is not None
                        report.errors.append((str(ref.path), error))
                        writes.append(
                            (
                                self.writer.submit(
                                    partial(
                                        store.record_error, ref=ref, error=error, fingerprint=fingerprint
                                    ),
                                    {ref.key},
                                ),
                                ref,
                                fingerprint,
                            )
                        )
                    report.read += 1
                    report.changed.append(ref.key)
                    done += 1
                    # back-pressure: a run's points stay in memory until written, so never let the reads
                    # run more than a few runs ahead of the writer (peak memory flat at any store size)
                    unwritten = [w for w in writes[-MAX_UNWRITTEN * 2 :] if not w[0].done()]
                    if len(unwritten) > MAX_UNWRITTEN:
                        wait([w[0] for w in unwritten[: len(unwritten) - MAX_UNWRITTEN]])
                    if progress is not None:
                        progress(done, len(refs), str(ref.path))
