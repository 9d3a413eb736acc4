"""Compare benchmarks: 20 runs x 1M points (first chart, zoom redraws) and a 500-run diff table.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_compare.py [--points 1000000] [--runs 20]

Prints wall-clock figures measured through the real widget: "compare" = constructing `CompareView` until
the chart canvas has drawn; a zoom or pan = `set_xlim` (what the toolbar does) + a synchronous canvas draw
(15 per attempt: 5 zoom levels, a zoom and two pans each).
Targets (issue): first chart < 1 s, redraw after zoom < 100 ms, diff table of 500 runs < 500 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from expdesk.compare.decimate import MinMaxPyramid, column_edges, m4_indices
from expdesk.compare.diff import build_diff
from expdesk.compare.series import load_series
from expdesk.compare.smoothing import ema_smooth
from expdesk.core.entities import RunRef, RunUpdate, Series
from expdesk.gui.compare.view import CompareView
from expdesk.index import store
from expdesk.index.service import Index


def add(index: Index, root: Path, name: str, params: dict[str, str], metrics: dict[str, np.ndarray]) -> str:
    ref = RunRef("generic", root / name, root)
    series = [
        Series(k, np.arange(len(v), dtype=np.int64), v, 1.7e12 + np.arange(len(v)) * 100.0)
        for k, v in metrics.items()
    ]
    update = RunUpdate(name=name, params=params, metrics=series)
    index.writer.call(lambda c: store.apply_update(c, ref, update, None), {ref.key})
    return ref.key


def wait(signal: object, timeout_ms: int = 120_000) -> None:
    """Block on the Qt event loop until `signal` fires (no sleeping)."""
    loop = QEventLoop()
    signal.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)  # type: ignore[attr-defined]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench_chart(app: QApplication, root: Path, runs: int, points: int) -> None:
    rng = np.random.default_rng(0)
    with Index(root / "big.db") as index:
        t = time.perf_counter()
        keys = []
        for i in range(runs):
            y = 2.0 / (1 + np.arange(points) / (points / 20)) + rng.normal(size=points) * 0.05
            y[rng.integers(0, points, 5)] += 3.0  # spikes a sampler would drop
            keys.append(
                add(
                    index,
                    root,
                    f"run-{i:02d}",
                    {"lr": f"{10 ** -(1 + i % 4)}", "seed": str(i)},
                    {"val_loss": y},
                )
            )
        print(f"setup: {runs} runs x {points:,} points indexed in {time.perf_counter() - t:.1f} s")
        # the parts, each measured on its own
        reader = index.reader()
        t = time.perf_counter()
        raws = load_series(reader, keys, ["val_loss"], with_timestamps=False)
        print(f"load {runs} series, steps + values (one thread): {ms(time.perf_counter() - t)}")
        del raws
        t = time.perf_counter()
        raws = load_series(reader, keys, ["val_loss"])
        print(f"load {runs} series with timestamps (one thread): {ms(time.perf_counter() - t)}")
        y = raws[0].values
        x = np.arange(len(y), dtype=np.float64)
        t = time.perf_counter()
        ema_smooth(y, 0.6)
        print(f"EMA smoothing of {points:,} points:           {ms(time.perf_counter() - t)}")
        t = time.perf_counter()
        pyramid = MinMaxPyramid(y)
        print(f"min/max pyramid of {points:,} points:         {ms(time.perf_counter() - t)}")
        t = time.perf_counter()
        m4_indices(x, y, 0, len(y), 1200)
        print(f"M4 decimation of {points:,} points, 1200 px: {ms(time.perf_counter() - t)}")
        cuts = np.searchsorted(x, column_edges(0, len(y), 1200))
        t = time.perf_counter()
        pyramid.columns(cuts[:-1], cuts[1:])
        print(f"pyramid columns, {points:,} points, 1200 px: {ms(time.perf_counter() - t)}")
        del raws
        firsts, zooms, homes, cpus, zoom_cpu = [], [], [], [], []
        by_level: dict[float, list[float]] = {}
        for _attempt in range(3):
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            view = CompareView(index, keys)
            view.resize(1600, 1000)
            view.show()
            view.tabs.setCurrentIndex(1)
            wait(view.chart_ready)
            canvas = view.charts.canvas.canvas
            canvas.draw()
            firsts.append(time.perf_counter() - t)
            done = resource.getrusage(resource.RUSAGE_SELF)
            cpus.append(
                (done.ru_utime - cpu.ru_utime, done.ru_stime - cpu.ru_stime, done.ru_minflt - cpu.ru_minflt)
            )
            ax = view.charts.chart.axes["val_loss"]
            lo, hi = ax.get_xlim()
            for frac in (0.5, 0.1, 0.01, 0.001, 0.0001):
                for shift in (0.0, 0.2, 0.4):  # a zoom, then two pans at that zoom
                    mid = lo + (hi - lo) * (0.37 + frac * shift)
                    t, cpu_t = time.perf_counter(), time.thread_time()
                    ax.set_xlim(mid - (hi - lo) * frac / 2, mid + (hi - lo) * frac / 2)
                    canvas.draw()
                    zooms.append(time.perf_counter() - t)
                    zoom_cpu.append(time.thread_time() - cpu_t)
                    by_level.setdefault(frac, []).append(zooms[-1])
            t = time.perf_counter()
            ax.set_xlim(lo, hi)
            canvas.draw()
            homes.append(time.perf_counter() - t)
            shown = sum(len(line.get_xdata()) for line in ax.get_lines())
            shown += sum(
                len(p.get_path().vertices) for p in ax.patches if (p.get_gid() or "").startswith("band:")
            )
            view.close()
            view.deleteLater()
            app.processEvents()
        print(
            f"compare -> drawn chart ({runs} runs, smoothing 0.6): median {ms(statistics.median(firsts))}  (target < 1000 ms)"
        )
        user, system, faults = (statistics.median(c[i] for c in cpus) for i in range(3))
        print(
            f"  its CPU time (all threads): user {user:.2f} s, system {system:.2f} s, {faults:,.0f} page faults"
        )
        print(
            f"redraw after zoom/pan (50%..0.01% of x):  median {ms(statistics.median(zooms))}, "
            f"p95 {ms(statistics.quantiles(zooms, n=20)[18])}, max {ms(max(zooms))}  (target < 100 ms)"
        )
        print(
            f"  the GUI thread's CPU time per redraw: median {ms(statistics.median(zoom_cpu))}, "
            f"p95 {ms(statistics.quantiles(zoom_cpu, n=20)[18])}  (waiting for a CPU does not count, a slowed VM does)"
        )
        print(
            "  median per zoom level: "
            + ", ".join(f"{frac:g} of x {statistics.median(v) * 1000:.0f} ms" for frac, v in by_level.items())
        )
        print(f"redraw back to the full range:           median {ms(statistics.median(homes))}")
        print(f"vertices drawn at full range: {shown:,} for {runs * points:,} points (lines + bands)")


def bench_table(app: QApplication, root: Path, runs: int = 500) -> None:
    rng = np.random.default_rng(1)
    with Index(root / "wide.db") as index:
        keys = []
        for i in range(runs):
            params = {f"p{j:02d}": str(j if j < 15 else int(rng.integers(0, 5))) for j in range(30)}
            params["lr"] = f"{rng.choice([1e-2, 1e-3, 1e-4])}"
            metrics = {
                m: rng.normal(size=50) for m in ("train_loss", "val_loss", "val_accuracy", "epoch_time")
            }
            keys.append(add(index, root, f"run-{i:03d}", params, metrics))
        reader = index.reader()
        t = time.perf_counter()
        runs_json = reader.runs_json(keys)
        t_query = time.perf_counter() - t
        t = time.perf_counter()
        table = build_diff(runs_json)
        t_build = time.perf_counter() - t
        print(f"\n{runs} runs: runs_json {ms(t_query)}, build_diff {ms(t_build)} ({len(table.rows)} rows)")
        times = []
        for _attempt in range(3):
            t = time.perf_counter()
            view = CompareView(index, keys)
            view.resize(1600, 1000)
            view.show()
            wait(view.table_ready)
            view.table_tab.table_view.viewport().repaint()
            times.append(time.perf_counter() - t)
            view.close()
            view.deleteLater()
            app.processEvents()
        print(
            f"diff table of {runs} runs shown (query + diff + model + paint): median {ms(statistics.median(times))}  (target < 500 ms)"
        )


def cpu_pressure() -> str:
    """Linux PSI: the share of the last 10 s some task waited for a CPU (other work on this machine)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    return line.split()[1].split("=")[1] + " %"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    print(f"CPU pressure (avg10) before: {cpu_pressure()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_chart(app, Path(tmp), args.runs, args.points)
        bench_table(app, Path(tmp))
    print(f"CPU pressure (avg10) after: {cpu_pressure()}  (above a few % the figures are noisy)")


if __name__ == "__main__":
    main()
