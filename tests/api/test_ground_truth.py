"""`runs()` and `history()` against what each tool's own reader says (GROUND_TRUTH.json of every sample)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

import expdesk
from expdesk.api.values import typed_value
from tests.groundtruth import RUNS, gt_path, load_gt

#: tools whose GROUND_TRUTH.json is the corpus' run list (Trackio's is per project: its own test below)
TOOLS = sorted(p.parent.name for p in RUNS.glob("*/GROUND_TRUTH.json") if "runs" in load_gt(p.parent.name))
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def number(value: Any) -> float:
    return NON_FINITE[value] if isinstance(value, str) else float(value)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b) and type(a) is type(b)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config sections as the dotted keys readers store them under."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def expected_params(gt: dict[str, Any]) -> dict[str, Any]:
    """The params as the tool's own reader typed them (`params_typed`), else its text read by the rule
    the API documents; a None is a missing value."""
    typed = gt.get("params_typed")
    values = flatten(typed) if typed is not None else {k: typed_value(v) for k, v in gt["params"].items()}
    return {k: v for k, v in values.items() if v is not None}


def expected_metrics(gt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GT metric summaries by the name expdesk gives them. TensorBoard: sub-directories of a run are one
    run, their scalars named after the sub-directory (`loss_compare/train`) or, in an hparams session,
    by their own tag (tests/sources/test_tensorboard.py has the reasoning)."""
    expected = dict(gt["metrics"])
    root = next((t for t in gt.get("tb_runs", []) if t["path"] == gt["path"]), None)
    for tb_run in gt.get("tb_runs", []):
        if tb_run is not root:
            sub = tb_run["tb_run_name"].split("/", 1)[1]
            for tag, summary in tb_run["scalars"].items():
                expected[tag if tb_run["hparams"] else sub] = summary
    return expected


#: tools whose readers record more params than GT's `params` holds (Trainer: every TrainingArguments field)
MORE_PARAMS = {"transformers"}


def gt_runs(tool: str) -> list[dict[str, Any]]:
    return load_gt(tool)["runs"]


def row_of(df: pd.DataFrame, gt: dict[str, Any]) -> pd.Series:
    """The one row of `df` for a ground-truth run: same folder (and run id, where a store holds many)."""
    path = str(gt_path(gt["path"]).resolve())
    rows = df[df["path"] == path]
    if len(rows) > 1 and gt.get("run_id"):
        rows = rows[rows["native_id"] == gt["run_id"]]
    assert len(rows) == 1, f"{gt['path']}: {len(rows)} rows"
    return rows.iloc[0]


def present(row: pd.Series, prefix: str) -> dict[str, Any]:
    """The `prefix.*` cells of a row that hold a value (a run's own params, tags or metrics)."""
    return {
        name.removeprefix(prefix): value
        for name, value in row.items()
        if str(name).startswith(prefix)
        and not (value is None or (isinstance(value, float) and math.isnan(value)))
    }


@pytest.mark.parametrize("tool", TOOLS)
def test_runs_frame_matches_ground_truth(ws: expdesk.Workspace, tool: str) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs(tool):
        row = row_of(df, gt)
        where = f"{tool} {gt['path']}"
        # params: the run's own, typed by the documented rule from the text the tool recorded
        got = {k: v.item() if isinstance(v, np.generic) else v for k, v in present(row, "params.").items()}
        expected = expected_params(gt)
        if tool in MORE_PARAMS:
            assert set(expected) <= set(got), where
        else:
            assert sorted(got) == sorted(expected), where
        for key, value in expected.items():
            # an int column with runs lacking it is float64 (NaN for missing): the same number
            if isinstance(value, bool | str | list | dict):
                assert got[key] == value and type(got[key]) is type(value), f"{where} params.{key}"
            else:  # an int column with runs lacking it is float64 (NaN for missing): the same number
                assert same(float(got[key]), float(value)), f"{where} params.{key}"
        # tags: every tag the tool has is a column (expdesk adds Hydra overrides and W&B labels as tags)
        tags = present(row, "tags.")
        for key, value in gt.get("tags", {}).items():
            assert tags[key] == value, f"{where} tags.{key}"
        # metrics: the last value of every series, nothing else
        metrics = present(row, "metrics.")
        summaries = expected_metrics(gt)
        nan_last = {k for k, m in summaries.items() if m["last_value"] == "NaN"}
        assert sorted(set(metrics) | nan_last) == sorted(summaries), where
        for key, m in summaries.items():
            assert same(float(row[f"metrics.{key}"]), number(m["last_value"])), f"{where} metrics.{key}"
        assert isinstance(row["start_time"], pd.Timestamp) or row["start_time"] is pd.NaT


