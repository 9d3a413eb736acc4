"""Run detail: artifacts preview (contained, capped), metric charts, overview fields."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from expdesk.gui.detail.artifacts_view import read_preview
from expdesk.gui.detail.charts import ChartStyle, SeriesView, decimate, metric_figure
from expdesk.gui.window.main_window import MainWindow
from tests.gui.helpers import add_and_wait


def test_decimate_keeps_spikes_and_bounds_points() -> None:
    steps = np.arange(1_000_000)
    values = np.sin(steps / 1000.0)
    values[123_457] = 50.0
    values[800_001] = -50.0
    values[10] = np.nan
    x, y = decimate(steps, values, 500)
    assert len(x) <= 1000
    assert y.max() == 50.0 and y.min() == -50.0
    assert np.all(np.diff(x) >= 0)
    small_x, _ = decimate(np.array([3, 1, 2]), np.array([1.0, 2.0, 3.0]), 500)
    assert list(small_x) == [1, 2, 3]


def test_metric_figure_is_pure_matplotlib() -> None:
    view = SeriesView("val/$loss$", np.arange(5), np.arange(5.0), 5, 0, 4.0)
    fig = metric_figure(view, ChartStyle(), (3, 2))
    ax = fig.axes[0]
    assert len(ax.lines) == 1
    assert list(ax.lines[0].get_ydata()) == [0, 1, 2, 3, 4]
    assert ax.get_title(loc="left").startswith(r"val/\$loss\$")


def _run_with_artifacts(root: Path) -> Path:
    run = root / "run-a"
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({"lr": 0.1}))
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(50))
    )
    (run / "plots").mkdir()
    image = QImage(40, 20, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    image.save(str(run / "plots" / "curve.png"))
    (run / "results.csv").write_text("epoch,acc\n1,0.5\n2,0.75\n")
    (run / "summary.json").write_text('{"best": {"acc": 0.75}}')
    return run


def test_artifact_previews(tmp_path: Path) -> None:
    run = _run_with_artifacts(tmp_path / "root")
    root = str(tmp_path / "root")
    image = read_preview(str(run), root, "plots/curve.png")
    assert image.kind == "image" and image.image is not None and image.image.width() == 40
    table = read_preview(str(run), root, "results.csv")
    assert table.kind == "table" and table.headers == ["epoch", "acc"] and table.rows[1] == ["2", "0.75"]
    text = read_preview(str(run), root, "summary.json")
    assert text.kind == "text" and '"acc": 0.75' in text.text
    # a symlink leaving the watched root, a FIFO, and `..` are never opened
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, run / "link.txt")
    os.mkfifo(run / "pipe.txt")
    for name in ("link.txt", "pipe.txt", "../../secret.txt"):
        assert read_preview(str(run), root, name).kind == "message"


def test_detail_panel_shows_run(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    _run_with_artifacts(tmp_path / "root")
    add_and_wait(qtbot, window, [tmp_path / "root"], rows=1)
    window.table.selectRow(0)
    with qtbot.waitSignal(window.detail.metrics.rendered, timeout=60_000) as rendered:
        window.open_detail()
    assert rendered.args == [1]
    detail = window.detail
    assert detail.tabs.tabText(1) == "Params (1)"
    assert detail.tabs.tabText(3) == "Artifacts (3)" or detail.tabs.tabText(3).startswith("Artifacts (")
    fields = {
        detail.fields.topLevelItem(i).text(0): detail.fields.topLevelItem(i).text(1)
        for i in range(detail.fields.topLevelItemCount())
    }
    assert fields["Name"] == "run-a" and fields["Format"] == "generic"
    detail.params_search.setText("zzz")
    assert detail.params_proxy.rowCount() == 0
    detail.params_search.setText("LR")
    assert detail.params_proxy.rowCount() == 1
    # the artifact tree previews a CSV as a table, on a worker
    tree = detail.artifacts.tree
    item = tree.findItems(
        "results.csv", __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.MatchFlag.MatchRecursive
    )[0]
    tree.setCurrentItem(item)
    qtbot.waitUntil(
        lambda: detail.artifacts.last_preview is not None and detail.artifacts.last_preview.kind == "table"
    )
    assert detail.artifacts.table_model.rowCount() == 2


def test_detail_lists_the_files_that_were_not_read(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    run = tmp_path / "root" / "run-b"
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({"lr": 0.1}))
    (run / "metrics.json").write_text(json.dumps({"confusion": [[5, 1], [2, 7]]}))  # no history in it
    (run / "config.yaml").write_text("<b>x</b>: [unclosed\n")  # a user string, shown as plain text
    add_and_wait(qtbot, window, [tmp_path / "root"], rows=1)
    window.table.selectRow(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=20_000):
        window.open_detail()
    detail = window.detail
    assert detail.tabs.tabText(4) == "Not read (2) ⚠"
    model = detail.errors.model
    rows = {model.full_value(r, 0): model.full_value(r, 1) for r in range(model.rowCount())}
    assert set(rows) == {"config.yaml", "metrics.json"}
    assert rows["metrics.json"].startswith("not read: unknown JSON shape")
    assert "invalid YAML" in rows["config.yaml"]
    assert "2 files of this run could not be read" in detail.errors.summary.text()


def test_metric_charts_flow_to_the_pane_width(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    # a narrow detail pane shows one chart per row (no sideways scrolling); a wide one shows several
    run = tmp_path / "root" / "run-c"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "a": s, "b": -s, "c": s * s, "d": 1.0}) + "\n" for s in range(20))
    )
    add_and_wait(qtbot, window, [tmp_path / "root"], rows=1)
    window.table.selectRow(0)
    metrics = window.detail.metrics
    with qtbot.waitSignal(metrics.rendered, timeout=60_000) as rendered:
        window.open_detail()
    assert rendered.args == [4]
    chart_w = metrics.grid.itemAt(0).widget().pixmap().width()
    viewport = metrics._scroll.viewport()

    def columns() -> int:
        return max(metrics.grid.getItemPosition(i)[1] for i in range(metrics.grid.count())) + 1

    window.detail.tabs.setCurrentWidget(metrics)  # a tab widget resizes only the page it shows
    window.resize(1500, 800)
    splitter = window.ui.splitter
    total = sum(splitter.sizes())

    def detail_width(width: int) -> None:  # the pane on the right of the splitter gets `width`
        sizes = splitter.sizes()
        sizes[-1] = width
        sizes[-2] = max(1, total - width - sum(sizes[:-2]))
        splitter.setSizes(sizes)

    detail_width(chart_w + 80)
    qtbot.waitUntil(lambda: viewport.width() < 2 * chart_w)
    qtbot.waitUntil(lambda: columns() == 1)
    detail_width(3 * chart_w + 120)
    qtbot.waitUntil(lambda: viewport.width() > 3 * chart_w + 20)
    qtbot.waitUntil(lambda: columns() == 3)
    assert metrics.grid.count() == 4
