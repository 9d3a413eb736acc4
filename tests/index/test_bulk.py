"""The batch encoder writes exactly what the one-series-at-a-time path writes: summaries and chunk blobs,
byte for byte, for any points (NaN, infinities, -0.0, duplicate and wrapping steps, any timestamps)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import Series
from expdesk.index import bulk, store

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
STEPS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 5))
STAMPS = st.one_of(
    st.integers(1_600_000_000_000, 1_600_000_100_000).map(float),  # neighbours close: int16 deltas
    st.integers(1_600_000_000_000, 1_800_000_000_000).map(float),  # far apart: int32 offsets or plain
    FLOATS,
)


def _series(i: int, points: list[tuple[int, float, float]]) -> Series:
    return Series(
        f"m{i}",
        np.array([p[0] for p in points], dtype=np.int64),
        np.array([p[1] for p in points], dtype=np.float64),
        np.array([p[2] for p in points], dtype=np.float64),
    )


def _strided(i: int, start: int, stride: int, n: int, base: int, gaps: list[int]) -> Series:
    steps = start + stride * np.arange(n, dtype=np.int64)
    ts = base + np.cumsum(np.array(gaps[:n], dtype=np.int64)).astype(np.float64)
    return Series(f"s{i}", steps, np.linspace(0, 1, n), ts)


def _same(series: list[Series]) -> None:
    _same_with(series, store.CHUNK_POINTS)
    _same_with(series, 4)  # small chunks: series of several chunks, each encoded on its own


def _same_with(series: list[Series], chunk_points: int) -> None:
    got = bulk.encode_many(series, chunk_points)
    original = store.CHUNK_POINTS
    store.CHUNK_POINTS = chunk_points  # the per-series path cuts at the same place
    try:
        wants = [store._encode_new(s) for s in series]
    finally:
        store.CHUNK_POINTS = original
    for s, (row, chunks), want in zip(series, got, wants, strict=True):
        assert row == want.summary_row, s
        assert chunks == want.chunks, s
        # and they decode to the very points
        decoded = [store.unpack(*c[1:], c[0]) for c in chunks]
        for i, column in enumerate((s.steps, s.values, s.timestamps)):
            assert np.concatenate([d[i] for d in decoded]).tobytes() == column.tobytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(STEPS, FLOATS, STAMPS), min_size=1, max_size=12), min_size=1, max_size=6))
def test_any_points_encode_like_the_series_path(runs: list[list[tuple[int, float, float]]]) -> None:
    _same([_series(i, pts) for i, pts in enumerate(runs)])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**62), 2**62),
            st.one_of(st.integers(-1000, 1000), st.integers(-(2**63), 2**63 - 1)),
            st.integers(1, 40),
            st.integers(1_600_000_000_000, 1_800_000_000_000),
            st.lists(st.integers(0, 70_000), min_size=40, max_size=40),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_typical_series_encode_like_the_series_path(
    shapes: list[tuple[int, int, int, int, list[int]]],
) -> None:
    _same([_strided(i, *shape) for i, shape in enumerate(shapes)])


def test_long_series_and_bounds() -> None:
    n = store.CHUNK_POINTS
    _same(
        [
            _strided(0, 0, 1, n, 1_700_000_000_000, [1] * n),
            _strided(1, 5, 2, 3, 1_700_000_000_000, [40_000] * 3),
            _strided(2, 0, 1, 2 * n + 5, 1_700_000_000_000, [7] * (2 * n + 5)),
        ]
    )
