"""Writes W&B run folders with wandb 0.17.9 (offline), then GROUND_TRUTH.json read back with wandb's own
DataStore and protobuf records.

Run from the repository root with a venv holding wandb==0.17.9 (its Python internals write the log record
by record, so a killed run keeps what it logged; not a project dependency):
    .toolsenv-w17/bin/python tests/data/fidelity/wandb/make_wandb.py

* `killed/wandb/offline-run-*`: the process was SIGKILLed after logging 300 steps (what was still in the
  writer's buffer is lost, as in a real crash): no exit record, and the run's last sign of life is its last
  history row on disk, not the mtime of a copy;
* `lost_log/wandb/run-*`: a finished run whose `run-<id>.wandb` is gone (git-ignored, or over a snapshot's
  size cap, as in public repositories), leaving `files/config.yaml` and `files/wandb-summary.json` as the
  online sync writes them. They are written here with wandb's own writers from the records of the log
  before it is removed: `config_util.save_config_file_from_dict(ConfigState(...).to_backend_dict(...))`
  and the summary as `json.dumps` of the summary record, which is what the sender does;
* `init_only/wandb/run-*`: only `logs/debug.log` (wandb.init failed): looks like a run, yields none.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import os, signal, sys, time, wandb
mode = sys.argv[1]
run = wandb.init(project="fidelity", config={"lr": 0.01, "batch_size": 8, "model": {"layers": 2, "act": "relu"}})
steps = 300 if mode == "killed" else 5  # enough rows to fill the writer's buffer at least once
for i in range(steps):
    run.log({"loss": 1.0 / (i + 1), "acc": i / steps})
    time.sleep(0.01)
run.summary["best_acc"] = 0.8
if mode == "killed":
    time.sleep(20)  # let the internal process write what was logged
    os.kill(os.getpid(), signal.SIGKILL)
run.finish()
"""


def records(path: str) -> list:
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal.datastore import DataStore

    store = DataStore()
    store.open_for_scan(path)
    out = []
    while True:
        try:
            data = store.scan_data()
        except AssertionError:
            break  # a torn last record (the process was killed mid-write): DataStore stops there too
        if data is None:
            break
        record = pb.Record()
        record.ParseFromString(data)
        out.append(record)
    return out


def write_online_files(folder: Path) -> dict:
    """config.yaml and wandb-summary.json as the sender writes them, from the log's records."""
    from wandb.sdk.internal import sender_config
    from wandb.sdk.lib import config_util

    log = next(folder.glob("run-*.wandb"))
    config = sender_config.ConfigState()
    summary: dict = {}
    telemetry = None
    start_millis = 0
    for record in records(str(log)):
        kind = record.WhichOneof("record_type")
        if kind == "telemetry":
            telemetry = record.telemetry
        if kind == "run":
            start_millis = record.run.start_time.ToMilliseconds()
            config.update_from_proto(record.run.config)
        elif kind == "config":
            config.update_from_proto(record.config)
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    config_util.save_config_file_from_dict(
        str(folder / "files" / "config.yaml"),
        config.to_backend_dict(
            telemetry_record=telemetry, framework=None, start_time_millis=start_millis, metric_pbdicts=[]
        ),
    )
    (folder / "files" / "wandb-summary.json").write_text(json.dumps(summary))
    log.unlink()
    return summary


def truth_of(folder: Path, log_records: list) -> dict:
    history: dict[str, list] = {}
    timestamps = []
    config: dict = {}
    exit_code = None
    for record in log_records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            for item in record.run.config.update:
                config[item.key] = json.loads(item.value_json)
        elif kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                value = json.loads(item.value_json)
                if key == "_timestamp":
                    timestamps.append(value)
                elif not key.startswith("_"):
                    history.setdefault(key, []).append([record.history.step.num, value])
        elif kind == "exit":
            exit_code = record.exit.exit_code
    config.pop("_wandb", None)
    return {
        "path": folder.relative_to(HERE).as_posix(),
        "config": config,
        "history": history,
        "first_history_timestamp": min(timestamps) if timestamps else None,
        "last_history_timestamp": max(timestamps) if timestamps else None,
        "exit_code": exit_code,
    }


def main() -> None:
    runs = []
    for case in ("killed", "lost_log", "init_only"):
        base = HERE / case
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        subprocess.run([sys.executable, "-c", CHILD, case], cwd=base, env=env, check=False)
        (base / "wandb" / "latest-run").unlink()
        for stray in ("debug.log", "debug-internal.log"):
            if (base / "wandb" / stray).is_symlink():
                (base / "wandb" / stray).unlink()
        (folder,) = [Path(p) for p in glob.glob(str(base / "wandb" / "offline-run-*"))]
        shutil.rmtree(folder / "tmp", ignore_errors=True)
        for name in ("debug-internal.log",):
            (folder / "logs" / name).unlink(missing_ok=True)  # the internal log is big and says nothing here
        log_records = records(str(next(folder.glob("run-*.wandb"))))
        entry = truth_of(folder, log_records)
        if case == "lost_log":
            # the online sync leaves the folder named run-* (not offline-run-*)
            online = folder.with_name(folder.name.removeprefix("offline-"))
            folder.rename(online)
            entry["path"] = online.relative_to(HERE).as_posix()
            entry["summary_json"] = write_online_files(online)
        elif case == "init_only":
            for item in folder.iterdir():
                if item.name != "logs":
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
            entry = {"path": entry["path"], "files": ["logs/debug.log"]}
        entry["case"] = case
        runs.append(entry)
    import wandb

    truth = {
        "tool": "wandb",
        "wandb_version": wandb.__version__,
        "readers": {"records": "wandb.sdk.internal.datastore.DataStore + wandb_internal_pb2.Record"},
        "runs": runs,
    }
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
