"""The filter bar: the DESIGN.md filter language, key completion, and an inline error that points at it.

Compiling a filter is pure string work (no I/O), so it happens on the GUI thread right away; running the
query is the model's worker job. Errors are shown as plain text: the expression may contain `<b>`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from expdesk.core.errors import UsageError
from expdesk.gui.runs.filter_check import UnknownKey, unknown_keys
from expdesk.index import filter as filter_language

PLACEHOLDER = "Filter runs:  params.lr < 1e-3 and metrics.val/loss.min < 0.2 and status != failed"
#: characters that end the word being completed (operators, parentheses, commas, quotes)
_TOKEN_BREAKS = " \t()<>=!~,\"'"


def compile_filter(text: str) -> tuple[str, tuple[Any, ...]]:
    where_sql, params = filter_language.compile_filter(text)
    return where_sql, tuple(params)


class FilterBar(QWidget):
    #: Typing pause after which an expression that compiles is applied (Enter applies at once): the table
    #: follows the typing. A filter's first rows paint in 15-40 ms at 100,000 runs and a filter typed further
    #: stops the last one's queries, so the pause only skips the keystrokes of a burst (was 350 ms, when a
    #: filter took 0.2-0.6 s: a keystroke now repaints within ~100 ms, bench_gui_open.py).
    PAUSE_MS = 60
    #: Pause before a text that does not compile says why: an error under every half-typed word would
    #: flicker while typing.
    ERROR_PAUSE_MS = 600
    #: (where_sql, params) for the runs model; ("", ()) clears the filter
    applied = Signal(str, object)
    #: the text's state changed: "" (fine or empty), "invalid" (not applied), "unknown" (names a key no run has)
    state_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("filterEdit")
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setClearButtonEnabled(True)
        self.error = QLabel(self)
        self.error.setObjectName("filterError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.error)
        self.last_error: UsageError | None = None
        self.unknown: list[UnknownKey] = []
        self.state = ""
        self._active = ""
        self._vocab: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        # typing pauses apply the filter; Enter applies at once
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(self.PAUSE_MS)
        self._debounce.timeout.connect(self.apply)
        self.edit.textEdited.connect(self._on_edited)
        self.edit.returnPressed.connect(self.apply)
        self._completions = QStringListModel(self)
        self.completer = QCompleter(self._completions, self)
        self.completer.setWidget(self.edit)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.activated.connect(self._insert_completion)

    def text(self) -> str:
        return self.edit.text()

    def pending(self) -> bool:
        """Typed text is waiting for the typing pause to end before it is applied."""
        return self._debounce.isActive()

    def active_filter(self) -> str:
        return self._active

    def set_vocabulary(self, vocab: dict[str, list[str]]) -> None:
        self._vocab = vocab
        if self._active and self.last_error is None:
            self._show_error(None)
            self._check_keys()  # a key that was missing may exist now (a live run logged it)

    def focus(self) -> None:
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)
        self.apply()

    def _on_edited(self, text: str) -> None:
        self._restart_pause(text)
        self._complete()

    def _restart_pause(self, text: str) -> None:
        # compiling is pure string work, microseconds for a typed expression: it decides how long to wait
        try:
            compile_filter(text.strip())
        except UsageError:
            self._debounce.start(self.ERROR_PAUSE_MS)
        else:
            self._debounce.start(self.PAUSE_MS)

    def apply(self) -> None:
        self._debounce.stop()
        text = self.edit.text().strip()
        if text == "":
            self._show_error(None)
            self._active = ""
            self._set_state("")
            self.applied.emit("", ())
            return
        try:
            where_sql, params = compile_filter(text)
        except UsageError as exc:
            self._show_error(exc)
            self._set_state("invalid")  # the table keeps the last valid filter; the count says so
            return
        self._show_error(None)
        self._active = text
        self._check_keys()
        self.applied.emit(where_sql, params)

    def _check_keys(self) -> None:
        """Valid, but naming a key no run has: say which, and the nearest known ones."""
        self.unknown = unknown_keys(self._active, self._vocab) if self._active else []
        if self.unknown:
            first = self.unknown[0]
            more = f"  (+{len(self.unknown) - 1} more)" if len(self.unknown) > 1 else ""
            self.error.setProperty("warning", True)
            self._show_text(first.pos, first.length, first.message() + more)
        self._set_state("unknown" if self.unknown else "")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Escape in the filter clears it (and the table shows every run again)
        if event.key() == Qt.Key.Key_Escape and self.edit.text():
            self.set_text("")
            return
        super().keyPressEvent(event)

    def _show_error(self, exc: UsageError | None) -> None:
        self.last_error = exc
        self.edit.setProperty("invalid", exc is not None)
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)
        self.error.setProperty("warning", False)
        if exc is None:
            self.error.hide()
            self.error.clear()
            return
        position = getattr(exc, "position", None)
        self._show_text(position, max(1, int(getattr(exc, "length", 1) or 1)), str(exc))

    def _show_text(self, position: object, length: int, message: str) -> None:
        text = self.edit.text()
        self.error.style().unpolish(self.error)
        self.error.style().polish(self.error)
        if isinstance(position, int) and 0 <= position <= len(text):
            # show a window of the expression around the mistake, with a caret line under it
            start = max(0, position - 60)
            shown = text[start : position + 60].replace("\n", " ")
            caret = " " * (position - start) + "^" * min(length, max(1, len(shown) - (position - start)))
            self.error.setText(f"{shown}\n{caret}\n{message}")
        else:
            self.error.setText(message)
        self.error.show()

    # -- completion of keys (params.…, metrics.…, tags.…, attributes) -------------------------------
    def _token_bounds(self) -> tuple[int, int]:
        text = self.edit.text()
        end = self.edit.cursorPosition()
        start = end
        while start > 0 and text[start - 1] not in _TOKEN_BREAKS:
            start -= 1
        return start, end

    def _complete(self) -> None:
        start, end = self._token_bounds()
        word = self.edit.text()[start:end]
        if not word or word[0] in "0123456789-.":
            self._hide_popup()
            return
        # the language decides from the whole text before the cursor what may come next
        options = filter_language.completions(
            self.edit.text()[:end], self._vocab["params"], self._vocab["metrics"], self._vocab["tags"]
        )[:200]
        if not options:
            self._hide_popup()
            return
        self._completions.setStringList(options)
        rect = self.edit.cursorRect()
        popup = self.completer.popup()
        rect.setWidth(max(260, (popup.sizeHintForColumn(0) if popup is not None else 0) + 24))
        self.completer.complete(rect)

    def _hide_popup(self) -> None:
        # the popup took the keyboard focus while shown; give it back so Enter reaches the edit
        popup = self.completer.popup()
        if popup is not None and popup.isVisible():
            popup.hide()
            self.edit.setFocus(Qt.FocusReason.PopupFocusReason)

    def _insert_completion(self, choice: str) -> None:
        start, end = self._token_bounds()
        text = self.edit.text()
        self.edit.setText(text[:start] + choice + text[end:])
        self.edit.setCursorPosition(start + len(choice))
        self._restart_pause(self.edit.text())
