"""Re-take the screenshots of the Media tab (run under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/take_media_screenshots.py

Three TensorBoard runs of a small sweep are written into a throw-away folder (images drawn for each step,
weight histograms that widen as training goes on, a text sample per epoch, and one corrupt PNG), indexed,
and shown: media-detail.png (the main window, the run detail's Media tab), media-compare.png (the compare
window's Media tab: runs x keys on the step slider), media-histograms.png (histograms over steps as a heat
map), media-text.png (text side by side). Look at them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
RUNS = [("resnet-lr0.1", 0.1), ("resnet-lr0.01", 0.01), ("resnet-lr0.001", 0.001)]


def _png(step: int, run: int, key: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter

    image = QImage(96, 72, QImage.Format.Format_RGB32)
    hue = (run * 110 + key * 40 + step * 3) % 360
    image.fill(QColor.fromHsv(hue, 90, 235))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor.fromHsv((hue + 180) % 360, 200, 200))
    painter.setPen(Qt.PenStyle.NoPen)
    radius = 8 + (step % 50) * 0.5
    painter.drawEllipse(QRectF(48 - radius, 36 - radius, 2 * radius, 2 * radius))
    painter.setPen(QColor("#222"))
    painter.setFont(QFont("DejaVu Sans", 9))
    painter.drawText(
        QRectF(0, 52, 96, 20), Qt.AlignmentFlag.AlignCenter, f"{['cat', 'dog', 'car'][key]} {step}"
    )
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def _write_runs(root: Path) -> None:
    from tests.media_events import (
        event,
        field_bytes,
        histogram_value,
        image_value,
        scalar_value,
        write_events,
    )

    rng = np.random.default_rng(5)
    for r, (name, lr) in enumerate(RUNS):
        run = root / name
        run.mkdir(parents=True)
        events = []
        for step in range(0, 500, 10):
            values = [scalar_value("loss", float(2 / (1 + step * lr / 5)))]
            if step % 50 == 0:
                values += [
                    image_value(f"samples/{k}", _png(step, r, i), 96, 72)
                    for i, k in enumerate(("cat", "dog", "car"))
                ]
            weights = rng.normal(loc=0.2 * r * step / 500, scale=0.3 + step * lr / 50, size=2000)
            counts, edges = np.histogram(weights, bins=60)
            values.append(
                histogram_value("weights/fc1", float(edges[0]), float(edges[-1]),
                                edges[1:].astype("<f8").tobytes(), counts.astype("<f8").tobytes())
            )  # fmt: skip
            if step % 100 == 0:
                text = (
                    f"epoch {step // 100}: val acc {0.5 + 0.4 * (1 - np.exp(-step * lr / 20)):.3f}, lr {lr}"
                )
                tensor = bytes([0x08, 0x07]) + field_bytes(8, text.encode())  # DT_STRING, string_val
                meta = field_bytes(1, field_bytes(1, b"text"))
                values.append(field_bytes(1, b"notes") + field_bytes(9, meta) + field_bytes(8, tensor))
            events.append(event(step, 1.7e9 + step, *values))
        if r == 2:
            broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 30
            events.append(event(500, 1.7e9 + 500, image_value("samples/cat", broken, 96, 72)))
        write_events(run / "events.out.tfevents.1.host", events)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="expdesk-media-shots-"))
    os.environ.update(
        XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"), EXPDESK_DB=str(home / "i.db")
    )
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from expdesk.gui.compare.view import CompareView
    from expdesk.gui.window.main_window import MainWindow
    from expdesk.index.service import Index

    app = QApplication(sys.argv)
    _write_runs(home / "runs")

    def settle(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    index = Index(home / "i.db")
    index.index([home / "runs"])
    with index.reader() as reader:
        keys = {r["name"]: r["key"] for r in reader.runs_json(reader.run_keys())}
    window = MainWindow(index)
    window.setWindowTitle("expdesk — media")
    window.resize(1560, 940)
    window.show()
    settle(1500)
    for row in range(window.model.rowCount()):
        if "lr0.001" in str(window.model.index(row, 1).data() or window.model.index(row, 0).data()):
            window.table.selectRow(row)
            window.open_detail()
    tabs = window.detail.tabs
    for i in range(tabs.count()):
        if tabs.tabText(i).startswith("Media"):
            tabs.setCurrentIndex(i)
    settle(2500)
    window.grab().save(str(OUT / "media-detail.png"))

    view = CompareView(index, [keys[name] for name, _lr in RUNS])
    view.setWindowTitle("expdesk — compare")
    view.resize(1500, 900)
    view.show()
    settle(1500)
    view.tabs.setCurrentWidget(view.media)
    settle(1500)
    view.media.step_to(250)
    settle(1500)
    view.grab().save(str(OUT / "media-compare.png"))
    view.media.kind.setCurrentIndex(view.media.kind.findData("histogram"))
    settle(2500)
    view.grab().save(str(OUT / "media-histograms.png"))
    view.media.kind.setCurrentIndex(view.media.kind.findData("text"))
    view.media.step_to(450)
    settle(1500)
    view.grab().save(str(OUT / "media-text.png"))
    view.shutdown()
    view.close()
    window.close()
    app.processEvents()
    index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
