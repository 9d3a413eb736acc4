"""Trackio projects against what Trackio's own storage API returned for them (GROUND_TRUTH.json).

The expected values are derived from Trackio's answers by the rules Trackio itself applies (its reader turns
top-level "NaN"/"Infinity" strings into floats, its charts show numbers only), written out here apart from the
reader so a reader bug cannot hide in shared code.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from expdesk.index.service import Index
from expdesk.sources import registry
from tests.groundtruth import RUNS

DATA = RUNS / "trackio"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
LABELS = sorted(GT)
TOKENS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
RESERVED = ("_Username", "_Created", "_Group")


@pytest.fixture
def writer_tz(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test in the zone the fixture's Trackio ran in (naive timestamps are that zone's local time)."""
    label = request.node.callspec.params["label"]
    old = os.environ.get("TZ")
    os.environ["TZ"] = GT[label]["writer_tz"]
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _param(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)


def _expected_params(config: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                walk(value, name)
            else:
                out[name] = _param(value)

    walk({k: v for k, v in (config or {}).items() if k not in RESERVED}, "")
    return out


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return TOKENS.get(value) if isinstance(value, str) else None


def _leaves(row: dict[str, Any], prefix: str) -> Iterator[tuple[str, float]]:
    for key, value in row.items():
        name = f"{prefix}/{key}" if prefix else key
        number = _numeric(value)
        if number is not None:
            yield name, number
        elif isinstance(value, dict) and "_type" not in value:
            yield from _leaves(value, name)


def _expected_series(gt_run: dict[str, Any]) -> dict[str, list[tuple[int, float, float]]]:
    series: dict[str, list[tuple[int, float, float]]] = {}
    for log in gt_run["logs"]:
        row = {k: v for k, v in log.items() if k not in ("step", "timestamp")}
        for key, value in _leaves(row, ""):
            series.setdefault(key, []).append((log["step"], value, _epoch(log["timestamp"]) * 1000))
    for ordinal, log in enumerate(gt_run["system_logs"]):
        row = {k: v for k, v in log.items() if k != "timestamp"}
        for key, value in _leaves(row, "system"):
            series.setdefault(key, []).append((ordinal, value, _epoch(log["timestamp"]) * 1000))
    return series


def _media_files(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("file_path"), str) and value.get("_type", "").startswith("trackio."):
            yield value["file_path"]
        for item in value.values():
            yield from _media_files(item)
    elif isinstance(value, list):
        for item in value:
            yield from _media_files(item)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def _index(tmp_path: Path, root: Path) -> tuple[list[dict[str, Any]], Any]:
    index = Index(tmp_path / "index.db")
    report = index.index([root])
    assert report.errors == []
    reader = index.reader()
    return reader.runs_json(reader.run_keys(include_deleted=True), history=True), (index, reader)


@pytest.mark.parametrize("label", LABELS)
def test_every_run_matches_trackio(tmp_path: Path, label: str, writer_tz: None) -> None:
    root = DATA / label
    runs, (index, reader) = _index(tmp_path, root)
    try:
        ours = {(r["experiment"], r["native_id"]): r for r in runs}
        for r in runs:
            r["files"] = [{k: v for k, v in f.items() if k != "run_key"} for f in reader.files(r["key"])]
            r["links"] = reader.links(r["key"])
        expected = [(p, run) for p, project in GT[label]["projects"].items() for run in project["runs"]]
        assert sorted(ours) == sorted((p, run["id"]) for p, run in expected)
        for project, gt in expected:
            run = ours[(project, gt["id"])]
            where = f"{label}/{project}/{gt['name']}"
            assert run["format"] == "trackio", where
            assert Path(run["path"]) == root / f"{project}.db", where
            assert run["name"] == gt["name"], where
            assert run["status"] == "unknown" and run["native_status"] is None, where
            assert run["end_time"] is None, where
            assert run["params"] == _expected_params(gt["config"]), where
            group = (gt["config"] or {}).get("_Group")
            assert run["tags"] == ({"trackio.group": group} if group else {}), where
            assert run["error"] is None, where

            series = _expected_series(gt)
            assert sorted(run["metrics"]) == sorted(series), where
            for key, points in series.items():
                history = run["metrics"][key]["history"]
                assert [h["step"] for h in history] == [p[0] for p in points], f"{where} {key}"
                for h, (_step, value, stamp) in zip(history, points, strict=True):
                    got = h["value"] if isinstance(h["value"], float) else TOKENS.get(h["value"], h["value"])
                    assert _same(float(got), value), f"{where} {key}: {h['value']!r} != {value!r}"
                    # the index keeps whole milliseconds exactly, finer fractions to the millisecond
                    assert abs(h["timestamp"] - stamp) < 1.0, f"{where} {key} time"

            times = [_epoch(x["timestamp"]) for x in gt["logs"] + gt["system_logs"] + gt.get("alerts", [])]
            created = (gt["config"] or {}).get("_Created")
            starts = [_epoch(created)] if created else []
            start = min([*starts, *times])
            assert (
                abs(datetime.fromisoformat(run["start_time"].replace("Z", "+00:00")).timestamp() - start)
                < 1e-3
            )

            files = sorted({f for log in gt["logs"] for f in _media_files(log)})
            sizes = [(root / "media" / f).stat().st_size for f in files]
            assert run["artifacts"] == [{"path": f, "size": s} for f, s in zip(files, sizes, strict=True)], (
                where
            )
            if files:
                assert Path(run["info"]["artifact_dir"]) == root / "media"
            assert len(run["info"].get("alerts", [])) == len(gt.get("alerts", [])), where
            _check_artifacts(root, project, gt, run, ours, where)
    finally:
        reader.close()
        index.close()


def _check_artifacts(
    root: Path, project: str, gt: dict[str, Any], run: dict[str, Any], ours: dict[Any, Any], where: str
) -> None:
    """Trackio's own `get_run_artifacts` + manifests: the run's files, their SHA-256, the producer link."""
    expected = []
    producers = set()
    for direction, versions in gt.get("artifacts", {"input": [], "output": []}).items():
        for version in versions:
            manifest = version["manifest"]
            for entry in manifest["manifest"]:
                blob = (
                    root / "artifacts" / project / "blobs" / "sha256" / entry["digest"][:2] / entry["digest"]
                )
                expected.append(
                    {
                        "direction": direction,
                        "role": "artifact",
                        "path": f"{version['name']}:v{version['version']}/{entry['path']}",
                        "local": str(blob),
                        "size": entry["size"],
                        "digests": {"sha256": entry["digest"]},
                    }
                )
            if direction == "input" and manifest["producer_run_id"] != gt["id"]:
                producers.add(manifest["producer_run_id"])
    key = lambda f: (f["direction"], f["path"])  # noqa: E731
    assert sorted(run["files"], key=key) == sorted(expected, key=key), where
    assert {ln["target_native_id"] for ln in run["links"]} == producers, where
    for producer in producers:
        assert ours[(project, producer)]["key"] in {ln["target_key"] for ln in run["links"]}, where


def test_media_and_values_not_charted_are_listed(tmp_path: Path) -> None:
    runs, (index, reader) = _index(tmp_path, DATA / "current")
    reader.close()
    index.close()
    (baseline,) = [r for r in runs if r["name"] == "baseline" and r["params"].get("batch_size") == "32"]
    assert baseline["info"]["media"] == {
        "notes": {"kind": "markdown", "count": 1, "first_step": 11, "last_step": 11},
        "preds": {"kind": "table", "count": 1, "first_step": 11, "last_step": 11},
        "samples": {"kind": "image", "count": 2, "first_step": 0, "last_step": 9},
        "weights": {"kind": "histogram", "count": 1, "first_step": 6, "last_step": 6},
    }
    assert baseline["info"]["values_not_charted"] == {"done": {"bool": 12}, "phase": {"str": 12}}
    # system metrics stay apart from training metrics, NaN samples kept
    system = {k: m for k, m in baseline["metrics"].items() if k.startswith("system/")}
    assert sorted(system) == ["system/cpu/utilization", "system/gpu/0/temp", "system/memory/used_gb"]
    assert system["system/gpu/0/temp"]["nan_count"] == 1
    assert baseline["metrics"]["train/loss"]["nan_count"] == 1
    assert baseline["metrics"]["grad/max"]["min"] == "-Infinity"


def test_a_run_with_system_metrics_only_is_a_run(tmp_path: Path) -> None:
    runs, (index, reader) = _index(tmp_path, DATA / "current")
    reader.close()
    index.close()
    (run,) = [r for r in runs if r["name"] == "system-only"]
    assert sorted(run["metrics"]) == ["system/cpu/utilization"]
    assert run["metrics"]["system/cpu/utilization"]["count"] == 2
    assert run["start_time"] is not None


def test_foreign_db_files_are_not_claimed(tmp_path: Path) -> None:
    import sqlite3

    shutil.copytree(RUNS / "mlflow" / "sqlite", tmp_path / "mlflow")
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT, value REAL)")
    conn.commit()
    conn.close()
    (tmp_path / "notes.db").write_bytes(b"not sqlite at all")
    trackio = registry.reader_for("trackio")
    assert trackio.detect(tmp_path / "mlflow" / "mlflow.db") == 0.0
    assert trackio.detect(other) == 0.0
    assert trackio.detect(tmp_path / "notes.db") == 0.0
    for db in sorted((DATA).rglob("*.db")):
        assert registry.best_reader(db) is trackio, db


def test_a_project_from_the_first_trackio_releases(tmp_path: Path) -> None:
    """Trackio 0.0.x: only a `metrics` table, rows written with `json.dumps` (a NaN is the bare literal),
    local timestamps without a zone, no configs. Built with the exact statements `SQLiteStorage` ran then."""
    import sqlite3

    db = tmp_path / "early.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,"
        " run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS idx_metrics_run_step ON metrics(run_name, step)")
    rows = [
        ("2025-06-01T10:00:00.000001", "first", 0, {"loss": float("nan")}),
        ("2025-06-01T10:00:01", "first", 1, {"loss": 0.5}),
    ]
    conn.executemany(
        "INSERT INTO metrics (timestamp, run_name, step, metrics) VALUES (?, ?, ?, ?)",
        [(t, r, s, json.dumps(m)) for t, r, s, m in rows],
    )
    conn.commit()
    conn.close()
    assert b"NaN" in db.read_bytes()
    trackio = registry.reader_for("trackio")
    assert registry.best_reader(db) is trackio
    (ref,) = trackio.runs(db, tmp_path)
    assert ref.native_id == "first"
    update = trackio.read(ref, None)
    (loss,) = update.metrics
    assert loss.steps.tolist() == [0, 1] and math.isnan(loss.values[0]) and loss.values[1] == 0.5
    assert update.params == {} and update.experiment == "early"
    assert (
        update.start_time == datetime.fromisoformat(rows[0][0]).timestamp()
    )  # local time, as Trackio showed it
    assert update.info["trackio"]["identity"] == "run_name"
    assert "without a time zone" in update.info["trackio"]["timestamps"]


