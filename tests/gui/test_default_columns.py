"""On a real-sized workspace (~300 keys) the default table shows what matters: Name, status, start, duration,
the params that differ and the metrics most runs have; Name stays on screen while scrolling (issue 20 #3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from expdesk.gui.runs.default_columns import DEFAULT_ATTRS, Workspace, join_groups
from expdesk.gui.runs.query import Column
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.compare.conftest import add_run
from tests.gui.helpers import wait_idle

RUNS = 30
DIFFERING = ["lr", "seed", "batch_size", "dropout", "weight_decay", "warmup", "optimizer", "scheduler",
             "model.depth", "model.width", "data.augment", "label_smoothing"]  # fmt: skip
COMMON_METRICS = ["val/loss", "val/acc", "train/loss", "train/acc", "lr_now", "epoch"]


def wide_workspace(index: Index, root: Path) -> None:
    """Runs as real projects log them: a big constant config, a sweep over a dozen params, a few params
    only some runs have, a handful of metrics every run logs and per-layer diagnostics a few runs log."""
    for i in range(RUNS):
        params = {f"model.encoder.layer_{j}.dim": "768" for j in range(150)}
        params |= {key: f"{key}-{i % (3 + n)}" for n, key in enumerate(DIFFERING)}
        params |= {f"debug.option_{j}": str(j) for j in range(30) if j % 15 == i % 15}
        curve = np.linspace(1.0, 0.1 + i / 100, 20)
        metrics = {key: curve for key in COMMON_METRICS}
        metrics |= {f"grad_norm/layer_{j}": curve for j in range(94) if j % 10 == i % 10}
        add_run(index, root, f"run-{i:02d}", params, metrics, t0_ms=1.7e12 + i * 3.6e6)


def test_default_columns_of_a_300_key_workspace(
    window: MainWindow, qtbot: QtBot, index: Index, tmp_path: Path
) -> None:
    wide_workspace(index, tmp_path)
    with qtbot.waitSignal(window.workspace_loaded, timeout=20_000):
        window.reload_all()
    qtbot.waitUntil(lambda: len(window.model.columns()) > len(DEFAULT_ATTRS), timeout=20_000)
    wait_idle(qtbot, window)
    stats = window.workspace.stats
    assert len(stats["params"]) + len(stats["metrics"]) >= 290
    columns = window.model.columns()
    assert [c.key for c in columns[: len(DEFAULT_ATTRS)]] == list(DEFAULT_ATTRS)
    params = [c.key for c in columns if c.kind == "param"]
    metrics = [c.key for c in columns if c.kind == "metric"]
    assert params and set(params) <= set(DIFFERING), "constant or mostly-empty params on screen"
    assert set(metrics) == set(COMMON_METRICS), "metrics most runs have, and only those"
    assert metrics[:2] == ["val/acc", "val/loss"], "validation results lead"
    assert len(columns) <= 25
    # an older answer (asked before the runs were indexed) arriving late must not take the columns back
    window._on_workspace(
        window._workspace_generation - 1,
        ([], {"params": [], "metrics": [], "tags": []}, Workspace(0, {}), {}),
    )
    assert window.model.requested_columns() == columns and window.workspace.runs == RUNS
    # the name column is frozen: scrolled to the far right, it is still drawn at the left edge
    table = window.table
    header = table.horizontalHeader()
    table.frozen.refresh()  # (hiding the unfrozen columns in the overlay must not shrink the table's)
    assert all(header.sectionSize(i) > 20 for i in range(header.count())), "a column drawn 0 px wide"
    assert table.frozen is not None
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
    frozen = table.frozen
    name_section = [c.key for c in columns].index("name")
    assert frozen.isVisible() and name_section in frozen.frozen()
    assert not frozen.isColumnHidden(name_section) and frozen.geometry().x() <= table.frameWidth() + 1
    assert frozen.width() == sum(table.horizontalHeader().sectionSize(s) for s in frozen.frozen())
    frozen.horizontalHeader().resizeSection(name_section, 261)  # the frozen header is the one the user drags
    assert table.horizontalHeader().sectionSize(name_section) == 261
    assert frozen.width() == sum(table.horizontalHeader().sectionSize(s) for s in frozen.frozen())
    # a long key's header elides in the middle; its tooltip names it whole
    tooltip = window.model.headerData(
        len(DEFAULT_ATTRS), Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole
    )
    assert f"params.{params[0]}" in tooltip
    assert table.horizontalHeader().textElideMode() == Qt.TextElideMode.ElideMiddle


def test_a_new_column_joins_its_group() -> None:
    current = [
        Column("attr", "name"),
        Column("param", "lr"),
        Column("metric", "loss", "last"),
        Column("tag", "stage"),
    ]
    added = join_groups(
        current, [Column("metric", "acc", "last"), Column("param", "seed"), Column("tag", "team")]
    )
    assert [c.id for c in added] == [
        "attr:name",
        "param:lr",
        "param:seed",
        "metric:loss:last",
        "metric:acc:last",
        "tag:stage",
        "tag:team",
    ]
    assert [
        c.id
        for c in join_groups([Column("attr", "name"), Column("tag", "t")], [Column("metric", "m", "last")])
    ] == [
        "attr:name",
        "metric:m:last",
        "tag:t",
    ]


def test_a_param_column_is_wide_enough_for_its_values(
    window: MainWindow, qtbot: QtBot, index: Index, tmp_path: Path
) -> None:
    # a seed sweep: nine-digit seeds show whole, not "2334068…" (the header "seed" alone is narrow)
    seeds = ["233406812", "432485077", "946215233"]
    for i, seed in enumerate(seeds):
        add_run(
            index, tmp_path, f"run-{i}", {"seed": seed}, {"loss": np.linspace(1.0, 0.5, 5)}, t0_ms=1.7e12 + i
        )
    with qtbot.waitSignal(window.workspace_loaded, timeout=20_000):
        window.reload_all()
    qtbot.waitUntil(lambda: "seed" in [c.key for c in window.model.columns()], timeout=20_000)
    wait_idle(qtbot, window)
    section = [c.key for c in window.model.columns()].index("seed")
    header = window.table.horizontalHeader()
    needed = max(header.fontMetrics().horizontalAdvance(s) for s in seeds)
    assert header.sectionSize(section) >= needed + 8
