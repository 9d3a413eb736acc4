"""Composition root of the desktop app: `expdesk [PATH...] [--demo] [--self-test] [--db PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, QSize, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from expdesk import __version__
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


def run_app(args: argparse.Namespace) -> int:
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

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
