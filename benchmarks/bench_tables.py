"""Throughput of the Lightning CSVLogger and DVCLive TSV readers next to pandas.read_csv on the same files.

Usage (from the repository root): PYTHONPATH=. python benchmarks/bench_tables.py [--rows 300000]
Writes the files in a temp dir in the real formats (sparse, sorted-header metrics.csv;
`timestamp\\tstep\\t<leaf>` TSV), reads each from scratch with our reader and with pandas,
prints metric points per second.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from expdesk.core.entities import RunRef
from expdesk.sources.dvc.live import READER as DVCLIVE
from expdesk.sources.lightning.reader import READER as LIGHTNING


def write_lightning(folder: Path, rows: int) -> int:
    """A CSVLogger version dir: per-step train rows, and per-epoch val/epoch rows, other cells empty."""
    folder.mkdir(parents=True)
    (folder / "hparams.yaml").write_text("lr: 0.001\nbatch_size: 32\n")
    rnd = random.Random(0)
    points = 0
    lines = ["epoch,lr-Adam,step,train_acc_step,train_loss_step,val_acc,val_loss"]
    epoch_len = 100
    for i in range(rows):
        step, epoch = i, i // epoch_len
        if i % epoch_len == epoch_len - 1:
            lines.append(f"{epoch},,{step},,,{rnd.random():.6f},{rnd.random():.6f}")
            points += 2
        else:
            loss = "nan" if i % 9973 == 0 else f"{rnd.random():.8f}"
            lines.append(f"{epoch},0.001,{step},{rnd.random():.8f},{loss},,")
            points += 3
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    return points


def write_dvclive(folder: Path, rows: int) -> int:
    metrics = folder / "plots" / "metrics" / "train"
    metrics.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"train": {"loss": 0.1}, "step": rows - 1}))
    rnd = random.Random(1)
    start = 1_700_000_000_000
    lines = ["timestamp\tstep\tloss"]
    lines += [f"{start + 10 * i}\t{i}\t{rnd.random()!r}" for i in range(rows)]
    (metrics / "loss.tsv").write_text("\n".join(lines) + "\n")
    return rows


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def report(label: str, points: int, ours: float, pandas_s: float, size: int) -> None:
    print(
        f"{label:<22} {points:>9,} points  {size / 1e6:6.1f} MB   "
        f"expdesk {points / ours / 1e6:6.2f} M points/s ({ours * 1000:7.1f} ms)   "
        f"pandas.read_csv {points / pandas_s / 1e6:6.2f} M points/s ({pandas_s * 1000:7.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        version = root / "lightning_logs" / "version_0"
        points = write_lightning(version, args.rows)
        ref = RunRef("lightning", version, root)
        update = LIGHTNING.read(ref, None)
        assert sum(len(s.steps) for s in update.metrics) == points, "reader lost points"
        ours = best_of(lambda: LIGHTNING.read(ref, None))
        theirs = best_of(lambda: pd.read_csv(version / "metrics.csv"))
        report("Lightning metrics.csv", points, ours, theirs, (version / "metrics.csv").stat().st_size)

        live = root / "dvclive"
        points = write_dvclive(live, args.rows)
        tsv = live / "plots" / "metrics" / "train" / "loss.tsv"
        ref = RunRef("dvclive", live, root)
        update = DVCLIVE.read(ref, None)
        assert sum(len(s.steps) for s in update.metrics) == points, "reader lost points"
        ours = best_of(lambda: DVCLIVE.read(ref, None))
        theirs = best_of(lambda: pd.read_csv(tsv, sep="\t"))
        report("DVCLive TSV", points, ours, theirs, tsv.stat().st_size)


if __name__ == "__main__":
    main()
