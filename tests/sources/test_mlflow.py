"""MLflow file store and SQLite store against the ground truth MLflow's own client produced."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from expdesk.index.service import Index
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt

GT = load_gt("mlflow")
STORES = {
    "file": ("mlflow", RUNS / "mlflow" / "filestore"),
    "sqlite": ("mlflow-sqlite", RUNS / "mlflow" / "sqlite"),
}


def _runs_by_native_id(tmp_path: Path, root: Path) -> dict[str, dict[str, Any]]:
    with Index(tmp_path / "index.db") as index:
        report = index.index([root])
        assert report.errors == []
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys(include_deleted=True))
    return {r["native_id"]: r for r in runs}


def _gt_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {f: v[f] for f in ("count", "first_step", "last_step", "last_value", "min", "max")}
        | ({"nan_count": v["nan_count"]} if v.get("nan_count") else {})
        for k, v in metrics.items()
    }


def _our_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {
            "count": m["count"],
            "first_step": m["first_step"],
            "last_step": m["last_step"],
            "last_value": m["last"],
            "min": m["min"],
            "max": m["max"],
        }
        | ({"nan_count": m["nan_count"]} if m["nan_count"] else {})
        for k, m in metrics.items()
    }


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_every_run_matches_ground_truth(tmp_path: Path, backend: str) -> None:
    fmt, root = STORES[backend]
    ours = _runs_by_native_id(tmp_path, root)
    expected = [r for r in GT["runs"] if r["backend"] == backend]
    assert sorted(ours) == sorted(r["run_id"] for r in expected)
    for gt in expected:
        run = ours[gt["run_id"]]
        where = f"{backend} run {gt['run_name']}"
        assert run["format"] == fmt, where
        assert run["name"] == gt["run_name"], where
        assert run["native_status"] == gt["status"], where
        assert run["status"] == gt["status"].lower().replace("scheduled", "queued"), where
        assert run["experiment"] == gt["experiment_name"], where
        assert run["deleted"] == (gt["lifecycle_stage"] == "deleted"), where
        assert run["params"] == gt["params"], where
        assert run["tags"] == gt["tags"], where
        assert_metrics_equal(_our_summary(run["metrics"]), _gt_summary(gt["metrics"]))
        assert run["artifacts"] == [{"path": a["path"], "size": a["size"]} for a in gt["artifacts"]], where
        start = run["start_time"]
        assert start is not None and start.endswith("Z")
        if gt["end_time_ms"] is None:
            assert run["end_time"] is None
        if backend == "file":
            assert Path(run["path"]) == gt_path(gt["path"])
        else:
            assert Path(run["path"]) == gt_path(gt["path"])
        parent = gt["parent_run_id"]
        if parent is None:
            assert run["parent"] is None, where
        else:
            assert run["parent"] == ours[parent]["key"], where


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_dataset_inputs_and_logged_models(tmp_path: Path, backend: str) -> None:
    _fmt, root = STORES[backend]
    with Index(tmp_path / "index.db") as index:
        index.index([root])
        with index.reader() as reader:
            keys = reader.run_keys()
            runs = {r["native_id"]: r for r in reader.runs_json(keys)}
            for gt in (r for r in GT["runs"] if r["backend"] == backend and r["dataset_inputs"]):
                run = runs[gt["run_id"]]
                inputs = [f for f in reader.files(run["key"]) if f["direction"] == "input"]
                assert sorted(f["digests"]["mlflow_digest"] for f in inputs) == sorted(
                    d["digest"] for d in gt["dataset_inputs"]
                )
                info = reader.runs_json([run["key"]])[0]["info"]
                store = next(s for s in GT["stores"] if s["backend"] == backend)
                for model in store["logged_models"]:
                    if model["source_run_id"] != gt["run_id"]:
                        continue
                    ours = next(m for m in info["logged_models"] if m["model_id"] == model["model_id"])
                    assert Path(ours["local_dir"]) == gt_path(model["artifact_dir"])
                    outputs = {
                        Path(f["local"]).name: f["size"]
                        for f in reader.files(run["key"])
                        if f["direction"] == "output"
                    }
                    assert outputs == {f["path"]: f["size"] for f in model["files"]}
                    versions = [(v["name"], int(v["version"])) for v in ours["registered_versions"]]
                    expected = [
                        (rm["name"], v["version"])
                        for rm in store["registered_models"]
                        for v in rm["versions"]
                        if v["run_id"] == gt["run_id"]
                    ]
                    assert versions == expected


def _copy_store(tmp_path: Path) -> Path:
    dst = tmp_path / "mlruns"
    shutil.copytree(STORES["file"][1] / "mlruns", dst)
    return dst


def _index_one(tmp_path: Path, root: Path) -> list[dict[str, Any]]:
    with Index(tmp_path / "i.db") as index:
        index.index([root])
        with index.reader() as reader:
            return reader.runs_json(reader.run_keys(include_deleted=True))


def _make_run(exp: Path, run_id: str, metric_lines: bytes, key: str = "loss") -> Path:
    run = exp / run_id
    (run / "metrics" / Path(key).parent).mkdir(parents=True, exist_ok=True)
    (run / "meta.yaml").write_text(
        f"run_id: {run_id}\nrun_name: r\nstatus: 1\nstart_time: 1700000000000\nend_time: null\n"
        "lifecycle_stage: active\nartifact_uri: file:///elsewhere/mlruns/1/" + run_id + "/artifacts\n"
        "experiment_id: '1'\n"
    )
    (run / "metrics" / key).write_bytes(metric_lines)
    return run


def _store_with_run(tmp_path: Path, lines: bytes, key: str = "loss") -> Path:
    store = tmp_path / "mlruns"
    exp = store / "1"
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text("experiment_id: '1'\nname: e\nlifecycle_stage: active\n")
    _make_run(exp, "a" * 32, lines, key)
    return store


def test_run_without_params_or_artifacts_dirs_and_slash_keys(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path, b"1700000000000 0.5 0\n1700000000001 0.25 1\n", key="train/loss")
    (run,) = _index_one(tmp_path, store)
    assert run["params"] == {} and run["artifacts"] == [] and run["error"] is None
    assert run["metrics"]["train/loss"]["count"] == 2


def test_torn_last_line_is_left_for_later_not_an_error(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path, b"1700000000000 0.5 0\n1700000000001 0.2")
    (run,) = _index_one(tmp_path, store)
    assert run["error"] is None
    assert run["metrics"]["loss"]["count"] == 1
    with (store / "1" / ("a" * 32) / "metrics" / "loss").open("ab") as fh:
        fh.write(b"5 1\n")
    (run,) = _index_one(tmp_path, store)
    assert run["metrics"]["loss"]["count"] == 2 and run["metrics"]["loss"]["last"] == 0.25


def test_non_finite_values_and_bad_lines(tmp_path: Path) -> None:
    lines = (
        b"1 nan 0\n2 inf 1\n3 -inf 2\n4 -0.0 3\n5 1e309 4\nnot a line\n6 1.0\n"
        b"7 2.0 9223372036854775808\n8 3.0 -5\n9 4.0 7 dataset digest\n"
    )
    store = _store_with_run(tmp_path, lines)
    (run,) = _index_one(tmp_path, store)
    m = run["metrics"]["loss"]
    assert m["count"] == 7  # 5 numeric lines + negative step + dataset-tagged line
    assert m["nan_count"] == 1 and m["max"] == "Infinity" and m["min"] == "-Infinity"
    assert m["first_step"] == -5 and m["last_step"] == 7 and m["last"] == 4.0
    assert "line 6" in run["error"] and "line 7" in run["error"] and "line 8" in run["error"]


def test_big_metric_file_parses_exactly(tmp_path: Path) -> None:
    values = [i * 0.1 + 1e-17 * i for i in range(5000)] + [float("nan"), float("-inf")]
    lines = b"".join(b"%d %r %d\n" % (1700000000000 + i, v, i) for i, v in enumerate(values))
    store = _store_with_run(tmp_path, lines)
    with Index(tmp_path / "i.db") as index:
        index.index([store])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            steps, vals, stamps = reader.series(key, "loss")
    assert len(vals) == len(values)
    assert all((a == b) or (a != a and b != b) for a, b in zip(vals.tolist(), values, strict=True))
    assert stamps[0] == 1700000000000 and steps[-1] == len(values) - 1


def test_moved_store_resolves_artifacts_where_the_run_lives_now(tmp_path: Path) -> None:
    store = _copy_store(tmp_path)
    runs = {r["native_id"]: r for r in _index_one(tmp_path, store)}
    run = runs["09af6528384e45e589bb3863b8763caf"]
    # the recorded artifact_uri points to /home/researcher/... which does not exist here
    assert {a["path"] for a in run["artifacts"]} == {
        "plots/confusion_matrix.png",
        "reports/classification_report.txt",
    }
    assert all(Path(r["path"]).is_relative_to(tmp_path) for r in runs.values())


def test_artifact_dir_symlink_out_of_root_is_not_followed(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path, b"1 1 0\n")
    run_dir = store / "1" / ("a" * 32)
    (run_dir / "meta.yaml").write_text(
        (run_dir / "meta.yaml")
        .read_text()
        .replace("file:///elsewhere/mlruns/1/", "file:///elsewhere/mlruns/1/")
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (run_dir / "artifacts").symlink_to(outside)
    (run,) = _index_one(tmp_path, store)
    assert run["artifacts"] == []


def test_sqlite_store_held_open_by_a_writer(tmp_path: Path) -> None:
    src = STORES["sqlite"][1]
    dst = tmp_path / "sqlite"
    shutil.copytree(src, dst)
    db = dst / "mlflow.db"
    before = db.read_bytes()
    holder = sqlite3.connect(db)
    holder.execute("BEGIN")
    holder.execute("SELECT COUNT(*) FROM runs").fetchone()  # a shared lock, as MLflow holds while reading
    try:
        runs = _index_one(tmp_path, dst)
    finally:
        holder.rollback()
        holder.close()
    assert len(runs) == 9 and all(r["error"] is None for r in runs)
    assert db.read_bytes() == before
    assert sorted(p.name for p in dst.iterdir()) == sorted(p.name for p in src.iterdir())


def test_sqlite_incremental_rows(tmp_path: Path) -> None:
    dst = tmp_path / "sqlite"
    shutil.copytree(STORES["sqlite"][1], dst)
    with Index(tmp_path / "i.db") as index:
        index.index([dst])
        writer = sqlite3.connect(dst / "mlflow.db")
        writer.execute(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
            " VALUES ('loss', 0, 1795720999000, 'd7a7e9a30fe448a8a8d3c0437cf1db68', 3, 1)"
        )
        writer.commit()
        writer.close()
        report = index.index([dst])
        assert report.read == 9  # one DB file changed: every run of it is re-checked from its cursor
        with index.reader() as reader:
            key = next(
                r["key"]
                for r in reader.runs_json(reader.run_keys())
                if r["native_id"] == "d7a7e9a30fe448a8a8d3c0437cf1db68"
            )
            loss = reader.run_json(key)["metrics"]["loss"]
    assert loss["count"] == 4 and loss["nan_count"] == 1 and loss["last"] == "NaN"


def test_batched_parse_matches_the_per_file_parse_exactly() -> None:
    import math
    import random

    import numpy as np

    from expdesk.sources.mlflow._common import parse_many, parse_metric_lines

    rng = random.Random(1)
    specials = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    chunks = []
    for f in range(12):
        vals = [rng.choice(specials) if rng.random() < 0.05 else rng.uniform(-1e6, 1e6) for _ in range(900)]
        chunks.append(b"".join(b"%d %r %d\n" % (1700000000000 + i, v, i - f) for i, v in enumerate(vals)))
    batched = parse_many(chunks)
    assert batched is not None  # a clean run takes the one-call path
    for chunk, (steps, values, stamps, errs) in zip(chunks, batched, strict=True):
        ref_steps, ref_values, ref_stamps, _ = parse_metric_lines(chunk, "m")
        assert errs == [] and np.array_equal(steps, ref_steps) and np.array_equal(stamps, ref_stamps)
        assert [repr(v) for v in values.tolist()] == [repr(v) for v in ref_values.tolist()]
    assert parse_many([*chunks, b"1 2 3 dataset digest\n"]) is None  # ragged: each file on its own


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_a_copied_running_run_is_stale_by_what_it_logged(tmp_path: Path, backend: str) -> None:
    # the corpus's still-RUNNING run was left by a process that stopped logging long ago; the copy made here
    # has fresh mtimes, which must not make it look alive
    _fmt, source = STORES[backend]
    store = tmp_path / "store"
    shutil.copytree(source, store)
    for path in store.rglob("*"):  # as a git clone or a plain `cp -r` leaves them: written just now
        os.utime(path, follow_symlinks=False)
    running = [r for r in GT["runs"] if r["status"] == "RUNNING" and r["backend"] == backend]
    assert running, "the corpus holds a run MLflow left RUNNING"
    runs = _runs_by_native_id(tmp_path, store)
    for gt in running:
        run = runs[gt["run_id"]]
        assert run["status"] == "running" and run["stale"] is True, run["native_id"]


def test_last_activity_is_the_newest_logged_time_and_never_moves_back(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path, b"1700000000000 0.5 0\n1700000005000 0.25 1\n")
    metric = store / "1" / ("a" * 32) / "metrics" / "loss"

    with Index(tmp_path / "i.db") as index:
        index.index([store])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            assert reader.run_basics(key).last_activity == 1700000005.0  # the newest point, not the mtime
            assert reader.runs_json([key])[0]["stale"] is True
        now_ms = int(time.time() * 1000)
        with metric.open("ab") as f:
            f.write(f"{now_ms} 0.125 2\n".encode())
        index.index([store])
        with index.reader() as reader:
            assert reader.run_basics(key).last_activity == now_ms / 1000.0
            assert reader.runs_json([key])[0]["stale"] is False
        (store / "1" / ("a" * 32) / "tags").mkdir()  # something changed, but no new point
        index.index([store])
        with index.reader() as reader:
            assert reader.run_basics(key).last_activity == now_ms / 1000.0
