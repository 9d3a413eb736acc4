"""W&B run folders as public repositories hold them (tests/data/fidelity/wandb/make_wandb.py, wandb 0.17.9):
a killed run (stale from its own last record), a folder whose .wandb log is gone, one with only a log.
Expected values come from GROUND_TRUTH.json (wandb's DataStore and protobuf records)."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from expdesk.core.entities import Status
from expdesk.index.reader import is_stale
from expdesk.index.service import Index
from expdesk.sources import registry

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "wandb"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())
CASES = {r["case"]: r for r in GT["runs"]}


def _fresh_copy(tmp_path: Path, case: str) -> Path:
    """As after `cp -r`/`git clone`: every file's mtime is now."""
    root = shutil.copytree(DATA / case, tmp_path / case)
    now = time.time()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(folder) / name, (now, now))
    return root


def test_a_killed_run_is_stale_from_its_last_record_not_from_the_copys_mtime(tmp_path: Path) -> None:
    run = CASES["killed"]
    root = _fresh_copy(tmp_path, "killed")
    (ref,) = registry.discover(root)
    update = registry.reader_for("wandb").read(ref, None)
    assert update.status == Status.RUNNING and update.native_status == "no exit record"
    assert update.last_activity == run["last_history_timestamp"]
    assert update.info["last_activity_from"] == "last history row"
    # judged a minute after its last record, with every file touched just now
    judged_at = run["last_history_timestamp"] + 60
    assert is_stale(str(update.status), update.last_activity, judged_at, stale_after=30)


def test_a_run_folder_without_its_log_is_read_from_config_and_summary(tmp_path: Path) -> None:
    run = CASES["lost_log"]
    root = _fresh_copy(tmp_path, "lost_log")
    (ref,) = registry.discover(root)
    assert ref.format == "wandb" and ref.path == root / Path(run["path"]).relative_to("lost_log")
    update = registry.reader_for("wandb").read(ref, None)
    assert update.params == {"lr": "0.01", "batch_size": "8", "model.layers": "2", "model.act": "relu"}
    assert update.params == {k: str(v) for k, v in _flat(run["config"]).items()}
    summary = run["summary_json"]
    assert update.info["summary"] == {k: v for k, v in summary.items() if not k.startswith("_")}
    # the summary's numbers are the last values: one point each, at the summary's step (all the folder holds)
    numbers = {k: v for k, v in summary.items() if not k.startswith("_")}
    assert set(run["history"]) <= set(numbers)
    assert {s.key: (s.steps.tolist(), s.values.tolist()) for s in update.metrics} == {
        k: ([summary["_step"]], [v]) for k, v in numbers.items()
    }
    assert update.status == Status.UNKNOWN
    assert update.unread == [(f"run-{ref.native_id}.wandb", "missing: the run's log is not in the folder")]
    meta = json.loads((ref.path / "files" / "wandb-metadata.json").read_text())
    started = datetime.fromisoformat(meta["startedAt"]).replace(tzinfo=UTC).timestamp()
    assert update.start_time == started and update.info["start_time_from"] == "wandb-metadata.json"


def test_a_folder_with_only_a_log_is_listed_with_its_reason(tmp_path: Path) -> None:
    root = _fresh_copy(tmp_path, "init_only")
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
        with index.reader() as reader:
            (run,) = reader.runs_json(reader.run_keys())
    assert report.found == 1 and len(report.errors) == 1
    assert run["format"] == "wandb" and "nothing to read" in run["error"]
    assert "logs/debug.log" in run["error"]


def _flat(tree: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out
