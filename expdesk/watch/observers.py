"""The watchdog side: one native observer (inotify, FSEvents, ReadDirectoryChangesW) and one polling
observer, each created on first use, and the handler that turns events into path hints.

Thread ownership: `Observers` is used by the watcher's worker thread only (schedule, unschedule, stop);
watchdog's own threads run `PathHandler.dispatch`, which only calls the `route` callback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("expdesk.watch")

#: what we listen to. Not opens/closes/accesses: our own reads would come back as events and loop;
#: not synthetic parent-directory modifications: the child's own event already says it all.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
_STRUCTURAL = ("created", "deleted", "moved")

#: route(path, structural): structural = created/deleted/moved (may add or remove a run)
Route = Callable[[str, bool], None]
ObserverFactory = Callable[[], BaseObserver]


class Mode(StrEnum):
    NATIVE = "native"
    POLLING = "polling"
    MISSING = "missing"  # the root does not exist right now: checked periodically, re-watched when back


class PathHandler(FileSystemEventHandler):
    """Runs on watchdog threads: no I/O, no DB, no locks held for long; just hand the path on."""

    def __init__(self, route: Route) -> None:
        self._route = route

    def dispatch(self, event: FileSystemEvent) -> None:
        structural = event.event_type in _STRUCTURAL
        self._route(os.fsdecode(event.src_path), structural)
        if event.dest_path:
            self._route(os.fsdecode(event.dest_path), True)


@dataclass
class Scheduled:
    mode: Mode
    watch: ObservedWatch | None = None
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the root when it was scheduled
    message: str | None = None  # why the native observer could not be used, said once


def identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino), or None when the root is not there or cannot be read right now."""
    return probe(path)[0]


def probe(path: str) -> tuple[tuple[int, int] | None, str | None]:
    """(identity, None) when readable; (None, None) when missing; (None, reason) when it exists but cannot
    be read (EIO, ESTALE, EACCES: a network mount hiccup), which must not mark its runs gone."""
    try:
        st = os.stat(path)
        if os.path.isdir(path):
            with os.scandir(path) as entries:
                next(entries, None)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"{path} cannot be read ({exc.strerror or exc}); keeping its runs until it can"
    return (st.st_dev, st.st_ino), None


def _count_dirs(path: str) -> int:
    """Folders below `path` (symlinks not followed): what a recursive inotify watch needs one watch each for."""
    count = 1
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        count += 1
                        stack.append(entry.path)
        except OSError:
            continue
    return count


def _native_watch_count(observer: BaseObserver, watch: ObservedWatch) -> int | None:
    """How many folders watchdog's inotify emitter really watches, or None where that cannot be seen.

    watchdog 6 and 7.0 silently skip sub-folders they cannot watch (ENOSPC past fs.inotify.max_user_watches),
    so a partial watch is only visible in the emitter's bookkeeping; private, hence every step guarded.
    (watchdog 7.1 raises from `schedule` instead; it still skips folders created later, which the
    periodic reconcile catches.)
    """
    emitter = getattr(observer, "_emitter_for_watch", {}).get(watch)
    group = getattr(emitter, "_inotify", None)
    watched = getattr(group, "_active_callbacks_by_path", None)
    return len(watched) if isinstance(watched, dict) else None


