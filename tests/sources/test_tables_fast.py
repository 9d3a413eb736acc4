"""The pandas path for big CSV metric tables gives exactly what the row-by-row reading gives, or steps
aside: checked on generated Lightning-style tables with hostile cells and lines."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.sources.common import tables as _tables

NAMES = ["step", "epoch", "time", "train_loss", "val/acc", "lr-Adam", "_step", "loss"]
CELLS = st.one_of(
    st.just(""),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.sampled_from(["1e5", "-2.5E-3", "+7", "5.", ".5", "0", "-0.0", "1e308", "9223372036854775807"]),
)
MALFORMED = [" 1.5", "1.5 ", "1e400", "-", ".", "1e", "--1", "1.2.3", "1e-400", "1e19", "-1e19"]
SPELLED = ["nan", "nan", "inf", "-inf", "+inf", "-nan", "NaN", "Infinity", "nannan", "1nan", "in", "na"]
ODD_CELLS = st.sampled_from([*MALFORMED, *SPELLED])
ODD_LINES = st.sampled_from(["", " ", ",,,", "\r", "1,2,3,4,5,6,7,8,9,10", "nan,1", '"1",2', "inf", "x"])


def read(path: Path, fast: bool, state: dict | None = None) -> tuple:
    saved = _tables.FAST_CSV_MIN_BYTES
    _tables.FAST_CSV_MIN_BYTES = 0 if fast else 1 << 62
    try:
        series, reset, new_state, errors = _tables.read_csv_table(path, state)
    finally:
        _tables.FAST_CSV_MIN_BYTES = saved
    as_dict = {
        s.key: (s.steps.tolist(), [repr(v) for v in s.values.tolist()], s.timestamps.tobytes())
        for s in series
    }
    return [s.key for s in series], as_dict, reset, new_state["header"], new_state["rows"], errors


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True),
    st.lists(st.lists(CELLS, min_size=0, max_size=7), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 24), ODD_LINES), max_size=1),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 6), ODD_CELLS), max_size=3),
    st.sampled_from(["\n", "\r\n"]),
)
def test_fast_csv_equals_the_row_loop(
    header: list[str],
    rows: list[list[str]],
    odd: list[tuple[int, str]],
    odd_cells: list[tuple[int, int, str]],
    eol: str,
) -> None:
    rows = [(r + [""] * len(header))[: len(header)] for r in rows]  # mostly well-formed rows
    for at, col, cell in odd_cells:
        rows[at % len(rows)][col % len(header)] = cell
    lines = [",".join(header)] + [",".join(r) for r in rows]
    for at, line in odd:
        lines.insert(1 + at % len(lines), line)
    data = (eol.join(lines) + eol).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.csv"
        path.write_bytes(data)
        fast_seen = _tables._fast_csv(data, None, 0, _tables.STEP_KEYS + _tables.EPOCH_KEYS) is not None
        got, want = read(path, True), read(path, False)
        assert got[1:] == want[1:]  # points per key, reset, header, rows, errors
        if fast_seen:
            assert got[0] == want[0]  # and the order keys appear in


def test_a_lightning_sized_table_takes_the_fast_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["epoch,step,train_loss,val_loss,lr-Adam"]
    for step in range(20_000):
        val = repr(float(rng.random())) if step % 100 == 99 else ""
        lines.append(f"{step // 1000},{step},{float(rng.random())!r},{val},{1e-3 * 0.99 ** (step // 1000)!r}")
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > _tables.FAST_CSV_MIN_BYTES
    assert _tables._fast_csv(data, None, 0, _tables.STEP_KEYS + _tables.EPOCH_KEYS) is not None
    path = tmp_path / "metrics.csv"
    path.write_bytes(data)
    got, want = read(path, True), read(path, False)
    assert got == want
    keys, series = got[0], got[1]
    assert keys == ["train_loss", "lr-Adam", "val_loss"]  # first-appearance order, as the row loop has it
    assert len(series["val_loss"][0]) == 200 and series["val_loss"][0][0] == 99


@pytest.mark.parametrize(
    "body",
    [
        b"step,loss\n" + b"1,NaN\n" * 10_000,
        b"step,loss\n" + b"1,nan\n" * 10_000,  # more NaN cells than are worth finding one by one
        b'step,"lo,ss"\n' + b"1,2\n" * 10_000,
        b"step,a,a\n" + b"1,2,3\n" * 9000,
    ],
    ids=["other-nan-spelling", "mostly-nan", "quoted-header", "duplicate-column"],
)
def test_tables_the_fast_path_leaves_to_the_row_loop(body: bytes) -> None:
    assert _tables._fast_csv(body, None, 0, _tables.STEP_KEYS) is None
