"""Min/max-per-pixel-column decimation: `MinMaxPyramid` (what the charts draw: per-column min, max and mean in
O(pixels) from blocks precomputed once) and `m4_indices` (M4: per-column first/last/min/max as real points).

M4, for reference:

For the visible x-range split into `width` equal columns (equal in log space on a log axis), keep the first,
last, minimum and maximum point of each column, plus one point just outside each side so the line runs to the
edge. Every kept point is a real data point (hover shows true values) and every spike survives, whatever N
is. Columns holding a non-finite value also keep their first one, so gaps stay visible. Recomputed per zoom
from the full-resolution arrays, which stay in memory.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: below this many visible points per pixel column nothing is gained: draw the raw points
MIN_POINTS_PER_COLUMN = 4
#: float bounds that convert to int64 without overflow (the largest float64 below 2**63, and -2**63)
_INT64_LO, _INT64_HI = -(2.0**63), 2.0**63 - 1024.0


def search_sorted(
    x: np.ndarray, v: np.ndarray | list[float], side: Literal["left", "right"] = "left"
) -> np.ndarray:
    """`np.searchsorted(x, v, side)` for float positions `v`, also when `x` is int64 (steps). numpy would
    cast the whole of an int64 `x` to float64 on every call; integer keys give the same answer:
    on integers, x >= v <=> x >= ceil(v) and x > v <=> x > floor(v)."""
    if x.dtype.kind != "i":
        return np.searchsorted(x, v, side)
    f = np.asarray(v, dtype=np.float64)
    keys = np.ceil(f) if side == "left" else np.floor(f)
    keys = np.where(np.isnan(keys), np.inf, keys)  # NaN sorts last
    found = np.searchsorted(x, np.clip(keys, _INT64_LO, _INT64_HI).astype(np.int64), side)
    # beyond the int64 range every step is below (or above) the key
    return np.where(keys > _INT64_HI, len(x), np.where(keys < _INT64_LO, 0, found))


def m4_indices(
    x: np.ndarray, y: np.ndarray, x0: float, x1: float, width: int, log_x: bool = False
) -> np.ndarray:
    """Sorted indices into (x, y) to draw for the view [x0, x1] at `width` pixel columns. `x` must be sorted."""
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if x1 < x0:
        x0, x1 = x1, x0
    width = max(int(width), 1)
    lo = max(int(search_sorted(x, [x0], "left")[0]) - 1, 0)
    hi = min(int(search_sorted(x, [x1], "right")[0]) + 1, n)
    if hi - lo <= MIN_POINTS_PER_COLUMN * width or not x1 > x0:
        return np.arange(lo, hi, dtype=np.int64)
    xv = x[lo:hi]
    yv = y[lo:hi]
    if log_x and x0 > 0:
        edges = np.geomspace(x0, x1, width + 1)[1:-1]
    else:
        edges = np.linspace(x0, x1, width + 1)[1:-1]
    # columns are contiguous index ranges because x is sorted; the points just outside [x0, x1] form their
    # own segments so that they never hide a visible column's extreme
    cuts = search_sorted(xv, np.concatenate(([x0], edges)), "left")
    starts = np.unique(np.concatenate(([0], cuts, search_sorted(xv, [x1], "right"))))
    starts = starts[starts < len(xv)]
    ends = np.append(starts[1:], len(xv))
    counts = ends - starts
    finite = np.isfinite(yv)
    # NaN/inf are not extremes; a column of only non-finite values keeps its first point (a gap)
    clean = np.where(finite, yv, np.nan) if not finite.all() else yv
    with np.errstate(invalid="ignore"):
        mins = np.fmin.reduceat(clean, starts)
        maxs = np.fmax.reduceat(clean, starts)
    keep = [
        starts,
        ends - 1,
        _first_match(clean, mins, starts, counts),
        _first_match(clean, maxs, starts, counts),
    ]
    if not finite.all():
        bad = np.flatnonzero(~finite)
        pos = np.searchsorted(bad, starts)
        has = pos < len(bad)
        first_bad = bad[np.minimum(pos, len(bad) - 1)]
        keep.append(first_bad[has & (first_bad < ends)])
    out = np.unique(np.concatenate(keep))
    return out + lo


def _first_match(
    values: np.ndarray, targets: np.ndarray, starts: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Index of the first element equal to its column's target (columns without one give their start)."""
    hits = np.flatnonzero(values == np.repeat(targets, counts))
    if len(hits) == 0:
        return starts
    pos = np.minimum(np.searchsorted(hits, starts), len(hits) - 1)
    found = hits[pos]
    # a column whose target is NaN (all non-finite) has no hit: the search lands in a later column
    return np.where(found < starts + counts, found, starts)


#: first pyramid level: blocks of 2**BASE_LEVEL points (finer columns are reduced from the raw points)
BASE_LEVEL = 4
#: a pyramid level is used for a view when each pixel column spans at least this many of its blocks, so
#: snapping column edges to block edges moves a point by at most 1/(2 * this) of a pixel
BLOCKS_PER_COLUMN = 8


