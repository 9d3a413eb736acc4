"""ExportDialog: preview (tree + fingerprint + gaps) from a real plan, export with progress, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from expdesk.bundle.export import ExportOptions, plan_bundle, write_bundle
from expdesk.bundle.verify import verify
from expdesk.gui.dialogs.export import ExportDialog
from expdesk.index.service import Index
from tests.bundle.conftest import MODEL_RUN, index, key_of, mlflow_contract_index  # noqa: F401


def test_preview_then_export(qtbot, mlflow_contract_index: Index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    key = key_of(mlflow_contract_index, MODEL_RUN)

    def planner(progress, cancelled, with_training_state=False):  # type: ignore[no-untyped-def]
        with mlflow_contract_index.reader() as reader:  # a reader of the worker thread's own
            return plan_bundle(reader, key, ExportOptions(), progress, cancelled)

    dialog = ExportDialog("sgd-baseline", planner, write_bundle, tmp_path)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=60_000)
    assert dialog.plan.fingerprint in dialog.fingerprint.text()
    root = dialog.tree.topLevelItem(0)
    assert root.text(0) == dialog.plan.base + "/"
    assert dialog.gaps.count() == len(dialog.plan.gaps) > 0
    with qtbot.waitSignal(dialog.exported, timeout=60_000) as blocker:
        dialog.export_button.click()
    written = Path(blocker.args[0])
    assert written.name == dialog.plan.zip_name and verify(written).ok


def test_cancel_planning(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def planner(progress, cancelled, with_training_state=False):  # type: ignore[no-untyped-def]
        while not cancelled():
            progress(0, 1, "working")
        raise InterruptedError

    dialog = ExportDialog("x", planner, write_bundle, tmp_path)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.message.text() == "working")
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.message.text() == "cancelled")
    assert not dialog.export_button.isEnabled()


def test_trainer_model_line_and_training_state_option(qtbot, index: Index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The dialog says which checkpoint it packs; ticking the training state re-plans with it."""
    from tests.bundle.handoff import HANDOFF, key_where

    index.index([HANDOFF / "trainer"])
    key = key_where(index, "name = ?", "tiny-cls")

    def planner(progress, cancelled, with_training_state=False):  # type: ignore[no-untyped-def]
        with index.reader() as reader:
            options = ExportOptions(with_training_state=with_training_state)
            return plan_bundle(reader, key, options, progress, cancelled)

    dialog = ExportDialog("tiny-cls", planner, write_bundle, tmp_path)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=60_000)
    assert "checkpoint-3" in dialog.model.text() and "best_model_checkpoint" in dialog.model.text()
    assert not any(n.endswith("/optimizer.pt") for n in dialog.plan.files)
    dialog.training_state.setChecked(True)
    qtbot.waitUntil(
        lambda: dialog.plan is not None and "data/model/optimizer.pt" in dialog.plan.files, timeout=60_000
    )
