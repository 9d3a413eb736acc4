"""The contract every run format implements, and the helpers readers share.

A reader module defines one `Reader` subclass and registers an instance in `expdesk.sources.registry`.
`detect` looks at one directory (or file) and says how sure it is that this is its format;
`runs` lists the runs found there; `read` reads one run incrementally from a cursor.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from expdesk.core.entities import Artifact, RunRef, RunUpdate
from expdesk.core.errors import SourceError
from expdesk.core.safefile import walk_stats

#: what reading one run gives: (update or None, fingerprint taken before the read, error or None)
ReadOutcome = tuple[RunUpdate | None, str, str | None]
#: (run, cursor from the previous read or None) as the indexer hands them to `read_batch`
ReadItem = tuple[RunRef, dict[str, Any] | None]


class Reader(ABC):
    """One run format. Subclasses are stateless: everything about a run lives in its cursor."""

    #: the `format` value in the run JSON
    format: str = ""
    #: higher runs first when two readers detect the same directory
    priority: int = 0
    #: when True, nothing below a detected directory is offered to other readers
    claims_subtree: bool = True
    #: a fallback reads a folder only when no other reader recognises it (the generic reader)
    fallback: bool = False
    #: formats this reader already reads in full wherever it detects a folder (e.g. a reader that reads the
    #: event files of its folder covers "tensorboard" there): those readers do not read the folder again
    covers: frozenset[str] = frozenset()

    @abstractmethod
    def detect(self, path: Path) -> float:
        """Confidence in [0, 1] that `path` (a directory, or a file for DB stores) is this format; 0 = not mine.

        Must be cheap (a few `stat`s / a directory listing) and must never raise for an unreadable path.
        """

    def runs(self, path: Path, root: Path) -> Iterable[RunRef]:
        """The runs at a detected `path`: by default the folder itself is one run (stores and sweeps,
        which hold many, override this)."""
        return [RunRef(self.format, path, root)]

    @abstractmethod
    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        """Read a run. With a cursor from a previous `RunUpdate`, return only new metric points.

        Raises `SourceError` when nothing usable could be read; a partial read instead returns what it has
        with `RunUpdate.error` set. Half-written files are not errors: leave them for the next read.
        """

    def fingerprint(self, ref: RunRef) -> str:
        """A cheap digest that changes whenever anything `read` looks at changes. Default: the whole run folder."""
        return tree_fingerprint(ref.path)

    def read_batch(self, items: Sequence[ReadItem], budget_bytes: int) -> list[ReadOutcome]:
        """Read a prefix of `items` in order, each contained like `read_contained`; stop once the points
        read add up to about `budget_bytes` (24 bytes a point), so a batch never holds more than that.
        Readers of stores with many small runs override this to share work across the runs of a batch."""
        out: list[ReadOutcome] = []
        held = 0
        for ref, cursor in items:
            outcome = read_contained(self, ref, cursor)
            out.append(outcome)
            if outcome[0] is not None:
                held += 24 * sum(len(s.steps) for s in outcome[0].metrics)
            if held >= budget_bytes:
                break
        return out


#: what a reader may raise on input nobody anticipated: contained to the run and reported with it
UNEXPECTED = (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeError, RecursionError, MemoryError)


def contain(ref: RunRef, read: Any, *args: Any) -> tuple[Any, str | None]:
    """`read(*args)` with its failure turned into the run's error message (never raises for a bad run)."""
    try:
        return read(*args), None
    except SourceError as exc:
        return None, str(exc)
    except UNEXPECTED as exc:
        # a reader bug or an input no reader anticipated: contained to this run, reported with the run
        return None, f"{ref.path}: unexpected {type(exc).__name__}: {exc}"


def read_contained(reader: Reader, ref: RunRef, cursor: dict[str, Any] | None) -> ReadOutcome:
    """Fingerprint, then read one run. Never raises for a bad run: the error is the run's."""
    try:
        fingerprint = reader.fingerprint(ref)
    except OSError as exc:
        return None, "", f"{ref.path}: {exc.strerror or exc}"
    update, error = contain(ref, reader.read, ref, cursor)
    if update is not None:
        finish_read(ref, cursor, update)
    return update, fingerprint, error


def finish_read(ref: RunRef, cursor: dict[str, Any] | None, update: RunUpdate) -> None:
    """What every successful read of a run ends with, whichever path read it."""
    if cursor is None:
        # no cursor = read from the start (a new run, or `--force`): the points replace whatever the
        # index holds, or a forced re-read would append every point a second time
        update.metrics_reset = True
    # a file a reader could only name in its error is listed as not read too: nothing goes unsaid
    update.unread += unread_from_error(ref.path, update)


def run_relative(folder: Path, path: Path | str) -> str:
    """`path` as the run lists it: relative to the run folder, POSIX separators (the path itself if outside)."""
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return Path(path).as_posix()


def unread_entry(folder: Path, error: SourceError) -> tuple[str, str]:
    """An `RunUpdate.unread` entry for a file a reader could not read: (path in the run, reason[ at where])."""
    reason = f"{error.reason} ({error.where})" if error.where else error.reason
    return run_relative(folder, error.path), reason


def unread_from_error(folder: Path, update: RunUpdate) -> list[tuple[str, str]]:
    """Files of the run that its error message names (`<path>[:<where>]: <reason>`, as `SourceError` words
    it, the path absolute or relative to the run), as unread entries - for the files a reader reported only
    in `error` (a skipped line, a ragged row). Paths already in `update.unread` are left as listed."""
    if not update.error:
        return []
    listed = {path for path, _ in update.unread}
    found: list[tuple[str, str]] = []
    for message in update.error.split("; "):
        for artifact in update.artifacts:
            if artifact.path in listed:
                continue
            for prefix in (str(folder / artifact.path), artifact.path):
                if message.startswith(prefix) and message[len(prefix) : len(prefix) + 1] == ":":
                    found.append((artifact.path, message[len(prefix) + 1 :].strip()))
                    break
            else:
                continue
            break
    return found


def require_folder(ref: RunRef) -> Path:
    """The run's folder, or a SourceError when it vanished between discovery and reading."""
    if not ref.path.is_dir():
        raise SourceError(ref.path, "run folder is gone")
    return ref.path


def tree_fingerprint(path: Path, max_entries: int = 20000) -> str:
    """sha1 over (relative path, size, mtime_ns, inode) of every entry below `path`, symlinks not followed."""
    return fingerprint_of(walk_stats(path), path, max_entries)


def fingerprint_of(
    entries: Iterable[tuple[str, os.stat_result]], path: Path, max_entries: int = 20000
) -> str:
    """`tree_fingerprint` from a walk already made (`walk_stats(path)`'s entries, in its order)."""
    digest = hashlib.sha1()
    for count, (rel, st) in enumerate(entries, start=1):
        digest.update(
            f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode("utf-8", "surrogateescape")
        )
        if count >= max_entries:
            break
    try:
        st = os.stat(path)
        digest.update(f".\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode())
    except OSError:
        digest.update(b"missing")
    return digest.hexdigest()


def list_artifacts(path: Path, prune: frozenset[str] = frozenset()) -> list[Artifact]:
    """Regular files below `path` as artifacts (symlinks, FIFOs, devices and sockets are skipped)."""
    import stat as _stat

    out = []
    for rel, st in walk_stats(path, prune):
        if _stat.S_ISREG(st.st_mode):
            out.append(Artifact(rel, st.st_size, st.st_mtime_ns))
    out.sort(key=lambda a: a.path)
    return out
