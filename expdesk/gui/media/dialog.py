"""One media item enlarged: the image at full size (scaled down to fit), or the whole text, with where it is from.

The item is loaded by the view's loader (`MediaDialog.load` runs on a worker); the dialog only shows it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QDialog, QLabel, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

from expdesk.compare.media import Cell, ItemRef, load_item
from expdesk.gui.media.loader import IMAGE_CAP, decode_image
from expdesk.index.reader import IndexReader

#: text shown in the dialog at most (the CLI writes the whole item)
TEXT_CAP = 1_000_000


@dataclass
class Loaded:
    image: QImage | None = None
    text: str | None = None
    error: str | None = None


class MediaDialog(QDialog):
    def __init__(self, cell: Cell, row: ItemRef, run_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        step = "no step" if row.step is None else f"step {row.step}"
        self.setWindowTitle(f"{cell.key} — {step}")
        self.where = " · ".join(p for p in (run_label, cell.key, step, cell.kind) if p)
        self.caption = QLabel(self.where)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.picture = QLabel("loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setTextFormat(Qt.TextFormat.PlainText)
        self.picture.setWordWrap(True)
        self.area = QScrollArea()
        self.area.setWidget(self.picture)
        self.area.setWidgetResizable(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.area, 1)
        layout.addWidget(self.text, 1)
        self._image: QImage | None = None
        self.resize(720, 620)

    @staticmethod
    def load(reader: IndexReader, cell: Cell, row: ItemRef) -> Loaded:
        """Worker thread: the item, decoded (full size) or as text, or the reason it cannot be shown."""
        if cell.kind == "image":
            payload = load_item(reader, cell, row, IMAGE_CAP)
            if payload.error or payload.data is None:
                return Loaded(error=payload.error or "no bytes")
            image, reason = decode_image(payload.data, None)
            return Loaded(image=image, error=reason)
        payload = load_item(reader, cell, row)
        if payload.error:
            return Loaded(error=payload.error)
        if payload.texts:
            return Loaded(text="\n".join(payload.texts)[:TEXT_CAP])
        if payload.buckets is not None:
            lines = [f"{a!r}\t{b!r}\t{c!r}" for a, b, c in payload.buckets[:10000].tolist()]
            return Loaded(text="left\tright\tcount\n" + "\n".join(lines))
        data = payload.data or b""
        return Loaded(text=data[:TEXT_CAP].decode("utf-8", "replace"))

    def show_payload(self, loaded: Loaded) -> None:
        if loaded.error:
            self.picture.setText(f"⚠ This item cannot be shown: {loaded.error}")
        elif loaded.image is not None:
            self._image = loaded.image
            self.caption.setText(f"{self.where}  ({loaded.image.width()} x {loaded.image.height()} px)")
            self._fit()
        elif loaded.text is not None:
            self.area.hide()
            self.text.show()
            self.text.setPlainText(loaded.text)

    def _fit(self) -> None:
        if self._image is None:
            return
        room = self.area.viewport().size() - QSize(8, 8)
        pixmap = QPixmap.fromImage(self._image)
        if pixmap.width() > room.width() or pixmap.height() > room.height():
            pixmap = pixmap.scaled(
                room, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        elif pixmap.width() * 4 <= room.width() and pixmap.height() * 4 <= room.height():
            # tiny images (8x8 weights) are blown up with sharp pixels, not blurred
            factor = min(room.width() // pixmap.width(), room.height() // pixmap.height())
            pixmap = pixmap.scaled(
                pixmap.size() * factor,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        self.picture.setPixmap(pixmap)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()
