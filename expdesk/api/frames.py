"""pandas DataFrames from the index's columns: the typed frame of `runs()` and the long frame of `history()`.

The only module of the API that imports pandas (the workspace imports it when a frame is asked for).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from expdesk.api.values import NONE_TEXT, is_boolean_text, is_integer_text, typed_value
from expdesk.compare.decimate import m4_indices
from expdesk.index.column_queries import RunColumns, TextColumn

#: the attribute columns of `runs()`, in order (params, tags and metrics follow)
ATTRIBUTES = (
    "name",
    "experiment",
    "format",
    "status",
    "stale",
    "deleted",
    "start_time",
    "end_time",
    "path",
    "native_id",
    "parent",
    "error",
)
HISTORY_COLUMNS = ("run", "metric", "step", "value", "time")
#: integers a float64 column holds exactly
_EXACT_INT = 2**53
_NAT = np.iinfo(np.int64).min
#: microseconds that fit an int64 (with room: float64 cannot hold 2**63 - 1 exactly)
_MICROS_RANGE = 9.2e18
#: the time resolution of every frame: microseconds hold any recorded time exactly enough (a float64 of
#: epoch seconds has ~0.24 us resolution today) over ±290,000 years, where nanoseconds end in 2262
_UNIT = "us"


# -- times ---------------------------------------------------------------------------------------------
def utc_times(values: np.ndarray, per_second: float, in_place: bool = False) -> pd.DatetimeIndex:
    """Aware UTC times from epoch times in 1/`per_second` units (s: 1, ms: 1000); NaN, ±inf and times out
    of range are NaT. `in_place` reuses `values` (a scratch array of the caller's) for the arithmetic. A
    history of 20M points spends more here than in decoding its chunks, so no pass or copy is spared."""
    with np.errstate(invalid="ignore", over="ignore"):
        factor = 1_000_000.0 / per_second
        micros = np.multiply(values, factor, out=values) if in_place else values * factor
        np.rint(micros, out=micros)
        # min/max propagate NaN: both finite and in range means every value is
        lo, hi = (float(micros.min()), float(micros.max())) if len(micros) else (0.0, 0.0)
        if lo > -_MICROS_RANGE and hi < _MICROS_RANGE:
            ints = micros.astype(np.int64)
        else:
            ok = np.abs(micros) < _MICROS_RANGE  # False for NaN and ±inf too
            ints = np.full(len(values), _NAT, dtype=np.int64)
            ints[ok] = micros[ok].astype(np.int64)
    return pd.DatetimeIndex(ints.view(f"M8[{_UNIT}]")).tz_localize("UTC")


def _seconds(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


# -- runs() --------------------------------------------------------------------------------------------
def _spread(
    n: int, positions: np.ndarray, values: Sequence[Any] | np.ndarray, fill: Any, dtype: Any
) -> np.ndarray:
    out = np.full(n, fill, dtype=dtype)
    out[positions] = values
    return out


def param_column(n: int, column: TextColumn) -> np.ndarray:
    """A param across `n` runs with one dtype when its values share a type: bool (object with None when
    some run lacks it), int64 (float64 with NaN when some lack it and the ints fit), float64 (NaN for
    missing); otherwise object holding each value as `typed_value` reads it, None for missing. A value
    recorded as None counts as missing."""
    texts, positions = column.texts, column.positions
    if NONE_TEXT in texts:
        kept = [i for i, t in enumerate(texts) if t != NONE_TEXT]
        texts, positions = [texts[i] for i in kept], positions[kept]
        column = TextColumn(positions, texts)
    if not texts:
        return np.full(n, None, dtype=object)
    complete = len(texts) == n
    if all(map(is_boolean_text, texts)):
        flags = [t.strip().lower() == "true" for t in texts]
        return np.array(flags, dtype=bool) if complete else _spread(n, column.positions, flags, None, object)
    try:
        numbers = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        numbers = None  # some value is text: each value keeps its own type
    if numbers is None:
        # text, or a mix: each distinct value typed once (most text params take a few values)
        typed = {text: typed_value(text) for text in set(texts)}
        return _spread(n, column.positions, [typed[t] for t in texts], None, object)
    if all(map(is_integer_text, texts)):
        ints = [int(t) for t in texts]
        if all(-_EXACT_INT <= i <= _EXACT_INT for i in ints):
            if complete:
                return np.array(ints, dtype=np.int64)
            return _spread(n, column.positions, ints, np.nan, np.float64)
        if complete and all(-(2**63) <= i < 2**63 for i in ints):
            return np.array(ints, dtype=np.int64)
        return _spread(n, column.positions, ints, None, object)  # beyond float64's exact integers
    return _spread(n, column.positions, numbers, np.nan, np.float64)


def text_column(n: int, column: TextColumn) -> np.ndarray:
    return _spread(n, column.positions, column.texts, None, object)


def runs_frame(
    runs: RunColumns,
    params: dict[str, TextColumn],
    tags: dict[str, TextColumn],
    metrics: dict[str, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """The frame of `Workspace.runs`: one row per run, indexed by run key."""
    n = len(runs.keys)
    text = lambda values: np.array(values, dtype=object)  # noqa: E731 (None stays None)
    columns: dict[str, Any] = {
        "name": text(runs.name),
        "experiment": text(runs.experiment),
        "format": text(runs.format),
        "status": text(runs.status),
        "stale": np.array(runs.stale, dtype=bool),
        "deleted": np.array(runs.deleted, dtype=bool),
        "start_time": utc_times(_seconds(runs.start_time), 1.0),
        "end_time": utc_times(_seconds(runs.end_time), 1.0),
        "path": text(runs.path),
        "native_id": text(runs.native_id),
        "parent": text(runs.parent),
        "error": text(runs.error),
    }
    for name, column in params.items():
        columns[f"params.{name}"] = param_column(n, column)
    for name, column in tags.items():
        columns[f"tags.{name}"] = text_column(n, column)
    for name, (positions, lasts) in metrics.items():
        columns[f"metrics.{name}"] = _spread(n, positions, lasts, np.nan, np.float64)
    index = pd.Index(np.array(runs.keys, dtype=object), name="key")
    return pd.DataFrame(columns, index=index, copy=False)


# -- history() -----------------------------------------------------------------------------------------
@dataclass
class Points:
    """Series of several runs back to back: `series` are (run key, metric, series id, count), the arrays
    their points in that order. `server_runs` are the run JSON of runs browsed on a tracking server."""

    series: list[tuple[str, str, int, int]]
    steps: np.ndarray
    values: np.ndarray
    stamps: np.ndarray | None
    server_runs: list[dict[str, Any]] = field(default_factory=list)


def check_history_args(steps: Any, max_points: Any) -> None:
    if steps is not None:
        if not (isinstance(steps, tuple | list) and len(steps) == 2):
            raise TypeError("steps= takes (first, last), both included; None leaves an end open")
        for end in steps:
            if end is not None and (isinstance(end, bool) or not isinstance(end, int | np.integer)):
                raise TypeError(f"steps= takes whole step numbers, not {end!r}")
    if max_points is not None:
        if isinstance(max_points, bool) or not isinstance(max_points, int | np.integer):
            raise TypeError(f"max_points= takes a whole number, not {max_points!r}")
        if max_points < 5:
            raise ValueError("max_points must be at least 5 (a bucket keeps up to five points)")


def with_server_histories(points: Points, metrics: list[str] | None) -> Points:
    """Runs browsed on a tracking server keep only their latest values in the index: their full histories
    come from the server, as charts get them. A server that does not answer is a warning, and those runs
    keep what the index has."""
    from expdesk.remote.browse import server_histories

    wanted = metrics if metrics is not None else sorted({m for r in points.server_runs for m in r["metrics"]})
    fetched, problems = server_histories(points.server_runs, wanted)
    for problem in problems:
        warnings.warn(f"not fetched from the server: {problem}", stacklevel=3)
    if not fetched:
        return points
    steps, values, stamps, series = [], [], [], []
    start = 0
    for run_key, metric, series_id, count in points.series:
        part = fetched.get((run_key, metric))
        if part is None:
            end = start + count
            part = (
                points.steps[start:end],
                points.values[start:end],
                points.stamps[start:end] if points.stamps is not None else np.full(count, np.nan),
            )
        steps.append(part[0])
        values.append(part[1])
        stamps.append(part[2])
        series.append((run_key, metric, series_id, len(part[0])))
        start += count
    empty = np.empty(0)
    return Points(
        series,
        np.concatenate(steps) if steps else empty.astype(np.int64),
        np.concatenate(values) if values else empty,
        np.concatenate(stamps) if stamps else empty,
    )


def _decimated(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the points a chart's min/max decimation keeps from one series: per step bucket its first,
    last, lowest and highest point and its first non-finite one (M4, `compare.decimate.m4_indices`), at
    most `max_points`, in step order (repeated steps in write order)."""
    order = np.argsort(steps, kind="stable")
    x = steps[order]
    y = values[order]
    if x[0] == x[-1]:
        x = np.arange(len(x))  # every point at one step: buckets by position, or no bucket would split
    per_bucket = 4 if bool(np.isfinite(y).all()) else 5
    return order[m4_indices(x, y, float(x[0]), float(x[-1]), max_points // per_bucket)]


def _code_type(categories: int) -> type[np.signedinteger[Any]]:
    """The integer type pandas stores the codes of a Categorical with this many categories in."""
    for kind in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(kind).max:
            return kind
    return np.int64


def history_frame(
    points: Points,
    keys: list[str],
    steps: tuple[int | None, int | None] | None,
    max_points: int | None,
) -> pd.DataFrame:
    """The long frame of `Workspace.history` (see there for the columns and the order of rows). Uses up
    `points` (its timestamps become the frame's times in place)."""
    all_steps, all_values, all_stamps = points.steps, points.values, points.stamps
    counts = np.array([count for *_, count in points.series], dtype=np.int64)
    if steps is not None or max_points is not None:
        lo = -(2**63) if steps is None or steps[0] is None else int(steps[0])
        hi = 2**63 - 1 if steps is None or steps[1] is None else int(steps[1])
        picks: list[np.ndarray] = []
        start = 0
        for i, count in enumerate(counts.tolist()):
            end = start + count
            idx = np.arange(start, end, dtype=np.int64)
            if steps is not None:
                idx = idx[(all_steps[start:end] >= lo) & (all_steps[start:end] <= hi)]
            if max_points is not None and len(idx) > max_points:
                idx = idx[_decimated(all_steps[idx], all_values[idx], max_points)]
            picks.append(idx)
            counts[i] = len(idx)
            start = end
        take = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
        all_steps, all_values = all_steps[take], all_values[take]
        all_stamps = all_stamps[take] if all_stamps is not None else None
    runs = list(keys)
    run_codes = {key: i for i, key in enumerate(runs)}
    metrics = list(dict.fromkeys(metric for _, metric, _, _ in points.series))
    metric_codes = {metric: i for i, metric in enumerate(metrics)}
    # codes in the narrowest type pandas keeps for them: a wider one would be copied down, 20M rows at a time
    run_of = np.array([run_codes[key] for key, *_ in points.series], dtype=_code_type(len(runs)))
    metric_of = np.array([metric_codes[m] for _, m, *_ in points.series], dtype=_code_type(len(metrics)))
    stamps = all_stamps if all_stamps is not None else np.full(len(all_steps), np.nan)
    return pd.DataFrame(
        {
            "run": pd.Categorical.from_codes(np.repeat(run_of, counts), categories=runs),
            "metric": pd.Categorical.from_codes(np.repeat(metric_of, counts), categories=metrics),
            "step": all_steps,
            "value": all_values,
            "time": utc_times(stamps, 1000.0, in_place=True),  # the stamps are this call's own copy
        },
        copy=False,
    )
