"""Write the Trackio fixtures with Trackio itself, then read them back with Trackio's own reader.

Not part of the test suite (Trackio is not a dependency of expdesk): run it by hand from a tools venv,

    python3 -m venv .toolsenv && .toolsenv/bin/pip install trackio==0.43.0
    python3 -m venv .toolsenv-0.23.0 && .toolsenv-0.23.0/bin/pip install trackio==0.23.0
    python3 -m venv .toolsenv-0.16.0 && .toolsenv-0.16.0/bin/pip install trackio==0.16.0
    .toolsenv/bin/python tests/data/runs/trackio/make_fixtures.py \
        current=.toolsenv/bin/python legacy-0.23=.toolsenv-0.23.0/bin/python legacy-0.16=.toolsenv-0.16.0/bin/python

Each label is one TRACKIO_DIR (`<label>/`): project databases `<project>.db`, Trackio's `<project>.lock` files and
`media/<project>/<run>/<step>/...`, exactly as that Trackio version leaves them after `finish()`. The three
versions cover the schema changes that matter to a reader:

- 0.16: no `run_id` (a run is its name), naive local timestamps (`datetime.now().isoformat()`), system metrics;
- 0.23: still no `run_id`, UTC timestamps with `+00:00`, alerts;
- 0.43: `run_id` on every run table (schema version 2, `PRAGMA user_version`), `log_id`, traces, artifacts.

`GROUND_TRUTH.json` is what Trackio's own storage API (`SQLiteStorage.get_run_records`, `get_logs`,
`get_system_logs`, `get_run_config`, `get_alerts`) returns for each project, read from a scratch copy (those
calls write: `init_db` sets the journal mode and takes Trackio's lock file). Runs that Trackio's run list leaves
out (a run with system metrics only) are found the way Trackio's queries find rows: by `run_id` in
`system_metrics`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: the zone the legacy 0.16 writer runs in: its timestamps carry no zone, so a reader must know this is local time
LEGACY_TZ = "Asia/Kolkata"

WRITE_CURRENT = r"""
import math, numpy as np, trackio

png = np.zeros((4, 4, 3), dtype=np.uint8)
png[0, 0] = (255, 0, 0)

trackio.init(
    project="vision", name="baseline", group="sweep-a", auto_log_cpu=False, auto_log_gpu=False,
    config={
        "lr": 0.001, "batch_size": 32, "optimizer": {"name": "adam", "betas": [0.9, 0.999]},
        "dropout": None, "use_amp": True, "warmup": float("nan"), "tags": ["a", "b"],
    },
)
for step in range(12):
    loss = 1.0 / (step + 1)
    if step == 5:
        loss = float("nan")
    if step == 7:
        loss = float("inf")
    row = {"train/loss": loss, "grad": {"norm": 0.5 * step, "max": -float("inf") if step == 3 else step}}
    row["phase"] = "train" if step < 10 else "eval"
    row["done"] = step == 11
    if step % 3 == 0:
        row["val/acc"] = step / 12
    if step in (0, 9):
        row["samples"] = trackio.Image(png, caption=f"step {step}")
    if step == 6:
        row["weights"] = trackio.Histogram(np.arange(10.0))
    if step == 11:
        row["preds"] = trackio.Table(columns=["id", "img"], data=[[1, trackio.Image(png)]])
        row["notes"] = trackio.Markdown("**done**")
    trackio.log(row)
    if step % 4 == 0:
        trackio.log_system({"cpu/utilization": 10.0 + step, "memory/used_gb": 1.5,
                            "gpu/0/temp": float("nan") if step == 4 else 60.0})
trackio.alert("loss went NaN", text="step 5", level=trackio.AlertLevel.WARN)
trackio.finish()

# same name, a new run (resume="never" is the default): two runs called "baseline" in one project
trackio.init(project="vision", name="baseline", auto_log_cpu=False, auto_log_gpu=False, config={"lr": 0.01})
for step in (0, 10, 20, 5):
    trackio.log({"train/loss": 2.0 - step / 10, "big": 2**53 + 1}, step=step)
