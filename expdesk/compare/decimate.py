"""Min/max-per-pixel-column decimation (M4): what a line of N points looks like at W pixels, with real points.

For the visible x-range split into `width` equal columns (equal in log space on a log axis), keep the first,
last, minimum and maximum point of each column, plus one point just outside each side so the line runs to the
edge. Every kept point is a real data point (hover shows true values) and every spike survives, whatever N
is. Columns holding a non-finite value also keep their first one, so gaps stay visible. Recomputed per zoom
from the full-resolution arrays, which stay in memory.
"""

from __future__ import annotations

import numpy as np

#: below this many visible points per pixel column nothing is gained: draw the raw points
MIN_POINTS_PER_COLUMN = 4


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
    lo = max(int(np.searchsorted(x, x0, "left")) - 1, 0)
    hi = min(int(np.searchsorted(x, x1, "right")) + 1, n)
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
    cuts = np.searchsorted(xv, np.concatenate(([x0], edges)), "left")
    starts = np.unique(np.concatenate(([0], cuts, [np.searchsorted(xv, x1, "right")])))
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
