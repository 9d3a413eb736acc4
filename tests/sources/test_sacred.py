"""Sacred FileStorageObserver reader: the corpus against GROUND_TRUTH.json, then rewrite windows and hostile
files in tmp_path."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, RunUpdate, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.sacred.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("sacred")
GT_RUNS = {str(gt_path(r["path"])): r for r in GT["runs"]}
STATUS_WORDS = {"COMPLETED": Status.FINISHED, "FAILED": Status.FAILED}


def iso_utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- ground truth ---


def test_discovery_yields_exactly_the_ground_truth_runs() -> None:
    refs = list(registry.discover(RUNS / "sacred"))
    assert {r.format for r in refs} == {"sacred"}
    assert sorted(str(r.path) for r in refs) == sorted(GT_RUNS)
    assert [r.native_id for r in refs] == [GT_RUNS[str(r.path)]["run_id"] for r in refs]
    assert all(r.path.name != "_sources" for r in refs)
    for ref in refs:
        assert registry.best_reader(ref.path) is READER  # one run folder handed over alone


@pytest.mark.parametrize("run_path", sorted(GT_RUNS))
def test_run_matches_ground_truth(run_path: str) -> None:
    gt = GT_RUNS[run_path]
    ref = next(r for r in READER.runs(Path(run_path).parent, RUNS) if str(r.path) == run_path)
    update = READER.read(ref, None)
    assert update.error is None  # a FAILED run's traceback is not a read error
    assert update.params == gt["params"]
    assert_metrics_equal(metric_summaries(update), gt["metrics"])
    assert update.native_status == gt["status"]
    assert update.status == STATUS_WORDS[gt["status"]]
    assert update.tags == gt["tags"]
    assert update.name == gt["run_name"] and update.experiment == gt["experiment_name"]
    assert update.start_time == pytest.approx(iso_utc(gt["start_time"]))
    assert update.end_time == pytest.approx(iso_utc(gt["stop_time"]))
    assert update.last_activity == pytest.approx(iso_utc(gt["heartbeat"]))
    for key, series in gt["metrics"].items():
        stamps = next(s.timestamps for s in update.metrics if s.key == key)
        assert stamps[0] == pytest.approx(iso_utc(series["first_timestamp"]) * 1000)
        assert stamps[-1] == pytest.approx(iso_utc(series["last_timestamp"]) * 1000)
    info = update.info
    assert info["command"] == gt["command"]
    assert info["packages"] == gt["dependencies"]
    assert info.get("result") == gt["result"]
    assert info.get("run_info") == gt["info"]
    assert info["sacred"]["named_configs"] == gt["named_configs"]
    assert info["sacred"]["config_updates"] == gt["config_updates"]
    assert info["sacred"].get("comment") == gt["comment"]
    if gt["fail_trace_last_line"]:
        assert info["fail_trace"].endswith(gt["fail_trace_last_line"])
    else:
        assert "fail_trace" not in info
    assert {(a.path, a.size) for a in update.artifacts} == {(a["path"], a["size"]) for a in gt["artifacts"]}
    assert {a["path"] for a in gt["artifacts"]} >= set(gt["declared_artifacts"])
    assert [(f.path, f.local) for f in update.files if f.role == "source"] == [
        (name, str(RUNS / "sacred" / "runs" / stored)) for name, stored in gt["sources"]
    ]
    assert update.links == []


# --- tmp_path helpers ---


def write_run(base: Path, run_id: str = "1", status: str = "RUNNING", **extra: Any) -> RunRef:
    folder = base / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    run = {
        "status": status,
        "start_time": "2026-01-01T00:00:00.000000",
        "heartbeat": "2026-01-01T00:00:10.000000",
        "experiment": {"name": "exp"},
        "command": "main",
        "host": {"hostname": "box"},
    } | extra
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "config.json").write_text(json.dumps({"lr": 0.1, "seed": 7, "net": {"depth": 2}}))
    return RunRef("sacred", folder, base, native_id=run_id, store=folder.parent)


def write_metrics(ref: RunRef, metrics: dict[str, list[float]], text: str | None = None) -> None:
    doc = {
        k: {
            "steps": list(range(len(v))),
            "values": v,
            "timestamps": [f"2026-01-01T00:00:{i:02d}.000000" for i in range(len(v))],
        }
        for k, v in metrics.items()
    }
    (ref.path / "metrics.json").write_text(text if text is not None else json.dumps(doc, indent=2))


def values(update: RunUpdate, key: str) -> list[float]:
    return [float(v) for s in update.metrics if s.key == key for v in s.values]


# --- statuses and liveness ---


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("QUEUED", Status.QUEUED),
        ("RUNNING", Status.RUNNING),
        ("INTERRUPTED", Status.INTERRUPTED),
        ("TIMEOUT", Status.INTERRUPTED),
        ("FAILED", Status.FAILED),
        ("COMPLETED", Status.FINISHED),
        ("SOMETHING", Status.UNKNOWN),
    ],
)
def test_status_words(tmp_path: Path, word: str, status: Status) -> None:
    ref = write_run(tmp_path, status=word)
    update = READER.read(ref, None)
    assert update.status == status and update.native_status == word


def test_running_run_last_activity_is_the_naive_utc_heartbeat(tmp_path: Path) -> None:
    update = READER.read(write_run(tmp_path), None)
    assert update.last_activity == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC).timestamp()
    assert update.params == {"lr": "0.1", "seed": "7", "net.depth": "2"}


def test_queued_run_without_heartbeat_uses_the_file_time(tmp_path: Path) -> None:
    ref = write_run(tmp_path, status="QUEUED", heartbeat=None, start_time=None)
    update = READER.read(ref, None)
    assert update.status == Status.QUEUED
    assert update.last_activity == pytest.approx(os.stat(ref.path / "run.json").st_mtime)


# --- incremental reads of rewritten files ---


def test_metrics_rewrite_sends_only_new_points(tmp_path: Path) -> None:
    ref = write_run(tmp_path)
    write_metrics(ref, {"loss": [3.0, 2.0], "acc": [0.1]})
    first = READER.read(ref, None)
    assert values(first, "loss") == [3.0, 2.0]
    write_metrics(ref, {"loss": [3.0, 2.0, 1.0], "acc": [0.1]})
    second = READER.read(ref, first.cursor)
    assert [(s.key, list(s.values), s.replace) for s in second.metrics] == [("loss", [1.0], False)]
    assert list(second.metrics[0].steps) == [2] and not second.metrics_reset
    assert second.params == first.params and second.status == Status.RUNNING
    third = READER.read(ref, second.cursor)
    assert third.metrics == []


def test_changed_history_replaces_only_that_key_and_a_vanished_key_resets(tmp_path: Path) -> None:
    ref = write_run(tmp_path)
    write_metrics(ref, {"loss": [3.0, 2.0], "acc": [0.1]})
    first = READER.read(ref, None)
    write_metrics(ref, {"loss": [9.0, 2.0], "acc": [0.1, 0.2]})
    second = READER.read(ref, first.cursor)
    got = {s.key: (list(s.values), s.replace) for s in second.metrics}
    assert got == {"loss": ([9.0, 2.0], True), "acc": ([0.2], False)}
    write_metrics(ref, {"acc": [0.1, 0.2]})
    third = READER.read(ref, second.cursor)
    assert third.metrics_reset and {s.key: list(s.values) for s in third.metrics} == {"acc": [0.1, 0.2]}


@pytest.mark.parametrize(
    "torn", ["", "{", '{"loss": {"steps": [0, 1], "values": [1.0,', '{"loss": {"values": [Na', '{"lo']
)
def test_half_written_metrics_keep_the_previous_state(tmp_path: Path, torn: str) -> None:
    ref = write_run(tmp_path)
    write_metrics(ref, {"loss": [3.0]})
    first = READER.read(ref, None)
    write_metrics(ref, {}, text=torn)
    second = READER.read(ref, first.cursor)
    assert second.error is None and second.metrics == [] and not second.metrics_reset
    write_metrics(ref, {"loss": [3.0, 2.0]})
    third = READER.read(ref, second.cursor)
    assert [(list(s.values), s.replace) for s in third.metrics] == [([2.0], False)]


def test_half_written_run_json_keeps_the_previous_state(tmp_path: Path) -> None:
    ref = write_run(tmp_path)
    first = READER.read(ref, None)
    (ref.path / "run.json").write_text('{"status": "COMPLETED", "start_')
    second = READER.read(ref, first.cursor)
    assert second.error is None and second.status == Status.RUNNING and second.name == "exp"
    (ref.path / "run.json").write_text("")
    fresh = READER.read(ref, None)  # no previous state yet: nothing to say, but no error either
    assert fresh.error is None and fresh.status == Status.UNKNOWN


def test_nan_literals_and_corrupt_metrics(tmp_path: Path) -> None:
    ref = write_run(tmp_path)
    text = '{"m": {"steps": [0, 1, 2], "values": [NaN, Infinity, 1.5], "timestamps": ["x", null]}}'
    write_metrics(ref, {}, text=text)
    update = READER.read(ref, None)
    got = values(update, "m")
    assert math.isnan(got[0]) and got[1:] == [math.inf, 1.5]
    assert all(math.isnan(t) for t in update.metrics[0].timestamps)
    write_metrics(ref, {}, text='{"m": {"steps": [0], oops "values": [1]}}')
    broken = READER.read(ref, update.cursor)
    assert broken.error and "metrics.json" in broken.error and "line 1" in broken.error
    assert broken.params == update.params and broken.metrics == []


# --- hostile files ---


def test_fifo_metrics_and_escaping_resource_paths(tmp_path: Path) -> None:
    ref = write_run(
        tmp_path,
        resources=[["/etc/passwd", "../../../../etc/passwd"], ["r.txt", "/abs/_x/r"]],
        experiment={"name": "exp", "sources": [["a.py", "/etc/passwd"], ["b.py", "%2e%2e/x"]]},
    )
    os.mkfifo(ref.path / "metrics.json")
    update = READER.read(ref, None)  # must not block on the FIFO
    assert update.error and "metrics.json" in update.error
    assert [f.local for f in update.files] == [None, None, None, None]


def test_resources_are_rerooted_into_the_moved_basedir(tmp_path: Path) -> None:
    ref = write_run(tmp_path, resources=[["data.csv", "/old/place/runs/_resources/data_0123.csv"]])
    (tmp_path / "runs" / "_resources").mkdir()
    (tmp_path / "runs" / "_resources" / "data_0123.csv").write_text("x")
    [resource] = READER.read(ref, None).files
    assert resource.role == "resource" and resource.local == str(
        tmp_path / "runs" / "_resources" / "data_0123.csv"
    )


def test_deep_json_is_an_error_not_a_crash(tmp_path: Path) -> None:
    ref = write_run(tmp_path)
    (ref.path / "info.json").write_text("[" * 100_000 + "]" * 100_000)
    update = READER.read(ref, None)
    assert update.error and "info.json" in update.error


def test_sources_dir_and_non_run_dirs_are_not_runs(tmp_path: Path) -> None:
    write_run(tmp_path, "1")
    write_run(tmp_path, "10")
    (tmp_path / "runs" / "_sources").mkdir()
    (tmp_path / "runs" / "notes").mkdir()
    assert READER.detect(tmp_path / "runs") == 0.95
    assert [r.native_id for r in registry.discover(tmp_path)] == ["1", "10"]
    assert READER.detect(tmp_path / "runs" / "_sources") == 0.0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["run.json", "config.json", "metrics.json", "info.json"]), st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_source_error(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref = write_run(Path(tmp))
        write_metrics(ref, {"loss": [1.0]})
        first = READER.read(ref, None)
        (ref.path / name).write_bytes(data)
        for cursor in (None, first.cursor):
            try:
                update = READER.read(ref, cursor)
            except SourceError:
                continue
            json.dumps(update.cursor)


def test_reader_never_writes_into_the_run(tmp_path: Path) -> None:
    shutil.copytree(RUNS / "sacred", tmp_path / "copy")
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "copy").rglob("*"))
    for ref in registry.discover(tmp_path / "copy"):
        READER.read(ref, READER.read(ref, None).cursor)
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "copy").rglob("*")) == before