def test_mlflow_attributes_match_ground_truth(ws: expdesk.Workspace) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs("mlflow"):
        row = row_of(df, gt)
        assert row["name"] == gt["run_name"] and row["experiment"] == gt["experiment_name"]
        assert row["status"] == gt["status"].lower().replace("scheduled", "queued")
        assert bool(row["deleted"]) == (gt["lifecycle_stage"] == "deleted")
        for column, ms in (("start_time", gt["start_time_ms"]), ("end_time", gt["end_time_ms"])):
            if ms is None:
                assert row[column] is pd.NaT
            else:
                assert row[column] == pd.Timestamp(ms, unit="ms", tz="UTC")
                assert row[column].tzinfo is not None
        if gt["parent_run_id"]:
            parent = df[df["native_id"] == gt["parent_run_id"]]
            assert row["parent"] in parent.index
        else:
            assert row["parent"] is None or row["parent"] != row["parent"]


@pytest.mark.parametrize("tool", ["sacred", "wandb"])
def test_recorded_start_times_are_utc(ws: expdesk.Workspace, tool: str) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs(tool):
        text = gt["start_time"].removesuffix("Z")
        expected = datetime.fromisoformat(text).replace(tzinfo=UTC)  # both tools record UTC
        assert row_of(df, gt)["start_time"] == pd.Timestamp(expected)


@pytest.mark.parametrize("tool", TOOLS)
def test_history_matches_ground_truth_summaries(ws: expdesk.Workspace, tool: str) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs(tool):
        key = row_of(df, gt).name
        h = ws.history(key)
        assert list(h.columns) == ["run", "metric", "step", "value", "time"]
        summaries = expected_metrics(gt)
        assert sorted(h["metric"].unique()) == sorted(summaries)
        for metric, m in summaries.items():
            points = h[h["metric"] == metric]
            steps, values = points["step"].to_numpy(), points["value"].to_numpy()
            where = f"{tool} {gt['path']} {metric}"
            assert len(points) == m["count"], where
            assert (steps.min(), steps.max()) == (m["first_step"], m["last_step"]), where
            last = values[np.flatnonzero(steps == steps.max())[-1]]  # the later of equal steps wins
            assert same(float(last), number(m["last_value"])), where
            finite = values[~np.isnan(values)]
            if len(finite):
                assert same(float(finite.min()), number(m["min"])), where
                assert same(float(finite.max()), number(m["max"])), where
            assert int(np.isnan(values).sum()) == m.get("nan_count", 0), where


def test_trackio_runs_and_histories_match_ground_truth(ws: expdesk.Workspace) -> None:
    """Trackio's ground truth is its own reader's view of each project (tests/sources/test_trackio.py):
    params from the config, one series per logged key. (Times are left to that test: Trackio writes naive
    local times, which need the writer's time zone.)"""
    from tests.sources.test_trackio import _expected_params, _expected_series

    df = ws.runs(where="format = trackio", deleted=None)
    gt = load_gt("trackio")
    expected_runs = [
        (label, project, run)
        for label, doc in gt.items()
        for project, p in doc["projects"].items()
        for run in p["runs"]
    ]
    assert len(df) == len(expected_runs) > 0
    for label, project, run in expected_runs:
        rows = df[
            (df["native_id"] == run["id"]) & (df["path"] == str(RUNS / "trackio" / label / f"{project}.db"))
        ]
        assert len(rows) == 1, (label, project, run["name"])
        row = rows.iloc[0]
        where = f"{label}/{project}/{run['name']}"
        assert row["name"] == run["name"] and row["experiment"] == project, where
        params = {k: typed_value(v) for k, v in _expected_params(run["config"]).items()}
        got = present(row, "params.")
        nan = {k for k, v in params.items() if isinstance(v, float) and math.isnan(v)}  # a NaN as logged
        assert sorted(got) == sorted(k for k, v in params.items() if v is not None and k not in nan), where
        assert all(math.isnan(row[f"params.{k}"]) for k in nan), where
        assert all(got[k] == v for k, v in params.items() if k in got), where
        h = ws.history(row.name)
        series = _expected_series(run)
        assert sorted(h["metric"].unique()) == sorted(series), where
        for metric, points in series.items():
            mine = h[h["metric"] == metric]
            assert mine["step"].tolist() == [p[0] for p in points], f"{where} {metric}"
            assert all(same(float(v), float(p[1])) for v, p in zip(mine["value"], points, strict=True))


def test_tensorboard_media_match_ground_truth(ws: expdesk.Workspace) -> None:
    """Images TensorBoard's EventAccumulator lists (GT `images`): the run's media series and steps, and each
    item's bytes, a PNG of the recorded size."""
    df = ws.runs(where="format = tensorboard")
    for gt in gt_runs("tensorboard"):
        run = ws.run(row_of(df, gt).name)
        root = next(t for t in gt["tb_runs"] if t["path"] == gt["path"])
        images = {m.key: m for m in run.media if m.kind == "image"}
        assert sorted(images) == sorted(root["images"]), gt["path"]
        for key, items in root["images"].items():
            assert images[key].steps == tuple(i["step"] for i in items)
            for item in items:
                png = run.media_bytes(key, item["step"])
                assert png[:8] == b"\x89PNG\r\n\x1a\n"
                width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
                assert (width, height) == (item["width"], item["height"])
        with pytest.raises(KeyError, match="has nothing at step 12345"):
            run.media_bytes(next(iter(images)), 12345)
