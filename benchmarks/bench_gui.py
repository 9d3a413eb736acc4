"""GUI-thread frame times of the runs table on a large index (prints figures; not a test).

Builds a synthetic index (default 10,000 runs; 1,000 param keys and 1,000 metric keys = 2,000 value
columns, each run carrying a random subset), opens the real MainWindow, then drives it the way a user
does: scroll to the bottom page by page (pages fetched by workers), scroll across all columns, apply
filters and sorts. Two measures:
- frame: one driver step including a synchronous repaint of the table viewport;
- stall: the longest gap between ticks of a 2 ms heartbeat timer, i.e. how long the GUI thread was busy
  with anything (page insertion, model resets, repaints) during the scenario.

    python benchmarks/bench_gui.py [--runs 10000] [--keys 1000] [--db PATH]
    (QT_QPA_PLATFORM=offscreen by default; run under xvfb-run for a real X server)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from expdesk.gui import filter_bar
from expdesk.gui.main_window import MainWindow
from expdesk.gui.theme import apply_theme
from expdesk.index.service import Index

EXACT = struct.Struct("<3d")


def build_index(index: Index, runs: int, keys: int, per_run: int, seed: int = 1) -> None:
    """Rows straight into the tables through the index's writer (the readers' code path is what we time)."""
    rng = random.Random(seed)
    param_keys = [f"p{i:04d}" if i % 7 else f"model.layer{i}.dropout" for i in range(keys)]
    metric_keys = [f"m{i:04d}/loss" for i in range(keys)]
    now = time.time()

    def task(conn: object) -> None:
        c = conn  # sqlite3.Connection owned by the writer thread
        run_rows, param_rows, series_rows, ann_rows = [], [], [], []
        for i in range(runs):
            key = f"bench{i:06d}"
            start = now - rng.uniform(0, 90 * 86400)
            status = rng.choice(["finished"] * 6 + ["failed", "running", "killed"])
            run_rows.append(
                (key, "generic", f"/bench/run-{i}", "/bench", f"run-{i:05d} lr sweep", f"exp-{i % 40}",
                 status, start, None if status == "running" else start + rng.uniform(60, 36000), start + 100)
            )  # fmt: skip
            for k in rng.sample(param_keys, per_run):
                value = rng.choice([0.1, 0.01, 0.001, 32, 64, 128])
                param_rows.append((key, k, str(value), float(value)))
            for k in rng.sample(metric_keys, per_run):
                last, lo, hi = rng.random(), rng.random() / 2, 1 + rng.random()
                series_rows.append((key, k, 100, 0, 99, last, lo, hi, EXACT.pack(last, lo, hi)))
            if i % 50 == 0:
                ann_rows.append((key, 1, ""))
        c.executemany(
            "INSERT INTO runs (key, format, path, root, name, experiment, status, start_time, end_time,"
            " last_activity) VALUES (?,?,?,?,?,?,?,?,?,?)",
            run_rows,
        )
        c.executemany("INSERT INTO params (run_key, key, value, num) VALUES (?,?,?,?)", param_rows)
        c.executemany(
            "INSERT INTO series (run_key, key, count, first_step, last_step, last, min, max, exact)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            series_rows,
        )
        c.executemany("INSERT INTO annotations (run_key, starred, note) VALUES (?,?,?)", ann_rows)
        c.execute("INSERT INTO roots (path, added_at, network) VALUES ('/bench', ?, 0)", (now,))

    index.writer.call(task)


def table_size(window: MainWindow) -> str:
    size = window.table.viewport().size()
    return f"{size.width()}x{size.height()}"


class Meter:
    """Heartbeat on the GUI thread: the longest gap between ticks is the longest stall."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(2)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return list(self.gaps)


