"""The Python API and the CLI on the same index say the same thing: `runs()` vs `expdesk runs --json`,
`history()` vs `expdesk show --json --history`, filter errors vs the CLI's message."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import expdesk
from expdesk.api.values import typed_value
from expdesk.cli import main
from tests.groundtruth import RUNS

QUERIES = [
    ("", ""),
    ("params.alpha < 0.005", "-params.alpha"),
    ("status != failed and format ~ 'mlflow'", "metrics.val_accuracy.max, name"),
    ("metrics.loss.count > 2 or tags.stage = prod", "-start_time"),
    ("not deleted and params.lr >= 0.01", "name, -format"),
    ("name ~ 'run' and experiment is null", ""),
]


def cli_json(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--db", str(db)]) == 0
    return json.loads(capsys.readouterr().out)


def json_value(value: Any) -> Any:
    """A frame cell as the CLI's JSON spells it (NaN and infinities as strings, missing as null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def text_value(value: Any) -> str | None:
    """A text cell: pandas 3's string columns hold a missing value as NaN, pandas 2's object ones as None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@pytest.mark.parametrize(("where", "sort"), QUERIES)
def test_runs_equal_cli_json(
    ws: expdesk.Workspace, sample_db: Path, capsys: pytest.CaptureFixture[str], where: str, sort: str
) -> None:
    args = ["runs", "--json", "--all"]
    args += ["--where", where] if where else []
    args += ["--sort", sort] if sort else []  # as typed: `--sort -start_time` too
    runs = cli_json(sample_db, capsys, *args)
    df = ws.runs(where=where or None, sort=sort or None, deleted=None)
    assert list(df.index) == [r["key"] for r in runs]
    for run in runs:
        row = df.loc[run["key"]]
        for field in ("name", "experiment", "format", "status", "path", "native_id", "parent", "error"):
            assert text_value(row[field]) == run[field], (run["key"], field)
        assert bool(row["stale"]) is run["stale"] and bool(row["deleted"]) is run["deleted"]
        for field in ("start_time", "end_time"):
            stamp = row[field]
            text = (
                None if stamp is pd.NaT else stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            assert text == run[field], (run["key"], field)
        params = {k.removeprefix("params."): v for k, v in row.items() if k.startswith("params.")}
        for key, text in run["params"].items():
            expected = typed_value(text)
            got = json_value(params[key])
            if expected is None:  # recorded as None: missing in the frame
                assert got in (None, "NaN"), (run["key"], key)
            elif isinstance(expected, float) or (isinstance(got, float) and isinstance(expected, int)):
                assert math.isclose(float(got), float(expected)) or (got == "NaN" and expected != expected)
            else:
                assert got == expected, (run["key"], key)
        # params a run lacks are missing in its row, never a value
        assert all(json_value(v) in (None, "NaN") for k, v in params.items() if k not in run["params"])
        tags = {k.removeprefix("tags."): text_value(v) for k, v in row.items() if k.startswith("tags.")}
        assert {k: v for k, v in tags.items() if v is not None} == run["tags"]
        metrics = {
            k.removeprefix("metrics."): json_value(v) for k, v in row.items() if k.startswith("metrics.")
        }
        # `metrics.<name>` is the last logged value; a reported result alone (no points) has none
        logged = {k: m["last"] for k, m in run["metrics"].items() if m["count"]}
        assert logged == {k: v for k, v in metrics.items() if k in logged}
        # `metrics.<name>.final` is the value the run reported as its result, where it reported one
        finals = {f"{k}.final": m["final"] for k, m in run["metrics"].items() if "final" in m}
        assert finals == {k: v for k, v in metrics.items() if k in finals}
        assert all(v == "NaN" for k, v in metrics.items() if k not in logged and k not in finals)


def test_default_runs_are_the_cli_default(
    ws: expdesk.Workspace, sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = cli_json(sample_db, capsys, "runs", "--json")
    assert list(ws.runs().index) == [r["key"] for r in listed]
    deleted = cli_json(sample_db, capsys, "runs", "--json", "--all", "--where", "deleted")
    assert list(ws.runs(deleted=True).index) == [r["key"] for r in deleted] != []


def test_history_equals_cli_show_history(
    ws: expdesk.Workspace, sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = list(ws.runs(deleted=None).index)
    h = ws.history(keys)
    assert h["step"].dtype == np.int64 and h["value"].dtype == np.float64
    assert str(h["time"].dtype) == "datetime64[us, UTC]"
    for key in keys:
        shown = cli_json(sample_db, capsys, "show", key, "--json", "--history")
        mine = h[h["run"] == key]
        # a reported result with no series (a joined run's `eval_samples`, a DVC stage's `step`) has no points
        with_points = {k: m for k, m in shown["metrics"].items() if m["count"]}
        assert list(dict.fromkeys(mine["metric"])) == list(with_points)
        for metric, m in with_points.items():
            points = mine[mine["metric"] == metric]
            assert points["step"].tolist() == [p["step"] for p in m["history"]]
            assert [json_value(v) for v in points["value"]] == [p["value"] for p in m["history"]]
            # the CLI prints whole milliseconds (int() of the stored float); the frame keeps microseconds
            stamps = [None if t is pd.NaT else t.value // 1_000_000 for t in points["time"]]
            assert stamps == [p["timestamp"] for p in m["history"]]


@pytest.mark.parametrize(
    "expr", ["stauts = failed", "params.lr <", "metrics.loss.mni > 1", "name ~ '('", "status = runing"]
)
def test_filter_errors_are_the_clis(
    ws: expdesk.Workspace, sample_db: Path, capsys: pytest.CaptureFixture[str], expr: str
) -> None:
    assert main(["runs", "--db", str(sample_db), "--where", expr]) == 2
    cli_message = capsys.readouterr().err.strip().removeprefix("expdesk: ")
    with pytest.raises(expdesk.FilterError) as caught:
        ws.runs(where=expr)
    assert isinstance(caught.value, ValueError) and str(caught.value) == cli_message
    assert caught.value.position >= 0


def test_sort_errors_are_filter_errors(ws: expdesk.Workspace) -> None:
    with pytest.raises(ValueError, match=r"unknown aggregate 'mni'.*did you mean 'min'"):
        ws.runs(sort="metrics.loss.mni")


def test_cached_columns_give_the_same_frames(ws: expdesk.Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large pulls keep every run's columns until the index changes; frames picked from them are the
    frames fetched directly (this index is small: the cache is switched on for every pull here)."""
    from expdesk.api import cache

    queries: list[dict[str, Any]] = [
        {"deleted": None},
        {},
        *({"where": w or None, "sort": s or None} for w, s in QUERIES[1:]),
    ]
    fetched = [ws.runs(**q) for q in queries]
    assert not ws._runs_cache.holds  # 40-odd runs: below the threshold, fetched directly
    monkeypatch.setattr(cache, "CACHE_FROM", 1)
    for query, expected in zip(queries, fetched, strict=True):
        pd.testing.assert_frame_equal(ws.runs(**query), expected)
        assert ws._runs_cache.holds


