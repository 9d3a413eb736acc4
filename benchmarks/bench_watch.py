"""Live-watch latency and idle cost.

Latency: a writer appends one JSONL line every `--interval` s to one run while `--idle` other runs sit
idle; each line's latency is from its write to the moment a reader query (own read-only connection)
shows it. p50/p95 over `--appends` lines, for the native and the polling observer.
Idle CPU: process CPU time (all threads) of a watcher over `--idle-runs` runs with nothing happening,
over `--idle-seconds` (covering at least one periodic reconcile).

    python benchmarks/bench_watch.py                    # full run (~3 min)
    python benchmarks/bench_watch.py --appends 50 --idle-seconds 35
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.index.filter import compile_filter
from expdesk.index.service import Index
from expdesk.watch import Watcher


def make_runs(root: Path, count: int) -> list[Path]:
    runs = []
    for i in range(count):
        run = root / f"run-{i:04}"
        run.mkdir(parents=True)
        (run / "params.json").write_text(json.dumps({"lr": 0.001 * (i + 1), "seed": i}))
        with open(run / "metrics.jsonl", "w") as f:
            for step in range(50):
                f.write(json.dumps({"step": step, "loss": 1.0 / (step + 1)}) + "\n")
        runs.append(run)
    return runs


def latency(network: bool, appends: int, idle: int, interval: float) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        runs = make_runs(root, idle + 1)
        live = runs[0] / "metrics.jsonl"
        changed = threading.Event()
        with Index(Path(tmp) / "index.sqlite") as index:
            watcher = Watcher(index, lambda keys: changed.set())
            watcher.add_root(root, network=network)
            watcher.start()
            assert watcher.wait_ready(60)
            reader = watcher.reader()
            where, params = compile_filter(f"path = {json.dumps(str(runs[0]), ensure_ascii=False)}")
            key = reader.run_keys(True, where, tuple(params))[0]
            base = reader.run_json(key)["metrics"]["loss"]["count"]
            written: list[float] = []
            seen: list[float] = []
            done = threading.Event()

            def observe() -> None:
                # wakes on each commit, asks the index how many lines it shows, stamps the new ones
                while not done.is_set():
                    changed.wait()
                    changed.clear()
                    count = reader.run_json(key)["metrics"]["loss"]["count"] - base
                    now = time.perf_counter()
                    while len(seen) < count:
                        seen.append(now)
                    if len(seen) >= appends:
                        done.set()

            observer = threading.Thread(target=observe)
            observer.start()
            with open(live, "a") as f:
                for step in range(appends):
                    f.write(json.dumps({"step": 1000 + step, "loss": 0.5}) + "\n")
                    f.flush()
                    written.append(time.perf_counter())
                    time.sleep(interval)
            done.wait(30)
            done.set()
            changed.set()
            observer.join()
            reader.close()
            watcher.stop()
        lat = sorted(s - w for s, w in zip(seen, written, strict=False))
        if len(lat) < appends:
            print(f"  warning: only {len(lat)} of {appends} lines became visible", file=sys.stderr)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        return statistics.median(lat), p95, max(lat)


def idle_cpu(network: bool, runs: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        make_runs(root, runs)
        with Index(Path(tmp) / "index.sqlite") as index:
            index.index([root])
            watcher = Watcher(index)
            watcher.add_root(root, network=network)
            watcher.start()
            assert watcher.wait_ready(120)
            others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
            print(f"  ({len(others)} threads while idle: {', '.join(sorted(set(others)))})")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            threading.Event().wait(seconds)  # this thread idles: what is counted is the watcher's work
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            watcher.stop()
    return 100.0 * cpu / wall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--idle", type=int, default=100, help="idle runs beside the live one")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between appended lines")
    parser.add_argument("--idle-runs", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=65.0)
    parser.add_argument("--skip-polling-idle", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"latency: {args.appends} appends every {args.interval:g} s, {args.idle} idle runs beside")
    for network, target in ((False, 1.0), (True, 3.0)):
        p50, p95, worst = latency(network, args.appends, args.idle, args.interval)
        name = "polling" if network else "native"
        verdict = "ok" if p95 < target else "MISSED"
        print(
            f"  {name:<8} p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  max {worst * 1000:6.0f} ms"
            f"  (target p95 < {target:g} s: {verdict})"
        )
    print(f"idle CPU: {args.idle_runs} runs, {args.idle_seconds:g} s")
    modes = [False] if args.skip_polling_idle else [False, True]
    for network in modes:
        pct = idle_cpu(network, args.idle_runs, args.idle_seconds)
        name = "polling" if network else "native"
        verdict = "" if network else f"  (target < 2 %: {'ok' if pct < 2 else 'MISSED'})"
        print(f"  {name:<8} {pct:5.2f} % of one CPU{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
