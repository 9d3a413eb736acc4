"""UI state kept with QSettings: window geometry, recent folders, column presets (nothing domain-related).

The app sets the organisation/application names and the INI format; tests point QSettings at a temp
dir, so the real user's settings are never read or written by the test suite.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings

from expdesk.gui.runs.query import Column

RECENT_MAX = 10


def ui_settings() -> QSettings:
    return QSettings()


def recent_folders() -> list[str]:
    value = ui_settings().value("recent/folders", "[]")
    try:
        folders = json.loads(value) if isinstance(value, str) else []
    except ValueError:
        return []
    return [f for f in folders if isinstance(f, str)][:RECENT_MAX]


def add_recent_folder(path: str) -> list[str]:
    folders = [path] + [f for f in recent_folders() if f != path]
    ui_settings().setValue("recent/folders", json.dumps(folders[:RECENT_MAX]))
    return folders[:RECENT_MAX]


def column_presets() -> dict[str, list[str]]:
    value = ui_settings().value("columns/presets", "{}")
    try:
        data = json.loads(value) if isinstance(value, str) else {}
    except ValueError:
        return {}
    return {str(k): [str(c) for c in v] for k, v in data.items() if isinstance(v, list)}


def save_column_presets(presets: dict[str, list[str]]) -> None:
    ui_settings().setValue("columns/presets", json.dumps(presets))


def current_columns() -> list[Column] | None:
    """The user's chosen columns, or None for "automatic" (attributes + every param + every metric)."""
    value = ui_settings().value("columns/current", "")
    if not isinstance(value, str) or not value:
        return None
    try:
        ids = json.loads(value)
    except ValueError:
        return None
    return [Column.from_id(i) for i in ids if isinstance(i, str)]


def save_current_columns(columns: list[Column] | None) -> None:
    ui_settings().setValue("columns/current", "" if columns is None else json.dumps([c.id for c in columns]))
