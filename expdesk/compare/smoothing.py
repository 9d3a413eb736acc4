"""TensorBoard-compatible debiased EMA smoothing, vectorised with numpy (no scipy, no Python loop per point).

The rule is TensorBoard's `classicSmoothing` (tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts;
the same as `resmoothDataset` in the older vz_line_chart2/line-chart.ts):

    weight is clamped to [0, 1] (non-finite -> 0)
    a series whose values are all equal (`==`, so a NaN breaks it) is returned unchanged   (tensorboard#786)
    last = 0; n = 0
    for each value v:
        if v is not finite: smoothed = v                       (passed through, EMA not updated)
        else: last = last * w + (1 - w) * v; n += 1
              smoothed = last / (1 - w**n)   (or last / 1 when w == 1)

The recurrence `e[i] = w * e[i-1] + (1 - w) * v[i]` is evaluated in blocks: inside a block of length B,
`e[j] = w**j * (e[0] + sum_{k<=j} (1 - w) * v[k] * w**-k)`, a cumulative sum. B is chosen so that `w**-B`
stays far from overflow, and every block is scaled by its largest magnitude first, so any finite float64
input works; blocks are processed together as rows of a matrix and only the carry between blocks (one value
per block) is a Python loop.
"""

from __future__ import annotations

import math

import numpy as np

#: largest growth factor `w**-j` allowed inside a block (scaled values <= 1, so sums stay < 1e250 * B)
_MAX_GROWTH = 1e250
#: cap on the block length: cumulative-sum rounding grows with the block length (error ~ B * eps)
_MAX_BLOCK = 4096
#: magnitudes up to this are divided by a**j (>= 1e-250) without scaling: 1e50 * 1e250 * 4096 < 1e308
_SAFE_PEAK = 1e50


def ema_smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA exactly as TensorBoard draws it; returns a new float64 array of the same length."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v.copy()
    w = float(weight) if math.isfinite(weight) else 0.0
    w = min(max(w, 0.0), 1.0)
    # two differing first values (or a NaN among them) settle it without a pass over the whole series
    if v[0] == v[min(1, len(v) - 1)] and bool(np.all(v == v[0])):
        return v.copy()  # tensorboard#786: a constant series is drawn as is
    finite = np.isfinite(v)
    all_finite = bool(finite.all())
    x = v if all_finite else v[finite]
    m = len(x)
    if m == 0 or w == 0.0:
        return v.copy()  # no smoothing: every finite value is its own EMA, non-finite ones pass through
    if w == 1.0:
        # TensorBoard: last stays 0 and the debias weight is 1, so every finite point smooths to 0
        out = v.copy()
        out[finite] = 0.0
        return out
    ema = linear_recurrence(x, w, scale=1.0 - w)
    # 1 - w**n, without cancellation for w close to 1; it is exactly 1.0 in float64 once w**n < eps/2,
    # so only that prefix needs dividing
    log_w = math.log(w)
    prefix = min(m, math.ceil(math.log(2.0**-54) / log_w) + 1)
    ema[:prefix] /= -np.expm1(np.arange(1, prefix + 1, dtype=np.float64) * log_w)
    if all_finite:
        return ema  # a new array already: no copy of the input is needed
    out = v.copy()
    out[finite] = ema
    return out


def linear_recurrence(u: np.ndarray, a: float, scale: float = 1.0) -> np.ndarray:
    """`scale * y[i]` where `y[i] = a * y[i-1] + u[i]` and `y[-1] = 0`, for 0 < a < 1, vectorised in blocks
    (the scale rides on the last multiplication instead of costing a pass of its own)."""
    n = len(u)
    block = int(min(_MAX_BLOCK, max(1, math.floor(math.log(_MAX_GROWTH) / -math.log(a)))))
    block = min(block, n)
    rows = -(-n // block)
    if rows * block == n:
        mat = np.array(u, dtype=np.float64).reshape(rows, block)
    else:
        mat = np.zeros((rows, block))
        mat.reshape(-1)[:n] = u
    powers = a ** np.arange(block, dtype=np.float64)  # a**j, j = 0..B-1: >= 1e-250 by the choice of B
    # The end of row r restarted at 0 is a dot product with a**(B-1-j); one BLAS matrix-vector product
    # gives all of them, a scalar loop over the rows (n / B steps) chains them into each row's carry-in,
    # and the carry joins the row's first element, so a single cumulative sum yields the final values.
    tails = (mat @ powers[::-1]).tolist()
    decay = float(powers[-1] * a)
    carry = [0.0] * rows
    prev = 0.0
    for r in range(rows):
        carry[r] = prev
        prev = tails[r] + decay * prev
    mat[:, 0] += a * np.asarray(carry)
    # u / a**j grows by up to 1e250: beyond |u| ~ 1e50 scale each row by its largest magnitude first so
    # that nothing overflows whatever the input range (a pass we skip for ordinary metric values)
    peak = max(float(mat.max()), -float(mat.min()))
    row_scale = None
    if peak > _SAFE_PEAK:
        row_scale = np.abs(mat).max(axis=1)
        row_scale[row_scale == 0] = 1.0
        mat /= row_scale[:, None]
    mat *= 1.0 / powers  # a multiplication is cheaper than a division; <= 1 ulp apart
    result = np.cumsum(mat, axis=1, out=mat)
    result *= powers * scale
    if row_scale is not None:
        result *= row_scale[:, None]
    return result.reshape(-1)[:n]
