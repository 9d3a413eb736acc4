"""What the Media views show, computed without Qt: the runs x keys grid of media series, the item each cell
shows at a step (the nearest step at or before it), histograms over steps on one value grid, text samples.

Loading runs on a worker with its own reader; items are then fetched by location (no query per thumbnail),
so scrolling a grid of 10,000 images reads only the files of the cells on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from expdesk.index.media import MediaRow, location, media_series, run_root, runs_items
from expdesk.index.reader import IndexReader
from expdesk.sources import media as source_media
from expdesk.sources.media import Location, Payload

#: histograms drawn per run and key at most (evenly spaced over the steps, the last always included)
MAX_HISTOGRAM_STEPS = 120
#: value bins of the common grid histograms are redistributed onto
GRID_BINS = 100
#: characters of one text sample shown in a grid cell (the enlarged view shows the whole text)
TEXT_CELL_CHARS = 2000


@dataclass
class Cell:
    """One media series of one run: its items sorted by step (step-less first), and their steps."""

    run_key: str
    key: str
    kind: str
    root: str
    rows: list[MediaRow]
    steps: np.ndarray  # int64 per row; step-less rows are -2**63
    stepless: bool

    def at(self, step: int | None) -> MediaRow | None:
        """The first item logged at the nearest step at or before `step` (a step-less series: its first
        item whatever the step; no step chosen: the last step)."""
        if not self.rows:
            return None
        if self.stepless or step is None:
            return self.rows[0] if self.stepless else self.rows[self._first_of(len(self.rows) - 1)]
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        if i < 0 or self.rows[i].step is None:
            return None
        return self.rows[self._first_of(i)]

    def _first_of(self, i: int) -> int:
        return int(np.searchsorted(self.steps, self.steps[i], side="left"))

    def location(self, row: MediaRow) -> Location:
        return location(row, self.root, self.key)


@dataclass
class Overview:
    """The media of some runs: cells by (run key, media key) per kind, and every step any of them has.
    Keys and steps per kind are computed once (a run may have 10,000 series)."""

    run_keys: list[str]
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)  # (kind, run key, media key)
    _keys: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _steps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def keys(self, kind: str) -> list[str]:
        if kind not in self._keys:
            self._keys[kind] = sorted({k for (c_kind, _run, k) in self.cells if c_kind == kind})
        return self._keys[kind]

    def kinds(self) -> list[str]:
        return sorted({kind for (kind, _run, _key) in self.cells})

    def cell(self, kind: str, run_key: str, key: str) -> Cell | None:
        return self.cells.get((kind, run_key, key))

    def steps(self, kind: str) -> np.ndarray:
        """Every step logged by a series of this kind, sorted, distinct."""
        if kind not in self._steps:
            parts = [c.steps for (k, _r, _m), c in self.cells.items() if k == kind]
            every = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
            self._steps[kind] = np.unique(every[every > np.iinfo(np.int64).min])
        return self._steps[kind]

    def count(self, kind: str | None = None) -> int:
        return sum(len(c.rows) for (k, _r, _m), c in self.cells.items() if kind is None or k == kind)


def load_overview(reader: IndexReader, run_keys: list[str]) -> Overview:
    """Every media series of these runs with its items (three queries, however many series)."""
    out = Overview(list(run_keys))
    roots = {key: run_root(reader, key) for key in dict.fromkeys(run_keys)}
    items = runs_items(reader, run_keys)
    low = np.iinfo(np.int64).min
    for series in media_series(reader, run_keys):
        rows = items.get(series.id, [])
        steps = np.fromiter(
            (low if r.step is None else r.step for r in rows), dtype=np.int64, count=len(rows)
        )
        # rows come sorted by step with step-less ones first: the last is step-less only if all are
        stepless = bool(rows) and rows[-1].step is None
        out.cells[(series.kind, series.run_key, series.key)] = Cell(
            series.run_key, series.key, series.kind, roots[series.run_key], rows, steps, stepless
        )
    return out


def load_item(cell: Cell, row: MediaRow, cap: int = source_media.MAX_LOAD_BYTES) -> Payload:
    """One item (a placeholder's reason in `error`); runs on a worker."""
    if row.error:
        return Payload(error=row.error)
    return source_media.load(cell.location(row), cell.kind, cap)


def text_sample(cell: Cell, row: MediaRow) -> str:
    """A text item as one cell shows it: its values joined, cut at TEXT_CELL_CHARS."""
    payload = load_item(cell, row)
    if payload.error:
        return f"⚠ {payload.error}"
    text = "\n".join(payload.texts)
    return text if len(text) <= TEXT_CELL_CHARS else text[: TEXT_CELL_CHARS - 1] + "…"


@dataclass
class HistogramGrid:
    """Histograms of one series over steps, redistributed onto one value grid: `counts[i]` is step `steps[i]`.
    `problems` names steps that could not be drawn (with why); `total` is how many steps the series has."""

    label: str
    edges: np.ndarray
    steps: np.ndarray
    counts: np.ndarray
    total: int
    problems: list[str] = field(default_factory=list)


def sample_rows(rows: list[MediaRow], limit: int = MAX_HISTOGRAM_STEPS) -> list[MediaRow]:
    """At most `limit` rows evenly spread over the series, always keeping the last."""
    if len(rows) <= limit:
        return rows
    picks = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in picks]


def histogram_grid(cell: Cell, label: str, bins: int = GRID_BINS) -> HistogramGrid:
    """Load a histogram series (sampled to MAX_HISTOGRAM_STEPS) and put every step on a common grid, each
    bucket's count spread over the grid bins it overlaps in proportion (a million buckets cost one pass)."""
    rows = sample_rows(cell.rows)
    loaded: list[tuple[int, np.ndarray]] = []
    problems = []
    for row in rows:
        payload = load_item(cell, row)
        if payload.error or payload.buckets is None:
            problems.append(f"step {row.step}: {payload.error or 'no buckets'}")
        elif len(payload.buckets) == 0:
            problems.append(f"step {row.step}: no buckets")
        else:
            loaded.append((0 if row.step is None else row.step, payload.buckets))
    finite = [b[np.isfinite(b[:, 0]) & np.isfinite(b[:, 1])] for _s, b in loaded]
    lows = [b[:, 0].min() for b in finite if len(b)]
    highs = [b[:, 1].max() for b in finite if len(b)]
    if not lows:
        return HistogramGrid(
            label, np.empty(0), np.empty(0, np.int64), np.empty((0, 0)), len(cell.rows), problems
        )
    lo, hi = float(min(lows)), float(max(highs))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros((len(loaded), bins))
    for i, b in enumerate(finite):
        counts[i] = _spread(b, edges)
    steps = np.array([s for s, _b in loaded], dtype=np.int64)
    return HistogramGrid(label, edges, steps, counts, len(cell.rows), problems)


def _spread(buckets: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket counts onto `edges` in proportion to overlap: the cumulative count is linear inside each
    bucket, so it is interpolated at the grid edges and differenced (one pass, however many buckets)."""
    order = np.argsort(buckets[:, 0], kind="stable")
    left, right, count = buckets[order, 0], buckets[order, 1], buckets[order, 2]
    after = np.cumsum(count)
    before = after - count
    xp = np.column_stack([left, np.maximum(right, left)]).ravel()
    fp = np.column_stack([before, after]).ravel()
    cumulative = np.interp(edges, xp, fp, left=0.0, right=float(after[-1]))
    return np.diff(cumulative)
