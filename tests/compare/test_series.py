"""Loading series for charts: several at once from one snapshot, timestamps only when a time axis needs them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from expdesk.compare.series import RawSeries, XMode, load_series, prepare, values_at
from expdesk.core.entities import Series
from expdesk.core.errors import ExpdeskError
from expdesk.index import store
from expdesk.index.service import Index
from tests.compare.conftest import add_run


def test_series_many_matches_series_across_chunks_and_appends(index: Index, tmp_path: Path) -> None:
    n = store.CHUNK_POINTS * 2 + 37  # two full chunks and a short one
    values = np.linspace(0.0, 1.0, n)
    values[[5, 9000, n - 1]] = [math.nan, math.inf, -0.0]  # survive exactly, as through `series`
    key = add_run(index, tmp_path, "a", metrics={"loss": values, "acc": [0.5, 0.6]})
    more = Series("loss", np.arange(n, n + 10), np.full(10, 7.0), np.full(10, 1.8e12))
    index.writer.call(lambda c: store.append_series(c, key, more), {key})  # tops up the short chunk
    with index.reader() as reader:
        mmap_before = reader.conn.execute("PRAGMA mmap_size").fetchone()[0]
        got = reader.series_many([(key, "loss"), (key, "acc"), (key, "nope"), ("no-run", "loss")], True)
        assert reader.conn.execute("PRAGMA mmap_size").fetchone()[0] == mmap_before, "the setting is put back"
        assert set(got) == {(key, "loss"), (key, "acc")}, "missing pairs are left out, not errors"
        for metric in ("loss", "acc"):
            want = reader.series(key, metric)
            for a, b in zip(got[(key, metric)], want, strict=True):
                assert a is not None
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype
        assert np.signbit(got[(key, "loss")][1][n - 1]), "-0.0 keeps its sign"
        steps, vals, stamps = reader.series_many([(key, "loss")])[(key, "loss")]
        assert stamps is None and len(steps) == len(vals) == n + 10
        assert not reader.conn.in_transaction, "the snapshot is released"


def test_load_series_without_timestamps_is_enough_for_steps_only(index: Index, tmp_path: Path) -> None:
    keys = [add_run(index, tmp_path, name, metrics={"loss": [3.0, 2.0, 1.0]}) for name in ("a", "b")]
    keys.append(add_run(index, tmp_path, "c", metrics={"other": [1.0]}))
    with index.reader() as reader:
        raws = load_series(reader, keys, ["loss"], with_timestamps=False)
        assert [(r.run_key, r.timestamps) for r in raws] == [(keys[0], None), (keys[1], None)]
        assert prepare(raws[0], "a", XMode.STEP, 0.6).x.tolist() == [0.0, 1.0, 2.0]
        with pytest.raises(ValueError, match="without timestamps"):
            prepare(raws[0], "a", XMode.RELATIVE)
        timed = load_series(reader, keys[:1], ["loss"])
        assert timed[0].timestamps is not None
        assert prepare(timed[0], "a", XMode.RELATIVE).x.tolist() == [0.0, 1.0, 2.0]  # seconds
        assert values_at(reader, keys, ["loss"], 1) == {"loss": {keys[0]: 2.0, keys[1]: 2.0}}


def test_load_series_stops_between_runs_when_cancelled(index: Index, tmp_path: Path) -> None:
    keys = [add_run(index, tmp_path, name, metrics={"loss": [1.0]}) for name in ("a", "b", "c")]
    calls: list[int] = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 1

    with index.reader() as reader:
        assert [r.run_key for r in load_series(reader, keys, ["loss"], cancelled)] == keys[:1]


def test_prepare_keeps_sorted_steps_as_they_are_and_sorts_others_stably() -> None:
    steps = np.array([0, 1, 2, 3], dtype=np.int64)
    raw = RawSeries("k", "m", steps, np.array([1.0, 2.0, 3.0, 4.0]), None)
    s = prepare(raw, "k", XMode.STEP)
    assert s.x is steps and s.steps is steps and s.y is raw.values, "already in order: no copies"
    raw = RawSeries("k", "m", np.array([2, 0, 2, 1]), np.array([1.0, 2.0, 3.0, 4.0]), None)
    s = prepare(raw, "k", XMode.STEP)
    assert s.steps.tolist() == [0, 1, 2, 2] and s.y.tolist() == [2.0, 4.0, 1.0, 3.0]
    assert s.x is s.steps, "a step axis keeps one sorted copy of the steps"
    timed = RawSeries("k", "m", np.array([2, 0, 1]), np.array([1.0, 2.0, 3.0]), np.array([3e3, 1e3, 2e3]))
    s = prepare(timed, "k", XMode.RELATIVE)
    assert (
        s.x.tolist() == [0.0, 1.0, 2.0] and s.steps.tolist() == [0, 1, 2] and s.y.tolist() == [2.0, 3.0, 1.0]
    )


def test_series_many_refuses_chunks_that_disagree_with_their_counts(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_run(index, tmp_path, "a", metrics={"loss": np.arange(10.0)})
    import expdesk.index.reader as reader_module

    decode = reader_module.decode_steps
    monkeypatch.setattr(reader_module, "decode_steps", lambda blob, n: np.concatenate([decode(blob, n)] * 2))
    with index.reader() as reader:
        mmap_before = reader.conn.execute("PRAGMA mmap_size").fetchone()[0]
        with pytest.raises(ExpdeskError, match="count 10 points but decode to at least 20"):
            reader.series_many([(key, "loss")])
        assert not reader.conn.in_transaction, "the snapshot is released after an error too"
        assert reader.conn.execute("PRAGMA mmap_size").fetchone()[0] == mmap_before
