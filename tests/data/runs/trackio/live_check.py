"""By hand, not in the suite: real Trackio writes a project while expdesk indexes it over and over.

    .toolsenv/bin/python tests/data/runs/trackio/live_check.py .venv/bin/python

The Trackio process (this interpreter, from a tools venv with `trackio`) logs a run for a few seconds, with
system metrics and images; meanwhile the expdesk interpreter given as the argument indexes the folder in a
loop. Afterwards it checks: every point Trackio's own reader returns is in the index, and the folder holds
exactly the files Trackio wrote, and whether `-wal`/`-shm` survived Trackio's last close. They can: the loop
reads with no pause, so a read may overlap that close, and SQLite leaves the sidecars for the next writer while
any reader has the file open (expdesk never creates them: see `expdesk/sources/trackio/_sqlite.py`). Prints one
line per check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

WRITE = r"""
import numpy as np, trackio, time
trackio.init(project="live", name="writer", config={"lr": 0.1}, auto_log_cpu=False, auto_log_gpu=False)
for step in range(400):
    row = {"loss": float("nan") if step % 97 == 0 else 1 / (step + 1), "acc": step / 400}
    if step % 100 == 0:
        row["img"] = trackio.Image(np.zeros((4, 4, 3), dtype=np.uint8))
    trackio.log(row)
    if step % 40 == 0:
        trackio.log_system({"cpu/utilization": float(step)})
    time.sleep(0.01)
trackio.finish()
"""

INDEX_LOOP = r"""
import sys, time
from pathlib import Path
from expdesk.index.service import Index
root, db, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
passes = errors = 0
with Index(db) as index:
    while not stop.exists():
        report = index.index([root])
        passes += 1
        errors += len(report.errors)
    report = index.index([root])
    with index.reader() as reader:
        runs = reader.runs_json(reader.run_keys(), history=False)
print(passes, errors, len(report.errors))
import json
print(json.dumps({r["name"]: {k: m["count"] for k, m in r["metrics"].items()} for r in runs}))
"""

TRUTH = r"""
import json
from trackio.sqlite_storage import SQLiteStorage as S
(record,) = S.get_run_records("live")
logs = S.get_logs("live", run_id=record["id"])
system = S.get_system_logs("live", run_id=record["id"])
counts = {}
for log in logs:
    for key, value in log.items():
        if key not in ("step", "timestamp") and isinstance(value, (int, float)) and not isinstance(value, bool):
            counts[key] = counts.get(key, 0) + 1
for log in system:
    for key in log:
        if key != "timestamp":
            counts["system/" + key] = counts.get("system/" + key, 0) + 1
print(json.dumps(counts))
"""


def main(expdesk_python: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, stop = Path(tmp) / "trackio", Path(tmp) / "stop"
        env = {**os.environ, "TRACKIO_DIR": str(root), "HF_HUB_OFFLINE": "1"}
        root.mkdir()
        looper = subprocess.Popen(
            [expdesk_python, "-c", INDEX_LOOP, str(root), str(Path(tmp) / "index.db"), str(stop)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        subprocess.run([sys.executable, "-c", WRITE], env=env, check=True, capture_output=True)
        written = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        stop.touch()
        out, _err = looper.communicate(timeout=300)
        passes, errors, final_errors = out.splitlines()[0].split()
        ours = json.loads(out.splitlines()[1])["writer"]
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        truth = json.loads(
            subprocess.run(
                [sys.executable, "-c", TRUTH], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        print(
            f"index passes while Trackio wrote: {passes}; passes with a run error: {errors}; final: {final_errors}"
        )
        print(f"points per key equal to Trackio's reader: {ours == truth} ({sum(truth.values())} points)")
        sidecars = [name for name in left if name.endswith(("-wal", "-shm", "-journal"))]
        print(f"folder after indexing is what Trackio left: {left == written} ({len(written)} entries)")
        print(f"SQLite sidecar files left in the folder: {sidecars or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1])
