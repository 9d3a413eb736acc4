"""LineageView: loads off the GUI thread, lays out ancestors left and descendants right, click navigates."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from expdesk.gui.detail.lineage_view import LineageView
from expdesk.lineage.graph import Edge, LineageGraph, RunNode


def graph() -> LineageGraph:
    g = LineageGraph("b")
    for key, depth, name in (
        ("a", -1, "<img src='file:///etc/passwd'>"),
        ("b", 0, "resume"),
        ("c", 1, "eval"),
    ):
        g.nodes[key] = RunNode(key, "generic", name, None, None, "finished", 1.0, 2.0, f"/r/{key}")
        g.depth[key] = depth
    g.edges = [
        Edge("a", "b", "hash-join", "derived", {}),
        Edge("b", "c", "mlflow.parentRunId", "informed", {}),
    ]
    return g


def test_loads_in_background_and_click_emits(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = LineageView(lambda key: graph())
    qtbot.addWidget(view)
    view.set_run("b")
    qtbot.waitUntil(lambda: view.graph is not None)
    assert set(view.items) == {"a", "b", "c"}
    assert view.items["a"].rect().x() < view.items["b"].rect().x() < view.items["c"].rect().x()
    texts = [c.text() for c in view.items["a"].childItems()]
    assert "<img src='file:///etc/passwd'>" in texts  # drawn literally
    view.show()
    view.view.fitInView(view.scene.sceneRect())
    point = view.view.mapFromScene(view.items["a"].rect().center())
    with qtbot.waitSignal(view.run_activated) as blocker:
        qtbot.mouseClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == ["a"]
    assert "1 ancestor(s), 1 descendant(s)" in view.status.text()


def test_stale_answers_are_dropped_and_errors_shown(qtbot) -> None:  # type: ignore[no-untyped-def]
    def loader(key: str) -> LineageGraph:
        if key == "boom":
            raise KeyError(key)
        return graph()

    view = LineageView(loader)
    qtbot.addWidget(view)
    view.set_run("boom")
    qtbot.waitUntil(lambda: "could not be traced" in view.status.text())
    view._on_loaded(view._generation - 1, graph())  # an older answer arriving late
    assert view.graph is None


def test_a_wide_graph_is_fitted_to_its_pane(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Issue 20 #11: a chain of runs wider than the pane is shown whole, not cut at the pane's edge."""
    g = LineageGraph("r0")
    for i in range(8):
        g.nodes[f"r{i}"] = RunNode(
            f"r{i}", "generic", f"run {i}", None, None, "finished", 1.0, 2.0, f"/r/{i}"
        )
        g.depth[f"r{i}"] = i
    g.edges = [Edge(f"r{i}", f"r{i + 1}", "hash-join", "derived", {}) for i in range(7)]
    view = LineageView(lambda key: g)
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    view.set_graph(g)
    shown = view.view.mapFromScene(view.scene.sceneRect()).boundingRect()
    assert view.view.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)
    view.resize(900, 300)  # a wider pane: still whole, and not blown up past 1:1
    qtbot.waitUntil(lambda: view.view.viewport().width() > 800)
    shown = view.view.mapFromScene(view.scene.sceneRect()).boundingRect()
    assert view.view.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)
    assert view.view.transform().m11() <= 1.0
