"""GUI-thread frame times of the runs table on a large index (prints figures; not a test).

Builds a synthetic index (default 10,000 runs; 1,000 param keys and 1,000 metric keys = 2,000 value
columns, each run carrying a random subset), opens the real MainWindow, then drives it the way a user
does: scroll to the bottom page by page (pages fetched by workers), scroll across all columns, apply
filters and sorts. Two measures:
- frame: one driver step including a synchronous repaint of the table viewport;
- stall: the longest gap between ticks of a 2 ms heartbeat timer, i.e. how long the GUI thread was busy
  with anything (page insertion, model resets, repaints) during the scenario.
Each line also gives the GUI thread's CPU share of its longest frames (`time.thread_time`): near 100 %
means the GUI thread computed (Qt or Python); far below means it waited (for the GIL, or for a core on
a loaded machine). `--attribute` lists what ran on the GUI thread during every frame/stall over 50 ms
(worker callbacks, table paints, model resets/inserts, each with wall and CPU ms).

    python benchmarks/bench_gui.py [--runs 10000] [--keys 1000] [--db PATH] [--attribute] [--untuned]
    (--db PATH: an existing file is reused as built before, so repeated runs skip the 20 s build)
    (QT_QPA_PLATFORM=offscreen by default; run under xvfb-run for a real X server)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from expdesk.app import tune_process
from expdesk.gui.runs.model import RunsModel
from expdesk.gui.runs.query import ATTR_COLUMNS, Column
from expdesk.gui.window import layout as window_layout
from expdesk.gui.window.main_window import MainWindow
from expdesk.gui.window.theme import apply_theme
from expdesk.gui.workers.pool import WorkerPool
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


class Tracer:
    """--attribute: what ran on the GUI thread (wall and CPU ms), kept for the frames that ran long.

    Hooks are installed on the classes before the window exists: worker callbacks (WorkerPool), table
    paints (RunsTable.paintEvent) and the model's reset/insert/dataChanged signal pairs (the view's own
    slots run first, so a pair's time is the view's reaction)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float, float, str]] = []  # start, end, cpu s, label
        self.enabled = True

    def timed(self, label: str, fn: Callable[[], object]) -> object:
        if not self.enabled:
            return fn()
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn()
        finally:
            self.events.append((t0, time.perf_counter(), time.thread_time() - c0, label))

    def install(self) -> None:
        tracer = self
        finished = WorkerPool._on_finished

        def on_finished(pool: WorkerPool, job_id: int, result: object) -> None:
            done = pool._callbacks.get(job_id, (None, None))[0]
            name = getattr(done, "__qualname__", "?").replace(".<locals>.<lambda>", "")
            tracer.timed(f"callback {name}", lambda: finished(pool, job_id, result))

        WorkerPool._on_finished = on_finished  # type: ignore[method-assign]
        paint = window_layout.RunsTable.paintEvent

        def paint_event(table: window_layout.RunsTable, event: object) -> None:
            tracer.timed("table paint", lambda: paint(table, event))

        window_layout.RunsTable.paintEvent = paint_event  # type: ignore[method-assign]
        # the cyclic GC stops every thread that wants the GIL, the GUI thread included
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started.append(time.perf_counter())
            elif gc_started:
                where = "GUI" if threading.current_thread() is threading.main_thread() else "worker"
                label = f"gc gen{info['generation']} on {where} thread"
                self.events.append((gc_started.pop(), time.perf_counter(), 0.0, label))

        gc.callbacks.append(on_gc)

    def watch_model(self, model: RunsModel) -> None:
        pairs = [
            ("modelAboutToBeReset", "modelReset", "view reacts to reset"),
            ("rowsAboutToBeInserted", "rowsInserted", "view reacts to insert"),
        ]
        for begin, end, label in pairs:
            started: list[tuple[float, float]] = []
            getattr(model, begin).connect(
                lambda *_a, s=started: s.append((time.perf_counter(), time.thread_time()))
            )

            def finish(*_a: object, s: list[tuple[float, float]] = started, label: str = label) -> None:
                if s:
                    t0, c0 = s.pop()
                    self.events.append((t0, time.perf_counter(), time.thread_time() - c0, label))

            getattr(model, end).connect(finish)

    def explain(self, t0: float, t1: float) -> str:
        """Events inside [t0, t1], summed by label: `label wall/cpu ms xN`."""
        sums: dict[str, list[float]] = {}
        for start, end, cpu, label in self.events:
            if end >= t0 and start <= t1:
                entry = sums.setdefault(label, [0.0, 0.0, 0])
                entry[0] += (end - start) * 1000
                entry[1] += cpu * 1000
                entry[2] += 1
        parts = [
            f"{k} {w:.0f}/{c:.0f} ms x{n}" for k, (w, c, n) in sorted(sums.items(), key=lambda i: -i[1][0])
        ]
        return "; ".join(parts) or "nothing hooked"


TRACER: Tracer | None = None
LONG = 0.050  # frames and stalls longer than this are attributed with --attribute


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
        self.long: list[tuple[float, float]] = []  # (start, end) of gaps over LONG

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        if TRACER is not None and now - self.last > LONG:
            self.long.append((self.last, now))
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


#: (wall s, GUI-thread CPU s, start) of every frame of the current scenario, for the CPU-share figure
FRAME_LOG: list[tuple[float, float, float]] = []


