"""Re-take the README screenshots of the main window on the demo workspace (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/take_screenshots.py

Uses a throw-away data/config dir, the real demo workspace with its live run, and the real watcher; saves
docs/screenshots/main.png (table + live run selected) and detail.png (the live run's charts). Look at them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="expdesk-shots-"))
    os.environ.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        EXPDESK_DB=str(home / "index.sqlite"),
    )
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from expdesk.demo import LiveRunSimulator, prepare_workspace
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.index.service import Index

    app = QApplication(sys.argv)
    index = Index(home / "index.sqlite")
    window = MainWindow(index)
    window.setWindowTitle("expdesk — demo workspace")
    workspace = prepare_workspace()
    simulator = LiveRunSimulator(workspace)
    simulator.start()
    window.add_folders([str(workspace)])
    window.start_watching()
    window.resize(1560, 940)
    window.show()

    def select_live() -> None:
        model = window.model
        for row in range(model.rowCount()):
            if "live" in str(model.index(row, 1).data() or model.index(row, 0).data()):
                window.table.selectRow(row)
                window.open_detail()
                tabs = window.detail.tabs
                for i in range(tabs.count()):
                    if tabs.tabText(i).startswith("Metrics"):
                        tabs.setCurrentIndex(i)
                return

    def shoot() -> None:
        window.grab().save(str(OUT / "detail.png"))
        window.detail.hide()
        window.ui.actions["toggle_detail"].setChecked(False)
        QTimer.singleShot(800, lambda: (window.grab().save(str(OUT / "main.png")), app.quit()))

    QTimer.singleShot(6000, select_live)  # let the watcher index and the live run append a few times
    QTimer.singleShot(12000, shoot)
    app.exec()
    simulator.stop()
    window.shutdown()
    index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
