"""`Watcher`: keeps the index current while runs are being written.

Threads (see DESIGN.md "Threads"):
- watchdog's observer threads only call `_on_path`: a dict lookup, then a mark in the dirty set under
  `_cond` and a notify. Events are hints; nothing is read there.
- one worker thread ("expdesk-watch") owns everything else: the observers (schedule, fall back, re-add),
  the route table, the reconcile timers, and the calls into `Index` (which hands the DB work to the
  writer thread). It blocks on `_cond` with a timeout computed from the next deadline; it never sleeps.
- listeners hear "runs changed (keys)" on the writer thread, right after each commit, plus the keys of
  running runs that just turned stale (no DB change, so only the watcher can tell).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from expdesk.core.entities import RunRef
from expdesk.index.indexer import IndexReport
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.index.stale import DEFAULT_STALE_AFTER
from expdesk.watch.observers import Mode, ObserverFactory, Observers, PathHandler, Scheduled, probe
from expdesk.watch.routes import RouteTable
from expdesk.watch.subtree import open_formats, started_below

log = logging.getLogger("expdesk.watch")

Listener = Callable[[set[str]], None]

#: a dirty key is re-read this long after its first event (coalescing window)...
DEBOUNCE = 0.3
#: ... unless its events come faster than this (events/s): a burst (a copy, a flood of appends) is read
#: once it pauses for BURST_SETTLE, so thousands of events cost one read...
BURST_RATE = 100.0
BURST_SETTLE = 0.2
#: ... but never later than this after the first event (a writer that never pauses is still shown)
MAX_DELAY = 1.0
RECONCILE_NATIVE = 30.0
RECONCILE_POLLING = 5.0
#: how often roots are stat'ed to notice one that vanished, came back or was replaced
ROOT_CHECK = 2.0
#: paths remembered during an index pass; past this, every run is looked at again instead
MISSED_MAX = 10_000

# kinds of dirty keys
_RUN, _ROOT, _CHECK, _ADD, _REMOVE, _STALE = "run", "root", "check", "add", "remove", "stale"
#: a folder appeared or went inside a run that does not own its subtree (a Hydra job dir, a DVC project):
#: a logger's folder may have started there, a part of the same job, so that run's folder is walked again
_SUBTREE = "subtree"
_Key = tuple[str, str]


@dataclass(frozen=True)
class RootStatus:
    path: str
    network: bool
    mode: str  # "native" | "polling" | "missing" | "pending" (not scheduled yet)
    message: str | None = None  # why it is not watched natively (said once)
    error: str | None = None  # the last error while indexing it


class Watcher:
    def __init__(
        self,
        index: Index,
        on_change: Listener | None = None,
        *,
        debounce: float = DEBOUNCE,
        max_delay: float = MAX_DELAY,
        reconcile_native: float = RECONCILE_NATIVE,
        reconcile_polling: float = RECONCILE_POLLING,
        poll_interval: float = 1.0,
        root_check: float = ROOT_CHECK,
        stale_after: float = DEFAULT_STALE_AFTER,
        on_message: Callable[[str], None] | None = None,
        native_factory: ObserverFactory | None = None,
    ) -> None:
        self.index = index
        self.debounce = debounce
        self.max_delay = max_delay
        self.reconcile_native = reconcile_native
        self.reconcile_polling = reconcile_polling
        self.poll_interval = poll_interval
        self.root_check = root_check
        self.stale_after = stale_after
        self._on_message = on_message
        self._native_factory = native_factory
        self._listeners: list[Listener] = [on_change] if on_change else []
        # shared between observer threads and the worker: guarded by _cond
        self._cond = threading.Condition()
        self._dirty: dict[_Key, tuple[float, float, int]] = {}  # key -> (first, last event, count)
        self._stopping = False
        self._status: dict[str, RootStatus] = {}
        self._pending_add: dict[str, bool] = {}  # add_root after start: path -> network, for the worker
        # while an index pass runs, paths that matched no run are kept to be routed again afterwards
        self._passing = False
        self._missed: set[str] = set()
        # published by the worker with one assignment; observer threads read it without the lock
        self._routes = RouteTable()
        # worker-owned from start() to stop()
        self._roots: dict[str, bool] = {}  # path -> network
        self._scheduled: dict[str, Scheduled] = {}
        self._refs: dict[str, list[RunRef]] = {}
        self._next_reconcile: dict[str, float] = {}
        self._next_check = 0.0
        self._stale_reported: set[str] = set()
        self._next_stale = float("inf")
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # formats whose runs hold other runs' folders (computed once: observer threads only look it up)
        self._open_formats = open_formats()
        self.initial_report = IndexReport()

    # -- public API (any thread) --------------------------------------------------------------------
    def add_root(self, path: Path | str, network: bool = False) -> str:
        """Watch `path` (a folder, or an `mlflow.db` file); `network=True` polls it (NFS, SMB, sshfs)."""
        root = self.index.add_root(path, network)
        with self._cond:
            if self._thread is None:
                self._roots[root] = network
            else:
                self._pending_add[root] = network
                self._mark((_ADD, root), time.monotonic())
            self._status[root] = RootStatus(root, network, "pending")
        return root

    def remove_root(self, path: Path | str) -> None:
        root = os.path.abspath(path)
        with self._cond:
            self._status.pop(root, None)
            if self._thread is None:
                self._roots.pop(root, None)
            else:
                self._mark((_REMOVE, root), time.monotonic())

    def add_listener(self, callback: Listener) -> None:
        """`callback(changed_keys)`; runs on the writer thread (or the watch worker): keep it tiny."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def start(self) -> None:
        """Returns at once: scheduling the observers and the first index happen on the worker thread."""
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self._stopping = False
        self._ready.clear()
        with self._cond:
            self._dirty.clear()
        self.index.writer.add_listener(self._on_commit)
        self._thread = threading.Thread(target=self._run, name="expdesk-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop observers and the worker and join them; an index pass in progress is cancelled."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.index.writer.remove_listener(self._on_commit)

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once every root has been scheduled and indexed a first time."""
        return self._ready.wait(timeout)

    def status(self) -> list[RootStatus]:
        with self._cond:
            return sorted(self._status.values(), key=lambda s: s.path)

    def reader(self) -> IndexReader:
        """A reader that uses this watcher's stale threshold (one per thread)."""
        return self.index.reader(self.stale_after)

    # -- observer threads ---------------------------------------------------------------------------
    def _on_path(self, path: str, structural: bool) -> None:
        route = self._routes.lookup(path)
        now = time.monotonic()
        with self._cond:
            for key in route.keys:
                self._mark((_RUN, key), now)
                if structural:
                    ref = self._routes.by_key.get(key)
                    if ref is not None and ref.format in self._open_formats:
                        self._mark((_SUBTREE, key), now)
            if not route.keys and self._passing and len(self._missed) < MISSED_MAX:
                self._missed.add(path)
            if route.root is not None:
                if path == route.root and structural:
                    self._mark((_CHECK, route.root), now - self.max_delay)  # root itself deleted/moved
                elif structural:
                    # a folder or file appeared or vanished outside every known run: maybe a run
                    self._mark((_ROOT, route.root), now)

    def _mark(self, key: _Key, now: float) -> None:
        """Caller holds `_cond`. Only a new key can move the worker's next deadline earlier: notify then."""
        previous = self._dirty.get(key)
        if previous is None:
            self._dirty[key] = (now, now, 1)
            self._cond.notify()
        else:
            self._dirty[key] = (previous[0], max(previous[1], now), previous[2] + 1)

    # -- writer thread ------------------------------------------------------------------------------
    def _on_commit(self, keys: set[str]) -> None:
        self._notify(keys)
        # a run may have started or stopped running: the worker recomputes the next stale deadline
        with self._cond:
            self._mark((_STALE, ""), time.monotonic())

    def _notify(self, keys: set[str]) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(keys)
            except Exception:
                # a listener's bug must not kill the writer thread that calls it
                log.exception("watch listener failed")

    # -- worker thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        observers = Observers(
            PathHandler(self._on_path),
            self.poll_interval,
            **({"native_factory": self._native_factory} if self._native_factory else {}),
        )
        reader: IndexReader | None = None
        try:
            with self._cond:
                roots = dict(self._roots)
            for root, network in roots.items():
                self._schedule(observers, root, network)
            self._publish_routes()
            self.initial_report = self._index_roots(list(roots))
            self._ready.set()
            reader = self.reader()
            self._check_stale(reader)
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._process(observers, reader, batch)
        finally:
            observers.stop()
            if reader is not None:
                reader.close()
            self._ready.set()

    def _next_batch(self) -> list[_Key] | None:
        """Block until something is due; return the due keys, or None when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due: list[_Key] = []
                wake = min(self._next_check, min(self._next_reconcile.values(), default=now + 3600))
                for key, (first, last, count) in self._dirty.items():
                    ready_at = first + self.debounce
                    if count > BURST_RATE * max(last - first, self.debounce):
                        ready_at = min(max(ready_at, last + BURST_SETTLE), first + self.max_delay)
                    if key[0] in (_ADD, _REMOVE) or ready_at <= now:
                        due.append(key)
                    else:
                        wake = min(wake, ready_at)
                for key in due:
                    del self._dirty[key]
                if now >= self._next_check:
                    due.append((_CHECK, "*"))
                due += [(_ROOT, r) for r, t in self._next_reconcile.items() if t <= now]
                if time.time() >= self._next_stale:
                    due.append((_STALE, ""))
                else:
                    wake = min(wake, now + (self._next_stale - time.time()))
                if due:
                    return due
                self._cond.wait(max(0.0, wake - now))
            return None

    def _process(self, observers: Observers, reader: IndexReader, batch: list[_Key]) -> None:
        now = time.monotonic()
        rediscover: set[str] = set()
        runs: list[str] = []
        subtrees: list[str] = []
        for kind, value in batch:
            if kind == _ADD:
                with self._cond:
                    network = self._pending_add.pop(value, False)
                if value in self._scheduled:
                    observers.unschedule(self._scheduled.pop(value))
                self._schedule(observers, value, network)
                rediscover.add(value)
            elif kind == _REMOVE:
                self._drop_root(observers, value)
            elif kind == _CHECK:
                rediscover |= self._check_roots(observers, None if value == "*" else value)
                if value == "*":
                    self._next_check = now + self.root_check
            elif kind == _ROOT and value in self._roots:
                rediscover.add(value)
            elif kind == _RUN:
                runs.append(value)
            elif kind == _SUBTREE:
                subtrees.append(value)
        table = self._routes
        refs: list[RunRef] = []
        for key in dict.fromkeys(runs):
            ref = table.by_key.get(key)
            if ref is None:
                continue
            root = str(ref.root)
            if root in rediscover:
                continue  # the root's pass reads it anyway
            if not os.path.lexists(ref.path):
                rediscover.add(root)  # deleted or renamed run: the root's pass marks it gone
                continue
            refs.append(ref)
        if rediscover:
            self._index_roots(sorted(rediscover))
        refs += self._new_below(subtrees, rediscover)
        if refs:
            self._refresh(refs)
        self._check_stale(reader)

    def _new_below(self, keys: list[str], rediscovered: set[str]) -> list[RunRef]:
        """Runs that started inside these runs' folders: routed from now on and read now (their first write
        joins them to their job's run in the same transaction: no listener sees them as runs of their own)."""
        found = started_below(self._routes, keys, rediscovered, lambda: self._stopping)
        for ref in found:
            self._refs.setdefault(str(ref.root), []).append(ref)
        if found:
            self._publish_routes()
        return found

    def _schedule(self, observers: Observers, root: str, network: bool) -> None:
        self._roots[root] = network
        scheduled = observers.schedule(root, network)
        self._scheduled[root] = scheduled
        interval = self.reconcile_native if scheduled.mode is Mode.NATIVE else self.reconcile_polling
        self._next_reconcile[root] = time.monotonic() + interval
        previous = self._status.get(root)
        message = scheduled.message or (previous.message if previous else None)
        if scheduled.message and (previous is None or previous.message != scheduled.message):
            self._say(scheduled.message)
        if scheduled.mode is Mode.MISSING and (previous is None or previous.mode != Mode.MISSING):
            self._say(f"{root} is not there; watching for it to come back")
        self._set_status(RootStatus(root, network, str(scheduled.mode), message))

    def _drop_root(self, observers: Observers, root: str) -> None:
        scheduled = self._scheduled.pop(root, None)
        if scheduled is not None:
            observers.unschedule(scheduled)
        self._roots.pop(root, None)
        self._refs.pop(root, None)
        self._next_reconcile.pop(root, None)
        self._publish_routes()

    def _check_roots(self, observers: Observers, only: str | None) -> set[str]:
        """Roots that vanished, came back, were replaced, or whose emitter died: re-watch, rediscover."""
        changed = set()
        for root, network in list(self._roots.items()):
            if only is not None and root != only:
                continue
            scheduled = self._scheduled.get(root)
            now_identity, unreadable = probe(root)
            if scheduled is None:
                continue
            if unreadable is not None:
                self._set_error(root, unreadable)
                continue
            if scheduled.mode is Mode.MISSING:
                if now_identity is None:
                    continue
            elif now_identity == scheduled.identity and observers.alive(scheduled):
                continue
            observers.unschedule(scheduled)
            self._schedule(observers, root, network)
            if self._scheduled[root].mode is not Mode.MISSING and scheduled.mode is Mode.MISSING:
                self._say(f"{root} is back; watching it again")
            changed.add(root)
        return changed

    def _index_roots(self, roots: list[str]) -> IndexReport:
        total = IndexReport()
        with self._cond:
            self._passing = True
        for root in roots:
            if root not in self._roots:
                continue
            mode = self._scheduled.get(root, Scheduled(Mode.MISSING)).mode
            interval = self.reconcile_native if mode is Mode.NATIVE else self.reconcile_polling
            self._next_reconcile[root] = time.monotonic() + interval
            unreadable = probe(root)[1]
            if unreadable is not None:
                # a full pass over an unreadable root would find nothing and mark every run gone
                self._set_error(root, unreadable)
                continue
            try:
                report = self.index.index([root], cancelled=lambda: self._stopping, remember=False)
            except Exception as exc:
                # a DB or reader failure must not end live updates: say it on the root, retry next reconcile
                log.exception("indexing %s failed", root)
                self._set_error(root, f"{type(exc).__name__}: {exc}")
                continue
            if report.cancelled:
                break
            self._refs[root] = report.refs
            self._set_error(root, None)
            for field in ("found", "read", "unchanged", "errors", "gone", "keys"):
                setattr(total, field, getattr(total, field) + getattr(report, field))
        self._publish_routes()
        # a run found by this pass may have been written to between its read and the new route table
        # (those events matched no run then): route them again now that the run is known
        table = self._routes
        with self._cond:
            self._passing = False
            missed, self._missed = self._missed, set()
            now = time.monotonic()
            if len(missed) >= MISSED_MAX:
                missed = {str(ref.path) for ref in table.by_key.values()}
            for path in missed:
                for key in table.lookup(path).keys:
                    self._mark((_RUN, key), now)
        return total

    def _refresh(self, refs: list[RunRef]) -> None:
        try:
            self.index.refresh(refs)
        except Exception as exc:
            # as in _index_roots: reported on the roots, and the next reconcile retries
            log.exception("refreshing %d runs failed", len(refs))
            for root in {str(r.root) for r in refs}:
                self._set_error(root, f"{type(exc).__name__}: {exc}")

    def _publish_routes(self) -> None:
        self._routes = RouteTable.build({root: self._refs.get(root, []) for root in self._roots})

    def _check_stale(self, reader: IndexReader) -> None:
        """Tell listeners about running runs that just crossed `stale_after`, and when the next one will."""
        now = time.time()
        try:
            rows = reader.running_activity()
        except Exception:
            log.exception("stale check failed")
            return
        stale, upcoming = set(), float("inf")
        for key, last in rows:
            if now - last > self.stale_after:
                stale.add(key)
            else:
                upcoming = min(upcoming, last + self.stale_after)
        newly = stale - self._stale_reported
        self._stale_reported = stale
        with self._cond:
            self._next_stale = upcoming + 0.01
        if newly:
            self._notify(newly)

    # -- status -------------------------------------------------------------------------------------
    def _set_status(self, status: RootStatus) -> None:
        with self._cond:
            if status.path in self._roots or status.path in self._status:
                previous = self._status.get(status.path)
                error = previous.error if previous else None
                self._status[status.path] = RootStatus(
                    status.path, status.network, status.mode, status.message, error
                )

    def _set_error(self, root: str, error: str | None) -> None:
        with self._cond:
            previous = self._status.get(root)
            if previous is not None and previous.error != error:
                self._status[root] = RootStatus(
                    previous.path, previous.network, previous.mode, previous.message, error
                )

    def _say(self, message: str) -> None:
        log.warning("%s", message)
        if self._on_message is not None:
            try:
                self._on_message(message)
            except Exception:
                log.exception("watch message callback failed")