trackio.finish()

trackio.init(project="vision", name="resumed", auto_log_cpu=False, auto_log_gpu=False, config={"epochs": 3})
for step in range(3):
    trackio.log({"train/loss": 3.0 - step})
trackio.finish()
trackio.init(project="vision", name="resumed", resume="allow", auto_log_cpu=False, auto_log_gpu=False,
             config={"epochs": 6})
for step in range(3):
    trackio.log({"train/loss": 0.5 - step / 10})
trackio.finish()

trackio.init(project="vision", name="system-only", auto_log_cpu=False, auto_log_gpu=False)
trackio.log_system({"cpu/utilization": 55.0})
trackio.log_system({"cpu/utilization": 57.5})
trackio.finish()

trackio.init(project="nlp", name="tiny", auto_log_cpu=False, auto_log_gpu=False,
             config={"model": {"layers": 2, "dim": 8}, "seed": 0})
trackio.log({"loss": 0.25, "tokens": 1_000_000}, step=2**40)
trackio.log({"loss": -0.0, "tokens": 2_000_000}, step=2**40 + 1)
trackio.finish()

# an artifact one run produces and the next one uses (lineage): the file's bytes go to the project's CAS
import os, tempfile
weights = os.path.join(tempfile.mkdtemp(), "weights.bin")
with open(weights, "wb") as fh:
    fh.write(bytes(range(256)) * 16)
trackio.init(project="models", name="train", auto_log_cpu=False, auto_log_gpu=False, config={"epochs": 1})
trackio.log({"loss": 0.5})
artifact = trackio.Artifact("classifier", type="model")
artifact.add_file(weights)
trackio.log_artifact(artifact)
trackio.finish()
trackio.init(project="models", name="eval", auto_log_cpu=False, auto_log_gpu=False)
trackio.use_artifact("classifier:latest")
trackio.log({"acc": 0.9})
trackio.finish()
"""

WRITE_LEGACY_023 = r"""
import numpy as np, trackio

trackio.init(project="legacy", name="old-run", config={"lr": 0.1, "depth": 4})
for step in range(5):
    trackio.log({"loss": float("nan") if step == 2 else 1.0 / (step + 1), "acc": step / 5})
trackio.log_system({"cpu/utilization": 33.0})
trackio.finish()
trackio.init(project="legacy", name="second", config={"lr": 0.2})
trackio.log({"loss": float("-inf")}, step=3)
trackio.finish()
"""

WRITE_LEGACY_016 = r"""
import trackio

trackio.init(project="old", name="naive-times", config={"lr": 0.5, "note": "written by trackio 0.16"})
for step in range(4):
    trackio.log({"loss": 4.0 - step, "acc": float("nan") if step == 0 else step / 4})
trackio.finish()
"""

#: reads every project of TRACKIO_DIR through Trackio's own storage API; prints one JSON document
READ = r"""
import inspect, json, sqlite3, trackio
from trackio.sqlite_storage import SQLiteStorage as S

def records(project):
    if hasattr(S, "get_run_records"):
        return S.get_run_records(project)
    # before 0.24 a run is its name; created_at is what later versions compute: MIN(timestamp) of its metrics
    conn = sqlite3.connect(f"file:{S.get_project_db_path(project)}?mode=ro", uri=True)
    first = dict(conn.execute("SELECT run_name, MIN(timestamp) FROM metrics GROUP BY run_name"))
    conn.close()
    return [{"id": n, "name": n, "created_at": first.get(n)} for n in S.get_runs(project)]

def call(fn, project, run_id, name, by_id, **extra):
    params = inspect.signature(fn).parameters
    kw = {"run_id": run_id} if by_id and "run_id" in params else {}
    if "run" in params:
        kw["run"] = name if name is not None else run_id
    return fn(project, **kw, **extra)