def wait(app: QApplication, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()


def drive(
    app: QApplication, steps: list[Callable[[], None]], window: MainWindow, meter: Meter
) -> tuple[list[float], list[float]]:
    """Each step is one user action; its frame is the action plus the event processing it causes
    (Qt's partial repaint of the scrolled viewport, model updates that are already queued)."""
    frames = []
    meter.start()
    for step in steps:
        t0 = time.perf_counter()
        step()
        app.processEvents()
        frames.append(time.perf_counter() - t0)
        # let queued results (pages, resets) land between steps, as they would between user actions
        end = time.perf_counter() + 0.016
        while time.perf_counter() < end:
            app.processEvents()
    return frames, meter.stop()


def full_repaint_ms(app: QApplication, window: MainWindow, times: int = 10) -> float:
    app.processEvents()
    t0 = time.perf_counter()
    for _ in range(times):
        window.table.viewport().repaint()
    return (time.perf_counter() - t0) / times * 1000


def report(name: str, frames: list[float], gaps: list[float]) -> None:
    ms = sorted(f * 1000 for f in frames)
    gap_ms = sorted(g * 1000 for g in gaps)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:<34} steps {len(ms):>4}  frame median {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms"
        f"  max {ms[-1]:6.1f} ms   longest GUI stall {gap_ms[-1] if gap_ms else 0:6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=1_000, help="param keys and metric keys (each)")
    parser.add_argument("--per-run", type=int, default=40, help="params and metrics each run has")
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.sqlite"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("expdesk-bench")
    QCoreApplication.setApplicationName("expdesk-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp.name)
    apply_theme(app)  # type: ignore[arg-type]
    index = Index(db)
    t0 = time.perf_counter()
    build_index(index, args.runs, args.keys, args.per_run)
    print(
        f"index: {args.runs:,} runs, {2 * args.keys:,} value columns, built in {time.perf_counter() - t0:.1f} s"
    )
    window = MainWindow(index, watch=False)
    window.resize(1600, 1000)
    window.show()
    try:
        wait(app, lambda: len(window.model.columns()) >= 8 + 2 * args.keys and window.model.rowCount() > 0)
        wait(app, lambda: window.pool.pending() == 0)
        print(f"window ready with {window.model.columnCount():,} columns, {window.model.total():,} runs")
        print(
            f"full repaint of the {table_size(window)} table viewport: {full_repaint_ms(app, window):.1f} ms"
        )
        meter = Meter()
        table = window.table
        vbar, hbar = table.verticalScrollBar(), table.horizontalScrollBar()

        def page_down() -> None:
            vbar.setValue(vbar.value() + vbar.pageStep() // 3)

        # scroll to the very bottom: pages arrive from workers as the view asks for more
        steps = [page_down for _ in range(400)]
        frames, gaps = drive(app, steps, window, meter)
        while window.model.canFetchMore() or window.pool.pending():
            more, more_gaps = drive(app, [page_down] * 20, window, meter)
            frames += more
            gaps += more_gaps
        report(f"vertical scroll to row {window.model.rowCount():,}", frames, gaps)
        step = max(1, hbar.maximum() // 300)
        frames, gaps = drive(
            app, [lambda: hbar.setValue(hbar.value() + step) for _ in range(300)], window, meter
        )
        report(f"horizontal scroll over {window.model.columnCount():,} cols", frames, gaps)
        # filters: the language when present, else the same SQL shape by hand
        if filter_bar.available():
            exprs = [
                'name ~ "run-0[0-4]"',
                "params.p0001 < 0.05",
                "metrics.m0002/loss.min < 0.2",
                "starred",
                "",
            ]

            def set_filter(expr: str) -> Callable[[], None]:
                return lambda: window.filter_bar.set_text(expr)

            label = "filter (language)"
        else:
            exprs = ["r.name LIKE 'run-0%'", "r.status = 'failed'", ""]

            def set_filter(expr: str) -> Callable[[], None]:
                return lambda: window.model.set_filter(expr, ())

            label = "filter (SQL; language not merged)"
        frames, gaps = [], []
        for expr in exprs * 3:
            f, g = drive(app, [set_filter(expr)], window, meter)
            meter.start()
            wait(app, lambda: window.pool.pending() == 0)
            gaps += g + meter.stop()
            frames += f
        report(label, frames, gaps)
        frames, gaps = [], []
        columns = window.model.columns()
        for col in [1, 3, 5, 9, 8 + args.keys + 3, 12]:
            f, g = drive(
                app,
                [lambda c=col: table.sortByColumn(c, table.horizontalHeader().sortIndicatorOrder())],
                window,
                meter,
            )
            meter.start()
            wait(app, lambda: window.pool.pending() == 0)
            gaps += g + meter.stop()
            frames += f
        report(f"sort by attr/param/metric ({len(columns):,} cols)", frames, gaps)
    finally:
        window.close()
        index.close()
        tmp.cleanup()
    print(json.dumps({"runs": args.runs, "columns": 2 * args.keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
