"""`compare --csv/--json` write exact numbers: every float64 reads back to the same bits (round-trip tests)."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expdesk.cli import main
from expdesk.compare.diff import build_diff, json_value
from expdesk.index.service import Index
from tests.bundle.handoff import HANDOFF, copy_fixture, truth
from tests.compare.conftest import add_run
from tests.sql import query

TRICKY = [0.1 + 0.2, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 123456789.12345679,
          1e-7, 0.30000000000000004, 9007199254740993.0, float("nan"), float("inf"), float("-inf")]  # fmt: skip


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or _bits(a) == _bits(b)


def _from_json(value: float | str) -> float:
    return (
        {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
        if isinstance(value, str)
        else value
    )


def _cli(db: Path, keys: list[str], fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["compare", *keys, f"--{fmt}", "--all", "--db", str(db)]) == 0
    return capsys.readouterr().out


def test_tricky_values_round_trip_through_csv_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "i.db"
    with Index(db) as ix:
        keys = [add_run(ix, tmp_path, f"r{i}", {}, {"loss": [1.0, v]}) for i, v in enumerate(TRICKY)]
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(_cli(db, keys, "csv", capsys)))}
    doc = json.loads(_cli(db, keys, "json", capsys))
    row = next(r for r in doc["rows"] if r["key"] == "loss" and r["stat"] == "last")
    for i, value in enumerate(TRICKY):
        assert _same(float(rows["loss · last"][i]), value), (rows["loss · last"][i], value)
        assert _same(_from_json(row["values"][keys[i]]), value)
    assert rows["loss · last"][TRICKY.index(0.1 + 0.2)] == "0.30000000000000004"
    assert {rows["loss · last"][-3], rows["loss · last"][-2], rows["loss · last"][-1]} == {
        "nan",
        "inf",
        "-inf",
    }
    assert isinstance(row["values"][keys[0]], float) and "NaN" in doc["numbers"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6))
def test_any_float_round_trips_through_the_exported_cells(values: list[float]) -> None:
    runs = [{"key": f"k{i}", "name": f"r{i}", "metrics": {"m": {"last": v, "min": v, "max": v}}}
            for i, v in enumerate(values)]  # fmt: skip
    table = build_diff(runs)
    matrix = table.as_matrix(only_differences=False, exact=True)
    last = next(r for r in matrix if r[0] == "m · last")[1:]
    cells = next(r for r in table.rows if r.key == "m" and r.stat == "last").cells
    for text, cell, value in zip(last, cells, values, strict=True):
        assert _same(float(text), value)
        assert _same(_from_json(json.loads(json.dumps(json_value(cell), allow_nan=False))), value)


def test_real_trainer_metrics_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ground truth: the last logged value of each metric in the Trainer's own trainer_state.json."""
    db = tmp_path / "i.db"
    with Index(db) as ix:
        ix.index([HANDOFF / "trainer"])
        with ix.reader() as reader:
            keys = {r[1]: r[0] for r in query(reader, "SELECT key, name FROM runs ORDER BY name")}
    names = ["tiny-cls", "tiny-final"]
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(_cli(db, [keys[n] for n in names], "csv", capsys)))}
    doc = json.loads(_cli(db, [keys[n] for n in names], "json", capsys))
    for col, name in enumerate(names):
        state = json.loads(
            (HANDOFF / "trainer" / "out" / name / "checkpoint-12" / "trainer_state.json").read_text()
        )
        last: dict[str, float] = {}
        for entry in state["log_history"]:
            for k, v in entry.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    last[k] = float(v)
        for metric, expected in last.items():
            assert float(rows[f"{metric} · last"][col]) == expected
            row = next(r for r in doc["rows"] if r["key"] == metric and r["stat"] == "last")
            assert row["values"][keys[name]] == expected


def test_real_mlflow_sweep_metrics_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ground truth: the val_loss each Optuna trial returned and MLflow logged (read back by MlflowClient)."""
    gt = truth()["mlflow_sweep"]
    copy_fixture("mlflow/sweep", tmp_path / "ws")
    db = tmp_path / "i.db"
    with Index(db) as ix:
        ix.index([tmp_path / "ws"])
        with ix.reader() as reader:
            keys = {r[1]: r[0] for r in query(reader, "SELECT key, native_id FROM runs")}
    runs = sorted(gt["val_loss"])
    doc = json.loads(_cli(db, [keys[r] for r in runs], "json", capsys))
    row = next(r for r in doc["rows"] if r["key"] == "val_loss" and r["stat"] == "last")
    assert [row["values"][keys[r]] for r in runs] == [gt["val_loss"][r] for r in runs]
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(_cli(db, [keys[r] for r in runs], "csv", capsys)))}
    assert [float(v) for v in rows["val_loss · last"]] == [gt["val_loss"][r] for r in runs]
