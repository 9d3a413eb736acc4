"""Cold and warm `expdesk index` of a generated MLflow file store, next to MLflow's own client.

    python benchmarks/bench_index.py --runs 100 --metrics 10 --steps 1000      # 1M points
    python benchmarks/bench_index.py --runs 200 --metrics 10 --steps 10000     # 20M points
    ... --store /tmp/s20m                                                       # keep the store for reruns

Writes the store in MLflow's exact on-disk format (meta.yaml, params/, tags/, metrics/ lines
"<ts_ms> <value> <step>"), then prints medians of: cold index (fresh DB), warm re-index (nothing changed), the
bare pandas parse of every metric file, and MLflow's client (`search_runs` + `get_metric_history` of every series)
when mlflow is importable. Peak RSS of the cold index is measured in a child process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlflow_store import write_store  # noqa: E402  (byte-identical to MLflow's client: --check)


def child_index(store: Path, db: Path) -> tuple[float, int]:
    """Run a cold index in a fresh interpreter; returns (seconds, peak RSS bytes)."""
    sec, peak, _cpu = child_index_cpu(store, db)
    return sec, peak


def child_index_cpu(store: Path, db: Path) -> tuple[float, int, float]:
    """A cold index in a fresh interpreter: (wall seconds, peak RSS bytes, CPU seconds of all its threads).
    CPU time is printed next to wall time because on a shared machine it moves less with the load."""
    code = (
        "import sys,time,resource;from pathlib import Path;sys.path.insert(0,sys.argv[3]);"
        "from expdesk.index.service import Index;t=time.perf_counter();c=time.process_time();"
        "i=Index(Path(sys.argv[2]));r=i.index([Path(sys.argv[1])]);i.close();"
        "assert not r.errors, r.errors[:3];"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024,"
        " time.process_time()-c)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(store), str(db), str(REPO)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), float(out[2])


def pandas_parse(store: Path) -> float:
    return pandas_parse_cpu(store)[0]


def pandas_parse_cpu(store: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of pandas' C parser reading every metric file of the store."""
    import pandas as pd

    t, c = time.perf_counter(), time.process_time()
    for path in store.glob("*/*/metrics/*"):
        pd.read_csv(path, sep=" ", header=None, engine="c")
    return time.perf_counter() - t, time.process_time() - c


def mlflow_client(store: Path) -> float | None:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    t = time.perf_counter()
    client = MlflowClient(tracking_uri=f"file://{store}")
    for run in client.search_runs(["1"], max_results=50000):
        for key in run.data.metrics:
            client.get_metric_history(run.info.run_id, key)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--store", type=Path, help="write the store here and reuse it on later runs")
    args = ap.parse_args()
    points = args.runs * args.metrics * args.steps
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.store and (args.store / "mlruns").is_dir():
            store = args.store / "mlruns"  # reused as is: the caller vouches it has the requested shape
        else:
            store = write_store(args.store or Path(tmp), args.runs, args.metrics, args.steps)
        print(
            f"store: {args.runs} runs x {args.metrics} metrics x {args.steps} steps = {points:,} points "
            f"(ready in {time.perf_counter() - t:.1f} s)"
        )
        colds, rss, parse, cold_cpu, parse_cpu = [], [], [], [], []
        pandas_parse_cpu(store)  # pandas imported and the page cache warm before the first pair
        for i in range(args.repeat):
            # interleaved, so a busy moment on the machine weighs on both sides of the ratio alike
            sec, peak, cpu = child_index_cpu(store, Path(tmp) / f"cold{i}.db")
            colds.append(sec)
            rss.append(peak)
            cold_cpu.append(cpu)
            wall, cpu = pandas_parse_cpu(store)
            parse.append(wall)
            parse_cpu.append(cpu)
        from expdesk.index.service import Index

        warm = []
        with Index(Path(tmp) / "cold0.db") as index:
            for _ in range(args.repeat):
                t = time.perf_counter()
                report = index.index([store])
                warm.append(time.perf_counter() - t)
                assert report.read == 0
        cold = statistics.median(colds)
        print(
            f"cold index   median {cold:.2f} s  ({points / cold / 1e6:.1f} M points/s), "
            f"peak RSS {max(rss) / 2**20:.0f} MiB"
        )
        print(f"warm index   median {statistics.median(warm) * 1000:.0f} ms (nothing re-read)")
        print(
            f"pandas parse median {statistics.median(parse):.2f} s  -> cold index / parse = "
            f"{cold / statistics.median(parse):.2f}x (per pair: "
            f"{', '.join(f'{c / p:.2f}' for c, p in zip(colds, parse, strict=True))})"
        )
        print(
            f"CPU seconds  cold index {statistics.median(cold_cpu):.2f}, pandas parse "
            f"{statistics.median(parse_cpu):.2f} -> {statistics.median(cold_cpu) / statistics.median(parse_cpu):.2f}x"
        )
        db_size = (Path(tmp) / "cold0.db").stat().st_size
        print(f"index DB     {db_size / 2**20:.0f} MiB ({db_size / points:.1f} bytes/point)")
        if not args.no_mlflow:
            ml = mlflow_client(store)
            if ml is None:
                print("mlflow client: not installed (pip install mlflow to compare)")
            else:
                print(f"mlflow client {ml:.2f} s  -> expdesk cold index is {ml / cold:.1f}x faster")
        _ = resource


if __name__ == "__main__":
    main()
