"""Soak: the real main window for minutes over live runs (prints figures; not a test).

A workspace of `--runs` (20) live runs; a separate writer process appends one metrics line to every run
each 100 ms. The real `MainWindow` watches the workspace while a driver, every `--every` seconds (3),
does what a user leaves the app doing all day, in turn: select a run (detail panel), edit the filter,
open a comparison of a few runs, close it, open a detail chart, close it, clear the filter.

Printed: RSS at start, after warm-up and at the end (and once a minute); the Python object count (after a
full collection, at the same three moments); the refcount drift of None/True/False between warm-up and
end (taken in the same state: views closed, filter cleared, collected); the longest event-loop stalls
(gaps between ticks of a 10 ms heartbeat beyond its interval) after warm-up, each with what the driver
did last. Targets (issue 15): RSS growth after warm-up < 10 %, no drift, longest stall < 100 ms.

    python benchmarks/bench_soak.py [--minutes 10] [--warmup 60] [--runs 20] [--every 3] [--skip ACTIONS]
    (QT_QPA_PLATFORM=offscreen by default; run under xvfb-run for a real X server)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

APPEND_EVERY = 0.1  # s between two lines of one run (the writer process)
HEARTBEAT_MS = 10


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
    """Append one line per run every APPEND_EVERY s until `stop_file` exists (a separate process)."""
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    rng = random.Random(1)
    step = 20
    next_at = time.monotonic()
    while not stop_file.exists():
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


class Heartbeat:
    """A precise 10 ms timer on the GUI thread; a late tick = the event loop was busy (a stall)."""

    def __init__(self, last_action: Callable[[], str]) -> None:
        from PySide6.QtCore import Qt, QTimer

        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(HEARTBEAT_MS)
        self._timer.timeout.connect(self._tick)
        self._last = time.perf_counter()
        self._last_action = last_action
        self.stalls: list[tuple[float, float, str]] = []  # (stall ms, at s, driver action before it)
        self.measuring = False
        self.started = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def skip(self) -> None:
        """The next gap is our own measurement (gc.get_objects), not the app's: do not count it."""
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000 - HEARTBEAT_MS
        self._last = now
        if self.measuring and stall > 20:
            self.stalls.append((stall, now - self.started, self._last_action()))


# -- the driver --------------------------------------------------------------------------------------
class Driver:
    """One user action every few seconds, in a fixed cycle (seeded, so two runs do the same)."""

    FILTERS = ("metrics.loss.last < 0.01", "params.lr < 0.005", 'name ~ "run-00"', "metrics.acc.max > 0.5")

    def __init__(self, window: Any, skip: set[str] | None = None) -> None:
        self.window = window
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

    tune_process()
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
    driver = Driver(window, set(filter(None, args.skip.split(","))))
    beat = Heartbeat(lambda: driver.last)
    figures: dict[str, Any] = {"start_rss": rss_mb(), "start_objects": object_count()}
    beat.start()
    t0 = time.monotonic()
    warmup_end = t0 + args.warmup
    end = t0 + args.warmup + args.minutes * 60
    print(
        f"soak: {args.runs} live runs, a line each per {APPEND_EVERY * 1000:.0f} ms (writer pid {writer.pid});"
    )
    print(
        f"      driver every {args.every} s; warm-up {args.warmup} s, then {args.minutes} min; {os.getloadavg()=}"
    )
    print(f"start:    RSS {figures['start_rss']:7.1f} MB   objects {figures['start_objects']:,}")

    drive = QTimer()
    drive.setInterval(int(args.every * 1000))
    drive.timeout.connect(driver.tick)
    drive.start()

    def settle() -> None:
        """Close what the driver opened and let deferred deletes and queued slots run."""
        driver.quiesce()
        for _ in range(50):
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            app.processEvents()

    def snapshot(name: str) -> None:
        settle()
        figures[f"{name}_rss"] = rss_mb()
        figures[f"{name}_objects"] = object_count()
        figures[f"{name}_refs"] = refcounts()
        beat.skip()

    phase = {"warm": False, "next_minute": warmup_end + 60}

    def check() -> None:
        now = time.monotonic()
        if not phase["warm"] and now >= warmup_end:
            phase["warm"] = True
            snapshot("warm")
            beat.measuring = True
            print(
                f"warm-up:  RSS {figures['warm_rss']:7.1f} MB   objects {figures['warm_objects']:,}"
                f"   runs shown {window.model.rowCount()}"
            )
        elif phase["warm"] and now >= phase["next_minute"] and now < end:
            phase["next_minute"] += 60
            minute = round((now - warmup_end) / 60)
            worst = max((s[0] for s in beat.stalls), default=0.0)
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
    print(f"refcount drift warm-up -> end: {drift}   (target 0; a binding leak moves None by ~1 per Qt call)")
    print(f"indexed loss points: {points:,} of {on_disk:,} lines on disk at the end")
    top = ", ".join(f"{ms:.0f} ms at {at:.0f} s after {what}" for ms, at, what in stalls[:5])
    print(f"longest event-loop stalls after warm-up: {top or 'none over 20 ms'}   (target < 100 ms)")
    print(
        f"stalls over 100 ms: {sum(1 for s in stalls if s[0] > 100)};  load average at end {os.getloadavg()}"
    )
    by_action: dict[str, list[float]] = {}
    for ms, _at, what in stalls:
        by_action.setdefault(what, []).append(ms)
    for what, values in sorted(by_action.items(), key=lambda kv: -max(kv[1])):
        over = sum(1 for v in values if v > 100)
        print(
            f"  after {what:14s} stalls > 20 ms: {len(values):4d}   > 100 ms: {over:4d}   longest {max(values):6.0f} ms"
        )
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
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
