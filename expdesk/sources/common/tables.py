"""Metric tables as researchers hand-write them: JSON Lines, CSV, lists of per-step dicts.

Shared by the generic, Keras, Hydra and other readers. All functions are incremental through a small
per-file cursor entry and never raise for a torn last line (it is left for the next read).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import Series
from expdesk.core.numbers import as_float
from expdesk.core.safefile import loads
from expdesk.sources.common.tail import read_new_lines
from expdesk.sources.common.values import exact_float_options

#: columns that are the x axis or a clock, never metrics
STEP_KEYS = ("step", "global_step", "_step", "iteration", "iter")
EPOCH_KEYS = ("epoch",)
TIME_KEYS = ("time", "timestamp", "wall_time", "_timestamp", "walltime")


class Columns:
    """Accumulates (step, value, timestamp) per metric key, then hands out `Series`."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[list[int], list[float], list[float]]] = {}

    def add(self, key: str, step: int, value: float, ts: float) -> None:
        steps, values, stamps = self._data.setdefault(key, ([], [], []))
        steps.append(step)
        values.append(value)
        stamps.append(ts)

    def series(self, replace: bool = False) -> list[Series]:
        return [Series.from_lists(k, s, v, t, replace) for k, (s, v, t) in self._data.items()]


# a metric value: JSON numbers (not bools) and numeric strings ("nan", "inf", "1e-3")
number = as_float


def to_ms(value: Any) -> float:
    """A recorded clock value as epoch milliseconds: seconds, milliseconds and nanoseconds are told apart
    by magnitude (1e9 s ~ 2001, 1e12 ms ~ 2001, 1e18 ns ~ 2001)."""
    v = number(value)
    if v is None or not math.isfinite(v):
        return math.nan
    if abs(v) >= 1e17:
        return v / 1e6
    if abs(v) >= 1e11:
        return v
    return v * 1000.0


def as_step(value: Any) -> int | None:
    """A recorded step as an int64, or None (not a number, not finite, or too large for the index)."""
    v = number(value)
    if v is None or not math.isfinite(v) or not -(2**63) <= v < 2**63:
        return None
    return int(v)


def _step_of(record: Mapping[str, Any], x_key: str | None, fallback: int) -> int:
    if x_key is not None:
        step = as_step(record.get(x_key))
        if step is not None:
            return step
    return fallback


def pick_x_key(keys: Iterable[str]) -> str | None:
    keys = list(keys)
    for candidate in STEP_KEYS + EPOCH_KEYS:
        if candidate in keys:
            return candidate
    return None


