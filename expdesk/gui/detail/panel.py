"""The run detail panel: overview + annotations, params (searchable), metrics, artifacts, errors.

`load_detail` runs on a worker with its own reader; the panel shows the prepared dict. Annotation edits
are emitted as signals: the window performs the write through `Index` on a worker, and the writer's
change notification refreshes the panel. Every user string goes into item views or PlainText labels.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.detail.artifacts_view import ArtifactsView
from expdesk.gui.detail.kv_model import TextTableModel
from expdesk.gui.detail.metrics_view import MetricsView
from expdesk.gui.detail.parts_view import PartsView
from expdesk.gui.detail.unread_view import UnreadView, tab_title
from expdesk.gui.runs.query import elide, fmt_duration, fmt_time
from expdesk.gui.workers.pool import WorkerPool
from expdesk.index.reader import IndexReader

#: tool tags/info keys worth lifting into the overview
_HOST_GIT_HINTS = ("git", "host", "user", "source", "commit", "branch", "python", "cuda", "gpu")
TabFactory = Callable[[WorkerPool, Callable[[], IndexReader]], QWidget]


def load_detail(reader: IndexReader, key: str) -> dict[str, Any] | None:
    runs = reader.runs_json([key])
    if not runs:
        return None
    run = runs[0]
    basics = reader.run_basics(key)
    if basics is not None:
        run["root"] = basics.root
        run["_start"], run["_end"], run["_activity"] = (
            basics.start_time,
            basics.end_time,
            basics.last_activity,
        )
    return run


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


def _with_source(shown: str, source: Any) -> str:
    """A time the run did not record (a file's mtime: a copy's mtime is the copy's) says so."""
    if shown and isinstance(source, str) and "mtime" in source:
        return f"{shown}   (from {source}: not recorded by the run)"
    return shown


def overview_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    info = run.get("info", {})
    end = run.get("_end")
    if end is None and "mtime" not in str(info.get("last_activity_from") or ""):
        end = run.get("_activity")  # the run's own last record; a copy's mtime would make a duration up
    start = (
        None
        if "mtime" in str(info.get("start_time_from") or "") and run.get("_end") is None
        else run.get("_start")
    )
    shown_start = run.get("_start")
    status = run["status"] + (" (stale: no sign of life)" if run.get("stale") else "")
    if run.get("native_status") and run["native_status"] != run["status"]:
        status += f"   [tool: {run['native_status']}]"
    rows = [
        ("Name", run.get("name") or ""),
        ("Status", status),
        ("Format", " + ".join(run.get("formats") or [run["format"]])),
        ("Experiment", run.get("experiment") or ""),
        ("Start", _with_source(fmt_time(shown_start), info.get("start_time_from"))),
        ("End", fmt_time(run.get("_end"))),
        ("Duration", fmt_duration(None if start is None or end is None else end - start)),
        ("Path", run["path"]),
        ("Run key", run["key"]),
        ("Native id", run.get("native_id") or ""),
        ("Parent", run.get("parent") or ""),
    ]
    if run.get("deleted"):
        rows.append(("Deleted", "yes (soft-deleted in the tool)"))
    extra: list[tuple[str, str]] = []
    _flatten("", run.get("info", {}), extra)
    extra += [(f"tag {k}", v) for k, v in run.get("tags", {}).items()]
    rows += [(k, v) for k, v in extra if any(h in k.lower() for h in _HOST_GIT_HINTS)]
    return [(k, v) for k, v in rows if v]


class DetailPanel(QWidget):
    star_requested = Signal(str, bool)
    labels_requested = Signal(str, list)
    note_requested = Signal(str, str)
    #: a run was loaded and shown (tests wait on it)
    loaded = Signal(str)

    def __init__(
        self, pool: WorkerPool, reader_factory: Callable[[], IndexReader], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self._reader_factory = reader_factory
        self._generation = 0
        self.key: str | None = None
        self.run: dict[str, Any] | None = None
        self.title = QLabel("No run selected", self)
        self.title.setObjectName("detailTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.star = QPushButton("☆ Star", self)
        self.star.setCheckable(True)
        self.star.setToolTip("Star this run (S)")
        self.star.clicked.connect(self._star_clicked)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.star)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        # overview: fields, then the user's annotations
        self.fields = QTreeWidget(self)
        self.fields.setHeaderHidden(True)
        self.fields.setColumnCount(2)
        self.fields.setRootIsDecorated(False)
        self.fields.setUniformRowHeights(True)
        self.fields.setWordWrap(False)
        self.fields.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.labels = QLineEdit(self)
        self.labels.setPlaceholderText("Labels, comma separated (stored by expdesk, not in the run folder)")
        self.labels.editingFinished.connect(self._labels_edited)
        self.note = QPlainTextEdit(self)
        self.note.setPlaceholderText("A note about this run")
        self.note.setMaximumHeight(90)
        self.save_note = QPushButton("Save note", self)
        self.save_note.clicked.connect(
            lambda: self.key and self.note_requested.emit(self.key, self.note.toPlainText())
        )
        overview = QWidget(self)
        box = QVBoxLayout(overview)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(self.fields, 1)
        box.addWidget(self.labels)
        box.addWidget(self.note)
        box.addWidget(self.save_note, 0, Qt.AlignmentFlag.AlignRight)
        self.tabs.addTab(overview, "Overview")
        # params and tags: searchable
        self.params_model = TextTableModel(["Key", "Value", "Kind"], self)
        self.params_proxy = QSortFilterProxyModel(self)
        self.params_proxy.setSourceModel(self.params_model)
        self.params_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.params_proxy.setFilterKeyColumn(-1)
        self.params_proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.params_search = QLineEdit(self)
        self.params_search.setPlaceholderText("Search params and tags")
        self.params_search.setClearButtonEnabled(True)
        self.params_search.textChanged.connect(self.params_proxy.setFilterFixedString)
        self.params_table = QTableView(self)
        self.params_table.setModel(self.params_proxy)
        self.params_table.setSortingEnabled(True)
        # enabling sorting sorts by the header's default indicator, which is descending (Z to A)
        self.params_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.params_table.verticalHeader().hide()
        self.params_table.horizontalHeader().setStretchLastSection(False)
        self.params_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        params = QWidget(self)
        box = QVBoxLayout(params)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(self.params_search)
        box.addWidget(self.params_table, 1)
        self.tabs.addTab(params, "Params")
        self.metrics = MetricsView(pool, reader_factory, self)
        self.tabs.addTab(self.metrics, "Metrics")
        self.artifacts = ArtifactsView(pool, self)
        self.tabs.addTab(self.artifacts, "Artifacts")
        self.errors = UnreadView(self)
        self.tabs.addTab(self.errors, "Errors")
        self.parts = PartsView(self)
        self.tabs.addTab(self.parts, "Parts")
        self._extra: list[tuple[str, QWidget, Callable[[str], None] | None]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)
        self._set_enabled(False)

    def add_tab(self, title: str, widget: QWidget, show_run: Callable[[str], None] | None = None) -> None:
        """A slot for views written elsewhere (lineage): `show_run(key)` is called on each new run."""
        self.tabs.addTab(widget, title)
        self._extra.append((title, widget, show_run))

    def _set_enabled(self, on: bool) -> None:
        for w in (self.star, self.labels, self.note, self.save_note, self.tabs):
            w.setEnabled(on)

    def show_run(self, key: str | None, force: bool = False) -> None:
        if key == self.key and not force:
            return
        self._generation += 1
        generation = self._generation
        self.key = key
        if key is None:
            self.run = None
            self.title.setText("No run selected")
            self._set_enabled(False)
            return
        factory = self._reader_factory

        def job() -> dict[str, Any] | None:
            with factory() as reader:
                return load_detail(reader, key)

        self._pool.submit(job, lambda run: self._on_loaded(generation, key, run))

    def refresh(self) -> None:
        """The run changed (live metrics, a new star): reload without resetting the user's place."""
        if self.key is not None:
            key = self.key
            self._generation += 1
            generation = self._generation

            def job() -> dict[str, Any] | None:
                with self._reader_factory() as reader:
                    return load_detail(reader, key)

            self._pool.submit(job, lambda run: self._on_loaded(generation, key, run))

    def _on_loaded(self, generation: int, key: str, run: dict[str, Any] | None) -> None:
        if generation != self._generation:
            return
        if run is None:
            self.title.setText("This run is no longer in the index")
            self._set_enabled(False)
            return
        previous = self.run
        self.run = run
        self._set_enabled(True)
        name = run.get("name") or run["key"]
        self.title.setText(elide(name, 120))
        self.title.setToolTip("<p style='white-space:pre-wrap'>" + html.escape(name[:2000]) + "</p>")
        starred = bool(run.get("starred"))
        self.star.setChecked(starred)
        self.star.setText("★ Starred" if starred else "☆ Star")
        self.fields.clear()
        for field, value in overview_rows(run):
            item = QTreeWidgetItem([field, elide(value, 300)])
            if len(value) > 300 or "\n" in value:
                item.setToolTip(1, "<p style='white-space:pre-wrap'>" + html.escape(value[:4000]) + "</p>")
            self.fields.addTopLevelItem(item)
        if not self.labels.hasFocus():
            self.labels.setText(", ".join(run.get("labels", [])))
        if not self.note.hasFocus():
            self.note.setPlainText(run.get("note", ""))
        rows = [[k, v, "param"] for k, v in run["params"].items()] + [
            [k, v, "tag"] for k, v in run["tags"].items()
        ]
        self.params_model.set_rows(rows)
        self.params_table.resizeColumnToContents(0)
        self.tabs.setTabText(1, f"Params ({len(run['params'])})")
        names = list(run["metrics"])
        # live runs: charts are re-rendered only when the series actually changed
        if previous is None or previous["key"] != key or previous["metrics"] != run["metrics"]:
            # a reported result with no points (eval_samples) has no chart: it is listed above them
            self.metrics.set_results(
                {k: m["final"] for k, m in run["metrics"].items() if not m["count"] and "final" in m}
            )
            self.metrics.show_run(key, [k for k, m in run["metrics"].items() if m["count"]])
        self.tabs.setTabText(2, f"Metrics ({len(names)})")
        if previous is None or previous["key"] != key or previous["artifacts"] != run["artifacts"]:
            self.artifacts.show_run(run)
        self.tabs.setTabText(3, f"Artifacts ({len(run['artifacts'])})")
        self.errors.show_run(run)
        self.tabs.setTabText(4, tab_title(run))
        self.parts.set_run(run)
        self.tabs.setTabText(5, f"Parts ({len(run.get('parts', []))})")
        for _title, _widget, hook in self._extra:
            if hook is not None:
                hook(key)
        self.loaded.emit(key)

    def _star_clicked(self, checked: bool) -> None:
        if self.key is not None:
            self.star.setText("★ Starred" if checked else "☆ Star")
            self.star_requested.emit(self.key, checked)

    def _labels_edited(self) -> None:
        if self.key is None or self.run is None:
            return
        labels = [t.strip() for t in self.labels.text().split(",") if t.strip()]
        if sorted(set(labels)) != sorted(self.run.get("labels", [])):
            self.labels_requested.emit(self.key, labels)
