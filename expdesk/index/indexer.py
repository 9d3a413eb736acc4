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
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.index import store
from expdesk.index.batch import CursorMoved, Entry, apply_batch, prepare_batch
from expdesk.index.db import open_reader
from expdesk.index.writer import Writer
from expdesk.sources import registry
from expdesk.sources.base import ReadItem, read_contained

#: a run as `_settle` needs it once its batch is written: (ref, fingerprint)
Written = tuple[RunRef, str]
#: batches read but not yet written that the indexer lets pile up before it waits for the writer
MAX_UNWRITTEN = 2
#: runs per batch at most: a sweep's small runs are read, encoded and written many at a time
BATCH_RUNS = 128
#: metric text (or ~24 bytes a point) a batch holds at most: memory stays flat whatever the run sizes
BATCH_BYTES = 8 << 20
#: rounds of re-reading runs whose cursor moved under a pass (each round reads only what is new)
MOVED_ROUNDS = 3

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
    return read_contained(registry.reader_for(ref.format), ref, cursor)


def _unreadable(report: IndexReport, folder: Path, exc: OSError) -> None:
    """A folder the walk cannot list: an error of the pass (its runs, if any, stay unknown), not a silence."""
    report.errors.append((str(folder), f"{folder}: cannot list this folder: {exc.strerror or exc}"))


def read_batch(items: list[ReadItem]) -> list[Entry]:
    """Read a prefix of `items` (runs of one format) and prepare their series for storage; the runs not
    read (the batch reached its size budget) are left for another batch. Never raises for a bad run."""
    reader = registry.reader_for(items[0][0].format)
    outcomes = reader.read_batch(items, BATCH_BYTES)
    entries = [
        Entry(ref, ref.key, fingerprint, update, error)
        for (ref, _cursor), (update, fingerprint, error) in zip(items, outcomes, strict=False)
    ]
    # encoding well-formed updates cannot fail; if it does, the writer redoes it run by run and the
    # failure lands on the one run that caused it
    with contextlib.suppress(ValueError, TypeError, OverflowError, MemoryError):
        for entry, prepared in zip(entries, prepare_batch([e.update for e in entries]), strict=True):
            entry.prepared = prepared
    return entries


