"""The Python API against its goals (issue 24): `runs()` on a 10,000-run index, `history()` of 20 runs x 1M
points next to a bare numpy decode of the same chunks and MLflow's `get_metric_history`, and import times.

    python benchmarks/bench_api.py                          # everything, default shapes
    python benchmarks/bench_api.py --skip-history           # runs() and imports only
    python benchmarks/bench_api.py --keep /tmp/bench_api    # keep the built indexes and store for reruns

runs(): two 10,000-run indexes built through the writer as the indexer writes them: a typical one (20
params, 8 tags, 10 metrics per run) and bench_query's wide one (50 params, 20 metrics). Timed: calls on a
fresh workspace each (cold: connection opening and every run's columns read), and calls on one workspace
whose index has not changed (warm: the filter and sort run in SQL, the rows come from the kept columns).
history(): an MLflow file store of 20 runs x 1 metric x 1M steps (bench_index.write_store), indexed once.
Timed, interleaved: `ws.history(keys, "loss")` (the whole long frame), the floor "decode the stored chunks
with numpy alone" (blobs fetched with sqlite3, decoded with np.frombuffer and the store's decoders into
three arrays), and `history(max_points=2000)`. Then MLflow's client, `get_metric_history` of each run
(once: it takes minutes). Figures are medians (with the best of the repeats for history, the closest to
the uncontended cost on a shared machine); the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import expdesk  # noqa: E402
from expdesk.core.entities import RunRef, RunUpdate, Series, Status  # noqa: E402
from expdesk.index import store  # noqa: E402
from expdesk.index.service import Index  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def median_of(work: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(median, best, last result) of `repeat` calls."""
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), result


# -- runs() ----------------------------------------------------------------------------------------------
def build_runs_index(path: Path, runs: int, n_params: int, n_tags: int, n_metrics: int, points: int) -> None:
    rng = np.random.default_rng(0)
    statuses = [Status.FINISHED, Status.FAILED, Status.RUNNING, Status.KILLED]
    with Index(path) as index:
        pending: list[Future[Any]] = []
        for i in range(runs):
            params = {f"p{j:02d}": repr(float(10 ** rng.uniform(-5, 0))) for j in range(n_params - 3)}
            params |= {"opt": str(rng.choice(["adam", "sgd"])), "seed": str(i), "amp": str(bool(i % 2))}
            tags = {f"t{j}": f"value-{rng.integers(0, 5)}" for j in range(n_tags)}
            steps = np.arange(points, dtype=np.int64)
            metrics = [
                Series(f"m{j:02d}", steps, rng.random(points), 1.7e12 + steps * 1000.0)
                for j in range(n_metrics)
            ]
            update = RunUpdate(
                name=f"{rng.choice(['bert', 'gpt', 'resnet'])}-{i}",
                experiment=f"exp-{i % 7}",
                status=statuses[i % len(statuses)],
                start_time=1.7e9 + i * 60.0,
                end_time=1.7e9 + i * 60.0 + float(rng.uniform(10, 10_000)),
                params=params,
                tags=tags,
                metrics=metrics,
            )
            ref = RunRef("synthetic", Path(f"/bench/run-{i:05d}"), Path("/bench"), native_id=str(i))
            pending.append(
                index.writer.submit(lambda c, ref=ref, u=update: store.apply_update(c, ref, u, None))
            )
        for fut in pending:
            fut.result()


def bench_runs(folder: Path, repeat: int) -> None:
    shapes = [("typical", 10_000, 20, 8, 10), ("wide", 10_000, 50, 1, 20)]
    for label, runs, n_params, n_tags, n_metrics in shapes:
        path = folder / f"runs-{label}-{runs}x{n_params}x{n_tags}x{n_metrics}.sqlite"
        if not path.exists():
            start = time.perf_counter()
            build_runs_index(path, runs, n_params, n_tags, n_metrics, points=16)
            print(f"  built the {label} index in {time.perf_counter() - start:.0f} s")

        def fresh(path: Path = path, **kwargs: Any) -> Any:
            with expdesk.open(path) as ws:
                return ws.runs(**kwargs)

        cases = [
            ("all runs", {}),
            (
                "filter + sort",
                {"where": "params.p00 < 1e-2 and status = finished", "sort": "-metrics.m00.max"},
            ),
            ("all, sorted by a metric", {"sort": "metrics.m01.min", "deleted": None}),
        ]
        print(f"runs() on {runs:,} runs x {n_params} params x {n_tags} tags x {n_metrics} metrics ({label}):")
        print(f"  median (best of {repeat})")
        print("  cold (a fresh workspace each call: every run's columns read from the index)")
        for name, kwargs in cases:
            seconds, best, df = median_of(lambda kwargs=kwargs: fresh(**kwargs), repeat)
            print(
                f"    {name:<26} {seconds * 1000:7.0f} ms ({best * 1000:5.0f})   -> {df.shape[0]:>6} x {df.shape[1]}"
            )
        print("  warm (one workspace, the index unchanged since its first call)")
        with expdesk.open(path) as ws:
            ws.runs()
            for name, kwargs in cases:
                seconds, best, df = median_of(lambda kwargs=kwargs: ws.runs(**kwargs), repeat)
                print(
                    f"    {name:<26} {seconds * 1000:7.0f} ms ({best * 1000:5.0f})   -> {df.shape[0]:>6} x {df.shape[1]}"
                )
        print(f"  ({load()})")


