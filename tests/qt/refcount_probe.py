"""Measure whether the Qt bindings leak references of None/True/False (run as a script, before expdesk).

CPython 3.11 frees `None`/`True`/`False` like any object when their refcount reaches zero and aborts
("none_dealloc", "bool_dealloc"); 3.12 made them immortal. Some PySide6 builds return `None` from void
calls, and pass bools into Python slots, without taking the reference they later drop. This script makes
1,000 calls of each kind expdesk's GUI makes all day and prints one JSON line: the bindings' version and the
drift of each refcount per kind. It imports nothing of expdesk, so no workaround can hide a leak.

To keep the numbers readable even when a leak is large enough to kill the process, it holds spare
references of the three singletons while measuring, and leaves with `os._exit` so a corrupted count cannot
abort the interpreter's finalization before the report is read.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

CALLS = 1000
SPARE = 1_000_000  # spare references held while measuring: far more than any leak can take in 1,000 calls
_keep: list[object] = []


def _counts() -> dict[str, int]:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def drift_per_kind(kinds: dict[str, Callable[[], object]]) -> dict[str, dict[str, int]]:
    """How far each refcount moved over CALLS calls of each kind (after one warm-up call)."""
    spare = [None, True, False] * SPARE
    # `spare` stays referenced on purpose: releasing the spares after a leak could take a count below
    # zero right here; the process leaves with os._exit
    _keep.append(spare)
    drift: dict[str, dict[str, int]] = {}
    for name, call in kinds.items():
        call()  # the first call may create caches (type objects, signatures) that hold references
        before = _counts()
        for _ in range(CALLS):
            call()
        after = _counts()
        drift[name] = {key: after[key] - before[key] for key in after}
    return drift


def measure() -> dict[str, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import PySide6
    from PySide6.QtCore import (
        QAbstractListModel,
        QCoreApplication,
        QEvent,
        QModelIndex,
        QObject,
        QPersistentModelIndex,
        Qt,
        QTimer,
        Signal,
    )
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication, QLabel, QToolBar

    app = QApplication.instance() or QApplication([])

    class Emitter(QObject):
        flag = Signal(bool)
        done = Signal()

        def eventFilter(self, _watched: QObject, _event: QEvent) -> bool:
            return False

    class Model(QAbstractListModel):
        def rowCount(self, _parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt signature
            return 1

        def data(self, _index: QModelIndex | QPersistentModelIndex, _role: int = 0) -> object:
            return None

    timer = QTimer()
    target = QObject()
    emitter = Emitter()
    target.installEventFilter(emitter)
    model = Model()
    cell = model.index(0, 0)
    toolbar = QToolBar()
    emitter.flag.connect(lambda _on: None)
    emitter.done.connect(lambda: None)
    kinds: dict[str, Callable[[], object]] = {
        # void calls
        "QTimer.setInterval": lambda: timer.setInterval(5),
        "QTimer.stop": timer.stop,
        "beginResetModel+endResetModel": lambda: (model.beginResetModel(), model.endResetModel()),
        "signal emit()": emitter.done.emit,
        # bool-returning calls and bools crossing into Python
        "QTimer.isActive": timer.isActive,
        "QObject.blockSignals": lambda: (target.blockSignals(True), target.blockSignals(False)),
        "signal emit(bool)": lambda: (emitter.flag.emit(True), emitter.flag.emit(False)),
        "eventFilter -> False": lambda: QCoreApplication.sendEvent(target, QEvent(QEvent.Type.User)),
        # None crossing back from a Python override and from an empty property
        "model data() -> None": lambda: cell.data(Qt.ItemDataRole.DisplayRole),
        "QObject.property (unset)": lambda: target.property("expdesk_unset"),
        # ownership handed to C++ and objects dropped: 6.10-6.11 take a reference of None here that they
        # never give back (None only grows: no crash, but a drift a long session accumulates)
        "QToolBar.addWidget": lambda: toolbar.addWidget(QLabel("x")),
        "QAction(text) dropped": lambda: QAction("x").setCheckable(True),
    }
    drift = drift_per_kind(kinds)
    _keep.append(app)
    return {
        "pyside": PySide6.__version__,
        "python": sys.version.split()[0],
        "calls": CALLS,
        "drift": drift,
    }


def main() -> None:
    already = sorted(name for name in sys.modules if name == "expdesk" or name.startswith("expdesk."))
    report = measure()
    report["expdesk_modules_loaded"] = already
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
