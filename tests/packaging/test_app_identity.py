"""The running app tells the desktop shell who it is: desktop file name and a window icon in every size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the desktop app needs PySide6")

from PySide6.QtCore import QCoreApplication, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from expdesk import app as expdesk_app
from expdesk.resources_path import APP_ID, ICON_SIZES


@pytest.fixture
def configured(qapp: QApplication) -> Iterator[QApplication]:
    """configure_application changes process-wide names; put the previous ones back for other tests."""
    before = (
        QCoreApplication.organizationName(),
        QCoreApplication.applicationName(),
        QCoreApplication.applicationVersion(),
        QGuiApplication.desktopFileName(),
    )
    expdesk_app.configure_application(qapp)
    yield qapp
    QCoreApplication.setOrganizationName(before[0])
    QCoreApplication.setApplicationName(before[1])
    QCoreApplication.setApplicationVersion(before[2])
    QGuiApplication.setDesktopFileName(before[3])


def test_desktop_file_name_is_the_app_id(configured: QApplication) -> None:
    assert QGuiApplication.desktopFileName() == APP_ID
    assert QCoreApplication.applicationName() == "expdesk"  # X11 WM_CLASS, StartupWMClass in the entry


def test_window_icon_has_every_size(configured: QApplication) -> None:
    icon = expdesk_app._icon()
    assert icon is not None and not icon.isNull()
    sizes = {size.width() for size in icon.availableSizes()}
    assert set(ICON_SIZES) <= sizes
    assert icon.pixmap(QSize(16, 16)).width() == 16
