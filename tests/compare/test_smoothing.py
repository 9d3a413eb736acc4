"""EMA smoothing against TensorBoard's formula, written out as the per-point loop it is in TensorBoard."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expdesk.compare.smoothing import ema_smooth, linear_recurrence


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts::classicSmoothing, transcribed."""
    weight = 0.0 if not math.isfinite(weight) else max(0.0, min(weight, 1.0))
    if all(v == values[0] for v in values):
        return list(values)
    last, num_accum, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1.0 if weight == 1 else 1 - weight**num_accum
        out.append(last / debias)
    return out


def assert_matches(values: np.ndarray, weight: float, rtol: float = 1e-9) -> None:
    got = ema_smooth(values, weight)
    want = np.array(tensorboard_smoothing(values.tolist(), weight))
    assert got.shape == want.shape
    same_nonfinite = ~np.isfinite(want)
    np.testing.assert_array_equal(got[same_nonfinite], want[same_nonfinite])
    finite = np.isfinite(want)
    scale = np.abs(values[np.isfinite(values)]).max(initial=1.0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("weight", [0.0, 0.001, 0.3, 0.6, 0.9, 0.99, 0.999, 0.9999, 1.0])
def test_matches_tensorboard_on_noisy_data(weight: float) -> None:
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=30_000)) + rng.normal(size=30_000) * 5
    assert_matches(values, weight)


def test_non_finite_values_pass_through_without_updating_the_average() -> None:
    values = np.array([1.0, math.nan, 3.0, math.inf, -math.inf, 5.0, math.nan])
    got = ema_smooth(values, 0.6)
    assert math.isnan(got[1]) and got[3] == math.inf and got[4] == -math.inf and math.isnan(got[6])
    # the finite points are smoothed as if the others were not there (the debias count skips them too)
    np.testing.assert_allclose(got[[0, 2, 5]], ema_smooth(np.array([1.0, 3.0, 5.0]), 0.6))
    assert_matches(values, 0.6)


def test_constant_series_is_returned_unchanged() -> None:
    np.testing.assert_array_equal(ema_smooth(np.full(100, 3.5), 0.9), np.full(100, 3.5))


def test_first_point_is_not_biased_towards_zero() -> None:
    assert ema_smooth(np.array([10.0, 20.0]), 0.6)[0] == pytest.approx(10.0)


@pytest.mark.parametrize("magnitude", [1e-200, 1e-5, 1e5, 1e200, 1e300])
def test_any_float_range_without_overflow(magnitude: float) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=5000) * magnitude
    values[::50] *= 1e3 if magnitude < 1e300 else 1.0
    assert_matches(values, 0.6)


def test_values_spanning_hundreds_of_orders_of_magnitude() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=20_000) * np.exp(rng.normal(size=20_000) * 40)
    assert_matches(values, 0.95, rtol=1e-8)


def test_empty_and_single() -> None:
    assert len(ema_smooth(np.empty(0), 0.6)) == 0
    assert ema_smooth(np.array([2.0]), 0.6).tolist() == [2.0]
    assert ema_smooth(np.array([math.nan, math.nan]), 0.6).tolist() != [0.0, 0.0]


def test_linear_recurrence_across_many_blocks() -> None:
    rng = np.random.default_rng(4)
    u = rng.normal(size=10_007)
    got = linear_recurrence(u, 0.5)
    want = np.empty_like(u)
    prev = 0.0
    for i, v in enumerate(u):
        prev = 0.5 * prev + v
        want[i] = prev
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_input_is_not_modified() -> None:
    values = np.array([1.0, 2.0, math.nan, 4.0])
    before = values.copy()
    ema_smooth(values, 0.6)
    np.testing.assert_array_equal(values, before)