def flatten_record(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"loss": 1}}` -> `{"train/loss": 1}` (the slash convention of TensorBoard, W&B, DVCLive)."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten_record(v, name))
        else:
            out[name] = v
    return out


def records_to_columns(
    records: Iterable[Mapping[str, Any]], cols: Columns, first_index: int = 0, x_key: str | None = None
) -> str | None:
    """Add every numeric field of each record as a point; the step comes from `step` (else `epoch`, else the
    record's index). Returns the x key used, so later increments use the same one."""
    for i, raw in enumerate(records, start=first_index):
        record = flatten_record(raw)
        if x_key is None:
            x_key = pick_x_key(record)
        step = _step_of(record, x_key, i)
        ts = math.nan
        for tk in TIME_KEYS:
            if tk in record:
                ts = to_ms(record[tk])
                break
        for key, value in record.items():
            if key == x_key or key in TIME_KEYS or key in STEP_KEYS or key in EPOCH_KEYS:
                continue
            v = number(value) if not isinstance(value, str) else None
            if v is not None:
                cols.add(key, step, v, ts)
    return x_key


def read_jsonl(
    path: Path, state: dict[str, Any] | None
) -> tuple[list[Series], bool, dict[str, Any], list[str]]:
    """New points of a JSON Lines metrics file -> (series, reset, new state, errors)."""
    tail = read_new_lines(path, (state or {}).get("tail"))
    lines_before = 0 if tail.reset else int((state or {}).get("lines", 0))
    x_key = None if tail.reset else (state or {}).get("x")
    records = []
    errors = []
    for n, line in enumerate(tail.data.splitlines(), start=lines_before + 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            errors.append(f"{path.name}: line {n}: not valid JSON, skipped")
            continue
        if isinstance(obj, dict):
            records.append(obj)
        else:
            errors.append(f"{path.name}: line {n}: not a JSON object, skipped")
    cols = Columns()
    x_key = records_to_columns(records, cols, lines_before, x_key)
    new_state = {"tail": tail.state, "lines": lines_before + tail.data.count(b"\n"), "x": x_key}
    return cols.series(replace=tail.reset), tail.reset, new_state, errors


def _csv_rows(text: str, name: str, errors: list[str]) -> list[list[str]]:
    """Rows of a CSV text; a row the csv module refuses (a field over its 128 KiB limit, a stray quote)
    is named and skipped instead of failing the file. `newline=""` lets a bare `\r` end a row, as csv wants."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    while True:
        try:
            rows.append(next(reader))
        except StopIteration:
            return rows
        except csv.Error as exc:
            if len(errors) < 5:
                errors.append(f"{name}: line {reader.line_num}: {exc}, skipped")


def read_csv_table(
    path: Path,
    state: dict[str, Any] | None,
    *,
    x_candidates: tuple[str, ...] = STEP_KEYS + EPOCH_KEYS,
) -> tuple[list[Series], bool, dict[str, Any], list[str]]:
    """New rows of a CSV metrics file (header row; empty cell = not logged) -> (series, reset, state, errors).

    When the header is rewritten (Lightning adds a column by rewriting the file) the head digest in the
    tail cursor changes, so the whole file is read again and `reset` is True.
    """
    tail = read_new_lines(path, (state or {}).get("tail"))
    prev = {} if tail.reset else (state or {})
    fast = _fast_csv(tail.data, prev.get("header"), int(prev.get("rows", 0)), x_candidates)
    if fast is not None:
        series, fast_header, rows_read = fast
        for s in series:
            s.replace = tail.reset
        return series, tail.reset, {"tail": tail.state, "header": fast_header, "rows": rows_read}, []
    text = tail.data.decode("utf-8", "replace").replace("\0", "")
    errors: list[str] = []
    rows = _csv_rows(text, path.name, errors)
    header = prev.get("header")
    row_index = int(prev.get("rows", 0))
    if header is None:
        if not rows:
            return [], tail.reset, {"tail": tail.state, "header": None, "rows": 0}, errors
        header, rows = [h.strip() for h in rows[0]], rows[1:]
    x_key = next((c for c in x_candidates if c in header), None)
    time_idx = next((i for i, h in enumerate(header) if h in TIME_KEYS), None)
    x_idx = header.index(x_key) if x_key else None
    cols = Columns()
    for row in rows:
        if not row:
            continue
        if len(row) > len(header):
            errors.append(f"{path.name}: row {row_index + 1}: {len(row)} cells for {len(header)} columns")
        step = row_index
        if x_idx is not None and x_idx < len(row):
            recorded = as_step(row[x_idx])
            step = row_index if recorded is None else recorded
        ts = to_ms(row[time_idx]) if time_idx is not None and time_idx < len(row) else math.nan
        for i, cell in enumerate(row[: len(header)]):
            if i in (x_idx, time_idx) or header[i] in STEP_KEYS or header[i] in EPOCH_KEYS:
                continue
            v = number(cell)
            if v is not None:
                cols.add(header[i], step, v, ts)
        row_index += 1
    new_state = {"tail": tail.state, "header": header, "rows": row_index}
    return cols.series(replace=tail.reset), tail.reset, new_state, errors


#: below this many bytes the csv module is as fast as starting pandas' parser
FAST_CSV_MIN_BYTES = 64 * 1024
#: every byte a table of plain numbers can hold (no letters: no nan/inf spellings, text or quotes; no spaces)
_NUMERIC_CSV = b"0123456789.,-+eE\r\n"


def _fast_csv(
    data: bytes, header: list[str] | None, first_row: int, x_candidates: tuple[str, ...]
) -> tuple[list[Series], list[str], int] | None:
    """A big table of plain numbers (what Lightning's CSVLogger writes) through pandas' C parser, giving
    exactly what the row loop in `read_csv_table` gives; None at the first thing it would have to judge cell
    by cell (text, NaN spellings, quotes, ragged rows, duplicate columns), and the row loop reads it."""
    if len(data) < FAST_CSV_MIN_BYTES:
        return None
    body = data
    if header is None:
        end = data.find(b"\n")
        line = data[:end]
        if end < 0 or b'"' in line or b"\0" in line or b"\r" in line.rstrip(b"\r"):
            return None
        try:
            header = [h.strip() for h in line.rstrip(b"\r").decode("utf-8").split(",")]
        except UnicodeDecodeError:
            return None
        body = data[end + 1 :]
    if len(set(header)) != len(header):
        return None
    nan_cells: list[tuple[int, int]] = []
    letters = body.translate(None, _NUMERIC_CSV)
    if letters:
        # Python (and so Lightning) writes non-finite floats as nan, inf, -inf: pandas reads inf itself, and
        # a nan cell is a logged NaN, which pandas can only give as "empty", so those are found by position.
        # Every letter must belong to a `nan` or an `inf` (a cell like `1nan` is then refused by pandas).
        if len(letters) != 3 * (body.count(b"nan") + body.count(b"inf")):
            return None
        spotted = _nan_cells(body)
        if spotted is None:
            return None
        nan_cells = spotted
    import pandas as pd

    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            header=None,
            engine="c",
            dtype=np.float64,
            keep_default_na=False,
            na_values=["", "nan"],
            quoting=csv.QUOTE_NONE,
            **exact_float_options(),
        )
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != len(header):
        return None  # rows wider or narrower than the header: the row loop names them
    n = len(frame)
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    x_key = next((c for c in x_candidates if c in header), None)
    x_idx = header.index(x_key) if x_key else None
    time_idx = next((i for i, h in enumerate(header) if h in TIME_KEYS), None)
    steps = rows
    if x_idx is not None:
        xs = frame[x_idx].to_numpy()
        ok = np.isfinite(xs) & (xs >= -(2.0**63)) & (xs < 2.0**63)  # as_step: else the row's index
        steps = np.where(ok, np.trunc(np.where(ok, xs, 0.0)).astype(np.int64), rows)
    stamps = to_ms_array(frame[time_idx].to_numpy()) if time_idx is not None else np.full(n, np.nan)
    found = []
    for i, name in enumerate(header):
        if i in (x_idx, time_idx) or name in STEP_KEYS or name in EPOCH_KEYS:
            continue
        values = frame[i].to_numpy()
        logged = ~np.isnan(values)  # an empty cell: not logged at that row
        for row, col in nan_cells:
            if col == i:
                logged[row] = True  # ... but a nan cell is a NaN that was logged
        where = np.flatnonzero(logged)
        if len(where):
            found.append((int(where[0]), i, Series(name, steps[logged], values[logged], stamps[logged])))
    # the row loop meets keys in the order their first value appears
    found.sort(key=lambda f: (f[0], f[1]))
    return [f[2] for f in found], header, first_row + n


#: more NaN cells than this and the row loop reads the table (they are found one by one)
MAX_NAN_CELLS = 1000


def _nan_cells(body: bytes) -> list[tuple[int, int]] | None:
    """(row, column) of every `nan` cell, rows counted as pandas counts them; None when blank lines or lone
    carriage returns would make that count differ from the line count, or when there are too many."""
    if b"\n\n" in body or b"\n\r\n" in body or body.startswith((b"\n", b"\r\n")):
        return None
    if body.count(b"\r") != body.count(b"\r\n"):
        return None
    cells: list[tuple[int, int]] = []
    line, counted_to, pos = 0, 0, body.find(b"nan")
    while pos >= 0:
        if len(cells) >= MAX_NAN_CELLS:
            return None
        line += body.count(b"\n", counted_to, pos)
        counted_to = pos
        start = body.rfind(b"\n", 0, pos) + 1
        cells.append((line, body.count(b",", start, pos)))
        pos = body.find(b"nan", pos + 3)
    return cells


def to_ms_array(values: np.ndarray) -> np.ndarray:
    """`to_ms` over an array: seconds, milliseconds and nanoseconds told apart by magnitude."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(magnitude >= 1e17, values / 1e6, np.where(magnitude >= 1e11, values, values * 1000.0))
    out[~np.isfinite(values)] = np.nan
    return out


def history_dict_to_series(history: Mapping[str, Any]) -> list[Series]:
    """Keras `History.history` saved as JSON: `{metric: [value per epoch]}`, x = epoch index."""
    out = []
    for key, values in history.items():
        if not isinstance(values, list):
            continue
        nums = [number(v) for v in values]
        pairs = [(i, v) for i, v in enumerate(nums) if v is not None]
        if pairs:
            out.append(
                Series(
                    key,
                    np.array([p[0] for p in pairs], dtype=np.int64),
                    np.array([p[1] for p in pairs], dtype=np.float64),
                    np.full(len(pairs), np.nan),
                    replace=True,
                )
            )
    return out
