"""What the main window remembers per index: columns (which, in what order, how wide), sort, filter, grouping,
the starred toggle, splitter sizes, open panels and tab, window geometry.

Kept with QSettings (the user's UI state, never the index and never a watched folder), under a group named
after the index file, so two indexes (`--db`) remember their own tables. Everything restored is checked
against what exists now: a column whose key vanished is dropped, a sort on it is forgotten, a window saved
on a bigger screen is pulled back onto this one.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt

from expdesk.gui.runs.query import Column
from expdesk.gui.screen import fit_to_screen, onto_screen
from expdesk.gui.window import settings

#: the main window (typed loosely: importing its class here would make an import cycle with it)
MainWindow = Any

DEFAULT_SIZE = (1440, 880)


def index_group(db_path: os.PathLike[str] | str) -> str:
    """The QSettings group of one index: a digest of its absolute path (paths hold `/`, which QSettings
    reads as nesting), with the path itself stored inside for a human reading the file."""
    path = os.path.abspath(os.fspath(db_path))
    return "index-" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class WindowState:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.path = os.path.abspath(os.fspath(window.index.db_path))
        self.group = index_group(self.path)
        #: the sort to apply once its column is on screen: (column id, descending)
        self.pending_sort: tuple[str, bool] | None = None
        self.widths: dict[str, int] = {}
        self._splitter: QByteArray | None = None
        self._splitter_applied = False

    def _settings(self) -> QSettings:
        s = settings.ui_settings()
        s.beginGroup(self.group)
        return s

    def _json(self, s: QSettings, key: str, default: Any) -> Any:
        value = s.value(key, "")
        if not isinstance(value, str) or not value:
            return default
        try:
            return json.loads(value)
        except ValueError:
            return default

    # -- restore --------------------------------------------------------------------------------------
    def restore_window(self) -> None:
        """Geometry, splitter and panels: before the window is first shown."""
        window, ui = self.window, self.window.ui
        s = self._settings()
        geometry = s.value("geometry")
        if not (isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)):
            window.resize(fit_to_screen(window, *DEFAULT_SIZE))
        onto_screen(window)  # saved on a bigger screen, or the screen shrank since
        splitter = s.value("splitter")
        # applied once the window is laid out (`apply_splitter`): before, the splitter has no width yet
        self._splitter = splitter if isinstance(splitter, QByteArray) else None
        for name in ("toggle_sources", "toggle_detail"):
            shown = s.value(name)
            if shown is not None:
                ui.actions[name].setChecked(str(shown).lower() in ("true", "1"))
        tab = s.value("detail_tab")
        if tab is not None and str(tab).isdigit():
            window.detail.tabs.setCurrentIndex(min(int(str(tab)), window.detail.tabs.count() - 1))
        self.widths = {
            str(k): int(v)
            for k, v in self._json(s, "widths", {}).items()
            if isinstance(v, int) and 20 <= v <= 2000
        }
        sort = self._json(s, "sort", None)
        if isinstance(sort, list) and len(sort) == 2 and isinstance(sort[0], str):
            self.pending_sort = (sort[0], bool(sort[1]))
        s.endGroup()

    def apply_splitter(self) -> None:
        """The saved pane sizes, or defaults for this window's width (on first show: the sizes are real)."""
        if self._splitter_applied:
            return
        self._splitter_applied = True
        onto_screen(self.window)  # again with the real frame: a title bar adds to the size it restored
        ui = self.window.ui
        if self._splitter is None or not ui.splitter.restoreState(self._splitter):
            ui.default_splitter_sizes(self.window.width())

    def saved_columns(self) -> list[Column] | None:
        """The user's columns for this index, or None for automatic ones."""
        s = self._settings()
        ids = self._json(s, "columns", None)
        s.endGroup()
        if isinstance(ids, list) and ids:
            return [Column.from_id(i) for i in ids if isinstance(i, str)]
        return None

    def restore_view(self) -> None:
        """Filter, starred toggle and grouping (the filter compiles without the index: no I/O here)."""
        window, ui = self.window, self.window.ui
        s = self._settings()
        ui.starred_only.setChecked(str(s.value("starred", "false")).lower() in ("true", "1"))
        ui.actions["show_hidden"].setChecked(str(s.value("show_hidden", "false")).lower() in ("true", "1"))
        group = s.value("group")
        if isinstance(group, str) and group:
            ui.wanted_group = group  # chosen once the params are known
        text = s.value("filter")
        s.endGroup()
        if isinstance(text, str) and text:
            window.filter_bar.set_text(text)

    # -- save -----------------------------------------------------------------------------------------
    def save(self, custom_columns: list[Column] | None) -> None:
        window, ui, model = self.window, self.window.ui, self.window.model
        s = self._settings()
        s.setValue("path", self.path)
        s.setValue("geometry", window.saveGeometry())
        s.setValue("splitter", ui.splitter.saveState())
        for name in ("toggle_sources", "toggle_detail", "show_hidden"):
            s.setValue(name, ui.actions[name].isChecked())
        s.setValue("detail_tab", window.detail.tabs.currentIndex())
        s.setValue("starred", ui.starred_only.isChecked())
        s.setValue("group", model.group_param() or "")
        s.setValue("filter", window.filter_bar.active_filter())
        header = window.table.horizontalHeader()
        offset = 1 if model.group_param() else 0
        columns = model.columns()
        visual = [
            columns[header.logicalIndex(v) - offset]
            for v in range(header.count())
            if header.logicalIndex(v) >= offset
        ]
        moved = [c.id for c in visual] != [c.id for c in columns]
        chosen = custom_columns if custom_columns is not None else (visual if moved else None)
        if moved and custom_columns is not None:
            chosen = visual  # the user dragged columns: their order is part of the choice
        s.setValue("columns", "" if chosen is None else json.dumps([c.id for c in chosen]))
        widths = dict(self.widths)
        for i, column in enumerate(columns):
            widths[column.id] = header.sectionSize(i + offset)
        s.setValue("widths", json.dumps(widths))
        section = header.sortIndicatorSection()
        sorted_by = columns[section - offset] if 0 <= section - offset < len(columns) else None
        descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        s.setValue("sort", json.dumps([sorted_by.id, descending]) if sorted_by is not None else "")
        s.endGroup()
        s.sync()
