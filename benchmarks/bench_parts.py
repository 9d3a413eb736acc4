"""What reading every folder with every reader that knows it, and joining parts into runs, cost an index pass.

    python benchmarks/bench_parts.py [--runs 5000] [--repeat 3] [--code /path/to/other/checkout ...]

Writes two sweeps of small runs (kept under --keep, or a temp dir):
- `plain`: RUNS hand-written run folders (params.json + metrics.jsonl, 20 points): nothing to join, so the
  figure is what the walk and the join bookkeeping add to a sweep that has no joins;
- `jobs`: RUNS/2 Hydra job folders (`.hydra/config.yaml`, the app's metrics.json) each holding a Lightning
  CSVLogger version folder (`csv/version_0/{hparams.yaml,metrics.csv}`): RUNS parts joined into RUNS/2 runs.
Then, for each checkout given with --code (default: this one), a cold `expdesk index` (fresh DB) and a warm
re-index (nothing changed) of each sweep, in a child process, interleaved across checkouts; prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_plain(root: Path, runs: int) -> None:
    for i in range(runs):
        run = root / f"run-{i:05d}"
        run.mkdir(parents=True)
        (run / "params.json").write_text(json.dumps({"lr": 10 ** -(i % 5), "seed": i}))
        lines = [json.dumps({"step": s, "loss": 1.0 / (s + 1 + i % 7)}) for s in range(20)]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def write_jobs(root: Path, jobs: int) -> None:
    for i in range(jobs):
        job = (
            root
            / "logs"
            / "train"
            / "runs"
            / f"2026-01-{1 + i % 28:02d}_{i // 60 % 24:02d}-{i % 60:02d}-{i:05d}"
        )
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "config.yaml").write_text(f"model:\n  lr: {10 ** -(i % 5)}\nseed: {i}\n")
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={i}\n")
        (job / "train.log").write_text("[2026-01-01 00:00:00,000][__main__][INFO] - start\n")
        (job / "metrics.json").write_text(
            json.dumps({"history": [{"epoch": e, "acc": e / 10} for e in range(5)]})
        )
        version = job / "csv" / "version_0"
        version.mkdir(parents=True)
        (version / "hparams.yaml").write_text(f"lr: {10 ** -(i % 5)}\nseed: {i}\n")
        rows = ["epoch,step,train/loss,val/acc"] + [
            f"{s // 4},{s},{1.0 / (s + 1)},{s / 20}" for s in range(20)
        ]
        (version / "metrics.csv").write_text("\n".join(rows) + "\n")


def timed_index(code: Path, folder: Path, db: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "expdesk", "index", str(folder), "--db", str(db), "-q"],
        env=env,
        check=True,
        cwd=code,
    )
    return time.perf_counter() - start


def count_runs(code: Path, db: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-m", "expdesk", "runs", "--json", "--db", str(db)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=code,
    ).stdout
    return len(json.loads(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--code", type=Path, action="append", help="a checkout to time (repeatable)")
    ap.add_argument("--keep", type=Path, help="write the sweeps here and reuse them")
    args = ap.parse_args()
    codes = args.code or [REPO]
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        sweeps = {"plain": base / "plain", "jobs": base / "jobs"}
        if not sweeps["plain"].exists():
            write_plain(sweeps["plain"], args.runs)
        if not sweeps["jobs"].exists():
            write_jobs(sweeps["jobs"], args.runs // 2)
        results: dict[tuple[str, str, str], list[float]] = {}
        runs: dict[tuple[str, str], int] = {}
        for rep in range(args.repeat):
            for name, folder in sweeps.items():
                for code in codes:  # interleaved: a busy moment of the machine hits every checkout alike
                    db = Path(tmp) / f"db-{rep}-{name}-{codes.index(code)}.sqlite"
                    cold = timed_index(code, folder, db)
                    warm = timed_index(code, folder, db)
                    results.setdefault((str(code), name, "cold"), []).append(cold)
                    results.setdefault((str(code), name, "warm"), []).append(warm)
                    runs[(str(code), name)] = count_runs(code, db)
        print(f"{'checkout':<28} {'sweep':<6} {'runs listed':>11} {'cold s':>8} {'warm s':>8}")
        for code in codes:
            for name in sweeps:
                cold = statistics.median(results[(str(code), name, "cold")])
                warm = statistics.median(results[(str(code), name, "warm")])
                print(
                    f"{str(code)[-28:]:<28} {name:<6} {runs[(str(code), name)]:>11} {cold:>8.2f} {warm:>8.2f}"
                )


if __name__ == "__main__":
    main()
