"""Soak: the real main window for minutes over live runs (prints figures; not a test).

A workspace of `--runs` (20) live runs; a separate writer process appends one metrics line to every run
each 100 ms. The real `MainWindow` watches the workspace while a driver, every `--every` seconds (3),
does what a user leaves the app doing all day, in turn: select a run (detail panel), edit the filter,
open a comparison of a few runs, close it, open a detail chart, close it, clear the filter.

Printed: RSS at start, after warm-up and at the end (and once a minute); the Python object count (after a
full collection, at the same three moments); the refcount drift of None/True/False between warm-up and
end (taken in the same state: the writer paused and its lines indexed, views closed, filter cleared, the
first run in the detail panel, collected); the longest event-loop stalls
(gaps between ticks of a 10 ms heartbeat beyond its interval) after warm-up, each with what the driver
did last. Targets (issue 15): RSS growth after warm-up < 10 %, no drift, longest stall < 100 ms.

    python benchmarks/bench_soak.py [--minutes 10] [--warmup 60] [--runs 20] [--every 3] [--skip ACTIONS]
        [--compare-tab charts|table] [--stacks] [--no-heap-upkeep]
    (QT_QPA_PLATFORM=offscreen by default; run under xvfb-run for a real X server)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

APPEND_EVERY = 0.1  # s between two lines of one run (the writer process)
HEARTBEAT_MS = 10
#: the compare window's tabs the driver can open it on (`--compare-tab`)
COMPARE_TABS = {"table": 0, "charts": 1}


# -- the writer process -----------------------------------------------------------------------------
def make_workspace(folder: Path, runs: int) -> list[Path]:
    out = []
    for i in range(runs):
        run = folder / f"run-{i:03d}"
        run.mkdir(parents=True)
        params = {"lr": 10 ** -(2 + i % 3), "batch_size": 32 * (1 + i % 4), "seed": i, "model": f"m{i % 5}"}
        (run / "params.json").write_text(json.dumps(params), encoding="utf-8")
        (run / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 2.0 / (s + 1), "acc": s / 100}) + "\n" for s in range(20)),
            encoding="utf-8",
        )
        out.append(run)
    return out


def writer_main(folder: Path, stop_file: Path) -> int:
    """Append one line per run every APPEND_EVERY s until `stop_file` exists (a separate process); while
    `<stop_file>.pause` exists it writes nothing (the main process takes a snapshot)."""
    pause_file = stop_file.with_suffix(".pause")
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    rng = random.Random(1)
    step = 20
    next_at = time.monotonic()
    while not stop_file.exists():
        if pause_file.exists():
            time.sleep(APPEND_EVERY)
            next_at = time.monotonic()
            continue
        for run in runs:
            line = {"step": step, "loss": 2.0 / (step + 1) + rng.random() * 0.01, "acc": min(1.0, step / 1e4)}
            with open(run / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        step += 1
        next_at += APPEND_EVERY
        time.sleep(max(0.0, next_at - time.monotonic()))  # a paced writer: the load the GUI must follow
    return 0


# -- measurements ------------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def refcounts() -> dict[str, int]:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def object_count() -> int:
    gc.collect()
    return len(gc.get_objects())  # objects created since gc.freeze() (the app freezes its imports)


class GcWatch:
    """Every cyclic-GC pass (any thread) by generation: a full collection holds the GIL while it walks every
    tracked object, and the GUI thread waits for it. Passes of 1 ms or more are kept with their end time
    (to tell how much of a stall they cover); the others only counted (the list must not grow the RSS)."""

    def __init__(self) -> None:
        self.long: list[tuple[float, float]] = []  # (end, seconds) of passes >= 1 ms
        self.by_generation = [[0, 0.0, 0.0] for _ in range(3)]  # passes, seconds, longest
        self._start: dict[int, float] = {}

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def reset(self) -> None:
        """Count from now on (the end of the warm-up)."""
        self.by_generation = [[0, 0.0, 0.0] for _ in range(3)]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        import threading

        now, tid = time.perf_counter(), threading.get_ident()
        if phase == "start":
            self._start[tid] = now
        elif tid in self._start:
            took = now - self._start.pop(tid)
            tally = self.by_generation[info["generation"]]
            tally[0] += 1
            tally[1] += took
            tally[2] = max(tally[2], took)
            if took >= 0.001:
                self.long.append((now, took))

    def within(self, start: float, end: float) -> float:
        """ms of collections that ended between `start` and `end` (perf_counter seconds)."""
        return sum(d for t, d in self.long if start <= t <= end) * 1000

    def report(self) -> None:
        for generation, (passes, seconds, longest) in enumerate(self.by_generation):
            if passes:
                print(
                    f"  gc generation {generation}: {passes:6d} passes, {seconds * 1000:7.0f} ms in all,"
                    f" longest {longest * 1000:5.1f} ms"
                )


class Heartbeat:
    """A precise 10 ms timer on the GUI thread; a late tick = the event loop was busy (a stall)."""

    def __init__(self, last_action: Callable[[], str]) -> None:
        from PySide6.QtCore import Qt, QTimer

        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self._tick)
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._last_action = last_action
        self.stalls: list[tuple[float, float, str]] = []  # (stall ms, at s, driver action before it)
        #: the GUI thread's own CPU time (ms) during each stall, as `stalls`: a stall with little of it was
        #: a wait (for a CPU, for the GIL, for matplotlib's render lock), not work of the GUI thread
        self.stall_cpu: list[float] = []
        self.lateness: list[float] = []  # every tick's delay (ms) while measuring: the distribution
        #: ms of cyclic GC (any thread) during each stall, as `stalls` (set `gc_watch` to measure it)
        self.stall_gc: list[float] = []
        self.gc_watch: GcWatch | None = None
        self.measuring = False
        self.started = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def skip(self) -> None:
        """The next gap is our own measurement (gc.get_objects), not the app's: do not count it."""
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()

    @property
    def last_tick(self) -> float:
        return self._last

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        stall = (now - self._last) * 1000 - HEARTBEAT_MS
        busy = (cpu - self._last_cpu) * 1000
        before = self._last
        self._last, self._last_cpu = now, cpu
        if not self.measuring:
            return
        self.lateness.append(max(stall, 0.0))
        if stall > 20:
            self.stalls.append((stall, now - self.started, self._last_action()))
            self.stall_cpu.append(busy)
            self.stall_gc.append(self.gc_watch.within(before, now) if self.gc_watch is not None else 0.0)


