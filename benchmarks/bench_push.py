"""Push 100 runs x 10 metrics x 1,000 steps (1M points) to an MLflow tracking server; print points/s and the
number of HTTP requests, for a first push and for a re-push of the unchanged runs. Writes only to a temp dir.

    python benchmarks/bench_push.py                      # starts its own `mlflow server` (SQLite backend)
    python benchmarks/bench_push.py --url http://host:5000 [--runs 100 --metrics 10 --steps 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.index.service import Index
from expdesk.remote.http import MlflowRest
from expdesk.remote.push import push_runs


def write_runs(root: Path, runs: int, metrics: int, steps: int) -> None:
    """Generic run folders (params.json + metrics.jsonl with ms timestamps) as a training script writes them."""
    for r in range(runs):
        folder = root / f"run-{r:03d}"
        folder.mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps({"lr": 10 ** -(r % 5), "seed": r, "model": "mlp"}))
        with open(folder / "metrics.jsonl", "w") as out:
            for s in range(steps):
                row = {"step": s, "timestamp": 1_750_000_000_000 + 1000 * s}
                row.update({f"m{m}": (m + 1) / (s + 1) + r * 1e-3 for m in range(metrics)})
                out.write(json.dumps(row) + "\n")


def start_server(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
               "--artifacts-destination", str(base / "artifacts")]  # fmt: skip
    log = open(base / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            threading.Event().wait(0.25)
    raise SystemExit("mlflow server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="an existing tracking server (default: start one)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_runs(base / "runs", args.runs, args.metrics, args.steps)
        with Index(base / "index.sqlite") as index:
            report = index.index([base / "runs"], remember=False)
        keys = report.keys
        proc, url = (None, args.url) if args.url else start_server(base)
        try:
            experiment = f"bench-push-{int(time.time())}"
            for label in ("first push", "re-push (unchanged)"):
                client = MlflowRest(url)
                started = time.perf_counter()
                with index.reader() as reader:
                    result = push_runs(reader, keys, client, experiment, artifacts=False)
                seconds = time.perf_counter() - started
                print(
                    f"{label}: {len(result.runs)} runs, {result.points:,} points in {seconds:.1f} s "
                    f"= {result.points / seconds:,.0f} points/s, {result.requests} HTTP requests "
                    f"({result.requests / seconds:.1f} requests/s); {seconds - client.seconds_waiting:.2f} s of it"
                    " on our side (reading the index, building batches), the rest waiting for the server"
                )
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
