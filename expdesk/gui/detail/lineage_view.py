"""`LineageView`: ancestors and descendants of one run as a left-to-right graph; clicking a run emits
`run_activated(key)`.

The graph is built off the GUI thread by the `loader` the main window gives (`key -> LineageGraph`, e.g.
`lambda key: build_lineage(Index.reader(), key)`); the view only lays it out. All names are drawn with
`QGraphicsSimpleTextItem` (plain text: a run called `<img src=...>` is shown as those characters).
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPainterPath, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.workers.lineage import Job
from expdesk.lineage.graph import LineageGraph

NODE_W, NODE_H, COL_GAP, ROW_GAP = 210.0, 54.0, 110.0, 26.0
KIND_COLOURS = {"derived": QColor("#3b6fb6"), "informed": QColor("#9a9a9a")}


def _elide(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _layers(graph: LineageGraph) -> dict[str, int]:
    """Columns by longest path (an ancestor of an ancestor sits further left even if it also feeds the
    focus directly); bounded relaxation so a cycle cannot loop forever."""
    layer = {k: graph.depth.get(k, 0) for k in graph.nodes}
    for _ in range(len(layer)):
        changed = False
        for e in graph.edges:
            if e.upstream not in layer or e.downstream not in layer:
                continue
            if layer[e.downstream] <= 0 and layer[e.upstream] > layer[e.downstream] - 1:
                layer[e.upstream], changed = layer[e.downstream] - 1, True
            elif (
                layer[e.upstream] >= 0
                and e.upstream != e.downstream
                and layer[e.downstream] < layer[e.upstream] + 1
            ):
                layer[e.downstream], changed = layer[e.upstream] + 1, True
        if not changed:
            break
    return layer


class _RunItem(QGraphicsRectItem):
    def __init__(
        self, key: str, on_click: Callable[[str], None], x: float, y: float, w: float, h: float
    ) -> None:
        super().__init__(x, y, w, h)
        self.key = key
        self._on_click = on_click
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._on_click(self.key)
        super().mousePressEvent(event)


class LineageView(QWidget):
    run_activated = Signal(str)

    def __init__(
        self, loader: Callable[[str], LineageGraph] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._generation = 0
        self._job: Job | None = None
        self.graph: LineageGraph | None = None
        self.items: dict[str, _RunItem] = {}
        self.scene = QGraphicsScene(self)
        self.view = QGraphicsView(self.scene, self)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.status = QLabel("", self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)

    # -- loading ------------------------------------------------------------------------------------------
    def set_run(self, key: str) -> None:
        """Load the lineage of `key` in the background; a newer request wins over an older one."""
        if self._loader is None:
            raise RuntimeError("LineageView has no loader")
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
        loader = self._loader
        self._job = Job(self._generation, lambda _progress, _cancelled: loader(key))
        self._job.signals.finished.connect(self._on_loaded)
        self._job.signals.failed.connect(self._on_failed)
        self.status.setText("tracing lineage…")
        self._job.start()

    def _on_loaded(self, generation: int, graph: object) -> None:
        if generation == self._generation and isinstance(graph, LineageGraph):
            self.set_graph(graph)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.status.setText(f"lineage could not be traced: {message}")

    # -- drawing ------------------------------------------------------------------------------------------
    def set_graph(self, graph: LineageGraph) -> None:
        self.graph = graph
        self.scene.clear()
        self.items = {}
        layers = _layers(graph)
        columns: dict[int, list[str]] = {}
        for key in sorted(graph.nodes, key=lambda k: (layers[k], graph.nodes[k].name, k)):
            columns.setdefault(layers[key], []).append(key)
        tallest = max(len(keys) for keys in columns.values())
        for depth, keys in columns.items():
            top = (tallest - len(keys)) * (NODE_H + ROW_GAP) / 2
            for row, key in enumerate(keys):
                self._add_node(graph, key, depth * (NODE_W + COL_GAP), top + row * (NODE_H + ROW_GAP))
        for edge in graph.edges:
            if edge.upstream in self.items and edge.downstream in self.items:
                self._add_edge(self.items[edge.upstream], self.items[edge.downstream], edge.rule, edge.kind)
        ancestors, descendants = len(graph.ancestors()) - 1, len(graph.descendants())
        note = f"{ancestors} ancestor(s), {descendants} descendant(s)"
        if graph.ambiguous:
            note += f"; {len(graph.ambiguous)} shared file(s) too small or too common to link"
        if graph.gaps:
            note += f"; gaps: {'; '.join(sorted(set(graph.gaps))[:3])}"
        self.status.setText(note)
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.fit()

    def fit(self) -> None:
        """Show the whole graph in the pane: shrink a graph wider or taller than the pane, never enlarge a
        small one past 1:1 (its text would grow huge)."""
        rect = self.scene.sceneRect()
        if rect.isEmpty():
            return
        self.view.resetTransform()
        viewport = self.view.viewport().rect()
        if rect.width() > viewport.width() or rect.height() > viewport.height():
            self.view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.view.centerOn(rect.center())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()  # the pane (splitter, window) changed size: keep the graph whole in it

    def _add_node(self, graph: LineageGraph, key: str, x: float, y: float) -> None:
        node = graph.nodes[key]
        item = _RunItem(key, self.run_activated.emit, x, y, NODE_W, NODE_H)
        focus = key == graph.focus
        item.setBrush(QBrush(QColor("#fff4cc" if focus else "#f4f6fa")))
        item.setPen(QPen(QColor("#c08a00" if focus else "#7c8797"), 2.0 if focus else 1.0))
        # Qt guesses rich text from the content, so escape explicitly: names show literally
        item.setToolTip(f"<p>{html.escape(f'{node.format} run {node.name}')}<br>{key}</p>")
        title = QGraphicsSimpleTextItem(_elide(node.name), item)
        title.setPos(x + 8, y + 6)
        sub = QGraphicsSimpleTextItem(_elide(f"{node.format} · {node.status} · {key[:8]}", 34), item)
        sub.setBrush(QBrush(QColor("#5a6270")))
        sub.setPos(x + 8, y + 28)
        self.scene.addItem(item)
        self.items[key] = item

    def _add_edge(self, source: _RunItem, target: _RunItem, rule: str, kind: str) -> None:
        a = source.rect().center() + QPointF(NODE_W / 2, 0)
        b = target.rect().center() - QPointF(NODE_W / 2, 0)
        path = QPainterPath(a)
        # an edge that skips columns arcs below the boxes in between instead of hiding behind them
        dip = QPointF(0, NODE_H + ROW_GAP) if b.x() - a.x() > COL_GAP + 1 else QPointF(0, 0)
        path.cubicTo(a + QPointF(COL_GAP, 0) + dip * 1.4, b - QPointF(COL_GAP, 0) + dip * 1.4, b)
        line = QGraphicsPathItem(path)
        pen = QPen(KIND_COLOURS.get(kind, QColor("#555")), 1.6)
        if kind == "informed":
            pen.setStyle(Qt.PenStyle.DashLine)
        line.setPen(pen)
        line.setZValue(-1)  # under the (opaque) run boxes: an edge that skips a column passes behind it
        self.scene.addItem(line)
        label = QGraphicsSimpleTextItem(_elide(rule, 20))
        label.setBrush(QBrush(pen.color()))
        mid = path.pointAtPercent(0.5)
        label.setPos(mid.x() - label.boundingRect().width() / 2, mid.y() - 18)
        label.setZValue(-1)
        self.scene.addItem(label)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()
        super().mouseDoubleClickEvent(event)
