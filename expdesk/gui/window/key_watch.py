"""When the window measures the key spread again (what the automatic columns are chosen by) while runs log.

A live sweep commits every few hundred ms, and almost every commit only adds points to keys the runs already
have: measuring the spread each time (~0.1-0.3 s of a worker on a big index) would be waste. So the window
notes which runs changed, and a keys job first reads those runs' key prints (`index.table.key_prints`, a few
ms); only if one differs from the print seen last (a metric logged for the first time, a param's new value)
or the runs themselves changed (new runs, F5) does it measure the spread. One keys job runs at a time; what
is noted meanwhile is checked by the next, so bursts coalesce. Qt-free: the window owns one and runs `measure`
on a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from expdesk.gui.runs.default_columns import Workspace
from expdesk.gui.runs.query import vocabulary
from expdesk.index.reader import IndexReader
from expdesk.index.table import KeyStats, key_prints, key_stats


@dataclass(frozen=True)
class KeysRequest:
    """One keys job: measure the spread anyway (`force`), or only if a run's print differs from `known`."""

    serial: int
    force: bool
    known: dict[str, str | None] = field(default_factory=dict)  # run key -> its print when seen last


@dataclass(frozen=True)
class KeysAnswer:
    prints: dict[str, str]
    #: None when no print changed (the spread stays as measured last)
    vocab: dict[str, list[str]] | None = None
    workspace: Workspace | None = None


Spread = Callable[[IndexReader], tuple[int, dict[str, dict[str, KeyStats]]]]


def measure(reader: IndexReader, request: KeysRequest, stats: Spread = key_stats) -> KeysAnswer:
    """(worker thread) The changed runs' prints, and the vocabulary and key spread when they call for it,
    from one read snapshot. `stats` is `key_stats` (a parameter so that the window's module owns the call)."""
    with reader.snapshot():
        prints = key_prints(reader, request.known) if request.known else {}
        if not request.force and all(request.known[k] == p for k, p in prints.items()):
            return KeysAnswer(prints)
        total, spread = stats(reader)
        return KeysAnswer(prints, vocabulary(reader), Workspace(total, spread))


class KeyWatch:
    """(GUI thread) Which runs may have changed the key spread since it was measured, and their last prints."""

    def __init__(self) -> None:
        self._serial = 0
        self._prints: dict[str, str] = {}
        self._unchecked: dict[str, int] = {}  # run key -> serial of the request that must check it
        self._stale_for = 1  # the first request measures (nothing measured yet)
        self.in_flight: KeysRequest | None = None

    def changed(self, run_keys: Iterable[str]) -> None:
        """Runs the index says changed (live points, new params): their prints are checked next."""
        for key in run_keys:
            self._unchecked[key] = self._serial + 1

    def stale(self) -> None:
        """Runs came or went, or the user asked (F5): the next keys job measures whatever the prints say."""
        self._stale_for = self._serial + 1

    def pending(self) -> bool:
        return bool(self._unchecked) or self._stale_for > self._serial

    def request(self) -> KeysRequest | None:
        """The next job, or None while one runs (its answer asks for the next) or nothing waits."""
        if self.in_flight is not None or not self.pending():
            return None
        self._serial += 1
        known = {key: self._prints.get(key) for key in self._unchecked}
        self.in_flight = KeysRequest(self._serial, self._stale_for >= self._serial, known)
        return self.in_flight

    def answered(self, request: KeysRequest, answer: KeysAnswer | None) -> None:
        """The job's answer (None: it failed, so what it was to check waits for the next job)."""
        self.in_flight = None
        if answer is None:  # the next job checks again what this one was to
            for key in request.known:
                self._unchecked[key] = max(self._unchecked.get(key, 0), self._serial + 1)
            if request.force:
                self._stale_for = max(self._stale_for, self._serial + 1)
            return
        self._prints.update(answer.prints)
        # runs noted again while the job ran carry a later serial: they stay to be checked
        self._unchecked = {k: s for k, s in self._unchecked.items() if s > request.serial}
