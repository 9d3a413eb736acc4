"""Composition root of the desktop app: `expdesk [PATH...] [--demo] [--self-test] [--db PATH]`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, QSize, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from expdesk import __version__
from expdesk.core import heap
from expdesk.core.errors import ExpdeskError
from expdesk.resources_path import APP_ID, icon_path, icon_pngs

ORGANIZATION = "expdesk"
APPLICATION = "expdesk"
#: `--self-test` gives up (exit 1) if the demo is not indexed by then
SELF_TEST_TIMEOUT_MS = 120_000


def _icon() -> QIcon | None:
    """Every shipped PNG size plus the SVG, so title bars and task bars get the hand-tuned small glyph."""
    icon = QIcon()
    for size, png in icon_pngs().items():
        icon.addFile(str(png), QSize(size, size))
    if icon_path().is_file():
        icon.addFile(str(icon_path()))
    return None if icon.isNull() else icon


def configure_application(app: QCoreApplication) -> None:
    """Names used by QSettings (UI state only) and by the desktop shell to match the `.desktop` file."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    # Wayland shells match windows to resources/<APP_ID>.desktop (name, icon) by this id
    QGuiApplication.setDesktopFileName(APP_ID)


#: started by `tune_process`: gives the C heap's free pages back to the system during a long session
_TRIMMER: heap.HeapTrimmer | None = None


def tune_process(heap_upkeep: bool = True) -> None:
    """Process-wide settings for the GUI, made once before the first window.

    Measured with benchmarks/bench_gui.py (10,000 runs x 2,000 columns; PySide6 6.11.3, CPython 3.11.7,
    2 cores at a load average of 8-12 from other work), medians of two interleaved runs, max frame ms:
    all three settings vs none: vertical scroll 73 vs 272, sort 60 vs 161, horizontal scroll 70 vs 87,
    filter 118 vs 127; each setting alone lands in between (vertical: switch interval 313, gc.freeze 179,
    no GUI thread pool 137). Noisy on a loaded machine, but together they are the only set that keeps the
    worst frames near 100 ms there.

    Nothing here is about the Qt refcount leak of PySide6 6.12 on CPython 3.11: pyproject.toml keeps that
    build out and tests/qt fails if a leaking one comes back, so no workaround may hide it."""
    # Workers run Python (row preparation, regexp filters) while a paint re-enters Python once per cell
    # (multiData); each re-entry waits for the GIL up to the switch interval. The default 5 ms made a
    # repaint under load take seconds; 0.2 ms keeps frames short.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.0002))
    # Move the objects of the imports (Qt bindings, numpy, pandas, matplotlib; ~130k) out of the cyclic
    # GC's reach: a full collection, triggered on whichever thread allocates, walks every tracked object
    # with the GIL held, and the GUI thread's next paint waits (100-400 ms pauses, bench_gui --attribute).
    # They live as long as the process anyway. Called after the imports above, before any window.
    gc.freeze()
    # Qt's raster engine splits big fills over its GUI thread pool and waits on a latch for them; on a busy
    # machine the helpers are scheduled late and a table paint waited 50-100 ms with the GUI thread idle
    # (horizontal scroll max 100 -> 34 ms). Qt reads the variable once, at the first such fill.
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
    # Not done, measured (benchmarks/README.md, Soak): running the workers at nice 10 so the GUI thread
    # gets a core first. A worker holds the GIL at times (a cyclic GC pass throughout), and a low-priority
    # holder is the last to get a core back: beside two busy processes (a training job) the soak's longest
    # stall was 979 ms (139 over 100 ms) vs 186 ms (11) without it. Nor a young GC generation of 10,000
    # (CPython: 700): the same stalls there, 23 MB more RSS.
    if heap_upkeep:
        _tune_heap()


def _tune_heap() -> None:
    """Two malloc arenas and a trim every 20 s (expdesk/core/heap.py says why).

    Measured with benchmarks/bench_soak.py, 10 minutes (20 live runs, a comparison on its Charts tab
    opened and closed every 21 s; PySide6 6.9.3, CPython 3.11, glibc 2.36, 2 cores, load ~1): RSS after
    the 60 s warm-up 179-184 MB, growth to the end +4.3 to +8.6 % in five runs of the last builds; with
    `--no-heap-upkeep` 204 MB after warm-up, +11.2 % to the end; objects flat in all of them."""
    global _TRIMMER
    heap.limit_arenas(2)
    if _TRIMMER is None:
        _TRIMMER = heap.HeapTrimmer().start()


def run_app(args: argparse.Namespace) -> int:
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

    tune_process()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_application(app)
    apply_theme(app)
    icon = _icon()
    if icon is not None:
        app.setWindowIcon(icon)
    try:
        index = Index(args.db)
    except ExpdeskError as exc:
        print(f"expdesk: {exc}", file=sys.stderr)
        return 1
    simulator: Any = None
    exit_code = 0
    try:
        window = MainWindow(index)
        demo = bool(getattr(args, "demo", False) or getattr(args, "self_test", False))
        if demo:
            from expdesk.demo import LiveRunSimulator, prepare_workspace

            workspace = prepare_workspace()
            window.setWindowTitle("expdesk — demo workspace")
            if not getattr(args, "self_test", False):
                simulator = LiveRunSimulator(workspace)
                simulator.start()
            window.add_folders([str(workspace)])
        paths = [str(p) for p in getattr(args, "paths", []) or []]
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            window.statusBar().showMessage("No such folder: " + ", ".join(missing)[:300], 8000)
        if paths := [p for p in paths if Path(p).exists()]:
            window.add_folders(paths)
        window.start_watching()
        if getattr(args, "self_test", False):
            return _self_test(app, window)
        window.show()
        exit_code = app.exec()
    finally:
        if simulator is not None:
            simulator.stop()
        if "window" in locals():
            window.shutdown()
        index.close()
    return exit_code


def _self_test(app: QApplication, window: Any) -> int:
    """Open the demo, wait until it is indexed and shows runs, exit 0 (the packaging smoke test)."""
    result = {"code": 1}

    def counted(total: int, _groups: int) -> None:
        if total:
            result["code"] = 0
            app.quit()

    def finished(report: Any) -> None:
        if report is not None and report.found > 0:
            window.model.counted.connect(counted)  # the reload after indexing shows the runs
        else:
            app.quit()

    window.indexing_finished.connect(finished)
    QTimer.singleShot(SELF_TEST_TIMEOUT_MS, app.quit)
    window.show()
    app.exec()
    print(f"expdesk self-test: {'ok' if result['code'] == 0 else 'FAILED'}", file=sys.stderr)
    return result["code"]
