"""Opening a 100,000-run index in the real main window, and a filter keystroke on it (prints figures).

    python benchmarks/bench_gui_open.py [--runs 100000] [--db PATH] [--repeat 3]
    (--db PATH: an existing file is reused as built before; QT_QPA_PLATFORM=offscreen by default)

The index is built like `bench_gui.py` builds it (runs, params, series summaries and stars straight into the
tables), shaped like a big sweep: every run has 10 of 20 param keys and 10 of 20 metric keys. Each open runs
in a fresh interpreter (Qt, expdesk and the index imported, the QApplication made, before the clock starts):
"open" is MainWindow creation until the table viewport has painted rows. A keystroke is the filter bar
applying a new expression (the moment its 350 ms typing pause ends) until the table has painted the new
rows. Limits: open < 1 s, keystroke < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

OPEN_LIMIT_S = 1.0
KEYSTROKE_LIMIT_MS = 100.0
FILTERS = [
    'name ~ "run-0[0-4]"',
    "params.p0001 < 0.05",
    "metrics.m0002/loss.min < 0.2",
    "starred",
    'status = "failed"',
    "",
]


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def child(db: Path, settings_dir: Path) -> None:
    """One open of the window on `db`, then the filter keystrokes; prints `open <s>` and `key <ms>` lines."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication

    from expdesk.gui.window.main_window import MainWindow
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("expdesk-bench")
    QCoreApplication.setApplicationName("expdesk-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    apply_theme(app)  # type: ignore[arg-type]
    painted: list[tuple[float, int]] = []  # (time, rows the model had) of every viewport paint

    class PaintSpy(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append((time.perf_counter(), window.model.rowCount()))
            return False

    def wait(condition: object, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():  # type: ignore[operator]
            if time.perf_counter() > deadline:
                raise TimeoutError("benchmark step timed out")
            app.processEvents()

    index = Index(db)
    t0 = time.perf_counter()
    window = MainWindow(index, watch=False)
    spy = PaintSpy()
    window.table.viewport().installEventFilter(spy)
    window.resize(1600, 1000)
    window.show()
    wait(lambda: any(rows > 0 for _t, rows in painted))
    first = next(t for t, rows in painted if rows > 0)
    print(f"open {first - t0:.4f} {window.model.total()}", flush=True)
    wait(lambda: window.pool.pending() == 0)
    for expr in FILTERS * 2:
        painted.clear()
        generation = window.model._generation  # a reload bumps it; its rows then paint
        window.filter_bar.set_text(expr)
        t0 = time.perf_counter()
        window.filter_bar.apply()
        wait(lambda g=generation: window.model._generation != g and window.pool.pending() == 0)
        app.processEvents()
        wait(lambda: bool(painted))
        print(f"key {(painted[-1][0] - t0) * 1000:.2f} {window.model.total()} {expr}", flush=True)
    window.close()
    index.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--db", type=Path, help="reused when it exists (built with the same --runs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(tempfile.mkdtemp()))
        return
    print(f"{load()} (start)")
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        if not db.exists():
            from bench_gui import build_index

            from expdesk.index.service import Index

            t = time.perf_counter()
            with Index(db) as index:
                build_index(index, args.runs, keys=20, per_run=10)
            print(f"index: {args.runs:,} runs built in {time.perf_counter() - t:.1f} s")
        opens: list[float] = []
        keys: list[float] = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(db)], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            for line in out:
                kind, value, *_rest = line.split(" ", 3)
                (opens if kind == "open" else keys).append(float(value))
            total = next(line.split()[2] for line in out if line.startswith("open"))
        print(f"index of {int(total):,} runs; {len(opens)} opens, {len(keys)} filter keystrokes")
        print(
            f"open to table painted  median {statistics.median(opens):.2f} s  max {max(opens):.2f} s"
            f"  (limit {OPEN_LIMIT_S:.0f} s; runs: {', '.join(f'{o:.2f}' for o in opens)})"
        )
        print(
            f"filter keystroke       median {statistics.median(keys):.0f} ms  max {max(keys):.0f} ms"
            f"  (limit {KEYSTROKE_LIMIT_MS:.0f} ms, after the bar's 350 ms typing pause)"
        )
    print(f"{load()} (end)")


if __name__ == "__main__":
    main()
