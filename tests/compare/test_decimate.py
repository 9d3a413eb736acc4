"""M4 decimation keeps first/last and every pixel column's min and max, as real points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expdesk.compare.decimate import MinMaxPyramid, column_edges, m4_indices, search_sorted


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


@pytest.mark.parametrize("side", ["left", "right"])
def test_search_sorted_on_int_steps_matches_a_float_copy(side: str) -> None:
    rng = np.random.default_rng(3)
    steps = np.sort(rng.integers(-1000, 1000, 5000)).astype(np.int64)  # repeated steps too
    v = np.concatenate(
        (rng.uniform(-1100, 1100, 500), steps[::50].astype(np.float64), [-1e300, 1e300, -math.inf, math.inf])
    )
    want = np.searchsorted(steps.astype(np.float64), v, side)
    np.testing.assert_array_equal(search_sorted(steps, v, side), want)  # type: ignore[arg-type]
    assert search_sorted(steps, [math.nan], side).tolist() == [len(steps)], "NaN sorts last, as in numpy"
    big = np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64)
    assert search_sorted(big, [-1e19, -1.0, 0.5, 1e19]).tolist() == [0, 1, 2, 3]
    floats = np.array([0.0, 0.5, 1.0])
    assert search_sorted(floats, [0.5], side).tolist() == np.searchsorted(floats, [0.5], side).tolist()


def test_m4_on_int_steps_matches_float_steps() -> None:
    rng = np.random.default_rng(4)
    steps = np.arange(0, 300_000, 3, dtype=np.int64)
    y = rng.normal(size=len(steps))
    got = m4_indices(steps, y, 1234.5, 250_000.2, 300)
    np.testing.assert_array_equal(got, m4_indices(steps.astype(np.float64), y, 1234.5, 250_000.2, 300))


def test_empty_and_degenerate() -> None:
    assert len(m4_indices(np.empty(0), np.empty(0), 0, 1, 100)) == 0
    x = np.array([1.0, 1.0, 1.0])
    assert m4_indices(x, np.array([1.0, 2.0, 3.0]), 1.0, 1.0, 100).tolist() == [0, 1, 2]


# -- the pyramid behind the chart's bands --------------------------------------------------------------


def view_columns(x: np.ndarray, x0: float, x1: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    cuts = np.searchsorted(x, column_edges(x0, x1, width))
    return cuts[:-1], cuts[1:]


@pytest.mark.parametrize("n", [1000, 100_003])
def test_pyramid_columns_are_exact_when_columns_hold_few_points(n: int) -> None:
    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=np.float64)
    y = rng.normal(size=n)
    starts, ends = view_columns(x, 0, 100 * 90, 90)  # ~100 points per column: reduced from the raw points
    kept, lo, hi, mean = MinMaxPyramid(y).columns(starts, ends)
    for k, a, b, c in zip(kept, lo, hi, mean, strict=True):
        seg = y[starts[k] : ends[k]]
        assert (a, b) == (seg.min(), seg.max()) and math.isclose(c, seg.mean(), rel_tol=1e-9, abs_tol=1e-12)
    assert set(kept) == set(np.flatnonzero(ends > starts))


@pytest.mark.parametrize(
    ("x0", "x1", "width"), [(0, 2_000_000, 800), (300_000, 1_200_000, 333), (0, 5e5, 37)]
)
def test_pyramid_columns_hold_every_spike_and_only_real_values(x0: float, x1: float, width: int) -> None:
    rng = np.random.default_rng(7)
    n = 2_000_000 + 5  # not a multiple of any block
    x = np.arange(n, dtype=np.float64)
    y = np.cumsum(rng.normal(size=n))
    spikes = rng.integers(0, n, 40)
    y[spikes] += rng.choice([-1, 1], 40) * 1e4
    smoothed = y * 0.5
    starts, ends = view_columns(x, x0, x1, width)
    kept, lo, hi, mean = MinMaxPyramid(y, smoothed).columns(starts, ends)
    assert width <= len(kept) <= width + 2  # the columns beyond each edge exist where there is data
    inside = (spikes >= starts[0]) & (spikes < ends[-1])
    for i in spikes[inside]:
        c = int(np.searchsorted(starts[kept], i, "right")) - 1
        near = slice(max(c - 1, 0), c + 2)  # snapped to a block edge: at most 1/16 column away
        assert np.any((lo[near] <= y[i]) & (y[i] <= hi[near])), "the band holds every spike"
    visible = y[starts[0] : ends[-1]]
    assert hi.max() == visible.max() and lo.min() == visible.min()
    # no invented extremes: each comes from its own column, give or take 1/8 of a column
    slack = (ends - starts).max() // 8 + 1
    for k, a, b, m in zip(kept, lo, hi, mean, strict=True):
        seg = y[max(starts[k] - slack, 0) : ends[k] + slack]
        assert a in seg and b in seg and seg.min() <= a <= b <= seg.max()
        assert 0.5 * seg.min() <= m <= 0.5 * seg.max()  # the mean of the smoothed values


def test_pyramid_ignores_non_finite_values_and_marks_empty_columns() -> None:
    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    y = np.ones(n)
    y[::3] = math.inf
    y[200_000:400_000] = math.nan
    y[700_000] = -4.0
    smoothed = np.where(np.isfinite(y), 2.0, np.nan)
    starts, ends = view_columns(x, 0, n - 1, 100)
    kept, lo, hi, mean = MinMaxPyramid(y, smoothed).columns(starts, ends)
    gap = (starts[kept] >= 200_000 + 10_000) & (ends[kept] <= 400_000 - 10_000)
    assert gap.sum() >= 17 and np.isnan(lo[gap]).all() and np.isnan(mean[gap]).all()
    assert np.nanmax(hi) == 1.0 and np.nanmin(lo) == -4.0
    # a column without finite values has neither extremes nor a mean (a gap in band and line)
    np.testing.assert_array_equal(np.isfinite(mean), np.isfinite(lo))
    np.testing.assert_array_equal(np.isfinite(hi), np.isfinite(lo))
    np.testing.assert_allclose(mean[np.isfinite(mean)], 2.0)
    assert np.isfinite(mean).sum() >= 100 - 22


def test_pyramid_empty_views_and_short_series() -> None:
    p = MinMaxPyramid(np.array([3.0, 1.0, 2.0]))
    kept, lo, hi, mean = p.columns(np.array([0, 1, 3]), np.array([1, 3, 3]))
    assert kept.tolist() == [0, 1] and lo.tolist() == [3.0, 1.0] and hi.tolist() == [3.0, 2.0]
    assert mean.tolist() == [3.0, 1.5]
    empty = np.empty(0, dtype=np.int64)
    assert len(p.columns(empty, empty)[0]) == 0
    assert MinMaxPyramid(np.empty(0)).top is None