# -- history() -------------------------------------------------------------------------------------------
def numpy_decode(db: Path, keys: list[str], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The floor: the same chunks fetched with plain sqlite3 and decoded with numpy, nothing else."""
    from expdesk.index.store import decode_steps, decode_ts

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.execute("PRAGMA mmap_size=4294967296")  # as the index's reader does for chunk blobs
    steps, values, stamps = [], [], []
    for key in keys:
        (series_id,) = conn.execute(
            "SELECT id FROM series WHERE run_key=? AND key=?", (key, metric)
        ).fetchone()
        for n, s, v, t in conn.execute(
            "SELECT n, steps, vals, ts FROM chunks WHERE series_id=? ORDER BY seq", (series_id,)
        ):
            steps.append(decode_steps(s, n))
            values.append(np.frombuffer(v, dtype="<f8"))
            stamps.append(decode_ts(t, n))
    conn.close()
    return np.concatenate(steps), np.concatenate(values), np.concatenate(stamps)


def mlflow_history(store_dir: Path, run_ids: list[str], metric: str) -> tuple[float, int]:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file://{store_dir}")
    points, seconds = 0, 0.0
    for run_id in run_ids:  # one run at a time: 1M Metric objects hold ~0.3 GB
        start = time.perf_counter()
        points += len(client.get_metric_history(run_id, metric))
        seconds += time.perf_counter() - start
    return seconds, points


def bench_history(folder: Path, runs: int, points: int, repeat: int, with_mlflow: bool) -> None:
    from benchmarks.bench_index import write_store

    base = folder / f"history-{runs}x{points}"
    store_dir = base / "mlruns"
    db = base / "index.sqlite"
    if not db.exists():
        start = time.perf_counter()
        if not store_dir.is_dir():
            write_store(base, runs, 1, points)
        with expdesk.open(db) as ws:
            summary = ws.index(store_dir)
        assert not summary.errors, summary.errors[:3]
        print(f"  store written and indexed in {time.perf_counter() - start:.0f} s")
    with expdesk.open(db) as ws:
        frame = ws.runs()
        keys, run_ids = list(frame.index), list(frame["native_id"])
        total = runs * points
        api, floor, small = [], [], []
        for _ in range(repeat):  # interleaved: a busy moment weighs on every figure alike
            start = time.perf_counter()
            h = ws.history(keys, "metric_0")
            api.append(time.perf_counter() - start)
            assert len(h) == total
            del h
            start = time.perf_counter()
            arrays = numpy_decode(db, keys, "metric_0")
            floor.append(time.perf_counter() - start)
            assert len(arrays[0]) == total
            del arrays
            start = time.perf_counter()
            decimated = ws.history(keys, "metric_0", max_points=2000)
            small.append(time.perf_counter() - start)
        a, f, s = (statistics.median(x) for x in (api, floor, small))
        best_a, best_f = min(api), min(floor)
        print(f"history() of {runs} runs x {points:,} points ({total:,} points): median (best of {repeat})")
        print(
            f"  ws.history (whole long frame)      {a * 1000:7.0f} ms ({best_a * 1000:5.0f})   {total / a / 1e6:.1f}M points/s"
        )
        print(f"  numpy decode of the same chunks    {f * 1000:7.0f} ms ({best_f * 1000:5.0f})")
        print(f"    -> history = {a / f:.2f}x the floor (best: {best_a / best_f:.2f}x)")
        print(
            f"  ws.history(max_points=2000)        {s * 1000:7.0f} ms ({min(small) * 1000:5.0f})   -> {len(decimated):,} rows"
        )
        print(f"  ({load()})")
    if with_mlflow:
        seconds, got = mlflow_history(store_dir, run_ids, "metric_0")
        assert got == total
        print(
            f"  MLflow get_metric_history          {seconds * 1000:7.0f} ms   -> history is {seconds / a:.0f}x faster"
        )
        print(f"  ({load()})")


# -- import time -----------------------------------------------------------------------------------------
def bench_import(repeat: int) -> None:
    def child(code: str) -> float:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        return float(out.stdout.split()[-1])

    plain = statistics.median(child("import expdesk") for _ in range(repeat))
    api = statistics.median(child("import expdesk; expdesk.Workspace") for _ in range(repeat))
    frames = statistics.median(child("import expdesk, expdesk.api.frames") for _ in range(repeat))
    print("imports (fresh interpreter, medians):")
    print(f"  import expdesk                     {plain * 1000:7.1f} ms")
    print(f"  + first use of the API             {api * 1000:7.1f} ms   (index, numpy, sqlite-utils)")
    print(f"  + the first DataFrame (pandas)     {frames * 1000:7.1f} ms")
    print(f"  ({load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20, help="history: runs")
    ap.add_argument("--points", type=int, default=1_000_000, help="history: points per run")
    ap.add_argument("--skip-runs", action="store_true")
    ap.add_argument("--skip-history", action="store_true")
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--keep", type=Path, help="build (and reuse) the indexes and the store here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        bench_import(max(args.repeat, 5))
        if not args.skip_runs:
            bench_runs(folder, args.repeat)
        if not args.skip_history:
            bench_history(folder, args.runs, args.points, args.repeat, not args.no_mlflow)


if __name__ == "__main__":
    main()
