"""Demo workspace, live-run simulator, column presets, QSettings isolation, `--self-test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from expdesk.demo import MARKER, LiveRunSimulator, prepare_workspace
from expdesk.gui.runs.columns import ColumnChooser
from expdesk.gui.runs.default_columns import Workspace
from expdesk.gui.runs.query import Column
from expdesk.gui.window import settings
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.table import KeyStats
from tests.gui.helpers import add_and_wait


def test_demo_workspace_is_a_copy(tmp_path: Path) -> None:
    target = prepare_workspace(tmp_path / "demo")
    assert (target / MARKER).is_file()
    files = [p for p in target.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    assert {"mlflow", "lightning", "sacred", "hydra", "plain", "keras"} <= {p.name for p in target.iterdir()}
    assert not [p for p in files if p.suffix in (".pkl", ".pt")]
    (target / "plain" / "scratch").mkdir()
    again = prepare_workspace(tmp_path / "demo")  # replaces our own workspace...
    assert not (again / "plain" / "scratch").exists()
    foreign = tmp_path / "not-ours"
    foreign.mkdir()
    with pytest.raises(FileExistsError):  # ...but never a folder we did not create
        prepare_workspace(foreign)


def test_live_run_simulator_appends_and_stops(tmp_path: Path, qtbot: QtBot) -> None:
    simulator = LiveRunSimulator(tmp_path, interval=0.01, steps_per_run=5)
    simulator.start()
    try:
        qtbot.waitUntil(lambda: len(list((tmp_path / "live").glob("*/DONE"))) >= 1, timeout=60_000)
    finally:
        simulator.stop()
    first = tmp_path / "live" / "live-run-001"
    lines = (first / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5 and [json.loads(line)["step"] for line in lines] == [0, 1, 2, 3, 4]
    assert json.loads((first / "params.json").read_text())["schedule"] == "cosine"


def test_live_run_appears_and_updates(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    """Without the watcher, F5 re-indexes; the changed row updates in place, a new run raises a toast."""
    simulator = LiveRunSimulator(tmp_path, interval=0.01, steps_per_run=1000)
    simulator.start()
    try:
        qtbot.waitUntil(lambda: (tmp_path / "live" / "live-run-001" / "metrics.jsonl").stat().st_size > 0)
        add_and_wait(qtbot, window, [tmp_path / "live"], rows=1)
    finally:
        simulator.stop()
    (tmp_path / "live" / "live-run-002").mkdir()
    (tmp_path / "live" / "live-run-002" / "metrics.jsonl").write_text('{"step": 0, "train/loss": 1.0}\n')
    with qtbot.waitSignal(window.indexing_finished, timeout=60_000):
        window.ui.actions["refresh"].trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=60_000)


def test_qsettings_are_isolated(_isolated_qsettings: Path) -> None:
    assert QSettings().fileName().startswith(str(_isolated_qsettings))
    settings.add_recent_folder("/data/a")
    settings.add_recent_folder("/data/b")
    settings.add_recent_folder("/data/a")
    assert settings.recent_folders() == ["/data/a", "/data/b"]


def _workspace(params: list[str], metrics: list[str]) -> Workspace:
    return Workspace(
        4,
        {
            "params": {p: KeyStats(4, 2 if p != "seed" else 1) for p in params},
            "metrics": {m: KeyStats(4, 0) for m in metrics},
            "tags": {"stage": KeyStats(4, 1)},
        },
    )


def test_column_chooser_search_and_presets(qtbot: QtBot) -> None:
    current = [Column("attr", "name"), Column("param", "lr")]
    dialog = ColumnChooser(current, _workspace(["lr", "seed"], ["loss", "val/acc"]))
    qtbot.addWidget(dialog)
    dialog.search.setText("val max")
    assert dialog.shown_texts() == ["val/acc  (max)"]
    dialog._set_shown(True)
    assert [c.id for c in dialog.columns()] == ["attr:name", "param:lr", "metric:val/acc:max"]
    dialog.search.setText("")
    dialog.only_differing.setChecked(True)  # "seed" and the "stage" tag have one value in every run
    assert "seed" not in dialog.shown_texts() and "lr" in dialog.shown_texts()
    assert "stage" not in dialog.shown_texts()
    settings.save_column_presets({"tuning": [c.id for c in dialog.columns()]})
    again = ColumnChooser([Column("attr", "name")], _workspace(["lr"], ["val/acc"]))
    qtbot.addWidget(again)
    again._load_preset(again.presets.findText("tuning"))
    assert [c.id for c in again.columns()] == ["attr:name", "param:lr", "metric:val/acc:max"]


def test_self_test_exits_zero(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "EXPDESK_DB": str(tmp_path / "db.sqlite"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "expdesk", "--self-test"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "expdesk" / "demo-workspace" / MARKER).is_file()
