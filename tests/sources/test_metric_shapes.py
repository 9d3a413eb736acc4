"""A job's own metrics.json, whatever shape the job chose: recognised by structure, not by key name.

The Hydra jobs of `tests/data/fidelity/hydra` were written by hydra-core (see make_hydra.py); their metrics
files by the job, and the expected points below are read from GROUND_TRUTH.json (json.loads of those files).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.sources import registry
from expdesk.sources.hydra.reader import READER as HYDRA

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "hydra"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())
JOBS = {job["params"]["shape"]: job for job in GT["jobs"] if job["path"].startswith("multirun/")}


def _points(update: RunUpdate) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for s in update.metrics:
        out.setdefault(s.key, []).extend(zip(s.steps.tolist(), s.values.tolist(), strict=True))
    return out


def _same(got: dict[str, list[tuple[int, float]]], expected: dict[str, list[tuple[int, Any]]]) -> None:
    assert sorted(got) == sorted(expected)
    for key, points in expected.items():
        assert [s for s, _ in got[key]] == [s for s, _ in points], key
        for (_, g), (_, e) in zip(got[key], points, strict=True):
            assert (math.isnan(g) and math.isnan(e)) or g == e, key


def _read(job: dict[str, Any]) -> RunUpdate:
    return HYDRA.read(RunRef("hydra", DATA / job["path"], DATA), None)


def test_records_under_a_key_the_job_chose() -> None:
    job = JOBS["steps"]
    doc = job["metrics_json"]
    update = _read(job)
    _same(
        _points(update),
        {k: [(r["step"], r[k]) for r in doc["steps"]] for k in ("loss", "acc")},
    )
    assert update.info["summary"] == {"final_acc": doc["final_acc"]}
    assert update.unread == []


def test_a_dict_of_columns_with_an_epoch_column() -> None:
    job = JOBS["columns"]
    doc = job["metrics_json"]
    _same(_points(_read(job)), {k: list(zip(doc["epoch"], doc[k], strict=True)) for k in ("loss", "acc")})


def test_a_bare_list_of_records_stepped_by_iteration() -> None:
    job = JOBS["records"]
    _same(_points(_read(job)), {"loss": [(r["iteration"], r["loss"]) for r in job["metrics_json"]]})


def test_several_tables_are_named_by_their_key() -> None:
    job = JOBS["tables"]
    doc = job["metrics_json"]
    update = _read(job)
    _same(
        _points(update),
        {
            "train/loss": [(r["global_step"], r["loss"]) for r in doc["train"]],
            "val/acc": [(r["global_step"], r["acc"]) for r in doc["val"]],
        },
    )
    assert update.info["summary"] == {"best_acc": doc["best_acc"]}


def test_records_without_a_step_take_their_row_order_and_keep_nan() -> None:
    job = JOBS["nostep"]
    rows = job["metrics_json"]["log"]
    got = _points(_read(job))
    _same(got, {k: [(i, r[k]) for i, r in enumerate(rows)] for k in ("loss", "acc")})
    assert math.isnan(got["loss"][1][1])


def test_a_shape_nobody_can_read_is_listed_with_the_reason() -> None:
    update = _read(JOBS["unknown"])
    assert update.metrics == []
    assert update.unread == [
        ("metrics.json", "not read: unknown JSON shape (no per-step records or columns)")
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Keras History saved by hand: columns without an x column, x = row order
        (
            {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]},
            {"loss": [(0, 1.0), (1, 0.5)], "val_loss": [(0, 2.0), (1, 1.5)]},
        ),
        # columns under any key, stepped by `global_step`
        ({"history": {"global_step": [10, 20], "lr": [0.1, 0.05]}}, {"lr": [(10, 0.1), (20, 0.05)]}),
        # records with nested dicts use the slash convention
        ([{"iter": 1, "train": {"loss": 3.0}}], {"train/loss": [(1, 3.0)]}),
        # the classic wrapper keeps its flat names
        ({"history": [{"epoch": 0, "loss": 1.0}], "final": 0.5}, {"loss": [(0, 1.0)]}),
    ],
)
def test_plain_folder_metrics_json_shapes(tmp_path: Path, doc: Any, expected: dict) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("lr: 0.1\n")
    (run / "metrics.json").write_text(json.dumps(doc))
    (ref,) = list(registry.discover(tmp_path))
    assert ref.format == "generic"
    update = registry.reader_for("generic").read(ref, None)
    _same(_points(update), expected)
    assert update.params == {"lr": "0.1"} and update.unread == []


def test_plain_folder_with_an_unknown_metrics_shape_lists_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(DATA / JOBS["unknown"]["path"], run)
    (run / "params.json").write_text('{"seed": 1}')
    refs = [r for r in registry.discover(tmp_path) if r.path == run]
    update = registry.reader_for(refs[0].format).read(refs[0], None)
    assert ("metrics.json", "not read: unknown JSON shape (no per-step records or columns)") in update.unread


def test_a_copied_plain_run_takes_its_times_from_its_own_timestamps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "params.json").write_text('{"lr": 0.1}')
    rows = [{"step": s, "loss": 1.0 / (s + 1), "timestamp": 1_700_000_000 + 60 * s} for s in range(3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ref,) = list(registry.discover(tmp_path))
    reader = registry.reader_for(ref.format)
    first = reader.read(ref, None)
    assert (first.start_time, first.last_activity) == (1_700_000_000.0, 1_700_000_120.0)
    assert first.info["start_time_from"] == first.info["last_activity_from"] == "metric timestamps"
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 3, "loss": 0.2, "timestamp": 1_700_000_300}) + "\n")
    more = reader.read(ref, first.cursor)  # an incremental read keeps the span seen so far
    assert (more.start_time, more.last_activity) == (1_700_000_000.0, 1_700_000_300.0)
    (other := tmp_path / "other").mkdir()
    (other / "params.json").write_text("{}")
    (other / "metrics.csv").write_text("step,loss\n0,1.0\n")
    bare = reader.read(next(r for r in registry.discover(tmp_path) if r.path == other), None)
    assert bare.info["start_time_from"] == "file mtime (oldest file)"
