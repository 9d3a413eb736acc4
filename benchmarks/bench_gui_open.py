"""Opening a 100,000-run index in the real main window, and filter keystrokes on it (prints figures).

    python benchmarks/bench_gui_open.py [--runs 100000] [--db PATH] [--repeat 3]
    (--db PATH: an existing file is reused as built before; QT_QPA_PLATFORM=offscreen by default)

The index is built like `bench_gui.py` builds it (runs, params, series summaries and stars straight into the
tables), shaped like a big sweep: every run has 10 of 20 param keys and 10 of 20 metric keys. Each open runs
in a fresh interpreter (Qt, expdesk and the index imported, the process tuned as the app tunes it, the
QApplication made, before the clock starts).

Open, from MainWindow creation:
- rows painted: the table viewport has painted rows (the window's first columns);
- columns painted: it has painted rows with the automatic columns (params and metrics chosen from the runs).

A keystroke, measured two ways on the same filters:
- typed: the last character of the expression is typed into the filter bar (a real key event; the text
  before it was set without applying) until the table has painted the new rows: the bar's typing pause
  (`FilterBar.PAUSE_MS`) included;
- applied: the filter bar applies the expression (the moment its typing pause ends) until painted.
"counted" is when the count of matching runs arrived (after the paint: it needs every matching key).
Limits: open < 1 s, keystroke < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
    'name ~ "no such run"',
    "",
]


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def child(db: Path, settings_dir: Path) -> None:
    """One open of the window on `db`, then the filter keystrokes. Prints `open <rows s> <columns s> <runs>`
    and `key <how> <paint ms> <count ms> <runs> <expr>` lines."""
    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from expdesk.app import tune_process
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

    tune_process()  # as the app does before its first window
    app = QApplication.instance() or QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("expdesk-bench")
    QCoreApplication.setApplicationName("expdesk-bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    apply_theme(app)  # type: ignore[arg-type]
    painted: list[tuple[float, int, int]] = []  # (time, rows, columns) of every table viewport paint
    shown: list[float] = []  # when the model swapped in new rows (a reload's first answer)
    counted: list[float] = []

    class PaintSpy(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append((time.perf_counter(), window.model.rowCount(), window.model.columnCount()))
            return False

    # waiting sleeps in the event loop as the app's does (a loop polling processEvents() would take the GIL
    # from the workers hundreds of times a millisecond and slow them down 2-5x); the tick bounds each sleep
    tick = QTimer()
    tick.start(20)

    def wait(condition: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("benchmark step timed out")
            app.processEvents(
                QEventLoop.ProcessEventsFlag.AllEvents | QEventLoop.ProcessEventsFlag.WaitForMoreEvents
            )

    def idle() -> bool:
        return window.pool.pending() == 0 and not window.filter_bar.pending()

    index = Index(db)
    t0 = time.perf_counter()
    window = MainWindow(index, watch=False)
    spy = PaintSpy()
    window.table.viewport().installEventFilter(spy)
    for signal in (window.model.rows_replaced, window.model.modelReset):
        signal.connect(lambda: shown.append(time.perf_counter()))
    window.model.counted.connect(lambda *_a: counted.append(time.perf_counter()))
    window.resize(1600, 1000)
    window.show()
    wait(lambda: any(rows > 0 for _t, rows, _c in painted))
    wait(idle)
    app.processEvents()
    final_columns = window.model.columnCount()
    first = next(t for t, rows, _c in painted if rows > 0)
    settled = next(t for t, rows, cols in painted if rows > 0 and cols == final_columns)
    print(f"open {first - t0:.4f} {settled - t0:.4f} {window.model.total()}", flush=True)

    def measure(how: str, expr: str, start: Callable[[], None]) -> None:
        painted.clear()
        shown.clear()
        counted.clear()
        t0 = time.perf_counter()
        start()
        wait(lambda: bool(counted) and idle())
        wait(lambda: any(t > shown[-1] for t, _r, _c in painted) if shown else True)
        paint = next(t for t, _r, _c in painted if t > shown[-1]) if shown else counted[-1]
        print(
            f"key {how} {(paint - t0) * 1000:.2f} {(counted[-1] - t0) * 1000:.2f} {window.model.total()} {expr}",
            flush=True,
        )

    edit = window.filter_bar.edit
    for expr in FILTERS * 2:
        for how in ("typed", "applied"):
            # from another filter, so that every measured keystroke changes the rows
            window.filter_bar.set_text("starred" if expr != "starred" else "")
            wait(lambda: bool(counted) and idle())
            if how == "applied":
                edit.setText(expr)  # no typing pause: measured from the moment the bar applies
                measure(how, expr, window.filter_bar.apply)
            else:
                # the text but its last character, not applied (setText is not an edit), then a key press
                edit.setFocus()
                edit.setText(expr[:-1] if expr else "x")
                edit.setCursorPosition(len(edit.text()))
                key = Qt.Key.Key_Backspace if not expr else None
                measure(
                    how,
                    expr,
                    lambda k=key, e=expr: (
                        QTest.keyClick(edit, k) if k is not None else QTest.keyClicks(edit, e[-1])
                    ),
                )
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
        opens: list[tuple[float, float]] = []
        keys: dict[str, list[float]] = {"typed": [], "applied": [], "count": []}
        per_filter: dict[str, list[float]] = {}
        total = "0"
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(db)], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            for line in out:
                if line.startswith("open "):
                    _kind, rows, columns, total = line.split(" ")
                    opens.append((float(rows), float(columns)))
                elif line.startswith("key "):
                    _kind, how, paint, count, _runs, *expr = line.split(" ")
                    keys[how].append(float(paint))
                    keys["count"].append(float(count))
                    per_filter.setdefault(f"{how} {' '.join(expr)!r}", []).append(float(paint))
        print(
            f"index of {int(total):,} runs; {len(opens)} opens, {len(keys['typed'])} + {len(keys['applied'])} keystrokes"
        )
        for label, values in (("rows", [o[0] for o in opens]), ("columns", [o[1] for o in opens])):
            print(
                f"open to table painted ({label:7})  median {statistics.median(values):.2f} s  max {max(values):.2f} s"
                f"  (limit {OPEN_LIMIT_S:.0f} s; runs: {', '.join(f'{v:.2f}' for v in values)})"
            )
        from expdesk.gui.runs.filter_bar import FilterBar

        for how, label in (
            ("typed", f"typed (incl. {FilterBar.PAUSE_MS} ms typing pause)"),
            ("applied", "applied (after the pause)"),
            ("count", "count of matching runs shown"),
        ):
            values = keys[how]
            print(
                f"filter keystroke {label:38} median {statistics.median(values):4.0f} ms  max {max(values):5.0f} ms"
                + (f"  (limit {KEYSTROKE_LIMIT_MS:.0f} ms)" if how != "count" else "")
            )
        for name, values in per_filter.items():
            print(
                f"    {name:45} median {statistics.median(values):5.0f} ms  ({', '.join(f'{v:.0f}' for v in values)})"
            )
    print(f"{load()} (end)")


if __name__ == "__main__":
    main()
