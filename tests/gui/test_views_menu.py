"""The Views menu: save what the window shows, reopen it, rename, delete, export and import, all through the
index on the worker pool; a hostile import refused with its reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.core.views import ChartPanel, SavedView
from expdesk.gui.window.views_menu import ViewsMenu
from expdesk.gui.workers.pool import WorkerPool
from expdesk.index.service import Index


class FakeWindow:
    """What a window would show: a view, and the views it was asked to show."""

    def __init__(self) -> None:
        self.showing = SavedView("", filter="status = failed", columns=("attr:name",), selection=("k1",))
        self.applied: list[SavedView] = []

    def capture_view(self, name: str) -> SavedView:
        return self.showing.renamed(name)

    def apply_view(self, view: SavedView) -> str:
        self.applied.append(view)
        return "1 of 1 selected runs is not in this index" if view.selection else ""


@pytest.fixture
def menu(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[ViewsMenu, FakeWindow]]:
    index = Index(tmp_path / "i.db")
    pool = WorkerPool(2)
    window = FakeWindow()
    views = ViewsMenu(index, pool, window)
    qtbot.waitSignal(views.listed, timeout=10_000)
    yield views, window
    pool.stop()
    index.close()


def _wait_names(qtbot: QtBot, views: ViewsMenu, names: list[str]) -> None:
    qtbot.waitUntil(lambda: views.names() == names, timeout=10_000)


def test_save_reopen_rename_delete(qtbot: QtBot, menu: tuple[ViewsMenu, FakeWindow]) -> None:
    views, window = menu
    assert views.names() == [] and not views.reopen_menu.isEnabled()
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.save_current("  failed runs ")
    assert said.args == ["Saved view 'failed runs'"]
    _wait_names(qtbot, views, ["failed runs"])
    assert [a.text() for a in views.reopen_menu.actions()] == ["failed runs"]
    window.showing = SavedView("", charts=ChartPanel(visible=True, metrics=("loss",)))
    views.save_current("A & B <i>")
    _wait_names(qtbot, views, ["A & B <i>", "failed runs"])
    assert views.reopen_menu.actions()[0].text() == "A && B <i>"  # `&` is not a shortcut mark
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.reopen_menu.actions()[1].trigger()
    assert window.applied[-1] == SavedView(
        "failed runs", "status = failed", ("attr:name",), selection=("k1",)
    )
    assert said.args == ["View 'failed runs': 1 of 1 selected runs is not in this index"]
    views.rename("failed runs", "only failed")
    _wait_names(qtbot, views, ["A & B <i>", "only failed"])
    views.delete("A & B <i>")
    _wait_names(qtbot, views, ["only failed"])
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.rename("only failed", "")
    assert said.args == ["a view needs a name"]


def test_export_then_import_and_a_hostile_file(
    qtbot: QtBot, menu: tuple[ViewsMenu, FakeWindow], tmp_path: Path
) -> None:
    views, window = menu
    views.save_current("mine")
    _wait_names(qtbot, views, ["mine"])
    out = tmp_path / "mine.json"
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.export_to("mine", out)
    assert said.args == [f"Exported view 'mine' to {out}"]
    assert json.loads(out.read_text())["filter"] == "status = failed"
    views.import_from(out, save_as="theirs")
    _wait_names(qtbot, views, ["mine", "theirs"])
    assert window.applied[-1].name == "theirs" and window.applied[-1].filter == "status = failed"
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        '{"format": "expdesk-view", "version": 1, "name": "x", "filter": "x", "run": "rm -rf"}'
    )
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.import_from(hostile)
    assert said.args == ["hostile.json: unknown key 'run'"]
    assert views.names() == ["mine", "theirs"] and len(window.applied) == 1
