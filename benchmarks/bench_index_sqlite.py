"""Cold `expdesk index` of an MLflow SQLite store (`mlflow.db`), next to MLflow's own client reading it.

    python benchmarks/bench_index_sqlite.py --runs 100 --metrics 10 --steps 1000   # 1M points (needs mlflow)

MLflow creates the database (its own migrations: the exact schema), the experiment and the runs with their
params; the metric points are then inserted straight into its `metrics` and `latest_metrics` tables (logging
1M points through the client would take many minutes). Prints medians of the cold index (fresh expdesk DB,
in a child process) and MLflow's client (`search_runs` + `get_metric_history` of every series).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import child_index


def write_sqlite_store(base: Path, runs: int, metrics: int, steps: int, seed: int = 0) -> tuple[Path, str]:
    from mlflow.tracking import MlflowClient

    db = base / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench", artifact_location=(base / "artifacts").as_uri())
    rng = random.Random(seed)
    run_ids = []
    for r in range(runs):
        run = client.create_run(exp, run_name=f"run-{r}", start_time=1700000000000)
        client.log_param(run.info.run_id, "lr", str(10 ** -rng.randint(1, 5)))
        client.log_param(run.info.run_id, "seed", str(r))
        client.set_terminated(run.info.run_id, "FINISHED", end_time=1700000100000)
        run_ids.append(run.info.run_id)
    conn = sqlite3.connect(db)
    with conn:
        for run_id in run_ids:
            for m in range(metrics):
                rows = [(f"metric_{m}", rng.random(), 1700000000000 + s, run_id, s, 0) for s in range(steps)]
                conn.executemany(
                    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
                    rows,
                )
                conn.execute(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                    " VALUES (?,?,?,?,?,?)",
                    (rows[-1][0], rows[-1][1], rows[-1][2], rows[-1][4], 0, run_id),
                )
    conn.close()
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    points = args.runs * args.metrics * args.steps
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        db, exp = write_sqlite_store(Path(tmp), args.runs, args.metrics, args.steps)
        print(
            f"mlflow.db: {points:,} points, {db.stat().st_size / 2**20:.0f} MiB (written in {time.perf_counter() - t:.1f} s)"
        )
        colds = [child_index(db.parent, Path(tmp) / f"cold{i}.db")[0] for i in range(args.repeat)]
        cold = statistics.median(colds)
        print(f"cold index    median {cold:.2f} s ({points / cold / 1e6:.1f} M points/s)")
        ml = statistics.median(mlflow_client(db, exp) for _ in range(max(1, args.repeat // 2)))
        print(f"mlflow client {ml:.2f} s  -> expdesk cold index is {ml / cold:.1f}x faster")


if __name__ == "__main__":
    main()
