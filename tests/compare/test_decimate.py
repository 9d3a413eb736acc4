"""M4 decimation keeps first/last and every pixel column's min and max, as real points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expdesk.compare.decimate import m4_indices


def column_extremes(
    x: np.ndarray, y: np.ndarray, x0: float, x1: float, width: int
) -> list[tuple[float, float]]:
    """Brute force: (min, max) of the finite values of every non-empty pixel column within [x0, x1]."""
    col = np.floor((x - x0) / (x1 - x0) * width).astype(int)
    col = np.clip(col, 0, width - 1)
    out = []
    inside = (x >= x0) & (x <= x1)
    for c in np.unique(col[inside]):
        vals = y[inside & (col == c) & np.isfinite(y)]
        if len(vals):
            out.append((float(vals.min()), float(vals.max())))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_column_min_and_max_is_kept(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200_000
    x = np.sort(rng.uniform(0, 1000, size=n))
    y = np.cumsum(rng.normal(size=n))
    y[rng.integers(0, n, 20)] += rng.normal(size=20) * 1e3  # isolated spikes
    width = 300
    idx = m4_indices(x, y, 100.0, 900.0, width)
    kept = set(idx.tolist())
    assert np.all(np.diff(idx) > 0), "indices are sorted and unique"
    assert len(idx) <= 4 * width + 2
    # check per column with the same edges the decimator uses
    edges = np.linspace(100.0, 900.0, width + 1)
    lo, hi = np.searchsorted(x, 100.0) - 1, np.searchsorted(x, 900.0, "right") + 1
    assert lo in kept and hi - 1 in kept, "one point beyond each edge keeps the line running off-screen"
    for c in range(width):
        a, b = np.searchsorted(x, edges[c]), np.searchsorted(x, edges[c + 1])
        if c == width - 1:
            b = np.searchsorted(x, 900.0, "right")
        if b <= a:
            continue
        seg = y[a:b]
        assert a + int(np.argmin(seg)) in kept or seg.min() in y[idx]
        assert a + int(np.argmax(seg)) in kept or seg.max() in y[idx]
    for vmin, vmax in column_extremes(x, y, 100.0, 900.0, width):
        assert vmin in y[idx] and vmax in y[idx]


def test_spike_survives_any_zoom() -> None:
    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    y = np.zeros(n)
    y[123_457] = 50.0
    y[876_543] = -50.0
    for x0, x1, width in [(0, n - 1, 800), (100_000, 900_000, 37), (123_000, 124_000, 10)]:
        idx = m4_indices(x, y, x0, x1, width)
        assert 123_457 in idx
        if x1 >= 876_543:
            assert 876_543 in idx


def test_zoomed_in_far_enough_returns_every_point() -> None:
    x = np.arange(1_000_000, dtype=np.float64)
    y = np.sin(x)
    idx = m4_indices(x, y, 5000.0, 5999.0, 800)
    np.testing.assert_array_equal(idx, np.arange(4999, 6001))


def test_non_finite_values_leave_a_gap_and_are_not_extremes() -> None:
    x = np.arange(10_000, dtype=np.float64)
    y = np.ones(10_000)
    y[5000:5100] = math.nan
    y[200] = math.inf
    y[300] = 7.0
    idx = m4_indices(x, y, 0, 9999, 50)
    assert any(5000 <= i < 5100 for i in idx), "a NaN is kept so the line breaks"
    assert 300 in idx
    assert 200 in idx  # the first non-finite of its column


def test_log_axis_columns() -> None:
    x = np.arange(1, 1_000_001, dtype=np.float64)
    y = np.zeros_like(x)
    y[9] = 5.0  # x = 10: a wide column on a log axis, a sliver on a linear one
    idx = m4_indices(x, y, 1.0, 1e6, 200, log_x=True)
    assert 9 in idx
    assert len(idx) <= 4 * 200 + 2


def test_empty_and_degenerate() -> None:
    assert len(m4_indices(np.empty(0), np.empty(0), 0, 1, 100)) == 0
    x = np.array([1.0, 1.0, 1.0])
    assert m4_indices(x, np.array([1.0, 2.0, 3.0]), 1.0, 1.0, 100).tolist() == [0, 1, 2]
