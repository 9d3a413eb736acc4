"""What the Media views show, computed without Qt: the runs x keys grid of media series, the item each cell
shows at a step (the nearest step at or before it), histograms over steps on one value grid, text samples.

The overview holds only ints per item (id, step) and the reasons of placeholders: which item a cell shows
at any step is a binary search, and the rows saying where an item's bytes live are fetched for the items
drawn (`load_item`, on a worker with its own reader). A run with 10,000 images opens with one small query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from expdesk.index.media import MediaRow, items_by_id, location, media_series, run_root, runs_item_marks
from expdesk.index.reader import IndexReader
from expdesk.sources import media as source_media
from expdesk.sources.media import Payload

#: histograms drawn per run and key at most (evenly spaced over the steps, the last always included)
MAX_HISTOGRAM_STEPS = 120
#: value bins of the common grid histograms are redistributed onto
GRID_BINS = 100
#: characters of one text sample shown in a grid cell (the enlarged view shows the whole text)
TEXT_CELL_CHARS = 2000
#: the step recorded for a step-less item in `Cell.steps`
NO_STEP = np.iinfo(np.int64).min


class ItemRef(NamedTuple):
    """An item as the grid knows it: its id, step (None: step-less) and a placeholder's reason."""

    id: int
    step: int | None
    error: str | None


@dataclass
class Cell:
    """One media series of one run: its item ids sorted by step (step-less first), and their steps."""

    run_key: str
    key: str
    kind: str
    root: str
    ids: np.ndarray  # int64
    steps: np.ndarray  # int64 per item; step-less items are NO_STEP
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def stepless(self) -> bool:
        # sorted with step-less items first: the last is step-less only if all are
        return bool(len(self.steps)) and int(self.steps[-1]) == NO_STEP

    def __len__(self) -> int:
        return len(self.ids)

    def ref(self, i: int) -> ItemRef:
        item_id, step = int(self.ids[i]), int(self.steps[i])
        return ItemRef(item_id, None if step == NO_STEP else step, self.errors.get(item_id))

    def refs(self) -> list[ItemRef]:
        return [self.ref(i) for i in range(len(self.ids))]

    def at(self, step: int | None) -> ItemRef | None:
        """The first item logged at the nearest step at or before `step` (a step-less series: its first
        item whatever the step; no step chosen: the last step)."""
        if not len(self.ids):
            return None
        if self.stepless:
            return self.ref(0)
        if step is None:
            return self.ref(self._first_of(len(self.ids) - 1))
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        if i < 0 or int(self.steps[i]) == NO_STEP:
            return None
        return self.ref(self._first_of(i))

    def _first_of(self, i: int) -> int:
        return int(np.searchsorted(self.steps, self.steps[i], side="left"))


