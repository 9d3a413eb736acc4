"""DVCLive step histories: `plots/metrics/<name>.tsv`, one file per metric, appended a line per step.

Header `step\\t<leaf>` or `timestamp\\tstep\\t<leaf>` (timestamp in ms); NaN is written as `nan`. A resumed
session (`resume=True`) keeps appending to the same files; a fresh session deletes and recreates them, which
the tail cursor sees as a new file identity and reads from the start.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import Series
from expdesk.sources.common.tables import to_ms, to_ms_array
from expdesk.sources.common.tail import read_new_lines
from expdesk.sources.common.values import exact_float_options

#: below this many lines the plain loop is faster than starting pandas' parser
FAST_MIN_LINES = 2000


def _parse_header(line: bytes) -> tuple[int | None, int | None, int] | None:
    """(step column, timestamp column, value column) of a header line, or None if it is not one."""
    names = [c.strip() for c in line.rstrip(b"\r").split(b"\t")]
    step = names.index(b"step") if b"step" in names else None
    stamp = names.index(b"timestamp") if b"timestamp" in names else None
    values = [i for i in range(len(names)) if i not in (step, stamp)]
    if not values and step is not None:
        # a metric whose leaf name is `step` (`train/step`): DVCLive's row {"step": step, "step": value} kept
        # the value, so the column holds the metric and the step it was logged at is the row's order
        return None, stamp, step
    if not values:
        return None
    # DVCLive writes the leaf name last; anything else is from a different writer and still readable
    return step, stamp, values[-1]


def read_tsv(
    path: Path, state: dict[str, Any] | None, key: str
) -> tuple[Series, bool, dict[str, Any], list[str]]:
    """New points of one TSV -> (series, reset, new state, errors). A torn last line waits."""
    tail = read_new_lines(path, (state or {}).get("tail"))
    prev = {} if tail.reset else (state or {})
    body = tail.data  # whole lines only: empty or ending with b"\n"
    header = prev.get("header")
    row = int(prev.get("rows", 0))
    errors: list[str] = []
    if header is None and body:
        end = body.find(b"\n")
        parsed = _parse_header(body[:end])
        body = body[end + 1 :]
        if parsed is None:
            errors.append(f"{path.name}: line 1: not a DVCLive header")
        header = list(parsed) if parsed is not None else None
    steps: list[int] = []
    values: list[float] = []
    stamps: list[float] = []
    big = header is not None and body.count(b"\n") >= FAST_MIN_LINES
    fast = _parse_fast(body, header, row) if big and header is not None else None
    if fast is not None:
        series = Series(key, fast[0], fast[1], fast[2], replace=tail.reset)
        new_state = {"tail": tail.state, "header": header, "rows": row + len(series.steps)}
        return series, tail.reset, new_state, errors
    lines = body.split(b"\n")[:-1]
    if header is not None:
        step_col, stamp_col, value_col = header
        width = max(c for c in header if c is not None) + 1
        line_no = row + 2  # 1-based, after the header
        for line in lines:
            parts = line.rstrip(b"\r").split(b"\t")
            if len(parts) < width:
                if line.strip():
                    errors.append(f"{path.name}: line {line_no}: {len(parts)} fields, expected {width}")
                line_no += 1
                continue
            try:
                # float()/int() take bytes directly, which keeps this loop cheap
                value = float(parts[value_col])
                step = _int(parts[step_col]) if step_col is not None else row
            except (ValueError, OverflowError):
                errors.append(f"{path.name}: line {line_no}: not a number, skipped")
                line_no += 1
                continue
            steps.append(step)
            values.append(value)
            stamps.append(to_ms(_float(parts[stamp_col])) if stamp_col is not None else math.nan)
            row += 1
            line_no += 1
    series = Series(
        key,
        np.array(steps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.array(stamps, dtype=np.float64),
        replace=tail.reset,
    )
    new_state = {"tail": tail.state, "header": header, "rows": row}
    return series, tail.reset, new_state, errors[:20]


def _parse_fast(
    body: bytes, header: list[int | None], first_row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A big, well-formed chunk parsed by pandas' C reader; None (use the line loop) at the first oddity, so
    errors are still reported per line and the two paths give identical points."""
    import pandas as pd

    step_col, stamp_col, value_col = header
    width = max(c for c in header if c is not None) + 1
    options = exact_float_options()
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            sep="\t",
            header=None,
            quoting=csv.QUOTE_NONE,
            engine="c",
            low_memory=False,
            **options,
        )
    except (ValueError, OverflowError, UnicodeDecodeError):
        return None
    if frame.shape[1] != width:
        return None
    step = frame[step_col] if step_col is not None else None
    value = frame[value_col]
    stamp = frame[stamp_col] if stamp_col is not None else None
    if step is not None and step.dtype != np.int64:
        return None  # floats, gaps (NaN from short rows), text or > int64: the loop decides line by line
    if value.dtype.kind not in "if" or (stamp is not None and stamp.dtype.kind not in "if"):
        return None
    n = len(frame)
    steps = step.to_numpy() if step is not None else np.arange(first_row, first_row + n, dtype=np.int64)
    ms = np.full(n, np.nan) if stamp is None else to_ms_array(stamp.to_numpy(dtype=np.float64))
    return steps, value.to_numpy(dtype=np.float64), ms


def _int(cell: bytes) -> int:
    try:
        value = int(cell)
    except ValueError:
        value = int(float(cell))  # `3.0` from a float-typed writer; nan/inf raise ValueError/OverflowError
    if not -(2**63) <= value < 2**63:
        raise OverflowError("step out of int64 range")
    return value


def _float(cell: bytes) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan
