"""The foundation's CLI end to end, in a subprocess like a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.groundtruth import RUNS

REPO = Path(__file__).resolve().parent.parent


def expdesk(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPDESK_DB": str(db), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "expdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )


def test_index_runs_show_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    done = expdesk("index", str(RUNS / "mlflow"), str(RUNS / "plain"), db=db)
    assert done.returncode == 0, done.stderr
    assert "21 runs found, 21 read" in done.stdout
    table = expdesk("runs", db=db)
    assert (
        table.returncode == 0 and "sgd-baseline" in table.stdout and "scratch-to-delete" not in table.stdout
    )
    listed = json.loads(expdesk("runs", "--json", db=db).stdout)
    everything = json.loads(expdesk("runs", "--all", "--json", db=db).stdout)
    assert len(listed) == 19 and len(everything) == 21
    fields = {
        "key",
        "format",
        "path",
        "native_id",
        "name",
        "experiment",
        "status",
        "native_status",
        "stale",
        "deleted",
        "start_time",
        "start_time_from",
        "end_time",
        "parent",
        "params",
        "tags",
        "metrics",
        "artifacts",
        "unread",
        "error",
    }
    assert all(fields <= set(r) for r in everything)
    run = next(r for r in listed if r["name"] == "sgd-baseline" and r["format"] == "mlflow")
    shown = json.loads(expdesk("show", run["key"][:6], "--json", "--history", db=db).stdout)
    assert shown["key"] == run["key"]
    history = shown["metrics"]["train_loss"]["history"]
    assert len(history) == 16 and history[0] == {
        "step": 0,
        "value": 12.19016047467002,
        "timestamp": 1795720896866,
    }
    text = expdesk("show", run["key"], db=db)
    assert text.returncode == 0 and "train_loss" in text.stdout


def test_stale_running_run(tmp_path: Path) -> None:
    import shutil
    import time

    store = tmp_path / "filestore"
    shutil.copytree(RUNS / "mlflow" / "filestore", store)
    run_dir = next(store.glob("mlruns/*/27adf0088e12480bacf337ea8c86b1c2"))
    old = time.time() - 3600
    for p in run_dir.rglob("*"):
        os.utime(p, (old, old))
    db = tmp_path / "i.db"
    expdesk("index", str(store), db=db)
    killed = next(
        r for r in json.loads(expdesk("runs", "--json", db=db).stdout) if r["name"] == "still-running"
    )
    assert killed["status"] == "running" and killed["stale"] is True  # killed -9 an hour ago
    with (run_dir / "metrics" / "loss").open("a") as fh:
        fh.write(f"{int(time.time() * 1000)} 0.1 3\n")  # a sign of life
    expdesk("index", str(store), db=db)
    alive = next(
        r for r in json.loads(expdesk("runs", "--json", db=db).stdout) if r["name"] == "still-running"
    )
    assert alive["stale"] is False and alive["metrics"]["loss"]["count"] == 4


def test_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    assert expdesk("index", str(tmp_path / "nope"), db=db).returncode == 2
    assert expdesk("show", "ffffffff", db=db).returncode == 2
    assert expdesk("runs", "--bogus", db=db).returncode == 2
    bad = tmp_path / "bad" / "run"
    bad.mkdir(parents=True)
    (bad / "metrics.jsonl").write_bytes(b"\xff\xfe garbage\n")
    done = expdesk("index", str(tmp_path / "bad"), db=db)
    assert done.returncode == 0 and "1 with errors" in done.stdout