def drive(
    app: QApplication, steps: list[Callable[[], None]], window: MainWindow, meter: Meter
) -> tuple[list[float], list[float]]:
    """Each step is one user action; its frame is the action plus the event processing it causes
    (Qt's partial repaint of the scrolled viewport, model updates that are already queued)."""
    frames = []
    meter.start()
    for step in steps:
        t0, c0 = time.perf_counter(), time.thread_time()
        step()
        app.processEvents()
        frames.append(time.perf_counter() - t0)
        FRAME_LOG.append((frames[-1], time.thread_time() - c0, t0))
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


def report(name: str, frames: list[float], gaps: list[float], meter: Meter | None = None) -> None:
    ms = sorted(f * 1000 for f in frames)
    gap_ms = sorted(g * 1000 for g in gaps)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    slow = sorted(FRAME_LOG, reverse=True)[: max(1, len(FRAME_LOG) // 100)]  # the slowest 1 %
    share = sum(c for _w, c, _t in slow) / max(sum(w for w, _c, _t in slow), 1e-9)
    print(
        f"{name:<34} steps {len(ms):>4}  frame median {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms"
        f"  max {ms[-1]:6.1f} ms   longest GUI stall {gap_ms[-1] if gap_ms else 0:6.1f} ms"
        f"   GUI CPU share of slowest 1% frames {share:4.0%}"
    )
    if TRACER is not None:
        for wall, cpu, t0 in sorted(FRAME_LOG, reverse=True):
            if wall < LONG:
                break
            print(
                f"    frame {wall * 1000:5.0f} ms (GUI cpu {cpu * 1000:4.0f}): {TRACER.explain(t0, t0 + wall)}"
            )
        for g0, g1 in sorted(meter.long if meter else [], key=lambda g: g[0] - g[1])[:8]:
            print(f"    stall {(g1 - g0) * 1000:5.0f} ms: {TRACER.explain(g0, g1)}")
        TRACER.events.clear()
    FRAME_LOG.clear()
    if meter is not None:
        meter.long.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=1_000, help="param keys and metric keys (each)")
    parser.add_argument("--per-run", type=int, default=40, help="params and metrics each run has")
    parser.add_argument("--db", type=Path, default=None, help="reused when it exists (same arguments)")
    parser.add_argument("--attribute", action="store_true", help="list what ran during long frames")
    parser.add_argument(
        "--untuned", action="store_true", help="skip expdesk.app.tune_process (to re-measure what it buys)"
    )
    args = parser.parse_args()
    global TRACER
    if args.attribute:
        TRACER = Tracer()
        TRACER.install()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.sqlite"
    if not args.untuned:
        tune_process()  # what the app does at start-up (expdesk/app.py)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("expdesk-bench")
    QCoreApplication.setApplicationName("expdesk-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp.name)
    apply_theme(app)  # type: ignore[arg-type]
    reuse = db.exists()
    index = Index(db)
    t0 = time.perf_counter()
    if not reuse:
        build_index(index, args.runs, args.keys, args.per_run)
    print(
        f"index: {args.runs:,} runs, {2 * args.keys:,} value columns,"
        + (f" reused {db}" if reuse else f" built in {time.perf_counter() - t0:.1f} s")
    )
    window = MainWindow(index, watch=False)
    if TRACER is not None:
        TRACER.watch_model(window.model)
    window.resize(1600, 1000)
    window.show()
    try:
        # every value column, as a user who chose them all (the automatic columns are a few dozen)
        wait(app, lambda: window.workspace.runs > 0 and window.model.rowCount() > 0)
        stats = window.workspace.stats
        window.use_columns(
            list(ATTR_COLUMNS)
            + [Column("param", k) for k in sorted(stats["params"])]
            + [Column("metric", k, "last") for k in sorted(stats["metrics"])]
        )
        wanted = len(ATTR_COLUMNS) + len(stats["params"]) + len(stats["metrics"])
        wait(app, lambda: len(window.model.columns()) == wanted and window.model.columnCount() >= wanted)
        wait(app, lambda: window.pool.pending() == 0)
        print(f"window ready with {window.model.columnCount():,} columns, {window.model.total():,} runs")
        print(
            f"full repaint of the {table_size(window)} table viewport: {full_repaint_ms(app, window):.1f} ms"
        )
        meter = Meter()
        FRAME_LOG.clear()
        if TRACER is not None:
            TRACER.events.clear()
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
        report(f"vertical scroll to row {window.model.rowCount():,}", frames, gaps, meter)
        step = max(1, hbar.maximum() // 300)
        frames, gaps = drive(
            app, [lambda: hbar.setValue(hbar.value() + step) for _ in range(300)], window, meter
        )
        report(f"horizontal scroll over {window.model.columnCount():,} cols", frames, gaps, meter)
        # filters in the language, typed into the filter bar as a user does (applied on its own signal)
        exprs = ['name ~ "run-0[0-4]"', "params.p0001 < 0.05", "metrics.m0002/loss.min < 0.2", "starred", ""]

        def set_filter(expr: str) -> Callable[[], None]:
            return lambda: window.filter_bar.set_text(expr)

        label = "filter (language)"
        frames, gaps = [], []
        for expr in exprs * 3:
            f, g = drive(app, [set_filter(expr)], window, meter)
            meter.start()
            wait(app, lambda: window.pool.pending() == 0)
            gaps += g + meter.stop()
            frames += f
        report(label, frames, gaps, meter)
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
        report(f"sort by attr/param/metric ({len(columns):,} cols)", frames, gaps, meter)
    finally:
        window.close()
        index.close()
        tmp.cleanup()
    print(json.dumps({"runs": args.runs, "columns": 2 * args.keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
