"""A hyperparameter sweep: cold and warm `expdesk index` of many small MLflow runs, next to `cat` of the files.

    python benchmarks/bench_sweep.py                       # 5,000 runs x 10 metrics x 20 steps (~70k files)
    python benchmarks/bench_sweep.py --store /tmp/sweep    # keep the store for reruns

The store is written byte for byte as MLflow's file store writes it (`mlflow_store.py --check` proves it).
The limit is `cat` of every file of the store (`find -type f | xargs cat > /dev/null`): the time to read the
bytes, whatever parses them. Cold index (fresh DB, fresh interpreter: imports count) and cat alternate, so
a busy moment on a shared machine weighs on both sides of the ratio alike; medians are printed with the
load average before and after.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import REPO, child_index, child_index_cpu
from mlflow_store import write_store

TARGET_RATIO = 8.0
WARM_LIMIT_S = 1.0


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cat_all(store: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to read every file of the store with `cat` (the bytes, nothing more)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(f"find '{store}' -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def child_warm(store: Path, db: Path) -> float:
    """A warm `expdesk index` of the unchanged store in a fresh interpreter, timed inside (like cold)."""
    return child_index(store, db)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", type=Path, help="write the store here and reuse it on later runs")
    args = ap.parse_args()
    print(f"{load()} (start)")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.store and (args.store / "mlruns").is_dir():
            store = args.store / "mlruns"  # reused as is: the caller vouches it has the requested shape
        else:
            store = write_store(args.store or Path(tmp), args.runs, args.metrics, args.steps)
        files = sum(len(f) for _, _, f in os.walk(store))
        print(
            f"store: {args.runs:,} runs x {args.metrics} metrics x {args.steps} steps, {files:,} files "
            f"(ready in {time.perf_counter() - t:.1f} s)"
        )
        cat_all(store)  # page cache warm for both sides
        colds, cats, rss, cold_cpu, cat_cpu = [], [], [], [], []
        for i in range(args.repeat):
            wall, cpu = cat_all(store)
            cats.append(wall)
            cat_cpu.append(cpu)
            sec, peak, cpu = child_index_cpu(store, Path(tmp) / f"cold{i}.db")
            colds.append(sec)
            rss.append(peak)
            cold_cpu.append(cpu)
        from expdesk.index.service import Index

        warm, warm_cpu = [], []
        with Index(Path(tmp) / "cold0.db") as index:
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                report = index.index([store])
                warm.append(time.perf_counter() - t)
                warm_cpu.append(time.process_time() - c)
                assert report.read == 0 and report.unchanged == args.runs
        warm_child = [child_warm(store, Path(tmp) / "cold0.db") for _ in range(args.repeat)]
        cold, cat = statistics.median(colds), statistics.median(cats)
        print(f"cat of every file   median {cat:.2f} s  (runs: {', '.join(f'{c:.2f}' for c in cats)})")
        print(
            f"cold index          median {cold:.2f} s  (runs: {', '.join(f'{c:.2f}' for c in colds)}), "
            f"peak RSS {max(rss) / 2**20:.0f} MiB"
        )
        print(
            f"  -> cold index / cat = {cold / cat:.1f}x (limit {TARGET_RATIO:.0f}x; per pair: "
            f"{', '.join(f'{c / k:.1f}' for c, k in zip(colds, cats, strict=True))})"
        )
        print(
            f"CPU seconds         cold index {statistics.median(cold_cpu):.2f}, cat {statistics.median(cat_cpu):.2f}"
            f" -> {statistics.median(cold_cpu) / statistics.median(cat_cpu):.1f}x"
        )
        print(
            f"warm re-index       median {statistics.median(warm):.2f} s in process, "
            f"{statistics.median(warm_child):.2f} s as a fresh `expdesk index` (limit {WARM_LIMIT_S:.0f} s); "
            f"CPU {statistics.median(warm_cpu):.2f} s in process"
        )
        db_size = (Path(tmp) / "cold0.db").stat().st_size
        points = args.runs * args.metrics * args.steps
        print(f"index DB            {db_size / 2**20:.0f} MiB ({db_size / points:.1f} bytes/point)")
    print(f"{load()} (end)")
    _ = REPO


if __name__ == "__main__":
    main()
