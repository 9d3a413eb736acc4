"""Light/dark following the system (Qt 6 `styleHints().colorScheme()`), with a restrained stylesheet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_STYLE = """
QToolBar { spacing: 6px; padding: 4px 6px; border: none; }
QLineEdit#filterEdit { padding: 5px 8px; border-radius: 5px; border: 1px solid palette(mid); }
QLineEdit#filterEdit:focus { border: 1px solid palette(highlight); }
QLineEdit#filterEdit[invalid="true"] { border: 1px solid #d0453a; }
QLabel#filterError { color: #d0453a; padding: 2px 2px 4px 2px; }
QLabel#filterError[warning="true"] { color: #9a6a00; }
QLabel#panelTitle { font-weight: 600; }
QLabel#detailTitle { font-size: 15px; font-weight: 600; }
QLabel#emptyHint, QLabel#mutedLabel { color: palette(placeholder-text); }
QLabel#emptyTitle { font-size: 20px; font-weight: 600; }
QLabel#toast { background: rgba(40, 40, 40, 230); color: white; border-radius: 8px; padding: 10px 14px; }
QTableView { gridline-color: palette(midlight); }
QHeaderView::section { padding: 4px 6px; }
"""


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#dfe1e5")
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, QColor("#26282b"))
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, window)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.Highlight, QColor("#3574f0"))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        p.setColor(group, QPalette.ColorRole.ToolTipBase, window)
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor("#8c8f94"))
        p.setColor(group, QPalette.ColorRole.Mid, QColor("#4a4d52"))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor("#393b40"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6f737a"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6f737a"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6f737a"))
    return p


def is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication) -> None:
    """Fusion with the system's scheme; re-applied when the system switches light/dark."""
    app.setStyle("Fusion")

    def update(*_args: object) -> None:
        app.setPalette(_dark_palette() if is_dark() else app.style().standardPalette())
        app.setStyleSheet(_STYLE)

    update()
    app.styleHints().colorSchemeChanged.connect(update)
