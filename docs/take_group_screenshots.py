"""Re-take the README screenshots of grouped curves and the workspace charts (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/take_group_screenshots.py

A seed sweep is written as plain run folders (params.json + metrics.jsonl, as a training script would) in a
throw-away folder: three optimizers x four seeds, 3,000 steps of a noisy loss and a validation accuracy
every 100 steps; two seeds stopped early. The real main window indexes them; then:
- compare-grouped.png: the compare window on the twelve runs, curves grouped by optimizer (min-max band);
- workspace.png: the main window filtered to two optimizers, the Workspace Charts dock following the
  filter, grouped by optimizer with a ± std band.
Look at them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
OPTIMIZERS = {"sgd": (0.9, 2500.0), "adam": (0.45, 900.0), "adamw": (0.38, 1100.0)}


def write_sweep(root: Path) -> None:
    rng = np.random.default_rng(21)
    for opt, (floor, tau) in OPTIMIZERS.items():
        for seed in range(4):
            folder = root / f"{opt}-seed{seed}"
            folder.mkdir(parents=True)
            n = 3000 if (opt, seed) not in (("adam", 3), ("sgd", 2)) else 1800  # stopped early
            steps = np.arange(n)
            loss = floor + 2.2 / (1 + steps / tau) + rng.normal(size=n) * 0.08 + rng.normal() * 0.05
            params = {"optimizer": opt, "seed": seed, "lr": 0.1 if opt == "sgd" else 0.001, "batch_size": 64}
            (folder / "params.json").write_text(json.dumps(params), encoding="utf-8")
            with (folder / "metrics.jsonl").open("w", encoding="utf-8") as out:
                for s in steps:
                    row: dict[str, float] = {"step": int(s), "loss": float(loss[s])}
                    if s % 100 == 0:
                        acc = 0.93 - floor * 0.15 - 0.5 / (1 + s / tau) + rng.normal() * 0.01
                        row["val_accuracy"] = float(acc)
                    out.write(json.dumps(row) + "\n")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="expdesk-group-shots-"))
    os.environ.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        EXPDESK_DB=str(home / "index.sqlite"),
    )
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from expdesk.core.views import ChartPanel
    from expdesk.gui.compare.view import CompareView
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.index.service import Index

    def settle(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    app = QApplication(sys.argv)
    sweep = home / "sweep"
    write_sweep(sweep)
    index = Index(home / "index.sqlite")
    window = MainWindow(index, watch=False)
    window.setWindowTitle("expdesk — seed sweep")
    window.resize(1560, 980)
    window.show()
    window.add_folders([str(sweep)])
    while window.model.rowCount() < 12:
        settle(200)
    keys = window.model.all_keys()

    view = CompareView(index, keys)
    view.setWindowTitle("expdesk — compare 12 runs")
    view.resize(1500, 900)
    view.show()
    settle(1500)
    view.tabs.setCurrentIndex(1)
    view.charts.set_selected_metrics(["loss"])
    settle(1500)
    bar = view.charts.grouping
    bar.field_combo.setCurrentIndex(bar.field_combo.findData("params.optimizer"))
    settle(2500)
    view.grab().save(str(OUT / "compare-grouped.png"))
    view.close()

    window.filter_bar.set_text('params.optimizer in ("adam", "adamw")')
    window.tools.dock.show()
    window.resizeDocks([window.tools.dock], [480], Qt.Orientation.Vertical)
    window.tools.charts.apply(
        ChartPanel(
            visible=True,
            metrics=("loss", "val_accuracy"),
            smoothing=0.6,
            group_by="params.optimizer",
            band="std",
        )
    )
    settle(4000)
    window.grab().save(str(OUT / "workspace.png"))
    window.close()
    app.processEvents()
    index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
