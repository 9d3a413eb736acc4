"""Incremental reading of append-only text files: the per-file cursor of DESIGN.md.

A cursor entry remembers the file's identity (dev, inode), how far we consumed (only whole lines), and a
digest of the file's head. If the file shrank, changed identity or its head changed (truncate-and-rewrite,
rotation, Lightning rewriting metrics.csv with a new header), it is re-read from the start.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expdesk.core.safefile import open_regular

#: enough to cover a CSV header with many columns (Lightning rewrites the file when a column appears)
HEAD_BYTES = 8192


@dataclass
class Tail:
    data: bytes  # whole new lines (ends with b"\n" unless empty)
    reset: bool  # True: `data` starts at byte 0 and replaces what was read before
    state: dict[str, Any]  # the new cursor entry for this file
    pending: int  # bytes of a torn last line left for the next read


def _head_digest(fd: int, upto: int) -> str:
    return hashlib.sha1(os.pread(fd, min(upto, HEAD_BYTES), 0)).hexdigest()


def read_new_lines(
    path: Path | str,
    state: dict[str, Any] | None,
    *,
    final: bool = False,
    lstat: os.stat_result | None = None,
) -> Tail:
    """Whole lines appended since `state`. `final=True` also returns a last line without `\\n`
    (use it when the writer is known to be done, e.g. a run marked finished). `lstat`: as `open_regular`.
    """
    fd, st = open_regular(path, lstat)
    try:
        size = st.st_size
        offset = 0
        reset = True
        if state:
            same_file = state.get("ino") == st.st_ino and state.get("dev") == st.st_dev
            old_offset = int(state.get("offset", 0))
            if same_file and size >= old_offset and _head_digest(fd, old_offset) == state.get("head"):
                offset, reset = old_offset, False
        chunks = []
        pos = offset
        while pos < size:
            chunk = os.pread(fd, min(size - pos, 8 << 20), pos)
            if not chunk:
                break
            chunks.append(chunk)
            pos += len(chunk)
        data = b"".join(chunks)
        end = len(data) if final else data.rfind(b"\n") + 1
        data, pending = data[:end], len(data) - end
        new_offset = offset + end
        new_state = {
            "ino": st.st_ino,
            "dev": st.st_dev,
            "offset": new_offset,
            # read from byte 0, the head is already in hand: no second read of the file
            "head": hashlib.sha1(data[: min(end, HEAD_BYTES)]).hexdigest()
            if offset == 0
            else _head_digest(fd, new_offset),
            "mtime_ns": st.st_mtime_ns,
        }
        return Tail(data, reset, new_state, pending)
    finally:
        os.close(fd)


def file_changed(path: Path, state: dict[str, Any] | None) -> bool:
    """Cheap check whether a file differs from the cursor entry (size, mtime or identity)."""
    if not state:
        return True
    try:
        st = os.stat(path)
    except OSError:
        return True
    return not (
        st.st_ino == state.get("ino")
        and st.st_mtime_ns == state.get("mtime_ns")
        and st.st_size == state.get("size", st.st_size)
    )
