"""A run's history rows -> metric series, with what must survive between incremental reads kept in the cursor.

Training metrics keep Trackio's keys. System metrics (`system_metrics`: CPU/GPU/memory samples, logged with a
timestamp and no step) are kept apart under `system/<key>`, the prefix MLflow gives its own system metrics;
their step is the sample's ordinal in the run (0, 1, 2, ... in the order Trackio stored them), so they are
charted against wall time, as Trackio's own System Metrics page does.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from expdesk.core.entities import Series
from expdesk.sources.trackio.values import Decoded, decode

SYSTEM_PREFIX = "system/"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: bad rows named in the run's error (the count of the rest is kept)
MAX_BAD_NOTES = 5
#: media files listed as a run's artifacts; more are counted in `info.media_files_not_listed`
MAX_MEDIA_FILES = 20_000
#: Python refuses int() of more digits than this (CVE-2020-10735 guard); such a number is read as a float
_MAX_INT_DIGITS = 4000


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def _int_value(value: int) -> float:
    """An integer metric as float64 (a 400-digit one is beyond float64: infinite, as a chart shows it)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


#: one decoder for every row (`json.loads` with a hook builds a new one per call); it reads the NaN/Infinity
#: literals of Trackio < 0.5 as floats
_DECODER = json.JSONDecoder(parse_int=_parse_int)


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[datetime | None, float]:
    """(the time if it has no zone, else None; seconds since the epoch if it has one). One `log()` batch
    shares one timestamp string, hence the cache; a zoneless time is converted per call, since what local
    time means can change (TZ) while the process runs."""
    try:
        stamp = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None, math.nan
    if stamp.tzinfo is None and len(text) == 19 and text[10] == " ":
        # SQLite's CURRENT_TIMESTAMP ("YYYY-MM-DD HH:MM:SS", the column default of Trackio 0.0.1 - 0.0.16) is
        # UTC; Python's isoformat(), which later versions wrote, always has a "T"
        stamp = stamp.replace(tzinfo=UTC)
    if stamp.tzinfo is None:
        return stamp, math.nan
    try:
        return None, stamp.timestamp()
    except (OverflowError, OSError, ValueError):
        return None, math.nan


def parse_time(text: str) -> tuple[float, bool]:
    """(seconds since the epoch, recorded without a zone). NaN for what is not an ISO time.

    Trackio < 0.17 wrote `datetime.now().isoformat()`: local time with no zone. Trackio's dashboard shows
    those as local time, and so does expdesk (`datetime.timestamp()` of a naive time is local time here).
    """
    naive, seconds = _parse(text)
    if naive is None:
        return seconds, False
    try:
        return naive.timestamp(), True
    except (OverflowError, OSError, ValueError):
        return math.nan, True


class History:
    """Accumulates one read's rows. `state` is the JSON-able part of the cursor it continues."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.bad: list[str] = list(state.get("bad", []))
        self.bad_count = int(state.get("nbad", 0))

    # -- rows ---------------------------------------------------------------------------------------------
    def metric_row(self, row_id: int, stamp: str, step: Any, blob: Any) -> None:
        when = self._time(stamp)
        if step is None:  # Trackio 0.0.1 - 0.0.16 kept no step: a row's ordinal in its run is its step
            step = int(self.state.get("mn", 0))
            self.state["mn"] = step + 1
        try:
            if isinstance(step, float) and not step.is_integer():
                raise ValueError(f"step {step!r} is not an integer")
            step_int = int(step)
            if not INT64_MIN <= step_int <= INT64_MAX:
                raise OverflowError(f"step {step} does not fit in 64 bits")
        except (TypeError, ValueError, OverflowError) as exc:
            self._bad(f"metrics row {row_id}: {exc}")
            return
        self._values(row_id, "metrics", step_int, when, blob, "")

    def system_row(self, row_id: int, stamp: str, blob: Any) -> None:
        ordinal = int(self.state.get("sn", 0))
        self.state["sn"] = ordinal + 1
        self._values(row_id, "system_metrics", ordinal, self._time(stamp), blob, SYSTEM_PREFIX.rstrip("/"))

    def note_time(self, stamp: str) -> None:
        """An activity time that is not a point (an alert)."""
        self._time(stamp)

    # -- results ------------------------------------------------------------------------------------------
    def series(self) -> list[Series]:
        return [
            Series(key, np.array(steps, dtype=np.int64), np.array(values), np.array(stamps))
            for key, (steps, values, stamps) in self.columns.items()
        ]

    def error(self) -> str | None:
        if not self.bad_count:
            return None
        more = self.bad_count - len(self.bad)
        return "; ".join(self.bad) + (f"; and {more} more rows not read" if more > 0 else "")

    def finish(self) -> dict[str, Any]:
        self.state["bad"] = self.bad
        self.state["nbad"] = self.bad_count
        return self.state

    # -- inside -------------------------------------------------------------------------------------------
    def _time(self, stamp: Any) -> float:
        seconds, naive = parse_time(stamp) if isinstance(stamp, str) else (math.nan, False)
        if seconds == seconds:  # not NaN
            first, last = self.state.get("t0"), self.state.get("t1")
            self.state["t0"] = seconds if first is None else min(first, seconds)
            self.state["t1"] = seconds if last is None else max(last, seconds)
        if naive:
            self.state["naive"] = True
        return seconds * 1000.0

    def _values(self, row_id: int, table: str, step: int, when_ms: float, blob: Any, prefix: str) -> None:
        try:
            row = _DECODER.decode(blob.decode("utf-8") if isinstance(blob, bytes) else blob)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            self._bad(f"{table} row {row_id}: not JSON ({type(exc).__name__})")
            return
        if type(row) is not dict:
            self._decoded(decode(row, prefix), step, when_ms)
            return
        # the hot path: a float or int at the top of the row is a point; only the rest goes through `decode`
        columns = self.columns
        rest: dict[str, Any] | None = None
        for key, value in row.items():
            kind = type(value)
            if kind is float or kind is int:
                name = f"{prefix}/{key}" if prefix else key
                column = columns.get(name)
                if column is None:
                    column = columns[name] = ([], [], [])
                column[0].append(step)
                column[1].append(value if kind is float else _int_value(value))
                column[2].append(when_ms)
            else:
                if rest is None:
                    rest = {}
                rest[key] = value
        if rest is not None:
            self._decoded(decode(rest, prefix), step, when_ms)

    def _decoded(self, decoded: Decoded, step: int, when_ms: float) -> None:
        for key, value in decoded.points:
            steps, values, stamps = self.columns.setdefault(key, ([], [], []))
            steps.append(step)
            values.append(value)
            stamps.append(when_ms)
        media = self.state.setdefault("media", {})
        files = self.state.setdefault("files", [])
        for ref in decoded.media:
            entry = media.get(ref.key)
            if entry is None and not ref.in_table:
                media[ref.key] = [ref.kind, 1, step, step]
            elif entry is not None and not ref.in_table:  # a table's files are counted with their table
                entry[1] += 1
                entry[2], entry[3] = min(entry[2], step), max(entry[3], step)
            if ref.file_path is not None:
                # the cursor is stored with the run on every update: past a bound, files are counted, not kept
                if len(files) < MAX_MEDIA_FILES:
                    files.append(ref.file_path)
                else:
                    self.state["files_over"] = int(self.state.get("files_over", 0)) + 1
        other = self.state.setdefault("other", {})
        for key, type_name in decoded.other:
            kinds = other.setdefault(key, {})
            kinds[type_name] = kinds.get(type_name, 0) + 1

    def _bad(self, note: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_BAD_NOTES:
            self.bad.append(note)
