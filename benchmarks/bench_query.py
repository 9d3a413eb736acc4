"""Filter + sort over a synthetic index: 10,000 runs x 50 params x 20 metrics (default). Prints median ms.

    python -m benchmarks.bench_query [--runs 10000] [--points 16] [--repeat 9] [--db PATH] [--joined 0.05]

`--joined F`: a fraction F of the runs are training jobs of three parts, as the lightning-hydra-template
writes them (a Hydra job folder with the config, a Lightning CSV and a TensorBoard version folder inside it
with the metrics, the same series in both), so filters and sorts go through joined runs' merged rows.

The DB is built once per --db path (reused when it exists with the same shape) through the writer, exactly
as the indexer writes it. Timed: compile + `IndexReader.run_keys(where, params, order)` end to end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.index import store
from expdesk.index.filter import compile_filter, compile_sort
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

QUERIES: list[tuple[str, str, str]] = [
    ("one numeric param", "params.p00 < 1e-3", ""),
    ("text param =", "params.opt = adam", ""),
    ("metric summary", "metrics.m00.min < 0.1", ""),
    (
        "DESIGN example",
        'params.p00 < 1e-3 and (metrics.m01.min < 0.2 or tags.stage = "prod") and name ~ "bert"'
        " and status != failed",
        "",
    ),
    ("regex on name", "name ~ 'bert-[0-9]+5$'", ""),
    ("not / in / is null", "not params.opt in (adam, sgd) and params.missing is null", ""),
    ("value at a step", "metrics.m02.at(7) < 0.5", ""),
    ("no filter, sort by metric", "", "metrics.m00.min"),
    ("no filter, sort by 3 keys", "", "-params.p01, metrics.m03.last, name"),
    ("filter + sort", "params.p00 < 1e-2 and status = finished", "-metrics.m00.max, start_time"),
    ("sort by value at a step", "", "metrics.m02.at(7)"),
]


def build(path: Path, runs: int, n_params: int, n_metrics: int, points: int, joined: float = 0.0) -> None:
    rng = np.random.default_rng(0)
    statuses = [Status.FINISHED, Status.FAILED, Status.RUNNING, Status.KILLED]
    with Index(path) as index:
        pending: list[Future[Any]] = []
        for i in range(runs):
            params = {f"p{j:02d}": repr(float(10 ** rng.uniform(-5, 0))) for j in range(n_params - 1)}
            params["opt"] = str(rng.choice(["adam", "sgd", "adamw", "lion"]))
            steps = np.arange(points, dtype=np.int64)
            metrics = [
                Series(f"m{j:02d}", steps, rng.random(points), np.full(points, np.nan))
                for j in range(n_metrics)
            ]
            update = RunUpdate(
                name=f"{rng.choice(['bert', 'gpt', 'resnet'])}-{i}",
                status=statuses[i % len(statuses)],
                start_time=1.7e9 + i * 60.0,
                end_time=1.7e9 + i * 60.0 + float(rng.uniform(10, 10_000)),
                params=params,
                tags={"stage": str(rng.choice(["prod", "dev"]))},
                metrics=metrics,
            )
            every = round(1 / joined) if joined else 0
            if every and i % every == 0:
                # one job, three parts: the config in the Hydra folder, the metrics from both loggers
                job = Path(f"/bench/job-{i:05d}")
                head = RunUpdate(
                    name=update.name,
                    status=update.status,
                    start_time=update.start_time,
                    end_time=update.end_time,
                    params=params,
                    tags=update.tags,
                )
                parts = [
                    (RunRef("hydra", job, Path("/bench")), head),
                    (RunRef("lightning", job / "csv" / "version_0", Path("/bench")),
                     RunUpdate(metrics=metrics, params={"opt": params["opt"]})),
                    (RunRef("tensorboard", job / "tensorboard" / "version_0", Path("/bench")),
                     RunUpdate(metrics=[Series(m.key, m.steps, m.values, m.timestamps) for m in metrics])),
                ]  # fmt: skip
            else:
                parts = [
                    (
                        RunRef("synthetic", Path(f"/bench/run-{i:05d}"), Path("/bench"), native_id=str(i)),
                        update,
                    )
                ]
            for ref, part in parts:
                pending.append(
                    index.writer.submit(
                        lambda c, ref=ref, u=part: store.apply_update(c, ref, u, None), {ref.key}
                    )
                )
        for fut in pending:
            fut.result()


def timed(reader: IndexReader, where: str, sort: str, repeat: int) -> tuple[float, int]:
    samples, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        sql, params = compile_filter(where) if where else ("", [])
        kwargs: dict[str, Any] = {"order_sql": compile_sort(sort)} if sort else {}
        count = len(reader.run_keys(False, sql, tuple(params), **kwargs))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--params", type=int, default=50)
    ap.add_argument("--metrics", type=int, default=20)
    ap.add_argument("--points", type=int, default=16, help="points per metric")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--db", type=Path, default=None, help="keep the built DB here (default: a temp dir)")
    ap.add_argument("--joined", type=float, default=0.0, help="fraction of runs that are 3-part jobs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shape = f"{args.runs}x{args.params}x{args.metrics}x{args.points}"
        path = args.db or Path(tmp) / f"bench-{shape}.sqlite"
        if not path.exists():
            start = time.perf_counter()
            build(path, args.runs, args.params, args.metrics, args.points, args.joined)
            print(f"built {shape} (runs x params x metrics x points) in {time.perf_counter() - start:.1f} s")
        with IndexReader(path) as reader:
            print(f"{'query':<28} {'matches':>8} {'median ms':>10}")
            for label, where, sort in QUERIES:
                ms, count = timed(reader, where, sort, args.repeat)
                print(f"{label:<28} {count:>8} {ms:>10.1f}")


if __name__ == "__main__":
    main()
