"""Grouped curves: aligning and aggregating members, drawing and zooming the group chart; and the report.

    python benchmarks/bench_groups.py [--points 1000000] [--runs 20] [--repeat 5]

Prints medians over `--repeat` attempts (interleaved by case):
- aggregate: one group of `--runs` members of `--points` steps each, on one step schedule ("aligned"),
  stopping early ("prefix": each member 1,000 steps shorter than the previous), or on interleaved schedules
  (member i logs every (i % 3 + 1)-th step: the union needs a merge);
- chart: `group_chart` of 4 groups from those members, first Agg draw, then a zoom redraw (set_xlim + draw);
- report: `build_report` of 20 runs x 3 metrics of 10,000 points each, from a fresh index.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.backends.backend_agg import FigureCanvasAgg

from expdesk.compare.group_figures import group_chart
from expdesk.compare.groups import BandKind, GroupBy, aggregate, group_curves, group_runs
from expdesk.compare.report import ReportOptions, build_report
from expdesk.compare.series import RawSeries
from expdesk.core.entities import RunRef, RunUpdate, Series
from expdesk.index import store
from expdesk.index.service import Index


def members(n: int, runs: int, schedule: str) -> list[RawSeries]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(runs):
        if schedule == "aligned":
            steps = np.arange(n, dtype=np.int64)
        elif schedule == "prefix":
            steps = np.arange(max(n - i * 1000, 1), dtype=np.int64)
        else:
            steps = np.arange(n, dtype=np.int64) * (i % 3 + 1)
        out.append(RawSeries(f"r{i}", "loss", steps, np.cumsum(rng.normal(size=len(steps))), None))
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [{"key": f"r{i}", "params": {"seed": str(i % 4)}} for i in range(args.runs)]
    groups = group_runs(runs, GroupBy.parse("params.seed"))
    one = group_runs(runs, GroupBy.parse("status"))[0]
    data = {s: members(args.points, args.runs, s) for s in ("aligned", "prefix", "interleaved")}
    times: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for schedule, raws in data.items():
            for band in (BandKind.MINMAX, BandKind.STD):
                key = f"aggregate {schedule:<11} {band.value:<6}"
                times.setdefault(key, []).append(timed(lambda r=raws, b=band: aggregate(one, "loss", r, b)))
        curves = group_curves(groups, data["aligned"], ["loss"], BandKind.MINMAX)
        chart = group_chart(curves, groups, figsize=(10, 6))
        canvas = FigureCanvasAgg(chart.figure)
        times.setdefault("chart first draw", []).append(timed(canvas.draw))
        ax = chart.axes["loss"]

        def zoom(ax=ax, canvas=canvas) -> None:
            ax.set_xlim(args.points * 0.2, args.points * 0.6)
            canvas.draw()

        times.setdefault("chart zoom redraw", []).append(timed(zoom))
    with tempfile.TemporaryDirectory() as tmp, Index(Path(tmp) / "i.db") as index:
        keys = []
        for i in range(20):
            ref = RunRef("generic", Path(tmp) / f"run{i}", Path(tmp))
            steps = np.arange(10_000, dtype=np.int64)
            metrics = [
                Series(m, steps, np.random.default_rng(i).normal(size=10_000), 1.7e12 + steps * 1000.0)
                for m in ("loss", "val_loss", "acc")
            ]
            update = RunUpdate(
                name=f"run {i}", params={"lr": str(10 ** -(i % 3)), "seed": str(i)}, metrics=metrics
            )
            index.writer.call(lambda c, r=ref, u=update: store.apply_update(c, r, u, None))
            keys.append(ref.key)
        for _ in range(args.repeat):
            with index.reader() as reader:
                times.setdefault("report 20 runs x 3 x 10k", []).append(
                    timed(lambda r=reader: build_report(r, keys, ReportOptions()))
                )
                times.setdefault("report grouped by lr", []).append(
                    timed(
                        lambda r=reader: build_report(
                            r, keys, ReportOptions(group_by=GroupBy.parse("params.lr"))
                        )
                    )
                )
    print(f"{args.runs} members x {args.points:,} points; medians of {args.repeat}")
    for key, values in times.items():
        print(f"  {key:<34} {statistics.median(values) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
