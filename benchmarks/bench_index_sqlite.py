"""Cold `expdesk index` of an MLflow SQLite store (`mlflow.db`), next to MLflow's own client reading it.

    python benchmarks/bench_index_sqlite.py --runs 100 --metrics 10 --steps 1000   # 1M points (needs mlflow)

MLflow creates the database (its own migrations: the exact schema), the experiment and the runs with their
params; the metric points are then inserted straight into its `metrics` and `latest_metrics` tables (logging
1M points through the client would take many minutes). Prints medians of the cold index (fresh expdesk DB,
in a child process) and MLflow's client (`search_runs` + `get_metric_history` of every series).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import child_index_cpu


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def write_sqlite_store(base: Path, runs: int, metrics: int, steps: int, seed: int = 0) -> tuple[Path, str]:
    """Every row through MLflow's own client (`log_batch`, 1,000 points a call): the exact rows, indexes
    and `latest_metrics` MLflow keeps. About 0.3 s per 1,000 points: write once, reuse with `--store`."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    db = base / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.create_experiment("bench", artifact_location=(base / "artifacts").as_uri())
    rng = random.Random(seed)
    for r in range(runs):
        start = 1700000000000 + 1000 * r
        run_id = client.create_run(exp, run_name=f"run-{r}", start_time=start).info.run_id
        client.log_batch(run_id, params=[Param("lr", str(10 ** -rng.randint(1, 5))), Param("seed", str(r))])
        points = [
            Metric(f"metric_{m}", rng.random(), start + 1 + s, s)
            for m in range(metrics)
            for s in range(steps)
        ]
        for i in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=points[i : i + 1000])
        client.set_terminated(run_id, "FINISHED", end_time=start + 100000)
    return db, exp


def mlflow_client(db: Path, experiment: str) -> float:
    from mlflow.tracking import MlflowClient

    t = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    n = 0
    for run in client.search_runs([experiment], max_results=50000):
        for key in run.data.metrics:
            n += len(client.get_metric_history(run.info.run_id, key))
    return time.perf_counter() - t


PLAIN_READ = """
import sqlite3, sys, time
import numpy as np
t, c = time.perf_counter(), time.process_time()
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for table in ("runs", "experiments", "params", "tags", "latest_metrics"):
    conn.execute(f"SELECT * FROM {table}").fetchall()
groups = conn.execute(
    "SELECT run_uuid, key, COUNT(*) FROM metrics GROUP BY run_uuid, key ORDER BY run_uuid, key"
).fetchall()
rows = conn.execute("SELECT step, timestamp, value, is_nan FROM metrics ORDER BY run_uuid, key, step")
table = np.fromiter(rows, dtype=[("s", "<i8"), ("t", "<f8"), ("v", "<f8"), ("n", "<i8")])
assert len(table) == sum(g[2] for g in groups)
print(time.perf_counter() - t, time.process_time() - c)
"""


def plain_read(db: Path) -> tuple[float, float]:
    """The limit: every table read once, the metric rows in index order straight into numpy arrays with
    their (run, key) boundaries, in a fresh interpreter (imports done before the clock starts, as for
    expdesk's cold index)."""
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_READ, str(db)], capture_output=True, text=True, check=True
    )
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def add_points(db: Path, per_series: int) -> int:
    """`per_series` more steps on every series of every run, through MLflow's client (a sweep that went on)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    added = 0
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments, max_results=50000):
        start = run.info.start_time
        points = [
            Metric(key, 0.5, start + 10**6 + s, 10**6 + s)
            for key in run.data.metrics
            for s in range(per_series)
        ]
        for i in range(0, len(points), 1000):
            client.log_batch(run.info.run_id, metrics=points[i : i + 1000])
        added += len(points)
    return added


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", type=Path, help="write mlflow.db in this folder and reuse it on later runs")
    ap.add_argument("--no-mlflow", action="store_true", help="skip timing MLflow's own client")
    args = ap.parse_args()
    points = args.runs * args.metrics * args.steps
    print(f"{load()} (start)")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.store and (args.store / "mlflow.db").is_file():
            db, exp = args.store / "mlflow.db", ""  # reused as is: the caller vouches for its shape
        else:
            base = args.store or Path(tmp)
            base.mkdir(parents=True, exist_ok=True)
            db, exp = write_sqlite_store(base, args.runs, args.metrics, args.steps)
        print(
            f"mlflow.db: {points:,} points, {db.stat().st_size / 2**20:.0f} MiB "
            f"(ready in {time.perf_counter() - t:.1f} s)"
        )
        colds, plains, cold_cpu, plain_cpu = [], [], [], []
        for i in range(args.repeat):
            # interleaved, so a busy moment on the machine weighs on both sides of the ratio alike
            wall, cpu = plain_read(db)
            plains.append(wall)
            plain_cpu.append(cpu)
            wall, _peak, cpu = child_index_cpu(db, Path(tmp) / f"cold{i}.db")
            colds.append(wall)
            cold_cpu.append(cpu)
        cold, plain = statistics.median(colds), statistics.median(plains)
        print(f"plain SQL read median {plain:.2f} s  (runs: {', '.join(f'{p:.2f}' for p in plains)})")
        print(f"cold index     median {cold:.2f} s  (runs: {', '.join(f'{c:.2f}' for c in colds)})")
        print(
            f"  -> cold index / plain read = {cold / plain:.2f}x (limit 1.5x; per pair: "
            f"{', '.join(f'{c / p:.2f}' for c, p in zip(colds, plains, strict=True))})"
        )
        print(
            f"CPU seconds    cold index {statistics.median(cold_cpu):.2f}, plain read "
            f"{statistics.median(plain_cpu):.2f} -> {statistics.median(cold_cpu) / statistics.median(plain_cpu):.2f}x"
        )
        # incremental: a copy of the store is indexed, gains 1% more points through MLflow's client, and is
        # indexed again; the second pass should cost in proportion to the new rows, not the store
        grown = Path(tmp) / "grown" / "mlflow.db"
        grown.parent.mkdir()
        shutil.copy(db, grown)
        from expdesk.index.service import Index

        with Index(Path(tmp) / "incr.db") as index:
            index.index([grown])
            added = add_points(grown, max(1, args.steps // 100))
            t = time.perf_counter()
            report = index.index([grown])
            incr = time.perf_counter() - t
        assert report.read == args.runs and not report.errors, report.errors[:3]
        print(
            f"incremental    {incr:.2f} s for +{added:,} points on {report.read} runs (one pass: "
            f"{incr / cold * 100:.0f}% of the cold index for {added / points * 100:.0f}% more points)"
        )
        if not args.no_mlflow and exp:
            ml = mlflow_client(db, exp)
            print(f"mlflow client  {ml:.2f} s  -> expdesk cold index is {ml / cold:.1f}x faster")
    print(f"{load()} (end)")


if __name__ == "__main__":
    main()
