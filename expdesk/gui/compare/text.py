"""User strings in Qt: tooltips are rich text whenever Qt guesses so, hence escaped explicitly."""

from __future__ import annotations

import html


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally (run names may contain `<img …>`)."""
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"
