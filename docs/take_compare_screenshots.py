"""Re-take the README screenshots of the compare view (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x900x24" python docs/take_compare_screenshots.py
    xvfb-run -a -s "-screen 0 1280x720x24" python docs/take_compare_screenshots.py   # -1280x720 names

Five runs of a small sweep (batch size, learning rate, optimizer; 20,000 steps of a noisy loss with a few
spikes, an accuracy and an epoch time) go into a throw-away index; the real `CompareView` shows them and each
tab is grabbed: compare-table.png (diff table), compare-chart.png (overlay with smoothing 0.6),
compare-parallel.png and compare-scatter.png; on a smaller screen the names end in its size. The window is
opened as the app opens it (sized to the screen). Look at them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
SWEEP = [
    ("64", "0.1", "sgd"),
    ("64", "0.01", "sgd"),
    ("64", "0.001", "adam"),
    ("128", "0.0003", "adam"),
    ("128", "0.003", "adamw"),
]


def main() -> int:
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from expdesk.core.entities import RunRef, RunUpdate, Series, Status
    from expdesk.gui.compare.view import CompareView
    from expdesk.index import store
    from expdesk.index.service import Index

    app = QApplication(sys.argv)
    home = Path(tempfile.mkdtemp(prefix="expdesk-compare-shots-"))
    rng = np.random.default_rng(7)
    steps = np.arange(20_000, dtype=np.int64)
    keys = []
    with Index(home / "index.sqlite") as index:
        for i, (batch, lr, opt) in enumerate(SWEEP):
            floor = 0.25 + 0.1 * i
            loss = (
                floor + (1.6 + 0.4 * i) / (1 + steps / 2500) + rng.normal(size=len(steps)) * (0.12 + 0.03 * i)
            )
            loss[rng.integers(0, len(steps), 4)] += rng.uniform(1.5, 2.5, 4)  # spikes a sampler would drop
            acc = np.clip(0.95 - 0.05 * i - 0.6 / (1 + steps[::100] / 20) + rng.normal(size=200) * 0.01, 0, 1)
            stamps = 1.7e12 + steps * 90.0
            ref = RunRef("generic", home / f"sweep-{i}", home)
            update = RunUpdate(
                name=f"sweep-{i}",
                experiment="resnet-sweep",
                status=Status.FINISHED,
                start_time=1.7e9,
                end_time=1.7e9 + 1800 + 60 * i,
                params={"batch_size": batch, "lr": lr, "optimizer": opt, "epochs": "20", "seed": "0"},
                metrics=[
                    Series("val_loss", steps, loss, stamps),
                    Series("val_accuracy", steps[::100], acc, stamps[::100]),
                    Series(
                        "epoch_time", np.arange(20), 88 + rng.normal(size=20) * 2 + 4 * i, np.full(20, np.nan)
                    ),
                ],
                metrics_reset=True,
            )
            index.writer.call(
                lambda c, ref=ref, update=update: store.apply_update(c, ref, update, None), {ref.key}
            )
            keys.append(ref.key)

        from expdesk.gui.screen import fit_to_screen

        view = CompareView(index, keys)
        view.setWindowTitle("expdesk — compare")
        view.resize(fit_to_screen(view, 1500, 900))
        view.show()
        screen = view.screen().size()
        suffix = "" if screen.width() >= 1600 else f"-{screen.width()}x{screen.height()}"

        def settle(ms: int) -> None:
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

        settle(1500)
        view.grab().save(str(OUT / f"compare-table{suffix}.png"))
        view.tabs.setCurrentIndex(1)
        view.charts.set_selected_metrics(["val_loss"])
        settle(2500)
        view.grab().save(str(OUT / f"compare-chart{suffix}.png"))
        for tab, name in ((2, "compare-parallel.png"), (3, "compare-scatter.png")):
            view.tabs.setCurrentIndex(tab)
            settle(1500)
            view.grab().save(str(OUT / name.replace(".png", f"{suffix}.png")))
        view.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
