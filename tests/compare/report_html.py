"""Reading a report page back in tests: its elements and attributes, its tables as text, its embedded images."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def row(self, header: str) -> list[str]:
        """The cells after the header cell of the first table row whose header is `header`."""
        for table in self.tables:
            for row in table:
                if row and row[0] == header:
                    return row[1:]
        raise KeyError(header)

    def data_uris(self, mime: str) -> list[bytes]:
        prefix = f"data:{mime};base64,"
        return [
            base64.b64decode((attrs.get("src") or "")[len(prefix) :])
            for _tag, attrs in self.tags
            if (attrs.get("src") or "").startswith(prefix)
        ]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._in_style = False
        self._skip = 0  # inside <summary>: the folded copy of a long string is counted once

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._tables.append([])
        elif tag == "tr" and self._tables:
            self._tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "style":
            self._in_style = True
        elif tag == "summary":
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._tables:
            self.page.tables.append(self._tables.pop())
        elif tag in ("td", "th") and self._cell is not None and self._tables and self._tables[-1]:
            self._tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "style":
            self._in_style = False
        elif tag == "summary":
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.page.styles.append(data)
            return
        self.page.texts.append(data)
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
