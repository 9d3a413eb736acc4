"""Per-series summaries (the numbers the runs table and filters use), computed and merged incrementally.

Rules (the corpus conventions): count = every point incl. NaN and duplicates; first/last_step = min/max
step; last = value at the highest step, ties broken by write order (the later point wins); min/max over
non-NaN values (infinities count); argmin_step = step of the first minimum.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass
class Summary:
    count: int = 0
    first_step: int | None = None
    last_step: int | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None
    argmin_step: int | None = None
    argmax_step: int | None = None
    nan_count: int = 0
    last_timestamp: float | None = None  # ms

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None = None) -> Summary:
    s = Summary()
    return merge(s, steps, values, timestamps)


def merge(s: Summary, steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None = None) -> Summary:
    """Fold new points (written after everything already summarised) into `s`; returns a new Summary."""
    n = len(steps)
    out = replace(s)  # every field is an immutable scalar: a shallow copy is a copy
    if n == 0:
        return out
    out.count += n
    smax = int(steps.max())
    smin = int(steps.min())
    out.first_step = smin if out.first_step is None else min(out.first_step, smin)
    if out.last_step is None or smax >= out.last_step:
        # the last occurrence of the highest step among the new points wins: it was written last
        idx = n - 1 - int(np.argmax(steps[::-1] == smax))
        out.last_step = smax
        out.last = float(values[idx])
    nan_mask = np.isnan(values)
    nans = int(np.count_nonzero(nan_mask))
    out.nan_count += nans
    if nans < n:
        # the common case, no NaN, needs no masked copies
        finite_vals = values[~nan_mask] if nans else values
        finite_steps = steps[~nan_mask] if nans else steps
        i_min = int(np.argmin(finite_vals))
        i_max = int(np.argmax(finite_vals))
        vmin, vmax = float(finite_vals[i_min]), float(finite_vals[i_max])
        if out.min is None or vmin < out.min:
            out.min, out.argmin_step = vmin, int(finite_steps[i_min])
        if out.max is None or vmax > out.max:
            out.max, out.argmax_step = vmax, int(finite_steps[i_max])
    if timestamps is not None and len(timestamps):
        newest = float(timestamps.max())
        if math.isnan(newest):  # max propagates NaN: only then pay for the mask
            ts = timestamps[~np.isnan(timestamps)]
            newest = float(ts.max()) if len(ts) else math.nan
        if not math.isnan(newest):
            out.last_timestamp = newest if out.last_timestamp is None else max(out.last_timestamp, newest)
    return out


def json_number(value: float | None) -> float | str | None:
    """Strict-JSON form of a float: non-finite numbers become "NaN", "Infinity", "-Infinity"."""
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value
