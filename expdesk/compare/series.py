"""Metric series ready to plot: x in the chosen mode, sorted, with the smoothed line computed on full data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from expdesk.compare.decimate import MinMaxPyramid
from expdesk.compare.smoothing import ema_smooth
from expdesk.index.reader import IndexReader

#: matplotlib date numbers are days since 1970-01-01 (its default epoch); timestamps are ms
_MS_PER_DAY = 86_400_000.0


class XMode(StrEnum):
    STEP = "step"
    WALL = "wall"  # wall-clock time (UTC), from the points' timestamps
    RELATIVE = "relative"  # seconds since the run's first timestamped point


@dataclass
class RawSeries:
    """A metric's full history as stored: write order, possibly unsorted or with repeated steps."""

    run_key: str
    metric: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    timestamps: np.ndarray | None  # float64 ms, NaN when unknown; None when loaded for a step axis only


@dataclass
class PlotSeries:
    """One line: `x` ascending, `y` and `steps` aligned with it; `smoothed` when smoothing is on. On a step
    axis `x` is `steps` itself (int64; search it with `decimate.search_sorted`), on a time axis float64."""

    run_key: str
    label: str
    metric: str
    x: np.ndarray
    y: np.ndarray
    steps: np.ndarray
    smoothed: np.ndarray | None = None
    pyramid: MinMaxPyramid | None = None  # min/max of y and sums of the smoothed line per 2**k block


def load_series(
    reader: IndexReader,
    run_keys: Sequence[str],
    metrics: Iterable[str],
    cancelled: Callable[[], bool] = lambda: False,
    with_timestamps: bool = True,
) -> list[RawSeries]:
    """Every (run, metric) pair that exists, metric by metric; runs without the metric are skipped, not
    errors. `with_timestamps=False` leaves `timestamps` None: enough for a step axis, a third less memory."""
    metrics = list(metrics)
    found: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    for key in run_keys:  # one run at a time, so that a cancel is seen between runs
        if cancelled():
            break
        found.update(reader.series_many([(key, m) for m in metrics], with_timestamps))
    return [
        RawSeries(key, metric, *found[(key, metric)])
        for metric in metrics
        for key in run_keys
        if (key, metric) in found
    ]


def needs_timestamps(x_mode: XMode) -> bool:
    return x_mode is not XMode.STEP


def prepare(raw: RawSeries, label: str, x_mode: XMode = XMode.STEP, smoothing: float = 0.0) -> PlotSeries:
    """Order the points by x (stable: repeated steps keep their write order) and smooth in that order."""
    if x_mode is XMode.STEP:
        x = raw.steps  # int64 as stored: a float copy would be another 8 MB per million points
        keep = None
    else:
        if raw.timestamps is None:
            raise ValueError(f"{raw.run_key} {raw.metric}: loaded without timestamps, cannot plot over time")
        keep = np.isfinite(raw.timestamps)  # points without a timestamp have no place on a time axis
        x = raw.timestamps[keep]
        x = x / _MS_PER_DAY if x_mode is XMode.WALL else (x - x.min()) / 1000.0 if len(x) else x
    y = raw.values if keep is None else raw.values[keep]
    steps = raw.steps if keep is None else raw.steps[keep]
    if len(x) > 1 and bool(np.any(x[1:] < x[:-1])):
        order = np.argsort(x, kind="stable")
        x_is_steps = x is steps
        x, y = x[order], y[order]
        steps = x if x_is_steps else steps[order]  # one sorted copy on a step axis, not two
    smoothed = ema_smooth(y, smoothing) if smoothing > 0 else None
    # built here, on the worker, once per load: every later zoom reduces the pyramid in O(pixels)
    return PlotSeries(raw.run_key, label, raw.metric, x, y, steps, smoothed, MinMaxPyramid(y, smoothed))


def value_at_step(steps: np.ndarray, values: np.ndarray, step: int) -> float | None:
    """The value at the highest step <= `step` (the last written of equal steps); None before the first."""
    if len(steps) == 0:
        return None
    mask = steps <= step
    if not mask.any():
        return None
    best = int(steps[mask].max())
    idx = np.flatnonzero(steps == best)[-1]
    return float(values[idx])


def values_at(
    reader: IndexReader, run_keys: Sequence[str], metrics: Iterable[str], step: int
) -> dict[str, dict[str, float | None]]:
    """`{metric: {run_key: value at step}}` for the diff table's "value at step" rows."""
    out: dict[str, dict[str, float | None]] = {}
    for raw in load_series(reader, run_keys, metrics, with_timestamps=False):
        out.setdefault(raw.metric, {})[raw.run_key] = value_at_step(raw.steps, raw.values, step)
    return out