class Indexer:
    def __init__(self, writer: Writer, workers: int = 2) -> None:
        self.writer = writer
        self.workers = workers

    def known(self) -> dict[str, tuple[str | None, str]]:
        """run key -> (fingerprint to compare, or None to re-read regardless; its cursor as stored JSON).
        Cursors are parsed only for the runs that are read again (most of a warm pass reads none)."""
        conn = open_reader(self.writer.db_path)
        try:
            rows = conn.execute("SELECT key, fingerprint, cursor, error, gone FROM runs").fetchall()
        finally:
            conn.close()
        # a run that errored is re-read even if unchanged (the error may have been a torn file), and so is a
        # run marked gone that reappeared (its folder came back, e.g. a remounted disk)
        return {r[0]: (None if r[3] or r[4] else r[1], r[2] or "{}") for r in rows}

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
        writes: list[tuple[Future[Any], list[Written]]] = []
        for root in roots:
            root = Path(os.path.abspath(root))
            seen: set[str] = set()
            refs = list(registry.discover(root, cancelled, unreadable=partial(_unreadable, report)))
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

    def _settle(self, writes: list[tuple[Future[Any], list[Written]]], report: IndexReport) -> None:
        """Wait for every write, then re-read the runs another writer moved on meanwhile (from their new
        cursor: only what is new since). A run whose rows cannot be written (a value SQLite refuses, a
        reader handing back something odd) gets that as its error; the other runs are not affected."""
        moved = self._wait_writes(writes, report)
        for _round in range(MOVED_ROUNDS):
            if not moved:
                return
            again = IndexReport()
            retried: list[tuple[Future[Any], list[Written]]] = []
            self._read_all(moved, self.known(), False, again, retried, set(), None, lambda: False)
            moved = self._wait_writes(retried, report)
            report.errors += again.errors

    def _wait_writes(
        self, writes: list[tuple[Future[Any], list[Written]]], report: IndexReport
    ) -> list[RunRef]:
        moved: list[RunRef] = []
        for fut, written in writes:
            try:
                failed = fut.result()
            except sqlite3.OperationalError:
                raise  # the DB cannot be written at all (full, read-only): not this run's fault
            except Exception as exc:
                failed = [(i, exc) for i in range(len(written))]
            for i, why in failed:
                ref, fingerprint = written[i]
                if isinstance(why, CursorMoved):
                    moved.append(ref)
                    continue
                message = f"{ref.path}: could not be stored: {type(why).__name__}: {why}"
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
        writes: list[tuple[Future[Any], list[Written]]] = []
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
        known: dict[str, tuple[str | None, str]],
        force: bool,
        report: IndexReport,
        writes: list[tuple[Future[Any], list[Written]]],
        seen: set[str],
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> None:
        todo: list[ReadItem] = []
        for ref in refs:
            key = ref.key
            seen.add(key)
            report.keys.append(key)
            report.refs.append(ref)
            previous = known.get(key)
            if not force and previous is not None and previous[0] is not None:
                reader = registry.reader_for(ref.format)
                try:
                    if reader.fingerprint(ref) == previous[0]:
                        report.unchanged += 1
                        continue
                except OSError:
                    pass
            todo.append((ref, None if force or previous is None else json.loads(previous[1])))
        # each cursor's JSON before the read (readers update the dict they are given): the write checks
        # the run still has it, or another writer moved on meanwhile and the run is read again
        expected = {ref.key: _canonical(cursor) for ref, cursor in todo}
        done = report.unchanged
        queue = deque(todo)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="expdesk-read") as pool:
            pending: dict[Future[list[Entry]], list[ReadItem]] = {}
            while pending or queue:
                # a few batches in flight: memory stays flat however large the store is
                while queue and len(pending) < self.workers and not cancelled():
                    items = _next_batch(queue)
                    pending[pool.submit(read_batch, items)] = items
                if cancelled():
                    queue.clear()
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    items = pending.pop(fut)
                    entries = fut.result()
                    for entry in entries:
                        entry.expected = expected[entry.key]
                    # the runs past the batch's size budget go back to the front of the queue
                    queue.extendleft(reversed(items[len(entries) :]))
                    # only (ref, fingerprint) is kept past the write: the points go once written
                    writes.append(
                        (
                            self.writer.submit(
                                partial(apply_batch, entries=entries), {e.key for e in entries}
                            ),
                            [(e.ref, e.fingerprint) for e in entries],
                        )
                    )
                    for entry in entries:
                        if entry.update is not None and entry.update.unread:
                            report.unread.append(str(entry.ref.path))
                        if entry.update is not None and entry.update.error:
                            report.errors.append((str(entry.ref.path), entry.update.error))
                        elif entry.update is None:
                            report.errors.append((str(entry.ref.path), entry.error or ""))
                        report.read += 1
                        report.changed.append(entry.key)
                    # back-pressure: a batch's points stay in memory until written, so never let the reads
                    # run more than a few batches ahead of the writer (peak memory flat at any store size)
                    unwritten = [w for w in writes[-MAX_UNWRITTEN * 2 :] if not w[0].done()]
                    if len(unwritten) > MAX_UNWRITTEN:
                        wait([w[0] for w in unwritten[: len(unwritten) - MAX_UNWRITTEN]])
                    if progress is not None:
                        for entry in entries:
                            done += 1
                            progress(done, len(refs), str(entry.ref.path))
                    else:
                        done += len(entries)


def _canonical(cursor: dict[str, Any] | None) -> str | None:
    return None if cursor is None else json.dumps(cursor, sort_keys=True)


def _next_batch(queue: deque[ReadItem]) -> list[ReadItem]:
    """Up to BATCH_RUNS runs of one format from the front of the queue."""
    items = [queue.popleft()]
    fmt = items[0][0].format
    while queue and len(items) < BATCH_RUNS and queue[0][0].format == fmt:
        items.append(queue.popleft())
    return items
