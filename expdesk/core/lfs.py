"""Git LFS pointer files: what a clone without its LFS objects holds in place of each tracked file.

A pointer is a small text file whose first line is `version https://git-lfs.github.com/spec/v1` (the Git
LFS spec; older clients wrote `version https://hawser.github.com/spec/v1`), then `oid sha256:<hex>` and
`size <bytes>`. A reader that meets one where a metrics file, a config or an event file should be says so
("Git LFS pointer: content not downloaded") instead of calling the file corrupt.
"""

from __future__ import annotations

import os
from pathlib import Path

from expdesk.core.errors import SourceError

#: the spec's pointer files are about 130 bytes; the spec caps them at 1024
MAX_POINTER_BYTES = 1024
_PREFIXES = (b"version https://git-lfs.github.com/spec/", b"version https://hawser.github.com/spec/")
REASON = "Git LFS pointer: content not downloaded"


class LfsPointer(SourceError):
    """A file that is a Git LFS pointer: the content it stands for is not in this clone."""

    def __init__(self, path: Path | str, size: int | None = None) -> None:
        extra = f" (the object is {size} bytes; `git lfs pull` fetches it)" if size is not None else ""
        super().__init__(path, REASON + extra)


def pointer_size(head: bytes) -> int | None:
    """The object size a pointer's text names, or None when `head` is not a pointer."""
    if not head.startswith(_PREFIXES):
        return None
    for line in head.splitlines()[1:]:
        if line.startswith(b"size "):
            try:
                return int(line[5:].strip())
            except ValueError:
                return -1
    return -1


def is_pointer(head: bytes) -> bool:
    return pointer_size(head) is not None


def refuse_pointer(fd: int, size: int, path: Path | str) -> None:
    """Raise `LfsPointer` when the open file `fd` (of `size` bytes) is a Git LFS pointer; small files only are
    looked at (one `pread`), so a real file costs nothing."""
    if size > MAX_POINTER_BYTES:
        return
    try:
        head = os.pread(fd, MAX_POINTER_BYTES, 0)
    except OSError:
        return
    named = pointer_size(head)
    if named is not None:
        raise LfsPointer(path, named if named >= 0 else None)


def check_path(path: Path) -> None:
    """`refuse_pointer` for a file not opened yet (unreadable files are left to the caller's own open)."""
    try:
        st = os.lstat(path)
        if st.st_size > MAX_POINTER_BYTES:
            return
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        refuse_pointer(fd, st.st_size, path)
    finally:
        os.close(fd)