class MinMaxPyramid:
    """Min, max and sum per block of 2**k points (k >= BASE_LEVEL) of one series, built once in O(n).

    `columns` then reduces any view to per-pixel-column (lo, hi, mean) in O(pixels * BLOCKS_PER_COLUMN),
    whatever n is: the raw points when a column holds few of them, else the coarsest level whose blocks
    are still 1/BLOCKS_PER_COLUMN of a column (column edges snap to block edges: every point still lands in
    exactly one column, so every spike is in some column's [lo, hi]). Non-finite values are ignored (NaN
    where a column has no finite value); `mean_of` is summed instead of `y` when given (the smoothed line).
    """

    def __init__(self, y: np.ndarray, mean_of: np.ndarray | None = None) -> None:
        finite = np.isfinite(y)
        self.all_finite = bool(finite.all())
        self.y = y if self.all_finite else np.where(finite, y, np.nan)
        m = y if mean_of is None else mean_of
        m_finite = np.isfinite(m)
        self.m = m if bool(m_finite.all()) else np.where(m_finite, m, 0.0)
        self.m_count = None if bool(m_finite.all()) else m_finite.astype(np.float64)
        self.levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        lo, hi, s, c = self.y, self.y, self.m, self.m_count
        size = 1
        while len(lo) > 1:
            factor = 1 << BASE_LEVEL if size == 1 else 2
            lo, hi = self._reduce(lo, factor, self._min), self._reduce(hi, factor, self._max)
            s = self._reduce(s, factor, np.add)
            c = None if c is None else self._reduce(c, factor, np.add)
            size *= factor
            self.levels.append((lo, hi, s, c))
        self.top = (float(self._min.reduce(self.y)), float(self._max.reduce(self.y))) if len(y) else None

    @property
    def _min(self) -> np.ufunc:
        return np.minimum if self.all_finite else np.fmin

    @property
    def _max(self) -> np.ufunc:
        return np.maximum if self.all_finite else np.fmax

    @staticmethod
    def _reduce(a: np.ndarray, factor: int, op: np.ufunc) -> np.ndarray:
        full = len(a) // factor * factor
        out = a[:full]
        step = factor
        while step > 1:  # pairwise halving: ~4x faster than reducing a (-1, 16) reshape along axis 1
            out = op(out[0::2], out[1::2])
            step //= 2
        if full < len(a):
            out = np.append(out, op.reduce(a[full:]))
        return out

    def columns(
        self, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(kept, lo, hi, mean) for the index ranges [starts, ends) of consecutive columns (ends[i] ==
        starts[i + 1]); `kept` are the positions of the non-empty columns the other arrays describe."""
        if len(starts) == 0:
            e = np.empty(0)
            return np.empty(0, dtype=np.int64), e, e, e
        # the narrowest non-empty column sets the level (on a log axis the first columns hold few points);
        # the first and last, past the view's edges, may be cut short by the data's ends and do not count
        sizes = (ends - starts)[1:-1] if len(starts) > 2 else ends - starts
        per_column = int(sizes[sizes > 0].min()) if (sizes > 0).any() else 0
        level = -1
        block = 1
        while level + 1 < len(self.levels) and per_column >= BLOCKS_PER_COLUMN * (
            (1 << BASE_LEVEL) if level < 0 else 2 * block
        ):
            block = (1 << BASE_LEVEL) if level < 0 else 2 * block
            level += 1
        if level < 0:
            lo_a, hi_a, s_a, c_a = self.y, self.y, self.m, self.m_count
            b_starts, b_ends = starts, ends
        else:
            lo_a, hi_a, s_a, c_a = self.levels[level]
            n = len(lo_a)
            b_starts = np.minimum((starts + block // 2) // block, n)
            b_ends = np.minimum((ends + block // 2) // block, n)
        nonempty = b_ends > b_starts
        kept = np.flatnonzero(nonempty)
        if len(kept) == 0:
            e = np.empty(0)
            return kept, e, e, e
        b0 = b_starts[kept]
        stop = int(b_ends[kept[-1]])  # reduceat's last range runs to the end of the array
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = self._min.reduceat(lo_a[:stop], b0)
            hi = self._max.reduceat(hi_a[:stop], b0)
            total = np.add.reduceat(s_a[:stop], b0)
            if c_a is None:
                count = (b_ends[kept] - b0).astype(np.float64)
                if level >= 0:  # the last block may be short
                    count *= block
                    count[-1] -= max(0, int(b_ends[kept][-1]) * block - len(self.y))
            else:
                count = np.add.reduceat(c_a[:stop], b0)
            mean = np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)
        return kept, lo, hi, mean


def column_edges(x0: float, x1: float, width: int, log_x: bool = False) -> np.ndarray:
    """`width + 3` edges of the pixel columns of [x0, x1] plus one column beyond each side (so the band runs
    off the edge of the axes)."""
    if log_x and x0 > 0 and x1 > 0:
        step = (x1 / x0) ** (1.0 / width)
        return np.geomspace(x0 / step, x1 * step, width + 3)
    step = (x1 - x0) / width
    return np.linspace(x0 - step, x1 + step, width + 3)
