"""Filter errors point at the column: `FilterError` carries the span the filter bar underlines."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from expdesk.core.errors import UsageError


class FilterError(UsageError, ValueError):
    """A filter or sort spec that cannot be compiled; `position` is the 0-based column, `length` the span.
    A ValueError too: to Python code (`expdesk.FilterError` in the API) a bad expression is a bad value."""

    def __init__(self, message: str, position: int, length: int = 1) -> None:
        super().__init__(message)
        self.position = position
        self.length = length


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def col(pos: int) -> str:
    return f"column {pos + 1}"
