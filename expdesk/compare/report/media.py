"""The report's media source: the index's media tables (`expdesk.index.media`), with the item's size checked
before anything is read, so a 200 MB image is a placeholder with its size, not 200 MB in memory."""

from __future__ import annotations

from expdesk.compare.report.content import ItemTooLarge, MediaSeriesInfo
from expdesk.index.media import find_item, item_bytes, run_media
from expdesk.index.reader import IndexReader
from expdesk.sources.media import span_size


class IndexMedia:
    """`MediaSource` over one reader (use it on the reader's thread)."""

    def __init__(self, reader: IndexReader, max_item_bytes: int) -> None:
        self.reader = reader
        self.max_item_bytes = max_item_bytes

    def series(self, run_key: str) -> list[MediaSeriesInfo]:
        return [
            MediaSeriesInfo(str(s["key"]), str(s["kind"]), tuple(int(step) for step in s["steps"]))
            for s in run_media(self.reader, run_key)
        ]

    def item(self, run_key: str, key: str, kind: str, step: int | None) -> bytes:
        """The first item of `key` at `step`: an image's bytes exactly as stored, a histogram as CSV of its
        buckets, text as UTF-8."""
        _row, _kind, loc = find_item(self.reader, run_key, key, step, 0, kind)
        if loc.codec == "raw":
            size = span_size(loc)
            if size > self.max_item_bytes:
                raise ItemTooLarge(size)
        return item_bytes(self.reader, run_key, key, step, 0, kind)
