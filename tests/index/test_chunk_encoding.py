"""The chunk encodings are lossless: whatever points go in come back bit for bit, through the store and
through the SQL `at(step)` functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, RunUpdate, Series
from expdesk.index import store
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
STAMPS = st.one_of(
    st.integers(1_600_000_000_000, 1_800_000_000_000).map(float),  # whole ms: the int32-offset path
    FLOATS,
)


def roundtrip(steps: np.ndarray, values: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, ...]:
    blobs = store._pack(steps, values, ts)
    return store.unpack(*blobs, len(steps))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), FLOATS, STAMPS), max_size=40))
def test_any_points_roundtrip_bit_exact(points: list[tuple[int, float, float]]) -> None:
    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([p[1] for p in points], dtype=np.float64)
    ts = np.array([p[2] for p in points], dtype=np.float64)
    out = roundtrip(steps, values, ts)
    for got, want in zip(out, (steps, values, ts), strict=True):
        assert got.tobytes() == want.tobytes()


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-(2**40), 2**40),
    st.integers(-1000, 1000),
    st.integers(0, 50),
    st.floats(1e12, 2e12),
    st.lists(st.integers(0, 2**31 - 1), min_size=50, max_size=50),
)
def test_typical_series_use_the_compact_encodings(
    start: int, stride: int, n: int, base: float, offsets: list[int]
) -> None:
    steps = start + stride * np.arange(n, dtype=np.int64)
    ts = np.floor(base) + np.array(offsets[:n], dtype=np.float64)
    blobs = store._pack(steps, np.zeros(n), ts)
    if n >= 3:
        # neighbours less than 2**15 ms apart: int16 deltas; else int32 offsets from the first stamp
        deltas = np.diff(ts)
        close = bool(np.all((deltas >= -(2**15)) & (deltas <= 2**15 - 1)))
        assert len(blobs[0]) == 16 and len(blobs[2]) == 8 + (2 if close else 4) * n
    else:
        assert len(blobs[0]) == 8 * n and len(blobs[2]) == 8 * n
    got = store.unpack(*blobs, n)
    assert np.array_equal(got[0], steps) and got[2].tobytes() == ts.tobytes()


def test_values_that_defeat_the_encodings_are_stored_plain() -> None:
    ts_fraction = np.array([1.7e12, 1.7e12 + 0.5, 1.7e12 + 1])  # TensorBoard wall times are fractional
    ts_negzero = np.array([-0.0, 1.0, 2.0])  # -0.0 would come back as 0.0
    ts_far = np.array([0.0, 1.0, 2.0**40])  # offsets beyond int32
    for ts in (ts_fraction, ts_negzero, ts_far):
        assert len(store._encode_ts(ts)) == 24
        assert store.decode_ts(store._encode_ts(ts), 3).tobytes() == ts.tobytes()
    assert len(store._encode_steps(np.array([0, 1, 3]))) == 24


def test_stored_series_and_at_step_through_the_index(tmp_path: Path) -> None:
    n = store.CHUNK_POINTS * 2 + 5  # full chunks and a short last one, then live appends top it up
    steps = np.arange(n, dtype=np.int64) * 10
    values = np.sin(np.arange(n) / 7.0)
    values[3] = np.nan
    ts = 1.7e12 + np.arange(n) * 250.0
    ref = RunRef("generic", tmp_path / "run", tmp_path)
    with Index(tmp_path / "i.db") as index:
        update = RunUpdate(name="run", metrics=[Series("loss", steps, values, ts)], metrics_reset=True)
        index.writer.call(lambda c: store.apply_update(c, ref, update, None), {ref.key})
        more = RunUpdate(name="run", metrics=[Series("loss", [n * 10, n * 10 + 3], [1.5, 2.5], [1.0, 2.0])])
        index.writer.call(lambda c: store.apply_update(c, ref, more, None), {ref.key})
        with IndexReader(index.db_path) as reader:
            got_s, got_v, got_t = reader.series(ref.key, "loss")
            assert got_s.tolist() == [*steps.tolist(), n * 10, n * 10 + 3]
            assert got_v.tobytes() == np.concatenate([values, [1.5, 2.5]]).tobytes()
            assert got_t.tobytes() == np.concatenate([ts, [1.0, 2.0]]).tobytes()
            for step, want in ((0, values[0]), (30, None), (10 * (n - 1), values[-1]), (n * 10 + 3, 2.5)):
                test = "is null" if want is None else f"= {float(want)!r}"  # no point at step 30
                assert reader.run_keys(True, *_compile(f"metrics.loss.at({step}) {test}")) == [ref.key]


def _compile(expr: str) -> tuple[str, tuple[object, ...]]:
    from expdesk.index.filter import compile_filter

    sql, params = compile_filter(expr)
    return sql, tuple(params)
