"""The runs x keys grid: a table model over an `Overview` at one step, and a delegate that paints thumbnails.

`data()` only looks up prepared values (a binary search for the cell's item at the step); thumbnails and
text samples are asked of the loader when a cell is painted, so only cells on screen ever load, and a
paint never waits: a cell shows "loading…" until its image arrives. Placeholders show their reason.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView, QWidget

from expdesk.compare.media import Cell, ItemRef, Overview, text_sample
from expdesk.gui.media.loader import MediaLoader, thumb_key

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = QSize(160, 120)
CAPTION = 18
AnyIndex = QModelIndex | QPersistentModelIndex


class MediaGridModel(QAbstractTableModel):
    """Rows are runs, columns the media keys of one kind; a cell is the item at (or before) the step."""

    def __init__(self, loader: MediaLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.overview = Overview([])
        self.runs: list[tuple[str, str]] = []  # (run key, label)
        self.keys: list[str] = []
        self.kind = "image"
        self.step: int | None = None
        self.texts: dict[Any, str] = {}  # text samples by item id
        self._asked: set[Any] = set()
        loader.relay.done.connect(self._on_done)

    def set_content(
        self, overview: Overview, runs: list[tuple[str, str]], kind: str, keys: list[str]
    ) -> None:
        self.beginResetModel()
        self.overview, self.runs, self.kind, self.keys = overview, runs, kind, keys
        self.endResetModel()

    def set_step(self, step: int | None) -> None:
        self.step = step
        if self.rowCount() and self.columnCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1))

    def cell_at(self, index: AnyIndex) -> tuple[Cell | None, ItemRef | None]:
        if not index.isValid():
            return None, None
        cell = self.overview.cell(self.kind, self.runs[index.row()][0], self.keys[index.column()])
        return cell, (cell.at(self.step) if cell is not None else None)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        cell, row = self.cell_at(index)
        if role == ITEM_ROLE:
            return cell, row
        if role == Qt.ItemDataRole.DisplayRole and self.kind == "text":
            return self._text(cell, row)
        if role == Qt.ItemDataRole.ToolTipRole:
            if row is None:
                return (
                    "Nothing logged at or before this step" if cell is not None else "Not logged by this run"
                )
            step = "no step" if row.step is None else f"step {row.step}"
            reason = f"\n⚠ {row.error}" if row.error else ""
            return f"{self.keys[index.column()]}\n{step}{reason}\nDouble-click to enlarge"
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if orientation == Qt.Orientation.Horizontal:
            text = self.keys[section] if 0 <= section < len(self.keys) else ""
        else:
            text = self.runs[section][1] if 0 <= section < len(self.runs) else ""
        if role == Qt.ItemDataRole.DisplayRole and len(text) > 40:
            return text[:39] + "…"
        return text

    # -- text samples: loaded per visible cell, off the GUI thread ----------------------------------
    def _text(self, cell: Cell | None, row: ItemRef | None) -> str:
        if cell is None:
            return ""
        if row is None:
            return "—"
        key = thumb_key(row)
        if key in self.texts:
            return self.texts[key]
        if key not in self._asked:
            self._asked.add(key)

            def job(reader: Any, c: Cell = cell, r: ItemRef = row, k: Any = key) -> tuple[Any, str]:
                # the step on a line of its own: side by side, runs may show different steps
                step = "no step" if r.step is None else f"step {r.step}"
                return k, f"{step}\n{text_sample(reader, c, r)}"

            self.loader.submit(f"text:{key}", job)
        return "loading…"

    def _on_done(self, kind: str, _generation: int, result: Any) -> None:
        if kind.startswith("text:"):
            key, text = result
            self.texts[key] = text
            self._asked.discard(key)
            if self.kind == "text":
                self.set_step(self.step)


class ThumbDelegate(QStyledItemDelegate):
    """Paints an image cell: its thumbnail (asked for if missing), or a placeholder with the reason."""

    def __init__(self, loader: MediaLoader, grid: MediaGrid) -> None:
        super().__init__(grid)
        self.loader = loader
        self.grid = grid

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(THUMB.width() + 8, THUMB.height() + CAPTION + 6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        cell, row = index.data(ITEM_ROLE)
        rect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        palette = option.palette  # type: ignore[attr-defined]
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[attr-defined]
            painter.fillRect(option.rect, palette.color(QPalette.ColorRole.Highlight).lighter(170))  # type: ignore[attr-defined]
        image_area = QRect(rect.left(), rect.top(), rect.width(), rect.height() - CAPTION)
        caption_area = QRect(rect.left(), rect.bottom() - CAPTION + 1, rect.width(), CAPTION)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        self.grid.visible_cells += 1
        if cell is None or row is None:
            painter.setPen(muted)
            text = "not logged" if cell is None else "— (nothing at or before this step)"
            painter.drawText(image_area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
            self.grid.ready_cells += 1
        else:
            found = self.loader.cached(row) if not row.error else (None, row.error)
            if found is None:
                self.loader.request(cell, row, THUMB)
                painter.setPen(muted)
                painter.drawText(image_area, Qt.AlignmentFlag.AlignCenter, "loading…")
            else:
                self.grid.ready_cells += 1
                image, reason = found
                if image is not None:
                    size = image.size().scaled(image_area.size(), Qt.AspectRatioMode.KeepAspectRatio)
                    if image.width() <= image_area.width() and image.height() <= image_area.height():
                        # small images are scaled up in whole steps so pixels stay sharp
                        factor = max(1, min(image_area.width() // max(1, image.width()),
                                            image_area.height() // max(1, image.height())))  # fmt: skip
                        size = QSize(image.width() * factor, image.height() * factor)
                    target = QRect(0, 0, size.width(), size.height())
                    target.moveCenter(image_area.center())
                    painter.drawImage(target, image)
                else:
                    painter.setPen(QColor("#c0392b"))
                    painter.drawRect(image_area.adjusted(0, 0, -1, -1))
                    painter.drawText(
                        image_area.adjusted(6, 4, -6, -4),
                        Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                        f"⚠ {reason}",
                    )
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            step = "no step" if row.step is None else f"step {row.step}"
            painter.drawText(caption_area, Qt.AlignmentFlag.AlignCenter, step)
        painter.restore()


class MediaGrid(QTableView):
    """A table view of the grid that reports what each paint showed (tests and the benchmark wait on it)."""

    #: (cells painted, cells painted with their final content: a thumbnail, a placeholder or a dash)
    painted = Signal(int, int)

    def __init__(self, model: MediaGridModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.visible_cells = 0
        self.ready_cells = 0
        self.setModel(model)
        self.setItemDelegate(ThumbDelegate(model.loader, self))
        self.horizontalHeader().setDefaultSectionSize(THUMB.width() + 8)
        self.verticalHeader().setDefaultSectionSize(THUMB.height() + CAPTION + 6)
        self.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.setShowGrid(False)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.visible_cells = self.ready_cells = 0
        super().paintEvent(event)
        self.painted.emit(self.visible_cells, self.ready_cells)