out = {"trackio_version": trackio.__version__, "projects": {}}
for project in S.get_projects():
    conn = sqlite3.connect(f"file:{S.get_project_db_path(project)}?mode=ro", uri=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    cols = {r[1] for r in conn.execute("PRAGMA table_info(system_metrics)")} if "system_metrics" in tables else set()
    by_id = "run_id" in {r[1] for r in conn.execute("PRAGMA table_info(metrics)")}
    key = "run_id" if "run_id" in cols else "run_name"
    system = dict(conn.execute(f"SELECT {key}, MAX(run_name) FROM system_metrics GROUP BY {key}")) if cols else {}
    conn.close()
    listed = records(project)
    listed_ids = {r["id"] for r in listed}
    extra = [{"id": i, "name": n, "created_at": None} for i, n in system.items() if i not in listed_ids]
    runs = []
    for record in listed + extra:
        run_id, name = record["id"], record["name"]
        run = {"id": run_id, "name": name, "created_at": record["created_at"], "listed_by_trackio": run_id in listed_ids}
        run["config"] = call(S.get_run_config, project, run_id, name, by_id) if run["listed_by_trackio"] else None
        run["logs"] = call(S.get_logs, project, run_id, name, by_id)
        run["system_logs"] = call(S.get_system_logs, project, run_id, name, by_id) if cols else []
        if hasattr(S, "get_run_artifacts"):
            run["artifacts"] = S.get_run_artifacts(project, name, run_id if by_id else None)
            for versions in run["artifacts"].values():
                for version in versions:
                    spec = f"v{version['version']}" if "version" in version else None
                    manifest = S.get_artifact_manifest(project, version.get("name") or version.get("artifact"), spec)
                    version["manifest"] = manifest
        if hasattr(S, "get_alerts"):
            params = inspect.signature(S.get_alerts).parameters
            kw = {"run_id": run_id} if by_id and "run_id" in params else {}
            run["alerts"] = S.get_alerts(project, run_name=name, **kw)
        runs.append(run)
    out["projects"][project] = {"by_id": by_id, "runs": runs}
print(json.dumps(out, indent=1, sort_keys=True))
"""

WRITERS = {"current": WRITE_CURRENT, "legacy-0.23": WRITE_LEGACY_023, "legacy-0.16": WRITE_LEGACY_016}


def _env(trackio_dir: Path, label: str) -> dict[str, str]:
    env = {
        **os.environ,
        "TRACKIO_DIR": str(trackio_dir),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "0",
    }
    env["TZ"] = LEGACY_TZ if label == "legacy-0.16" else "UTC"
    return env


def build(label: str, python: str, scratch: Path) -> dict[str, object]:
    trackio_dir = scratch / label
    subprocess.run([python, "-c", WRITERS[label]], env=_env(trackio_dir, label), check=True)
    target = HERE / label
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(trackio_dir, target)
    leftovers = [p.name for p in target.iterdir() if p.name.endswith(("-wal", "-shm", "-journal"))]
    assert not leftovers, f"trackio left {leftovers}: the fixture would not be a closed project"
    done = subprocess.run(
        [python, "-c", READ], env=_env(trackio_dir, label), check=True, capture_output=True, text=True
    )
    truth: dict[str, object] = json.loads(done.stdout)
    truth["writer_tz"] = _env(trackio_dir, label)["TZ"]
    return truth


def main(argv: list[str]) -> None:
    pythons = dict(arg.split("=", 1) for arg in argv)
    unknown = set(pythons) - set(WRITERS)
    if unknown:
        sys.exit(f"unknown labels {sorted(unknown)}; known: {sorted(WRITERS)}")
    gt_file = HERE / "GROUND_TRUTH.json"
    truth = json.loads(gt_file.read_text()) if gt_file.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, python in pythons.items():
            truth[label] = build(label, python, Path(tmp))
    gt_file.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
