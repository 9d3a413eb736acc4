"""The API's own error type (the others are the index's: `FilterError`, `IndexTooNew`, `NotAnIndex`)."""

from __future__ import annotations

from collections.abc import Iterable


class LookupKeyError(KeyError):
    """A run key or prefix that matches no run or several (`candidates` are the keys it could mean), or a
    metric no run has. Its message reads as written (a KeyError would show the message's repr)."""

    def __init__(self, message: str, candidates: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.candidates = tuple(candidates)

    def __str__(self) -> str:
        return self.message
