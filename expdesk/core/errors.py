"""The error types every layer raises. Readers raise `SourceError`; the indexer records it on the run."""

from __future__ import annotations

from pathlib import Path


class ExpdeskError(Exception):
    """Base class for errors expdesk reports to the user (CLI exit code 1, a dialog in the GUI)."""


class SourceError(ExpdeskError):
    """A run (or one of its files) could not be read. Names the file, the location and the reason."""

    def __init__(self, path: Path | str, reason: str, where: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.where = where
        location = f"{self.path}:{where}" if where else self.path
        super().__init__(f"{location}: {reason}")


class IncompleteRead(SourceError):
    """A file is being written right now (torn last record, half-rewritten JSON): retry later, not corrupt."""


class UnsafePath(SourceError):
    """A recorded path tried to leave its watched root (`..`, absolute, symlink out, URL tricks), or a file
    to read is not a regular file (a link, FIFO or device is refused, never followed or opened)."""


class UsageError(ExpdeskError):
    """The user asked for something that cannot be answered (unknown run key, ambiguous prefix, bad filter)."""