class Observers:
    def __init__(
        self,
        handler: PathHandler,
        poll_interval: float = 1.0,
        native_factory: ObserverFactory = Observer,
        polling_factory: Callable[..., BaseObserver] = PollingObserver,
    ) -> None:
        self._handler = handler
        self._poll_interval = poll_interval
        self._native_factory = native_factory
        self._polling_factory = polling_factory
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._native_broken: str | None = None  # the observer itself cannot be created (instance limit)

    # -- observers, created on first use ------------------------------------------------------------
    def _native_observer(self) -> BaseObserver:
        if self._native is None:
            observer = self._native_factory()
            try:
                observer.start()
            except BaseException:
                _stop(observer)
                raise
            self._native = observer
        return self._native

    def _polling_observer(self) -> BaseObserver:
        if self._polling is None:
            observer = self._polling_factory(timeout=self._poll_interval)
            observer.start()
            self._polling = observer
        return self._polling

    # -- roots --------------------------------------------------------------------------------------
    def schedule(self, root: str, network: bool) -> Scheduled:
        """Watch `root` natively when possible, else by polling; MISSING when it does not exist."""
        ident = identity(root)
        if ident is None:
            return Scheduled(Mode.MISSING)
        target, recursive = (root, True) if os.path.isdir(root) else (os.path.dirname(root), False)
        message = None
        if not network:
            watch, message = self._try_native(root, target, recursive)
            if watch is not None:
                return Scheduled(Mode.NATIVE, watch, ident)
            if identity(root) is None:
                return Scheduled(Mode.MISSING)
            log.warning("%s", message)
        try:
            watch = self._polling_observer().schedule(
                self._handler, target, recursive=recursive, event_filter=EVENT_FILTER
            )
        except (FileNotFoundError, NotADirectoryError):
            return Scheduled(Mode.MISSING)
        return Scheduled(Mode.POLLING, watch, ident, message)

    def _try_native(self, root: str, target: str, recursive: bool) -> tuple[ObservedWatch | None, str]:
        if self._native_broken is not None:
            return None, self._native_broken
        try:
            observer = self._native_observer()
        except OSError as exc:
            # EMFILE at inotify_init: no native observer at all this session; every root polls
            self._native_broken = f"native file watching is unavailable ({_reason(exc)}); polling every root"
            return None, self._native_broken
        folders = _count_dirs(target) if recursive else 1
        try:
            watch = observer.schedule(self._handler, target, recursive=recursive, event_filter=EVENT_FILTER)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                # watchdog >= 7.1 raises (and keeps no watch) when any folder of the tree cannot be watched
                return None, _limit_message(root, None, folders)
            return None, f"cannot watch {root} natively ({_reason(exc)}); polling it instead"
        watched = _native_watch_count(observer, watch)
        if watched is not None and watched < folders:
            # watchdog < 7.1 skips the folders it cannot watch without a word: a partial watch
            self.unschedule(Scheduled(Mode.NATIVE, watch))
            return None, _limit_message(root, watched, folders)
        return watch, ""

    def unschedule(self, scheduled: Scheduled) -> None:
        if scheduled.watch is None:
            return
        observer = self._native if scheduled.mode is Mode.NATIVE else self._polling
        if observer is None:
            return
        # KeyError: already gone (its emitter stopped itself when the root was deleted)
        with contextlib.suppress(KeyError):
            observer.unschedule(scheduled.watch)
        scheduled.watch = None

    def alive(self, scheduled: Scheduled) -> bool:
        """False when the emitter stopped by itself (watchdog stops it when the watched root is deleted)."""
        observer = self._native if scheduled.mode is Mode.NATIVE else self._polling
        if observer is None or scheduled.watch is None:
            return False
        emitter = getattr(observer, "_emitter_for_watch", {}).get(scheduled.watch)
        return emitter is None or emitter.is_alive()

    def stop(self) -> None:
        """Stop and join every observer thread (emitters, dispatchers, the inotify reader)."""
        for observer in (self._native, self._polling):
            if observer is not None:
                _stop(observer)
        self._native = self._polling = None


def _stop(observer: Any) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join()


def _limit_message(root: str, watched: int | None, folders: int) -> str:
    """The same words for both watchdog behaviours at the watch limit (raise, or skip in silence)."""
    count = (
        f"{watched} of {folders} folders watched" if watched is not None else f"{folders} folders to watch"
    )
    return (
        f"cannot watch {root} natively (inotify watch limit reached: {count};"
        " raise fs.inotify.max_user_watches); polling it instead"
    )


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "inotify watch limit reached"
    if exc.errno == errno.EMFILE:
        return "inotify instance limit reached"
    return exc.strerror or str(exc)
