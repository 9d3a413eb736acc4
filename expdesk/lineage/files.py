"""Reading a run's files for lineage and export: contained in the run's root, regular files only, hashed once.

Every path that comes from the index (a recorded input, an artifact, a logged model dir) goes through
`contained` before it is opened: it must resolve, symlinks included, inside the run's watched root, and the
file itself must be a regular file opened without following a final symlink (no FIFO can block us, no
device can be read). SHA-256 digests are cached by file identity `(dev, ino, size, mtime_ns)` in the index's
`hashes` table, so a file is hashed once until it changes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from expdesk.core.errors import UnsafePath
from expdesk.core.paths import is_within
from expdesk.core.safefile import open_regular
from expdesk.index import hashes
from expdesk.index.hashes import HashRow, Identity
from expdesk.index.reader import IndexReader

CHUNK = 1 << 20
#: writes a batch of (dev, ino, size, mtime_ns, sha256) rows; the caller routes it to the writer thread
HashSink = Callable[[list[HashRow]], None]


def contained(root: Path | str, path: Path | str) -> Path:
    """`path` (absolute, or relative to `root`) resolved, if it stays inside `root`; else `UnsafePath`.

    Unlike `core.paths.resolve_inside` this does not URL-decode: these names come from the filesystem or a
    resolved index column, where `%2e` is a literal file name, not an escape.
    """
    root_resolved = Path(root).resolve()
    candidate = Path(path)
    if "\0" in str(candidate):
        raise UnsafePath(str(path), "path contains a NUL byte")
    if not candidate.is_absolute():
        if ".." in candidate.parts:
            raise UnsafePath(str(path), "relative path climbs with '..'")
        candidate = root_resolved / candidate
    resolved = candidate.resolve()
    if not is_within(resolved, root_resolved):
        raise UnsafePath(str(path), f"path leaves its root {root}")
    return resolved


@dataclass(frozen=True)
class FileDigest:
    path: Path
    size: int
    sha256: str
    sha512: str | None
    identity: Identity


def identity_of(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def iter_fd(fd: int) -> Iterator[bytes]:
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return
        yield chunk


def digest_file(
    root: Path | str, path: Path | str, sha512: bool = False, cancelled: Callable[[], bool] = lambda: False
) -> FileDigest:
    """Hash a contained regular file (SHA-256, and SHA-512 on request) in one pass."""
    target = contained(root, path)
    fd, st = open_regular(target)
    try:
        h256 = hashlib.sha256()
        h512 = hashlib.sha512() if sha512 else None
        size = 0
        for chunk in iter_fd(fd):
            if cancelled():
                raise InterruptedError("cancelled")
            h256.update(chunk)
            if h512 is not None:
                h512.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return FileDigest(target, size, h256.hexdigest(), h512.hexdigest() if h512 else None, identity_of(st))


class HashCache:
    """SHA-256 by file identity: memory first, then the index `hashes` table, then the bytes.

    `lookup` reads the table through a read-only connection (the reader's thread); new digests are
    collected and handed to `sink` on `flush` (which the caller routes to the index writer thread).
    """

    def __init__(
        self, lookup: Callable[[Identity], str | None] | None = None, sink: HashSink | None = None
    ) -> None:
        self._lookup = lookup
        self._sink = sink
        self._memory: dict[Identity, str] = {}
        self._pending: list[HashRow] = []
        self.hashed_bytes = 0

    @classmethod
    def for_index(cls, reader: IndexReader, writer_call: Callable[..., object] | None = None) -> HashCache:
        """A cache on an `IndexReader` (for lookups) and optionally `Index.writer.call` (to store)."""

        def lookup(ident: Identity) -> str | None:
            return hashes.lookup(reader, ident)

        sink: HashSink | None = None
        if writer_call is not None:

            def sink(rows: list[HashRow]) -> None:
                writer_call(lambda conn: hashes.store(conn, rows))

        return cls(lookup, sink)

    def sha256(self, root: Path | str, path: Path | str, fresh: bool = False) -> str | None:
        """The file's SHA-256, or None when it is missing, not a regular file or outside `root`.

        `fresh`: ignore cached values (export re-hashes what it claims) but still store the result.
        """
        try:
            target = contained(root, path)
            st = os.stat(target, follow_symlinks=False)
        except (UnsafePath, OSError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        ident = identity_of(st)
        if not fresh:
            known = self._memory.get(ident)
            if known is None and self._lookup is not None:
                known = self._lookup(ident)
            if known is not None:
                self._memory[ident] = known
                return known
        try:
            digest = digest_file(root, target)
        except (UnsafePath, OSError):
            return None
        self.hashed_bytes += digest.size
        self._memory[digest.identity] = digest.sha256
        self._pending.append((*digest.identity, digest.sha256))
        return digest.sha256

    def size(self, root: Path | str, path: Path | str) -> int | None:
        """Size of a contained regular file (None if it is not one)."""
        try:
            st = os.stat(contained(root, path), follow_symlinks=False)
        except (UnsafePath, OSError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def flush(self) -> None:
        if self._pending and self._sink is not None:
            rows, self._pending = self._pending, []
            self._sink(rows)
