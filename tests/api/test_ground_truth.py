"""`runs()` and `history()` against what each tool's own reader says (GROUND_TRUTH.json of every sample)."""

from __future__ import annotations

import functools
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


def row_of(ws: expdesk.Workspace, df: pd.DataFrame, gt: dict[str, Any]) -> tuple[pd.Series, expdesk.Part]:
    """The one row of `df` for a ground-truth run, and the part of it the ground-truth run is: a run of one
    tool is its own only part; a run that became a part of a job (issue 23) is found through its run's
    `parts` (same folder, and run id where a store holds many)."""
    path = str(gt_path(gt["path"]).resolve())
    found = []
    for key in df.index:
        if df.at[key, "path"] != path and not _joined(ws, key):
            continue  # a run of one part: its path is its part's
        for part in ws.run(key).parts:
            if part.path == path and (not gt.get("run_id") or part.native_id in (None, str(gt["run_id"]))):
                found.append((key, part))
    if len(found) > 1:
        found = [(k, p) for k, p in found if str(gt.get("tool", "")).startswith(p.format)]
    assert len(found) == 1, f"{gt['path']}: {len(found)} parts"
    key, part = found[0]
    return df.loc[key], part


@functools.cache
def _joined_keys(ws: expdesk.Workspace) -> frozenset[str]:
    # the runs of several parts (few), found once per workspace
    return frozenset(k for k in ws.runs(deleted=None).index if len(ws.run(k).parts) > 1)


def _joined(ws: expdesk.Workspace, key: str) -> bool:
    return key in _joined_keys(ws)


def present(row: pd.Series, prefix: str) -> dict[str, Any]:
    """The `prefix.*` cells of a row that hold a value (a run's own params, tags or metrics); the
    `metrics.<name>.final` columns are results, not series."""
    return {
        name.removeprefix(prefix): value
        for name, value in row.items()
        if str(name).startswith(prefix)
        and not (prefix == "metrics." and str(name).endswith(".final"))
        and not (value is None or (isinstance(value, float) and math.isnan(value)))
    }


def expected_finals(tool: str, gt: dict[str, Any]) -> dict[str, float] | None:
    """What the tool reported as the run's result, by the tool's own record: W&B's run summary (its own
    `_runtime`-style keys and the fields of logged objects, marked `<key>/_type`, are not results), DVCLive's
    `metrics.json` and `dvc metrics show` (nested keys joined with `/`). None: not checked here."""
    if tool == "wandb":
        summary = gt["summary"]
        objects = {k.rpartition("/")[0] for k in summary if k.endswith("/_type")}
        return {
            k: float(v)
            for k, v in summary.items()
            if not k.startswith("_")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and not any(k == o or k.startswith(o + "/") for o in objects)
        }
    if tool == "dvc":
        reported = gt.get("metrics_json_latest") or gt.get("metrics_show") or {}

        def flat(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
            out: dict[str, float] = {}
            for k, v in values.items():
                out |= flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": float(v)}
            return out

        return flat(reported)
    return None


def cell(row: pd.Series, column: str, label: str) -> Any:
    """A joined run's value of a part: under its plain name, or labelled with the part where parts
    disagree (`params.lr@lightning`, `metrics.loss@tensorboard`)."""
    name, _, suffix = column.partition("|")
    for candidate in (f"{name}@{label}{suffix}", f"{name}{suffix}"):
        if candidate in row.index:
            value = row[candidate]
            if not (value is None or (isinstance(value, float) and math.isnan(value))):
                return value
    return None


@pytest.mark.parametrize("tool", TOOLS)
def test_runs_frame_matches_ground_truth(ws: expdesk.Workspace, tool: str) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs(tool):
        row, part = row_of(ws, df, gt)
        where = f"{tool} {gt['path']}"
        finals = expected_finals(tool, gt)
        if part.rule != "alone":
            check_joined_row(row, part.label, gt, finals, where)
            continue
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
        if finals is not None:
            got_finals = {
                k.removeprefix("metrics.").removesuffix(".final"): float(v)
                for k, v in row.items()
                if str(k).startswith("metrics.") and str(k).endswith(".final") and v == v
            }
            assert got_finals.keys() == finals.keys(), where
            assert all(same(got_finals[k], v) for k, v in finals.items()), where
        assert isinstance(row["start_time"], pd.Timestamp) or row["start_time"] is pd.NaT


def check_joined_row(
    row: pd.Series, label: str, gt: dict[str, Any], finals: dict[str, float] | None, where: str
) -> None:
    """A ground-truth run that became a part of a job: its run holds every param, series and result the
    tool recorded (the part's own value under its plain name or labelled with the part)."""
    for key, value in expected_params(gt).items():
        got = cell(row, f"params.{key}", label)
        got = got.item() if isinstance(got, np.generic) else got
        if isinstance(value, bool | str | list | dict):
            assert got == value, f"{where} params.{key}"
        else:
            assert same(float(got), float(value)), f"{where} params.{key}"
    for key, m in expected_metrics(gt).items():
        got = cell(row, f"metrics.{key}", label)
        assert got is not None or m["last_value"] == "NaN", f"{where} metrics.{key}"
        if got is not None:
            assert same(float(got), number(m["last_value"])), f"{where} metrics.{key}"
    for key, value in (finals or {}).items():
        got = cell(row, f"metrics.{key}|.final", label)
        assert got is not None and same(float(got), value), f"{where} metrics.{key}.final"


def test_mlflow_attributes_match_ground_truth(ws: expdesk.Workspace) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs("mlflow"):
        row, _ = row_of(ws, df, gt)
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
        assert row_of(ws, df, gt)[0]["start_time"] == pd.Timestamp(expected)


@pytest.mark.parametrize("tool", TOOLS)
def test_history_matches_ground_truth_summaries(ws: expdesk.Workspace, tool: str) -> None:
    df = ws.runs(deleted=None)
    for gt in gt_runs(tool):
        row, part = row_of(ws, df, gt)
        h = ws.history(row.name)
        assert list(h.columns) == ["run", "metric", "step", "value", "time"]
        summaries = expected_metrics(gt)
        names = set(h["metric"].unique())
        if part.rule == "alone":
            assert sorted(names) == sorted(summaries)
        else:  # a part of a job: the joined run reads every series of it, its own or labelled with it
            assert all({m, f"{m}@{part.label}"} & names for m in summaries), gt["path"]
        for metric, m in summaries.items():
            labelled = f"{metric}@{part.label}"
            points = h[h["metric"] == (labelled if labelled in names else metric)]
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
        run = ws.run(row_of(ws, df, gt)[0].name)
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
