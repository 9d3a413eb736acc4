"""Lightning CSVLogger reader: the corpus against GROUND_TRUTH.json, then torn/rewritten/hostile files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.lightning.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("lightning")
ROOT = RUNS / "lightning"


def _ref(path: Path, root: Path | None = None) -> RunRef:
    return RunRef("lightning", path, root or path.parent.parent)


def test_discovery_yields_exactly_the_ground_truth_runs() -> None:
    found = {(r.format, r.path) for r in registry.discover(ROOT)}
    assert found == {("lightning", gt_path(run["path"])) for run in GT["runs"]}


@pytest.mark.parametrize("run", GT["runs"], ids=lambda r: r["path"])
def test_run_matches_ground_truth(run: dict) -> None:
    path = gt_path(run["path"])
    update = READER.read(RunRef("lightning", path, ROOT), None)
    assert update.error is None
    assert update.name == run["run_name"]
    assert update.experiment == run["logger_name"]
    assert update.params == run["params"]
    assert_metrics_equal(metric_summaries(update), run["metrics"])  # `epoch` is the logger's, not a metric
    expected_status = Status(run["status"]) if run["status"] else Status.UNKNOWN
    assert update.status == expected_status and update.native_status is None
    assert update.tags == run["tags"]
    assert {(a.path, a.size) for a in update.artifacts} == {(a["path"], a["size"]) for a in run["artifacts"]}
    assert update.info["checkpoints"] == [f"checkpoints/{c['file']}" for c in run["checkpoints"]]
    assert update.last_activity is not None


def _write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def _version(tmp_path: Path, csv: str, hparams: str = "lr: 0.1\n") -> Path:
    run = tmp_path / "logs" / "v1-baseline"
    run.mkdir(parents=True)
    _write(run / "hparams.yaml", hparams)
    _write(run / "metrics.csv", csv)
    return run


def test_any_version_name_sorted_columns_nan_and_nested_hparams(tmp_path: Path) -> None:
    hparams = 'model:\n  depth: 3\n  layers: [1, 2]\nname: "temp\\xE9rature"\n'
    run = _version(tmp_path, "a_loss,epoch,step\n0.5,0,0\nnan,0,1\n,0,2\n", hparams)
    assert READER.detect(run) > registry.reader_for("generic").detect(run)
    update = READER.read(_ref(run), None)
    assert update.name == "logs/v1-baseline"
    assert update.params == {"model.depth": "3", "model.layers": "[1, 2]", "name": "température"}
    (series,) = update.metrics
    assert series.key == "a_loss" and series.steps.tolist() == [0, 1] and np.isnan(series.values[1])


def test_incremental_append_then_header_rewrite_resets(tmp_path: Path) -> None:
    run = _version(tmp_path, "epoch,step,loss\n0,0,1.0\n0,1,0.9\n0,2,0.8")  # last row torn
    first = READER.read(_ref(run), None)
    assert metric_summaries(first)["loss"]["count"] == 2
    with open(run / "metrics.csv", "a") as fh:
        fh.write("\n0,3,0.7\n")
    second = READER.read(_ref(run), first.cursor)
    assert not second.metrics_reset
    assert [(s.key, s.steps.tolist(), s.replace) for s in second.metrics] == [("loss", [2, 3], False)]
    # a new key: CSVLogger rewrites the whole file in place with a wider, sorted header
    with open(run / "metrics.csv", "r+") as fh:
        fh.truncate(0)
        fh.write("epoch,step,loss,val_loss\n0,0,1.0,\n0,1,0.9,\n0,2,0.8,\n0,3,0.7,\n0,3,,0.5\n")
    third = READER.read(_ref(run), second.cursor)
    assert third.metrics_reset
    summaries = metric_summaries(third)
    assert summaries["loss"]["count"] == 4 and summaries["val_loss"]["count"] == 1
    assert all(s.replace for s in third.metrics)
    unchanged = READER.read(_ref(run), third.cursor)
    assert unchanged.metrics == [] and not unchanged.metrics_reset


def test_header_change_beyond_the_first_512_bytes_still_resets(tmp_path: Path) -> None:
    keys = [f"metric_{i:03d}" for i in range(60)]
    header = ["epoch", *keys, "step"]
    run = _version(tmp_path, ",".join(header) + "\n" + ",".join(["0"] * len(header)) + "\n")
    first = READER.read(_ref(run), None)
    wider = ["epoch", *keys, "metric_zzz", "step"]  # sorts after byte 512 of the header
    rows = ",".join(["0"] * (1 + len(keys)) + ["", "0"]) + "\n" + ",".join(["1"] * len(wider)) + "\n"
    with open(run / "metrics.csv", "r+") as fh:
        fh.write(",".join(wider) + "\n" + rows)
    second = READER.read(_ref(run), first.cursor)
    assert second.metrics_reset
    assert metric_summaries(second)["metric_zzz"]["count"] == 1


def test_hostile_hparams_construct_nothing_and_metrics_still_read(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"x: !!python/object/apply:os.system ['touch {marker}']\n"
    run = _version(tmp_path, "epoch,step,loss\n0,0,1\n", evil)
    update = READER.read(_ref(run), None)
    assert not marker.exists()
    # Lightning dumps Python objects with such tags: the node is read as the data it holds, never called
    assert update.params == {"x": f'["touch {marker}"]'} and update.error is None
    assert metric_summaries(update)["loss"]["count"] == 1


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    run = _version(tmp_path, "epoch,step,loss\n0,0,1\n", bomb)
    update = READER.read(_ref(run), None)
    assert update.params == {} and "alias" in (update.error or "")


def test_nul_bytes_ragged_rows_and_huge_fields_do_not_crash(tmp_path: Path) -> None:
    run = _version(tmp_path, "epoch,step,loss\n0,0,1\x00.5\n0,1,2,3,4\n0,2,0.25\n")
    update = READER.read(_ref(run), None)
    assert metric_summaries(update)["loss"]["count"] >= 2
    assert "row" in (update.error or "")
    _write(run / "metrics.csv", 'epoch,step,loss\n0,0,"' + "x" * 200_000 + '"\n')
    update = READER.read(_ref(run), None)  # csv's field limit: reported, not raised
    assert update.metrics == [] and update.error


def test_checkpoints_are_listed_never_loaded(tmp_path: Path) -> None:
    run = _version(tmp_path, "epoch,step,loss\n0,0,1\n")
    (run / "checkpoints").mkdir()
    _write(run / "checkpoints" / "last.ckpt", b"\x80\x04not a pickle we would ever load")
    os.mkfifo(run / "checkpoints" / "fifo.ckpt")
    update = READER.read(_ref(run), None)
    assert update.info["checkpoints"] == ["checkpoints/last.ckpt"]


def test_detect_is_by_content(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    _write(plain / "metrics.csv", "step,loss\n0,1\n")  # a hand-written CSV: generic's
    assert READER.detect(plain) == 0.0
    _write(plain / "metrics.csv", "epoch,loss,step\n0,1,0\n")  # CSVLogger's sorted header, hparams not yet
    assert READER.detect(plain) > 0.4
    os.mkfifo(tmp_path / "fifo")
    assert READER.detect(tmp_path / "fifo") == 0.0
    assert READER.detect(tmp_path / "missing") == 0.0


def test_vanished_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        READER.read(_ref(tmp_path / "gone", tmp_path), None)


@settings(max_examples=150, deadline=None)
@given(csv=st.binary(max_size=400), hparams=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(csv: bytes, hparams: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "logs" / "version_0"
        run.mkdir(parents=True)
        (run / "metrics.csv").write_bytes(csv)
        (run / "hparams.yaml").write_bytes(hparams)
        READER.detect(run)
        update = READER.read(_ref(run), None)
        READER.read(_ref(run), update.cursor)
