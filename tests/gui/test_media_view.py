"""The Media tab: a runs x keys grid of thumbnails on a step slider, placeholders with their reason, text side
by side, histograms over steps, click to enlarge; in the detail panel and in the compare window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.collections import QuadMesh
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from expdesk.gui.media.dialog import MediaDialog
from expdesk.gui.media.loader import thumb_key
from expdesk.gui.media.view import MediaView
from expdesk.index.service import Index

MEDIA = Path(__file__).resolve().parent.parent / "data" / "media"

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[tuple[Index, dict[str, str]]]:
    with Index(tmp_path / "i.db") as index:
        index.index([MEDIA / "tensorboard"])
        with index.reader() as reader:
            names = {r["name"]: r["key"] for r in reader.runs_json(reader.run_keys())}
        yield index, names


def _view(qtbot: QtBot, index: Index) -> MediaView:
    view = MediaView(index.reader)
    qtbot.addWidget(view, before_close_func=lambda w: w.shutdown())
    view.resize(1100, 700)
    return view


def test_grid_shows_thumbnails_at_the_nearest_step_at_or_before(
    qtbot: QtBot, indexed: tuple[Index, dict[str, str]]
) -> None:
    index, names = indexed
    view = _view(qtbot, index)
    with qtbot.waitSignal(view.loaded, timeout=20000):
        view.set_runs([(names["torch_run"], "torch"), (names["tbx_run"], "tbx")])
        view.show()
    assert view.kind.currentData() == "image"
    assert view.images_model.keys == ["batch", "pred", "samples/digit"]
    ModelTester(qtbot).check(view.images_model)
    # every visible cell ends up painted with its final content
    qtbot.waitUntil(lambda: view.images.ready_cells == view.images.visible_cells > 0, timeout=20000)
    # torch logged `batch` at 0, 2, 4; the slider at step 3 shows step 2 (nearest at or before)
    view.step_to(3)
    batch = view.images_model.index(0, 0)
    cell, row = view.images_model.cell_at(batch)
    assert cell is not None and row is not None and row.step == 2
    # tbx logged `pred` at 0, 10, 20: at step 3 its cell shows step 0; torch has no `pred` at all
    _, tbx_row = view.images_model.cell_at(view.images_model.index(1, 1))
    assert tbx_row is not None and tbx_row.step == 0
    assert view.images_model.cell_at(view.images_model.index(0, 1)) == (None, None)
    view.images.viewport().repaint()
    qtbot.waitUntil(lambda: view.loader.cached(row) is not None, timeout=20000)
    image, reason = view.loader.cached(row)  # type: ignore[misc]
    assert reason is None and image is not None and not image.isNull()


def test_bad_images_are_placeholders_with_the_reason(
    qtbot: QtBot, indexed: tuple[Index, dict[str, str]]
) -> None:
    index, names = indexed
    view = _view(qtbot, index)
    with qtbot.waitSignal(view.loaded, timeout=20000):
        view.set_run(names["hostile_run"])
        view.show()
    assert view.images_model.keys == ["corrupt", "good", "junk"]
    qtbot.waitUntil(lambda: view.images.ready_cells == view.images.visible_cells == 3, timeout=20000)
    rows = [view.images_model.cell_at(view.images_model.index(0, c))[1] for c in range(3)]
    corrupt, good, junk = rows
    assert corrupt is not None and good is not None and junk is not None
    image, reason = view.loader.cached(corrupt)  # type: ignore[misc]
    assert image is None and reason and "decode" in reason
    assert junk.error and "not an encoded image" in junk.error  # known at index time: no load at all
    assert view.loader.cached(good)[0] is not None  # type: ignore[index]
    assert thumb_key(junk) not in view.loader.cache


def test_text_side_by_side_and_histograms(qtbot: QtBot, indexed: tuple[Index, dict[str, str]]) -> None:
    index, names = indexed
    view = _view(qtbot, index)
    with qtbot.waitSignal(view.loaded, timeout=20000):
        view.set_runs([(names["torch_run"], "torch"), (names["tbx_run"], "tbx")])
        view.show()
    view.kind.setCurrentIndex(view.kind.findData("text"))
    assert view.text_model.keys == ["log/text_summary", "notes/text_summary"]
    view.step_to(3)
    notes = view.text_model.index(0, 1)
    qtbot.waitUntil(lambda: view.text_model.data(notes) != "loading…", timeout=20000)
    assert view.text_model.data(notes) == "step 3\nstep 3: **markdown** stays literal <b>x</b>"
    log = view.text_model.index(1, 0)
    qtbot.waitUntil(lambda: view.text_model.data(log) != "loading…", timeout=20000)
    assert view.text_model.data(log) == "step 0\nepoch 0 done"
    with qtbot.waitSignal(view.histograms_drawn, timeout=20000):
        view.kind.setCurrentIndex(view.kind.findData("histogram"))
    assert view.hist_key.currentText() in ("grad", "weights/fc")
    fig = view._canvas.figure
    assert any(isinstance(c, QuadMesh) for ax in fig.axes for c in ax.collections)
    with qtbot.waitSignal(view.histograms_drawn, timeout=20000):
        view.hist_mode.setCurrentIndex(view.hist_mode.findData("ridge"))
    assert not any(isinstance(c, QuadMesh) for ax in fig.axes for c in ax.collections)
    view.kind.setCurrentIndex(view.kind.findData("other"))
    assert view.others.rowCount() == 1 and view.others.item(0, 1).text() == "tone"


def test_click_to_enlarge(qtbot: QtBot, indexed: tuple[Index, dict[str, str]]) -> None:
    index, names = indexed
    view = _view(qtbot, index)
    with qtbot.waitSignal(view.loaded, timeout=20000):
        view.set_run(names["torch_run"])
        view.show()
    target = view.images_model.index(0, view.images_model.keys.index("samples/digit"))
    view.images.doubleClicked.emit(target)
    dialog = view._dialog
    assert isinstance(dialog, MediaDialog)
    qtbot.waitUntil(
        lambda: dialog.picture.pixmap() is not None and not dialog.picture.pixmap().isNull(), timeout=20000
    )
    assert dialog.picture.pixmap().width() >= 12  # the 12x8 image, blown up with sharp pixels
    dialog.close()


def test_detail_panel_and_compare_window_have_the_tab(
    qtbot: QtBot, indexed: tuple[Index, dict[str, str]]
) -> None:
    from expdesk.gui.compare.view import CompareView

    index, names = indexed
    compare = CompareView(index, [names["torch_run"], names["tbx_run"]])
    qtbot.addWidget(compare)
    compare.show()
    tabs = [compare.tabs.tabText(i) for i in range(compare.tabs.count())]
    assert "Media" in tabs
    with qtbot.waitSignal(compare.media.loaded, timeout=20000):
        compare.tabs.setCurrentWidget(compare.media)
    assert [label for _k, label in compare.media.runs] and compare.media.images_model.rowCount() == 2
    compare.shutdown()
    compare.close()
