"""Series summaries against a plain-Python reading of their rules, whole and merged in two parts."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.summary import Summary, merge, summarize

POINTS = st.lists(
    st.tuples(
        st.integers(-5, 5),
        st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([math.nan, 1.0]),
        st.floats(0, 1e13) | st.just(math.nan),
    ),
    max_size=30,
)


def reference(points: list[tuple[int, float, float]]) -> dict[str, object]:
    if not points:
        return {"count": 0, "last": None, "min": None, "max": None, "nan_count": 0, "last_timestamp": None}
    top = max(p[0] for p in points)
    finite = [(v, s) for s, v, _ in points if not math.isnan(v)]
    stamps = [t for *_, t in points if not math.isnan(t)]
    vmin = min(finite, key=lambda f: f[0]) if finite else None  # min() keeps the first of equal values
    vmax = max(finite, key=lambda f: f[0]) if finite else None
    return {
        "count": len(points),
        "first_step": min(p[0] for p in points),
        "last_step": top,
        "last": [v for s, v, _ in points if s == top][-1],  # ties: written last wins
        "min": vmin and vmin[0],
        "argmin_step": vmin and vmin[1],
        "max": vmax and vmax[0],
        "argmax_step": vmax and vmax[1],
        "nan_count": sum(math.isnan(v) for _, v, _ in points),
        "last_timestamp": max(stamps) if stamps else None,
    }


def arrays(points: list[tuple[int, float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([p[0] for p in points], dtype=np.int64),
        np.array([p[1] for p in points], dtype=np.float64),
        np.array([p[2] for p in points], dtype=np.float64),
    )


def same(summary: Summary, want: dict[str, object]) -> None:
    for key, value in want.items():
        got = getattr(summary, key)
        if key in ("min", "max", "argmin_step", "argmax_step") and want.get("min") is None:
            assert got is None, key
        elif isinstance(value, float) and math.isnan(value):
            assert got is not None and math.isnan(got), key
        elif key in ("argmin_step", "argmax_step"):
            continue  # which of several equal extremes: checked below by value
        else:
            assert got == value, (key, got, value)


@settings(max_examples=400, deadline=None)
@given(POINTS, st.integers(0, 30))
def test_summary_whole_and_merged_follow_the_rules(points: list[tuple[int, float, float]], cut: int) -> None:
    want = reference(points)
    whole = summarize(*arrays(points))
    same(whole, want)
    # the step recorded for the min/max holds that value
    if whole.min is not None:
        assert any(s == whole.argmin_step and v == whole.min for s, v, _ in points)
        assert any(s == whole.argmax_step and v == whole.max for s, v, _ in points)
    first, second = points[:cut], points[cut:]
    merged = merge(summarize(*arrays(first)), *arrays(second))
    same(merged, want)
    assert merge(whole, *arrays([])) == whole
