"""Re-take the README screenshots of a joined run (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/take_parts_screenshots.py

Indexes copies of the layouts in tests/data/jobs (a lightning-hydra-template job with CSV, TensorBoard and
W&B loggers; a `dvc exp run` project with DVCLive; a Hydra job that is a DVC project; a Trainer run with
reported results) in a throw-away data dir, selects the template job and saves
docs/screenshots/parts-detail.png (its Parts tab) and parts-metrics.png (the Trainer run's metrics with
their final values). Look at them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
JOBS = REPO / "tests" / "data" / "jobs"


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

    from expdesk.gui.runs.query import Column
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.index.service import Index

    workspace = home / "projects"
    for name in ("lightning_hydra", "dvc_exp", "hydra_dvc", "trainer_best"):
        # (GROUND_TRUTH.json and the generator scripts are the tests', not the projects')
        shutil.copytree(
            JOBS / name,
            workspace / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("make.py", "GROUND_TRUTH.json"),
        )
    app = QApplication(sys.argv)
    index = Index(home / "index.sqlite")
    window = MainWindow(index, watch=False)
    window.setWindowTitle("expdesk — one training job, one run")
    window.resize(1560, 940)
    window.show()
    window.add_folders([str(workspace)])

    def arrange() -> None:
        """A few columns that say what each run is, and a detail panel wide enough for the parts' folders."""
        window.use_columns(
            [
                Column("attr", "name"),
                Column("attr", "format"),
                Column("attr", "status"),
                Column("attr", "start"),
            ]
        )
        window.ui.splitter.setSizes([230, 640, 690])

    def select(head: str, tab: str) -> None:
        """Select the run whose head part is `head`'s tool (the job: "hydra" with most parts)."""
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys())
        wanted = max((r for r in runs if r["format"] == head), key=lambda r: len(r["parts"]))["key"]
        model = window.model
        for row in range(model.rowCount()):
            if model.key_at(row) == wanted:
                window.table.selectRow(row)
                window.open_detail()
                tabs = window.detail.tabs
                for i in range(tabs.count()):
                    if tabs.tabText(i).startswith(tab):
                        tabs.setCurrentIndex(i)
                return

    QTimer.singleShot(4000, arrange)
    QTimer.singleShot(5000, lambda: select("hydra", "Parts"))
    QTimer.singleShot(8000, lambda: window.grab().save(str(OUT / "parts-detail.png")))
    QTimer.singleShot(8500, lambda: select("transformers", "Metrics"))
    QTimer.singleShot(13000, lambda: (window.grab().save(str(OUT / "parts-metrics.png")), app.quit()))
    app.exec()
    window.shutdown()
    index.close()
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
