"""Read speed of the Sacred FileStorageObserver reader on a generated run folder.

    python benchmarks/bench_sacred.py [--points 200000] [--keys 4]

Writes run.json, config.json and a metrics.json of `--keys` metrics x `--points` points in Sacred's own layout
(`{name: {steps, timestamps (ISO 8601 naive UTC), values}}`, indent=2 like the observer) in a temp dir, then
times expdesk's full read and the re-read after a heartbeat rewrote metrics.json with 1% more points (Sacred
rewrites the whole file, so this is a full re-parse that sends only the new points). Sacred has no reader of
its own for these folders, so there is no tool figure to compare with: `json.load` of the same file is shown
as the floor.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.core.entities import RunRef
from expdesk.sources.sacred.reader import READER


def write_metrics(path: Path, keys: int, points: int) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    stamps = [(t0 + timedelta(milliseconds=i)).isoformat() for i in range(points)]
    doc = {
        f"metric_{k}": {
            "steps": list(range(points)),
            "timestamps": stamps,
            "values": [1.0 / (i + k + 1) for i in range(points)],
        }
        for k in range(keys)
    }
    path.write_text(json.dumps(doc, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=200_000, help="points per metric")
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings (this machine is shared)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "runs" / "1"
        run.mkdir(parents=True)
        (run / "run.json").write_text(
            json.dumps(
                {"status": "RUNNING", "heartbeat": "2026-01-01T00:00:00", "experiment": {"name": "bench"}}
            )
        )
        (run / "config.json").write_text(json.dumps({"lr": 0.1, "seed": 1}))
        metrics = run / "metrics.json"
        write_metrics(metrics, args.keys, args.points)
        ref = RunRef("sacred", run, Path(tmp), native_id="1", store=run.parent)
        total = args.keys * args.points

        floor = ours = math.inf
        for _ in range(args.repeat):
            start = time.perf_counter()
            json.loads(metrics.read_bytes())
            floor = min(floor, time.perf_counter() - start)
            start = time.perf_counter()
            update = READER.read(ref, None)
            ours = min(ours, time.perf_counter() - start)
        assert update.error is None and sum(len(s.steps) for s in update.metrics) == total
        size = metrics.stat().st_size
        print(f"metrics.json: {size / 1e6:.1f} MB, {args.keys} keys x {args.points} points")
        print(f"expdesk full read (best of {args.repeat}): {ours:.2f} s = {total / ours:,.0f} points/s")
        print(f"json.loads alone: {floor:.2f} s = {total / floor:,.0f} points/s")

        extra = max(1, args.points // 100)
        write_metrics(metrics, args.keys, args.points + extra)
        start = time.perf_counter()
        again = READER.read(ref, update.cursor)
        reread = time.perf_counter() - start
        assert sum(len(s.steps) for s in again.metrics) == args.keys * extra
        assert not again.metrics_reset and not any(s.replace for s in again.metrics)
        print(f"re-read after a heartbeat rewrite (+{extra} points/key, only those sent): {reread:.2f} s")


if __name__ == "__main__":
    main()