class Overview:
    """The media of some runs: a cell per (kind, run key, media key), and every step any of them has.

    Items are kept as three int64 columns for all series at once (a run may have 10,000 series of one
    image each); a `Cell` is made when the grid asks for it, and keys, steps and counts per kind once."""

    def __init__(
        self,
        run_keys: list[str],
        series: dict[tuple[str, str, str], tuple[int, int]] | None = None,
        items: np.ndarray | None = None,
        errors: dict[int, str] | None = None,
        roots: dict[str, str] | None = None,
    ) -> None:
        self.run_keys = run_keys
        self.series = series or {}  # (kind, run key, media key) -> (start, end) rows of `items`
        self.items = items if items is not None else np.empty((0, 3), dtype=np.int64)
        self.errors = errors or {}
        self.roots = roots or {}
        self._cells: dict[tuple[str, str, str], Cell] = {}
        self._keys: dict[str, list[str]] = {}
        self._steps: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}
        for (kind, _run, _key), (start, end) in self.series.items():
            self._counts[kind] = self._counts.get(kind, 0) + end - start

    def __len__(self) -> int:
        return len(self.series)

    def keys(self, kind: str) -> list[str]:
        if kind not in self._keys:
            self._keys[kind] = sorted({k for (c_kind, _run, k) in self.series if c_kind == kind})
        return self._keys[kind]

    def cell(self, kind: str, run_key: str, key: str) -> Cell | None:
        found = self._cells.get((kind, run_key, key))
        if found is None:
            span = self.series.get((kind, run_key, key))
            if span is None:
                return None
            ids = self.items[span[0] : span[1], 1]
            errors = {i: self.errors[i] for i in ids.tolist() if i in self.errors} if self.errors else {}
            found = Cell(
                run_key, key, kind, self.roots[run_key], ids, self.items[span[0] : span[1], 2], errors
            )
            self._cells[(kind, run_key, key)] = found
        return found

    def steps(self, kind: str) -> np.ndarray:
        """Every step logged by a series of this kind, sorted, distinct."""
        if kind not in self._steps:
            mask = np.zeros(len(self.items), dtype=bool)
            for (c_kind, _r, _k), (start, end) in self.series.items():
                if c_kind == kind:
                    mask[start:end] = True
            steps = self.items[mask, 2]
            self._steps[kind] = np.unique(steps[steps != NO_STEP])
        return self._steps[kind]

    def count(self, kind: str | None = None) -> int:
        return len(self.items) if kind is None else self._counts.get(kind, 0)

    def signature(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(first item id, count) per cell: a cell whose first id changed was re-read from the start, and
        item ids may then be reused (caches keyed by item id must be dropped)."""
        first = self.items[:, 1].tolist()
        return {k: (first[s] if e > s else -1, e - s) for k, (s, e) in self.series.items()}


def load_overview(reader: IndexReader, run_keys: list[str]) -> Overview:
    """Every media series of these runs with its items' ids and steps (three small queries)."""
    roots = {key: run_root(reader, key) for key in dict.fromkeys(run_keys)}
    items, errors = runs_item_marks(reader, run_keys)
    found = media_series(reader, run_keys)
    series_ids = np.array([s.id for s in found], dtype=np.int64)
    starts = np.searchsorted(items[:, 0], series_ids, side="left").tolist()
    ends = np.searchsorted(items[:, 0], series_ids, side="right").tolist()
    series = {(s.kind, s.run_key, s.key): (a, b) for s, a, b in zip(found, starts, ends, strict=True)}
    return Overview(list(run_keys), series, items, errors, roots)


def item_rows(reader: IndexReader, refs: list[ItemRef]) -> dict[int, MediaRow]:
    """Where the bytes of these items live (ids the index no longer holds are left out)."""
    return items_by_id(reader, [r.id for r in refs])


def load_row(cell: Cell, row: MediaRow, cap: int = source_media.MAX_LOAD_BYTES) -> Payload:
    """One item from its row (a placeholder's reason in `error`)."""
    if row.error:
        return Payload(error=row.error)
    return source_media.load(location(row, cell.root, cell.key), cell.kind, cap)


def load_item(
    reader: IndexReader, cell: Cell, ref: ItemRef, cap: int = source_media.MAX_LOAD_BYTES
) -> Payload:
    """One item (a placeholder's reason in `error`); runs on a worker."""
    if ref.error:
        return Payload(error=ref.error)
    row = items_by_id(reader, [ref.id]).get(ref.id)
    if row is None:
        return Payload(error="no longer in the index (the run was re-read)")
    return load_row(cell, row, cap)


def text_sample(reader: IndexReader, cell: Cell, ref: ItemRef) -> str:
    """A text item as one cell shows it: its values joined, cut at TEXT_CELL_CHARS."""
    payload = load_item(reader, cell, ref)
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


def sample_refs(refs: list[ItemRef], limit: int = MAX_HISTOGRAM_STEPS) -> list[ItemRef]:
    """At most `limit` items evenly spread over the series, always keeping the last."""
    if len(refs) <= limit:
        return refs
    picks = np.unique(np.linspace(0, len(refs) - 1, limit).round().astype(int))
    return [refs[i] for i in picks]


def histogram_grid(reader: IndexReader, cell: Cell, label: str, bins: int = GRID_BINS) -> HistogramGrid:
    """Load a histogram series (sampled to MAX_HISTOGRAM_STEPS) and put every step on a common grid, each
    bucket's count spread over the grid bins it overlaps in proportion (a million buckets cost one pass)."""
    refs = sample_refs(cell.refs())
    rows = item_rows(reader, refs)
    loaded: list[tuple[int, np.ndarray]] = []
    problems = []
    for ref in refs:
        row = rows.get(ref.id)
        payload = load_row(cell, row) if row is not None else Payload(error="no longer in the index")
        if payload.error or payload.buckets is None:
            problems.append(f"step {ref.step}: {payload.error or 'no buckets'}")
        elif len(payload.buckets) == 0:
            problems.append(f"step {ref.step}: no buckets")
        else:
            loaded.append((0 if ref.step is None else ref.step, payload.buckets))
    finite = [b[np.isfinite(b[:, 0]) & np.isfinite(b[:, 1])] for _s, b in loaded]
    lows = [b[:, 0].min() for b in finite if len(b)]
    highs = [b[:, 1].max() for b in finite if len(b)]
    if not lows:
        return HistogramGrid(label, np.empty(0), np.empty(0, np.int64), np.empty((0, 0)), len(cell), problems)
    lo, hi = float(min(lows)), float(max(highs))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = np.zeros((len(loaded), bins))
    for i, b in enumerate(finite):
        if len(b):
            counts[i] = _spread(b, edges)
    steps = np.array([s for s, _b in loaded], dtype=np.int64)
    return HistogramGrid(label, edges, steps, counts, len(cell), problems)


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
