"""DVCLive reader: corpus folders against GROUND_TRUTH.json, then resumed sessions, torn and hostile TSVs."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import Link, RunRef, Status
from expdesk.sources import registry
from expdesk.sources.common.tables import flatten_record
from expdesk.sources.dvc.live import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("dvc")
ROOT = RUNS / "dvc"
LIVE_RUNS = [r for r in GT["runs"] if r["tool"] == "dvclive"]
PROJECTS = [gt_path(r["path"]) for r in GT["runs"] if r["tool"] == "dvc"]


@pytest.mark.parametrize("run", LIVE_RUNS, ids=lambda r: r["path"])
def test_run_matches_ground_truth(run: dict) -> None:
    path = gt_path(run["path"])
    (ref,) = [r for r in registry.discover(ROOT) if r.path == path]
    assert ref.format == "dvclive"
    update = READER.read(ref, None)
    assert update.error is None
    assert update.name == run["run_name"]
    assert update.params == run["params"]
    expected = {
        k: {f: v for f, v in m.items() if f not in ("columns", "file")} for k, m in run["metrics"].items()
    }
    assert_metrics_equal(metric_summaries(update), expected)
    assert update.status == (Status(run["status"]) if run["status"] else Status.UNKNOWN)
    assert update.tags == run["tags"]
    assert update.info["latest"] == flatten_record(run["metrics_json_latest"])
    assert {(a.path, a.size) for a in update.artifacts} == {(a["path"], a["size"]) for a in run["artifacts"]}
    project = next((p for p in PROJECTS if path.is_relative_to(p)), None)
    assert update.links == ([Link(rule="dvc.project", target_path=str(project))] if project else [])


def _live(tmp_path: Path) -> Path:
    live = tmp_path / "dvclive"
    (live / "plots" / "metrics" / "train").mkdir(parents=True)
    (live / "metrics.json").write_text(json.dumps({"train": {"loss": "nan"}, "step": 1}))
    (live / "params.yaml").write_text("opt:\n  lr: 0.1\n")
    return live


def test_nested_names_nan_timestamps_and_images(tmp_path: Path) -> None:
    live = _live(tmp_path)
    (live / "plots" / "metrics" / "train" / "loss.tsv").write_text(
        "timestamp\tstep\tloss\n1700000000000\t0\t1.5\n1700000001000\t1\tnan\n"
    )
    (live / "plots" / "images").mkdir()
    (live / "plots" / "images" / "confusion.png").write_bytes(b"\x89PNG")
    update = READER.read(RunRef("dvclive", live, tmp_path), None)
    assert update.params == {"opt.lr": "0.1"}
    assert update.info["latest"] == {"train/loss": "NaN", "step": 1}
    (series,) = update.metrics
    assert series.key == "train/loss" and series.steps.tolist() == [0, 1] and math.isnan(series.values[1])
    assert series.timestamps.tolist() == [1700000000000.0, 1700000001000.0]
    assert "plots/images/confusion.png" in {a.path for a in update.artifacts}


def test_resumed_session_appends_and_new_session_resets(tmp_path: Path) -> None:
    live = _live(tmp_path)
    tsv = live / "plots" / "metrics" / "train" / "loss.tsv"
    tsv.write_text("step\tloss\n0\t1.0\n1\t0.9\n2\t0.")  # torn last line
    first = READER.read(RunRef("dvclive", live, tmp_path), None)
    assert metric_summaries(first)["train/loss"]["count"] == 2
    with open(tsv, "a") as fh:
        fh.write("8\n3\t0.7\n")  # resume=True: steps continue in the same file
    second = READER.read(RunRef("dvclive", live, tmp_path), first.cursor)
    assert not second.metrics_reset
    assert [(s.key, s.steps.tolist(), s.replace) for s in second.metrics] == [("train/loss", [2, 3], False)]
    assert READER.read(RunRef("dvclive", live, tmp_path), second.cursor).metrics == []
    # a new session (resume=False) deletes the folder's histories and starts again
    tsv.unlink()
    (live / "plots" / "metrics" / "acc.tsv").write_text("step\tacc\n0\t0.5\n")
    third = READER.read(RunRef("dvclive", live, tmp_path), second.cursor)
    assert third.metrics_reset and [s.key for s in third.metrics] == ["acc"]


def test_truncated_file_is_reread_with_replace(tmp_path: Path) -> None:
    live = _live(tmp_path)
    tsv = live / "plots" / "metrics" / "loss.tsv"
    tsv.write_text("step\tloss\n0\t1.0\n1\t0.9\n")
    first = READER.read(RunRef("dvclive", live, tmp_path), None)
    with open(tsv, "r+") as fh:
        fh.truncate(0)
        fh.write("step\tloss\n0\t2.0\n")
    second = READER.read(RunRef("dvclive", live, tmp_path), first.cursor)
    assert [(s.steps.tolist(), s.values.tolist(), s.replace) for s in second.metrics] == [([0], [2.0], True)]


def test_garbage_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    live = _live(tmp_path)
    (live / "plots" / "metrics" / "loss.tsv").write_bytes(
        b"step\tloss\n0\t1.0\nx\ty\n\x00\t\xff\n2\n9223372036854775808\t1\n3\t1e309\n"
    )
    update = READER.read(RunRef("dvclive", live, tmp_path), None)
    (series,) = update.metrics
    assert series.steps.tolist() == [0, 3] and series.values[1] == math.inf
    assert "loss.tsv: line 3" in (update.error or "")
    os.mkfifo(live / "plots" / "metrics" / "fifo.tsv")  # never opened
    assert [s.key for s in READER.read(RunRef("dvclive", live, tmp_path), None).metrics] == ["loss"]


def test_torn_metrics_json_and_hostile_params(tmp_path: Path) -> None:
    live = _live(tmp_path)
    (live / "metrics.json").write_text('{"train": {"lo')
    marker = tmp_path / "pwned"
    (live / "params.yaml").write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    update = READER.read(RunRef("dvclive", live, tmp_path), None)
    assert "latest" not in update.info and not marker.exists()
    assert update.params == {} and "params.yaml" in (update.error or "")


def test_detect(tmp_path: Path) -> None:
    assert READER.detect(tmp_path) == 0.0
    live = _live(tmp_path)
    assert READER.detect(live) > 0.6
    (live / "metrics.json").unlink()
    assert READER.detect(live) > 0.6  # params + plots: steps logged before any summary


@settings(max_examples=150, deadline=None)
@given(tsv=st.binary(max_size=300), more=st.binary(max_size=100), latest=st.binary(max_size=100))
def test_arbitrary_bytes_never_raise(tsv: bytes, more: bytes, latest: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "dvclive"
        (live / "plots" / "metrics").mkdir(parents=True)
        (live / "metrics.json").write_bytes(latest)
        path = live / "plots" / "metrics" / "m.tsv"
        path.write_bytes(tsv)
        first = READER.read(RunRef("dvclive", live, Path(tmp)), None)
        with open(path, "ab") as fh:
            fh.write(more)
        READER.read(RunRef("dvclive", live, Path(tmp)), first.cursor)


@pytest.mark.parametrize("garbage", [False, True])
def test_fast_path_gives_the_same_points_as_the_line_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: bool
) -> None:
    from expdesk.sources.dvc import _live_tsv as _dvclive_tsv

    live = _live(tmp_path)
    lines = [
        f"{1_700_000_000_000 + i}\t{i}\t{v!r}" for i, v in enumerate([0.1, math.nan, -0.0, 1e-310] * 800)
    ]
    if garbage:
        lines[1234] = "1\t1234\toops"
    (live / "plots" / "metrics" / "loss.tsv").write_text("timestamp\tstep\tloss\n" + "\n".join(lines) + "\n")
    fast = READER.read(RunRef("dvclive", live, tmp_path), None)
    monkeypatch.setattr(_dvclive_tsv, "FAST_MIN_LINES", 10**9)
    slow = READER.read(RunRef("dvclive", live, tmp_path), None)
    (a,), (b,) = fast.metrics, slow.metrics
    assert a.steps.tolist() == b.steps.tolist() and len(a.steps) == 3200 - garbage
    assert a.values.tobytes() == b.values.tobytes()  # bit-identical, NaN and -0.0 included
    assert a.timestamps.tolist() == b.timestamps.tolist()
    assert fast.cursor == slow.cursor and fast.error == slow.error
    assert ("line 1236" in (fast.error or "")) == garbage
