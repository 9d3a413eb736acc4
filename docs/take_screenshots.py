"""Re-take the README screenshots of the main window (run under Xvfb, at the screen size you want judged):

    xvfb-run -a -s "-screen 0 1600x900x24" python docs/take_screenshots.py --size 1600x900 \\
        --corpus ../shared/corpus/public --wide /tmp/wide/multirun
    xvfb-run -a -s "-screen 0 1280x720x24" python docs/take_screenshots.py --size 1280x720 --corpus ... --wide ...

Uses a throw-away data/config dir and index. Saves, for each size:
- `demo-<size>.png` / `demo-detail-<size>.png`: the demo workspace with its live run (the real watcher);
- `workspace-<size>.png`: Lightning, Hydra and MLflow (file store + SQLite) runs of the public corpus, copied
  to a temp dir (never read in place), with a run's detail open; `filter-hint-<size>.png`: a misspelt metric;
- `wide-<size>.png`: a Hydra sweep of ~330 columns (`docs/make_wide_workspace.py`), default columns, scrolled
  sideways with the Name column frozen; `columns-<size>.png`: its column chooser, "only differing".
At 1600x900 also `main.png`, `detail.png` and `filter-error.png` (the README's first rows). Look at them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"


def settle(app: object, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """Process events for `seconds`, or until `until()` holds (a screenshot script may wait on the clock)."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        if until is not None and until():
            return
        time.sleep(0.02)


def open_window(index: object, width: int, height: int, watch: bool = False) -> object:
    from expdesk.gui.window.main_window import MainWindow

    window = MainWindow(index, watch=watch)
    window.resize(width, height)
    window.show()
    return window


def select(window: object, name_part: str) -> None:
    model = window.model  # type: ignore[attr-defined]
    column = [c.key for c in model.columns()].index("name")
    for row in range(model.rowCount()):
        if name_part in str(model.index(row, column).data()):
            window.table.selectRow(row)  # type: ignore[attr-defined]
            window.open_detail()  # type: ignore[attr-defined]
            return


def grab(window: object, name: str) -> None:
    window.grab().save(str(OUT / name))  # type: ignore[attr-defined]
    print("wrote", OUT / name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1600x900")
    parser.add_argument("--corpus", type=Path, help="the public corpus (copied, never read in place)")
    parser.add_argument("--wide", type=Path, help="a sweep made by docs/make_wide_workspace.py")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    home = Path(tempfile.mkdtemp(prefix="expdesk-shots-"))
    os.environ.update(XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from expdesk.demo import LiveRunSimulator, prepare_workspace
    from expdesk.gui.runs.columns import ColumnChooser
    from expdesk.gui.window.theme import apply_theme
    from expdesk.index.service import Index

    app = QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("expdesk-shots")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(home / "config"))
    apply_theme(app)
    size = f"{width}x{height}"

    # the demo workspace, live
    with Index(home / "demo.sqlite") as index:
        window = open_window(index, width, height, watch=True)
        window.setWindowTitle("expdesk — demo workspace")
        workspace = prepare_workspace()
        simulator = LiveRunSimulator(workspace)
        simulator.start()
        window.add_folders([str(workspace)])
        window.start_watching()
        settle(app, 8)
        select(window, "live")
        tabs = window.detail.tabs
        tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.tabText(i).startswith("Metrics")))
        settle(app, 5)
        grab(window, f"demo-detail-{size}.png")
        if size == "1600x900":
            grab(window, "detail.png")
        window.ui.actions["toggle_detail"].setChecked(False)
        settle(app, 1)
        grab(window, f"demo-{size}.png")
        if size == "1600x900":
            grab(window, "main.png")
        simulator.stop()
        window.shutdown()
        window.deleteLater()

    if args.corpus:
        runs = home / "corpus"
        for part in ("lightning", "hydra", "mlflow"):
            shutil.copytree(
                args.corpus / part, runs / part, ignore=shutil.ignore_patterns("GROUND_TRUTH.json")
            )
        with Index(home / "corpus.sqlite") as index:
            window = open_window(index, width, height)
            window.setWindowTitle("expdesk — Lightning, Hydra and MLflow runs")
            window.add_folders([str(runs / p) for p in ("lightning", "hydra", "mlflow")])
            settle(app, 20, lambda: window.model.rowCount() > 10 and window.pool.pending() == 0)
            settle(app, 2)
            select(window, "sgd")
            settle(app, 3)
            grab(window, f"workspace-{size}.png")
            window.filter_bar.set_text("metrics.val_acuracy.max > 0.8")
            settle(app, 2)
            grab(window, f"filter-hint-{size}.png")
            if size == "1600x900":
                window.filter_bar.set_text("")  # the error keeps the last good filter's rows: all of them
                settle(app, 2)
                window.filter_bar.set_text("params.lr < and status = finished")
                settle(app, 2)
                grab(window, "filter-error.png")
            window.shutdown()
            window.deleteLater()

    if args.wide:
        with Index(home / "wide.sqlite") as index:
            window = open_window(index, width, height)
            window.setWindowTitle("expdesk — a 330-column Hydra sweep")
            window.add_folders([str(args.wide)])
            settle(app, 90, lambda: window.model.rowCount() >= 18 and len(window.model.columns()) > 8)
            settle(app, 2)
            select(window, "/0")
            window.ui.actions["toggle_detail"].setChecked(False)
            settle(app, 2)
            grab(window, f"wide-{size}.png")
            bar = window.table.horizontalScrollBar()
            bar.setValue(bar.maximum())
            settle(app, 1)
            grab(window, f"wide-scrolled-{size}.png")
            chooser = ColumnChooser(window.model.columns(), window.workspace, window)
            chooser.only_differing.setChecked(True)
            chooser.show()
            settle(app, 1)
            grab(chooser, f"columns-{size}.png")
            chooser.reject()
            window.shutdown()
            window.deleteLater()
    settle(app, 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