def test_the_cache_follows_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from expdesk.api import cache

    monkeypatch.setattr(cache, "CACHE_FROM", 1)
    with expdesk.open(tmp_path / "i.sqlite") as ws:
        ws.index(RUNS / "plain")
        before = ws.runs()
        assert len(before) == 3 and ws._runs_cache.holds
        ws.index(RUNS / "lightning")  # another connection commits: the kept columns are out of date
        after = ws.runs()
        assert len(after) == 5 and "params.hidden" in after.columns
        # the runs indexed first are as they were (a column without values is object or str: both missing)
        for column in before.columns:
            old = [None if pd.isna(v) else v for v in before[column]]
            assert [None if pd.isna(v) else v for v in after.loc[before.index, column]] == old, column


def test_runs_hidden_in_the_window_are_left_out_as_the_table_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one definition of "the runs": a run hidden with Delete in the window is not in `expdesk runs` or
    # `ws.runs()` either, unless asked for (`--all`, hidden=None); the folder is never touched
    from expdesk.index.service import Index

    db = tmp_path / "index.sqlite"
    with expdesk.open(db) as ws:
        ws.index(RUNS / "mlflow")
        everyone = list(ws.runs().index)
    assert len(everyone) >= 3
    gone = everyone[1]
    with Index(db) as index:
        index.set_hidden([gone], True)
    listed = [r["key"] for r in cli_json(db, capsys, "runs", "--json")]
    assert listed == [k for k in everyone if k != gone]
    with_all = cli_json(db, capsys, "runs", "--json", "--all")
    assert [r["key"] for r in with_all if r.get("hidden")] == [gone]
    capsys.readouterr()
    assert main(["runs", "--all", "--db", str(db)]) == 0
    assert "(hidden)" in capsys.readouterr().out
    with expdesk.open(db) as ws:
        assert list(ws.runs().index) == listed
        assert list(ws.runs(hidden=True).index) == [gone]
        assert set(ws.runs(hidden=None).index) == set(everyone)
