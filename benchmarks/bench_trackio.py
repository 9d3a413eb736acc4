"""Index speed of Trackio projects: cold, warm, and after a few rows were appended (the incremental path).

    python benchmarks/bench_trackio.py [--runs 100] [--steps 1000] [--keys 10] [--trackio-python PATH]

Builds one project in Trackio 0.43's own layout (the schema of the `nlp.db` fixture Trackio wrote, emptied)
with `--runs` runs x `--steps` rows x `--keys` metrics, one orjson-style object per row as `bulk_log` stores
it, then times `expdesk index` cold, warm (nothing changed), and after one run gained 10 rows. The floor is
a bare `SELECT metrics` + `json.loads` of every row. With `--trackio-python` (an interpreter that has
`trackio`), Trackio's own reader (`SQLiteStorage.get_logs` for every run) is timed on the same file.
Medians of `--repeat` interleaved runs; the machine is shared, so say how loaded it was (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.index.service import Index

TEMPLATE = Path(__file__).resolve().parents[1] / "tests" / "data" / "runs" / "trackio" / "current" / "nlp.db"

TRACKIO_READ = r"""
import sys, time
from trackio.sqlite_storage import SQLiteStorage as S
started = time.perf_counter()
points = 0
for record in S.get_run_records("bench"):
    for row in S.get_logs("bench", run_id=record["id"]):
        points += len(row) - 2
print(time.perf_counter() - started, points)
"""


def build(folder: Path, runs: int, steps: int, keys: int) -> Path:
    db = folder / "bench.db"
    shutil.copyfile(TEMPLATE, db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("DELETE FROM metrics")
    conn.execute("DELETE FROM configs")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for r in range(runs):
        run_id, name = uuid.uuid4().hex, f"run-{r}"
        conn.execute(
            "INSERT INTO configs (run_id, run_name, config, created_at) VALUES (?, ?, ?, ?)",
            (run_id, name, json.dumps({"lr": 10.0 ** -(r % 5), "seed": r}), t0.isoformat()),
        )
        rows = []
        for s in range(steps):
            values = {f"m{k}": 1.0 / (s + k + 1) for k in range(keys)}
            stamp = (t0 + timedelta(seconds=s)).isoformat()
            rows.append((stamp, run_id, name, s, json.dumps(values, separators=(",", ":"))))
        conn.executemany(
            "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES (?, ?, ?, ?, ?)", rows
        )
    conn.commit()
    conn.close()  # the last close checkpoints: an idle project, as Trackio leaves it
    return db


def floor(db: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    for (blob,) in conn.execute("SELECT metrics FROM metrics"):
        json.loads(blob)
    conn.close()
    return time.perf_counter() - started


def append(db: Path, rows: int) -> None:
    conn = sqlite3.connect(db)
    run_id, name, last = conn.execute(
        "SELECT run_id, run_name, MAX(step) FROM metrics WHERE run_name = 'run-0'"
    ).fetchone()
    conn.executemany(
        "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES (?, ?, ?, ?, ?)",
        [("2026-02-01T00:00:00+00:00", run_id, name, last + 1 + i, '{"m0":0.5}') for i in range(rows)],
    )
    conn.commit()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trackio-python", help="an interpreter with trackio installed, to time its reader")
    args = parser.parse_args()
    points = args.runs * args.steps * args.keys
    timings: dict[str, list[float]] = {"floor": [], "cold": [], "warm": [], "append": [], "trackio": []}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            folder = Path(tmp) / f"p{attempt}"
            folder.mkdir()
            db = build(folder, args.runs, args.steps, args.keys)
            timings["floor"].append(floor(db))
            with Index(Path(tmp) / f"index{attempt}.db") as index:
                started = time.perf_counter()
                report = index.index([folder])
                timings["cold"].append(time.perf_counter() - started)
                assert report.errors == [] and report.found == args.runs, report.errors
                started = time.perf_counter()
                index.index([folder])
                timings["warm"].append(time.perf_counter() - started)
                append(db, 10)
                started = time.perf_counter()
                index.index([folder])
                timings["append"].append(time.perf_counter() - started)
            if args.trackio_python:
                env = {
                    "TRACKIO_DIR": str(Path(tmp) / f"t{attempt}"),
                    "HF_HUB_OFFLINE": "1",
                    "PATH": "/usr/bin:/bin",
                }
                Path(env["TRACKIO_DIR"]).mkdir()
                shutil.copyfile(db, Path(env["TRACKIO_DIR"]) / "bench.db")
                out = subprocess.run(
                    [args.trackio_python, "-c", TRACKIO_READ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                timings["trackio"].append(float(out[0]))
    print(
        f"{args.runs} runs x {args.steps} rows x {args.keys} metrics = {points:,} points; medians of {args.repeat}"
    )
    labels = {
        "floor": "floor: SELECT + json.loads of every row",
        "cold": "expdesk index, cold",
        "warm": "expdesk index, warm (unchanged)",
        "append": "expdesk index after 10 rows appended to one run",
        "trackio": "Trackio's own reader (get_logs of every run)",
    }
    for key, label in labels.items():
        if timings[key]:
            seconds = statistics.median(timings[key])
            rate = (
                f"  {points / seconds / 1e6:6.2f} M points/s" if key in ("floor", "cold", "trackio") else ""
            )
            print(f"{label:<52} {seconds:8.3f} s{rate}")


if __name__ == "__main__":
    main()