class StallSampler:
    """`--stacks`: a thread that, while the heartbeat is late by more than `after_ms`, samples the GUI
    thread's Python stack every 5 ms; printed at the end as the code lines seen most often in stalls."""

    def __init__(self, beat: Heartbeat, after_ms: float = 40.0) -> None:
        import threading

        self._beat = beat
        self._after = after_ms / 1000
        self._gui = threading.get_ident()
        self._stop = threading.Event()
        self.samples: dict[str, int] = {}
        self.others: dict[str, int] = {}  # innermost frames of the other threads, sampled in stalls
        self.total = 0
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import threading
        import traceback

        while not self._stop.wait(0.005):
            if not self._beat.measuring or time.perf_counter() - self._beat.last_tick < self._after:
                continue
            frame = sys._current_frames().get(self._gui)
            if frame is None:
                continue
            self.total += 1
            # what the other threads run meanwhile (the GUI thread may be waiting for the GIL one holds)
            for ident, other in sys._current_frames().items():
                if ident in (self._gui, threading.get_ident()):
                    continue
                inner = traceback.extract_stack(other)[-3:]
                where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(inner))
                self.others[where] = self.others.get(where, 0) + 1
            stack = traceback.extract_stack(frame)
            # the innermost frames of ours and of matplotlib/Qt glue say where the time goes
            lines = [
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in stack[-14:]
                if "site-packages/PySide6" not in f.filename
            ]
            key = " < ".join(reversed(lines[-7:]))
            self.samples[key] = self.samples.get(key, 0) + 1

    def report(self, top: int = 15) -> None:
        print(
            f"GUI-thread stacks sampled in stalls (> {self._after * 1000:.0f} ms late): {self.total} samples"
        )
        for key, n in sorted(self.samples.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {n:5d}  {key}")
        print("the other threads meanwhile (innermost frames; a sleeping or waiting thread counts too):")
        for key, n in sorted(self.others.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {n:5d}  {key}")


# -- the driver --------------------------------------------------------------------------------------
class Driver:
    """One user action every few seconds, in a fixed cycle (seeded, so two runs do the same)."""

    FILTERS = ("metrics.loss.last < 0.01", "params.lr < 0.005", 'name ~ "run-00"', "metrics.acc.max > 0.5")

    def __init__(self, window: Any, skip: set[str] | None = None, compare_tab: str = "charts") -> None:
        self.window = window
        self.compare_tab = compare_tab
        self.rng = random.Random(7)
        self.step = 0
        self.last = "start"
        self.counts: dict[str, int] = {}
        self.actions: list[Callable[[], None]] = [
            self.select_run,
            self.edit_filter,
            self.open_compare,
            self.close_compare,
            self.open_chart,
            self.close_chart,
            self.clear_filter,
        ]
        # `--skip open_compare,open_chart`: leave those actions out (and the closes that pair with them)
        skipped = set(skip or ())
        skipped |= {a.replace("open_", "close_") for a in skipped if a.startswith("open_")}
        self.actions = [a for a in self.actions if a.__name__ not in skipped]

    def tick(self) -> None:
        action = self.actions[self.step % len(self.actions)]
        self.step += 1
        self.last = action.__name__
        self.counts[self.last] = self.counts.get(self.last, 0) + 1
        action()

    def _rows(self) -> int:
        return int(self.window.model.rowCount())

    def select_run(self) -> None:
        rows = self._rows()
        if rows:
            self.window.table.selectRow(self.rng.randrange(rows))
            self.window.open_detail()

    def edit_filter(self) -> None:
        self.window.filter_bar.set_text(self.rng.choice(self.FILTERS))
        self.window.filter_bar.apply()

    def clear_filter(self) -> None:
        self.window.filter_bar.set_text("")
        self.window.filter_bar.apply()

    def open_compare(self) -> None:
        keys = [k for k in (self.window.model.key_at(r) for r in range(self._rows())) if k]
        if len(keys) >= 2:
            # the window opens on the tab the user last looked at: a chart following the live runs (the
            # Charts tab, the default here) is the hard case
            from expdesk.gui.window import settings

            settings.ui_settings().setValue("compare/tab", COMPARE_TABS[self.compare_tab])
            self.window.open_compare(self.rng.sample(keys, min(4, len(keys))))

    def close_compare(self) -> None:
        for view in list(self.window.views.compares):
            view.close()

    def open_chart(self) -> None:
        if self.window.detail.key is not None:
            self.window.detail.metrics.open_large("loss")

    def close_chart(self) -> None:
        for dialog in list(self.window.detail.metrics.dialogs):
            dialog.close()

    def quiesce(self) -> None:
        """The same state at each measurement: no compare or chart open, no filter."""
        self.close_compare()
        self.close_chart()
        self.clear_filter()


# -- main --------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from expdesk.app import configure_application, tune_process
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

    tmp = tempfile.TemporaryDirectory(prefix="expdesk-soak-")
    base = Path(tmp.name)
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")  # never the user's settings
    workspace = base / "workspace"
    make_workspace(workspace, args.runs)
    stop_file = base / "stop-writer"
    writer = subprocess.Popen([sys.executable, __file__, "--writer", str(workspace), str(stop_file)])

    tune_process(heap_upkeep=not args.no_heap_upkeep)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_application(app)
    QCoreApplication.setOrganizationName("expdesk-soak")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(base / "qsettings"))
    apply_theme(app)
    index = Index(base / "index.sqlite")
    window = MainWindow(index)
    window.resize(1400, 900)
    window.show()
    window.add_folders([str(workspace)])
    window.start_watching()
    driver = Driver(window, set(filter(None, args.skip.split(","))), args.compare_tab)
    beat = Heartbeat(lambda: driver.last)
    figures: dict[str, Any] = {"start_rss": rss_mb(), "start_objects": object_count()}
    gc_watch = GcWatch().__enter__()
    beat.gc_watch = gc_watch
    beat.start()
    sampler = StallSampler(beat) if args.stacks else None
    if sampler is not None:
        sampler.start()
    t0 = time.monotonic()
    warmup_end = t0 + args.warmup
    end = t0 + args.warmup + args.minutes * 60
    print(
        f"soak: {args.runs} live runs, a line each per {APPEND_EVERY * 1000:.0f} ms (writer pid {writer.pid});"
    )
    print(
        f"      driver every {args.every} s; warm-up {args.warmup} s, then {args.minutes} min; {os.getloadavg()=}"
    )
    print(f"      heap upkeep (arena cap + periodic malloc_trim): {'off' if args.no_heap_upkeep else 'on'}")
    print(f"start:    RSS {figures['start_rss']:7.1f} MB   objects {figures['start_objects']:,}")

    drive = QTimer()
    drive.setInterval(int(args.every * 1000))
    drive.timeout.connect(driver.tick)
    drive.start()

    pause_file = stop_file.with_suffix(".pause")
    indexed = {"at": time.monotonic()}
    window.indexing_finished.connect(lambda _report: indexed.__setitem__("at", time.monotonic()))

    def pump(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            app.processEvents()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            time.sleep(0.01)

    def settle() -> None:
        """The same state at each snapshot: the writer paused and its lines indexed, the views the driver
        opened closed, the filter cleared, the first run in the detail panel, deferred deletes run."""
        pause_file.touch()
        driver.quiesce()
        from expdesk.compare.chart_layout import render_idle
        from expdesk.gui.compare.workers import wait_retired

        # a compare window closed while its chart rendered lets that render finish on its own: its figure
        # and series would count at one snapshot and not at the other
        wait_retired()
        render_idle()  # (closed charts are cleared on the render thread)
        # the writer's last lines indexed: no indexing pass for 1.5 s (the watcher's debounce is shorter)
        deadline = time.monotonic() + 30
        pump(0.5)
        while time.monotonic() - indexed["at"] < 1.5 and time.monotonic() < deadline:
            pump(0.1)
        if window.model.rowCount():
            window.table.selectRow(0)
            window.open_detail()
        pump(1.5)

    def resume() -> None:
        pause_file.unlink(missing_ok=True)

    def snapshot(name: str) -> None:
        settle()
        figures[f"{name}_rss"] = rss_mb()
        figures[f"{name}_objects"] = object_count()
        figures[f"{name}_types"] = Counter(type(o).__name__ for o in gc.get_objects())  # (collected just now)
        figures[f"{name}_refs"] = refcounts()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures[f"{name}_cpu"] = (time.monotonic(), usage.ru_utime + usage.ru_stime, time.thread_time())
        resume()
        beat.skip()

    phase = {"warm": False, "next_minute": warmup_end + 60}
    loads = [os.getloadavg()[0]]  # 1-minute load average, once a minute

    def check() -> None:
        now = time.monotonic()
        if not phase["warm"] and now >= warmup_end:
            phase["warm"] = True
            snapshot("warm")
            beat.measuring = True
            gc_watch.reset()
            print(
                f"warm-up:  RSS {figures['warm_rss']:7.1f} MB   objects {figures['warm_objects']:,}"
                f"   runs shown {window.model.rowCount()}"
            )
        elif phase["warm"] and now >= phase["next_minute"] and now < end:
            phase["next_minute"] += 60
            minute = round((now - warmup_end) / 60)
            worst = max((s[0] for s in beat.stalls), default=0.0)
            loads.append(os.getloadavg()[0])
            print(
                f"  {minute:3d} min: RSS {rss_mb():7.1f} MB   longest stall so far {worst:6.1f} ms",
                flush=True,
            )
        if now >= end:
            beat.measuring = False
            drive.stop()
            snapshot("end")
            app.quit()

    clock = QTimer()
    clock.setInterval(500)
    clock.timeout.connect(check)
    clock.start()
    try:
        app.exec()
    finally:
        clock.stop()
        drive.stop()
        beat.stop()
        if sampler is not None:
            sampler.stop()
        stop_file.touch()
        writer.wait(30)
        window.shutdown()
        window.deleteLater()
        index.close()

    with index.reader() as reader:
        runs = reader.runs_json(reader.run_keys())
    points = sum(int(r["metrics"].get("loss", {}).get("count", 0)) for r in runs)
    on_disk = sum(
        len((r / "metrics.jsonl").read_text().splitlines()) for r in workspace.iterdir() if r.is_dir()
    )
    growth = (figures["end_rss"] - figures["warm_rss"]) / figures["warm_rss"] * 100
    drift = {k: figures["end_refs"][k] - figures["warm_refs"][k] for k in figures["end_refs"]}
    stalls = sorted(beat.stalls, reverse=True)
    print(
        f"end:      RSS {figures['end_rss']:7.1f} MB   objects {figures['end_objects']:,}"
        f"   driver actions {sum(driver.counts.values())} {driver.counts}"
    )
    print(f"RSS growth after warm-up: {growth:+.1f} %   (target < 10 %)")
    print(f"objects after warm-up:    {figures['end_objects'] - figures['warm_objects']:+,}")
    grown = (figures["end_types"] - figures["warm_types"]).most_common(8)
    if grown:
        print("  most grown types: " + ", ".join(f"{name} {n:+,}" for name, n in grown))
    (t0, cpu0, gui0), (t1, cpu1, gui1) = figures["warm_cpu"], figures["end_cpu"]
    print(
        f"CPU after warm-up: the app {(cpu1 - cpu0) / (t1 - t0) * 100:.0f} % of a core"
        f" (its GUI thread {(gui1 - gui0) / (t1 - t0) * 100:.0f} %; the writer process not counted)"
    )
    print(f"refcount drift warm-up -> end: {drift}   (target 0; a binding leak moves None by ~1 per Qt call)")
    print(f"indexed loss points: {points:,} of {on_disk:,} lines on disk at the end")
    top = ", ".join(f"{ms:.0f} ms at {at:.0f} s after {what}" for ms, at, what in stalls[:5])
    print(f"longest event-loop stalls after warm-up: {top or 'none over 20 ms'}   (target < 100 ms)")
    print(
        f"stalls over 100 ms: {sum(1 for s in stalls if s[0] > 100)};  load average at end {os.getloadavg()}"
        f" (during the run: {min(loads):.1f}-{max(loads):.1f})"
    )
    if beat.stall_cpu:
        worst_cpu = max(range(len(beat.stalls)), key=lambda i: beat.stall_cpu[i])
        ms_wall, at_s, what = beat.stalls[worst_cpu]
        over_cpu = sum(1 for c in beat.stall_cpu if c > 100)
        print(
            f"the GUI thread's own CPU time in a stall: at most {beat.stall_cpu[worst_cpu]:.0f} ms ({ms_wall:.0f} ms"
            f" stall at {at_s:.0f} s after {what}); stalls with > 100 ms of it: {over_cpu}"
        )
    late = sorted(beat.lateness)
    if late:
        pct = {p: late[min(len(late) - 1, int(len(late) * p / 100))] for p in (50, 95, 99, 99.9)}
        print(
            f"heartbeat lateness over {len(late):,} ticks: p50 {pct[50]:.1f} ms, p95 {pct[95]:.1f} ms,"
            f" p99 {pct[99]:.1f} ms, p99.9 {pct[99.9]:.1f} ms, max {late[-1]:.1f} ms"
        )
    by_action: dict[str, list[tuple[float, float]]] = {}
    for (ms, _at, what), cpu in zip(beat.stalls, beat.stall_cpu, strict=True):
        by_action.setdefault(what, []).append((ms, cpu))
    for what, pairs in sorted(by_action.items(), key=lambda kv: -max(p[0] for p in kv[1])):
        values = [p[0] for p in pairs]
        over = sum(1 for v in values if v > 100)
        print(
            f"  after {what:14s} stalls > 20 ms: {len(values):4d}   > 100 ms: {over:4d}"
            f"   median {statistics.median(values):5.0f} ms   longest {max(values):6.0f} ms"
            f"   (GUI CPU in it: at most {max(p[1] for p in pairs):4.0f} ms)"
        )
    gc_watch.__exit__()
    if beat.stall_gc:
        worst = sorted(zip(beat.stalls, beat.stall_gc, strict=True), reverse=True)[:5]
        print(
            "cyclic GC (any thread) in the longest stalls: "
            + ", ".join(f"{gc_ms:.0f} of {ms:.0f} ms" for (ms, _at, _what), gc_ms in worst)
        )
    print("cyclic GC after warm-up:")
    gc_watch.report()
    if sampler is not None:
        sampler.report()
    print(
        json.dumps(
            {
                "rss_growth_pct": round(growth, 2),
                "drift": drift,
                "max_stall_ms": round(stalls[0][0], 1) if stalls else 0.0,
            }
        )
    )
    tmp.cleanup()
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        return writer_main(Path(sys.argv[2]), Path(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured time after the warm-up")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline is taken")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two driver actions")
    parser.add_argument(
        "--skip", default="", help="driver actions to leave out, e.g. open_compare,open_chart (attribution)"
    )
    parser.add_argument(
        "--no-heap-upkeep",
        action="store_true",
        help="leave glibc's malloc defaults (no arena cap, no periodic trim) to measure what they buy",
    )
    parser.add_argument(
        "--stacks", action="store_true", help="sample the GUI thread's stack during stalls (where they go)"
    )
    parser.add_argument(
        "--compare-tab",
        choices=sorted(COMPARE_TABS),
        default="charts",
        help="the tab compare windows open on",
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
