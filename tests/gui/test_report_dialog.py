"""File > Export report's dialog: lists the selected runs' metrics and media off the GUI thread, writes the
same page as `expdesk report` with what was chosen, never into a watched folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from expdesk.gui.dialogs.report import ReportDialog
from expdesk.index.service import Index
from tests.compare.test_report import assert_self_contained
from tests.groundtruth import DATA

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)
MEDIA = DATA / "media" / "tensorboard"


@pytest.fixture
def media_runs(tmp_path: Path) -> Iterator[tuple[Index, list[str], Path]]:
    root = tmp_path / "tb"
    shutil.copytree(MEDIA, root)
    index = Index(tmp_path / "i.db")
    index.index([root])
    with index.reader() as reader:
        by_name = {r["name"]: r["key"] for r in reader.runs_json(reader.run_keys())}
    yield index, [by_name["torch_run"], by_name["tbx_run"]], root
    index.close()


def _items(widget) -> list[tuple[str, bool]]:
    return [
        (widget.item(i).data(Qt.ItemDataRole.UserRole), widget.item(i).checkState() == Qt.CheckState.Checked)
        for i in range(widget.count())
    ]


def test_dialog_lists_and_writes_the_chosen_report(
    qtbot: QtBot, media_runs: tuple[Index, list[str], Path], tmp_path: Path
) -> None:
    index, keys, root = media_runs
    dialog = ReportDialog(index, keys, tmp_path)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=20_000)
    assert _items(dialog.metrics) == [("acc", True), ("loss", True)]
    media = dict(_items(dialog.media))
    assert media == dict.fromkeys(
        [
            "batch",
            "grad",
            "log/text_summary",
            "notes/text_summary",
            "pred",
            "samples/digit",
            "tone",
            "weights/fc",
        ],
        False,
    )
    assert dialog.message.text() == "2 runs, 8 media keys"
    for i in range(dialog.media.count()):  # choose one image key, and drop a metric
        if dialog.media.item(i).data(Qt.ItemDataRole.UserRole) == "samples/digit":
            dialog.media.item(i).setCheckState(Qt.CheckState.Checked)
    dialog.metrics.item(0).setCheckState(Qt.CheckState.Unchecked)
    dialog.title.setText("<b>for Ana</b>")
    out = tmp_path / "hand-over.html"
    with qtbot.waitSignal(dialog.written, timeout=30_000) as written:
        dialog.write_to(out)
    assert written.args == [str(out)]
    page = assert_self_contained(out.read_text(encoding="utf-8"))
    assert "<b>for Ana</b>" in "".join(page.texts)
    assert len(page.data_uris("image/svg+xml")) == 1  # loss only
    truth = json.loads((MEDIA / "GROUND_TRUTH.json").read_text(encoding="utf-8"))["runs"]["torch_run"]
    last = truth["images"]["samples/digit"][-1]
    assert [hashlib.sha256(b).hexdigest() for b in page.data_uris("image/png")] == [last["sha256"]]
    # a watched folder is refused, and nothing lands there
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    dialog.write_to(root / "torch_run" / "r.html")
    qtbot.waitUntil(lambda: "watched folder" in dialog.message.text(), timeout=20_000)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    dialog.close()