def test_a_prototype_file_with_every_project_in_it(tmp_path: Path) -> None:
    """Trackio 0.0.1 - 0.0.10: one `trackio.db` for all projects, rows keyed by (project_name, run_name), no
    step, SQLite's CURRENT_TIMESTAMP (UTC) as the time. Built with the exact statements that version ran."""
    import sqlite3

    db = tmp_path / "trackio.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, project_name TEXT NOT NULL, run_name TEXT NOT NULL,"
        " metrics TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS configs (project_name TEXT NOT NULL, run_name TEXT NOT NULL,"
        " config TEXT NOT NULL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (project_name, run_name))"
    )
    logged = {
        ("p1", "run"): [{"loss": 1.0}, {"loss": float("nan")}, {"loss": 0.25}],
        ("p2", "run"): [{"acc": 0.5}],
    }
    for (project, run), rows in logged.items():
        conn.execute(
            "INSERT OR REPLACE INTO configs (project_name, run_name, config) VALUES (?, ?, ?)",
            (project, run, json.dumps({"project": project})),
        )
        for row in rows:
            conn.execute(
                "INSERT INTO metrics (project_name, run_name, metrics) VALUES (?, ?, ?)",
                (project, run, json.dumps(row)),
            )
    conn.commit()
    seconds = dict(
        conn.execute("SELECT id, CAST(strftime('%s', timestamp) AS INTEGER) FROM metrics").fetchall()
    )  # SQLite's own reading of its UTC timestamps
    conn.close()
    trackio = registry.reader_for("trackio")
    assert registry.best_reader(db) is trackio
    refs = trackio.runs(db, tmp_path)
    assert [json.loads(r.native_id or "") for r in refs] == [["p1", "run"], ["p2", "run"]]
    first, second = (trackio.read(ref, None) for ref in refs)
    assert (first.experiment, first.name, second.experiment) == ("p1", "run", "p2")
    assert first.params == {"project": "p1"}
    (loss,) = first.metrics
    assert loss.steps.tolist() == [0, 1, 2] and math.isnan(loss.values[1]) and loss.values[2] == 0.25
    assert loss.timestamps.tolist() == [seconds[i] * 1000.0 for i in (1, 2, 3)]
    assert "timestamps" not in first.info["trackio"]  # UTC by SQLite's definition, not a zoneless local time
    (acc,) = second.metrics
    assert acc.steps.tolist() == [0] and acc.values.tolist() == [0.5]
    again = trackio.read(refs[0], first.cursor)
    assert again.metrics == [] and not again.metrics_reset


def test_media_files_past_the_bound_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from expdesk.core.entities import RunRef
    from expdesk.sources.trackio import history

    monkeypatch.setattr(history, "MAX_MEDIA_FILES", 2)
    gt = GT["current"]["projects"]["vision"]["runs"][0]  # three image files
    db = DATA / "current" / "vision.db"
    update = registry.reader_for("trackio").read(RunRef("trackio", db, DATA, gt["id"], db), None)
    assert len(update.artifacts) == 2 and update.info["media_files_not_listed"] == 1
