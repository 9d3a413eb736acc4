"""Off-GUI-thread work for the Media views: the overview query, thumbnails, text samples, histograms.

Thread ownership: jobs run on this loader's own QThreadPool with their own reader and never touch widgets;
results travel through queued signals tagged with a generation (stale answers are dropped by the view).
Thumbnails are requested by the grid's paint (so only cells on screen ever load), newest first, and
requests no longer wanted (the slider moved on) are dropped before they start. Images are decoded into
scaled `QImage`s on the workers (Qt allows that off the GUI thread) with Qt's allocation limit in force.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from expdesk.compare.media import Cell, ItemRef, load_item
from expdesk.index.reader import IndexReader

#: the largest encoded image decoded for a thumbnail or the enlarged view (bigger: a placeholder says so)
IMAGE_CAP = 32 * 1024 * 1024
#: thumbnails kept in memory (QImages of ~160x120: a few MB)
CACHE_SIZE = 3000
THUMB_THREADS = 2
#: an item's identity for the cache: its id (the view drops the cache when a run was re-read from the start)
ThumbKey = int


def thumb_key(ref: ItemRef) -> ThumbKey:
    return ref.id


def decode_image(data: bytes, fit: QSize | None) -> tuple[QImage | None, str | None]:
    """Decode encoded image bytes, scaled to fit `fit` (None: full size). (image, None) or (None, reason)."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    if not reader.canRead():
        return None, f"not an image Qt can read ({reader.errorString()})"
    size = reader.size()
    if fit is not None and size.isValid() and (size.width() > fit.width() or size.height() > fit.height()):
        reader.setScaledSize(size.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return None, f"cannot decode the image: {reader.errorString()}"
    return image, None


class _Relay(QObject):
    done = Signal(str, int, object)  # kind, generation, result
    failed = Signal(str, int, str)
    thumb = Signal(object, object, object)  # thumb key, QImage or None, reason or None


class _Job(QRunnable):
    def __init__(
        self, loader: MediaLoader, kind: str, generation: int, fn: Callable[[IndexReader], Any]
    ) -> None:
        super().__init__()
        self.loader, self.kind, self.generation, self.fn = loader, kind, generation, fn

    def run(self) -> None:  # worker thread
        try:
            with self.loader.reader_factory() as reader:
                result = self.fn(reader)
        except Exception as exc:  # reported to the view; the pool thread must survive
            traceback.print_exc()
            self.loader.emit_failed(self.kind, self.generation, f"{type(exc).__name__}: {exc}")
            return
        self.loader.emit_done(self.kind, self.generation, result)


class _ThumbRunner(QRunnable):
    """Drains the loader's pending thumbnails, newest request first."""

    def __init__(self, loader: MediaLoader) -> None:
        super().__init__()
        self.loader = loader

    def run(self) -> None:  # worker thread
        loader = self.loader
        try:
            with loader.reader_factory() as reader:
                while True:
                    with loader.lock:
                        if loader.closing or not loader.pending:
                            return
                        key, (cell, ref, fit) = loader.pending.popitem(last=True)
                    try:
                        image, reason = thumbnail(reader, cell, ref, fit)
                    except Exception as exc:  # one bad item must not stop the others
                        image, reason = None, f"{type(exc).__name__}: {exc}"
                    loader.emit_thumb(key, image, reason)
        finally:
            with loader.lock:
                loader.runners -= 1


def thumbnail(
    reader: IndexReader, cell: Cell, ref: ItemRef, fit: QSize | None
) -> tuple[QImage | None, str | None]:
    """Load and decode one image item (worker thread)."""
    payload = load_item(reader, cell, ref, IMAGE_CAP)
    if payload.error or payload.data is None:
        return None, payload.error or "no bytes"
    return decode_image(payload.data, fit)


class MediaLoader(QObject):
    """Runs the Media views' work; `shutdown()` drops what is queued and waits for what runs."""

    def __init__(self, reader_factory: Callable[[], IndexReader], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reader_factory = reader_factory
        self.relay = _Relay(self)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(THUMB_THREADS + 1)
        self.lock = threading.Lock()
        self.pending: OrderedDict[ThumbKey, tuple[Cell, ItemRef, QSize | None]] = OrderedDict()
        self.runners = 0
        self.closing = False
        self.cache: OrderedDict[ThumbKey, tuple[QImage | None, str | None]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self.relay.thumb.connect(self._store_thumb)

    # -- general jobs -------------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[[IndexReader], Any]) -> int:
        generation = self._generations.get(kind, 0) + 1
        self._generations[kind] = generation
        if not self.closing:
            self.pool.start(_Job(self, kind, generation, fn))
        return generation

    def is_current(self, kind: str, generation: int) -> bool:
        return self._generations.get(kind) == generation

    def emit_done(self, kind: str, generation: int, result: Any) -> None:
        with self.lock:
            if not self.closing:
                self.relay.done.emit(kind, generation, result)

    def emit_failed(self, kind: str, generation: int, message: str) -> None:
        with self.lock:
            if not self.closing:
                self.relay.failed.emit(kind, generation, message)

    # -- thumbnails ---------------------------------------------------------------------------------
    def cached(self, ref: ItemRef) -> tuple[QImage | None, str | None] | None:
        key = thumb_key(ref)
        found = self.cache.get(key)
        if found is not None:
            self.cache.move_to_end(key)
        return found

    def request(self, cell: Cell, ref: ItemRef, fit: QSize) -> None:
        """Ask for a thumbnail (GUI thread, from a paint). Repeated requests only move it to the front."""
        key = thumb_key(ref)
        with self.lock:
            if self.closing:
                return
            if key in self.pending:
                self.pending.move_to_end(key)
            else:
                self.pending[key] = (cell, ref, fit)
            start = self.runners < THUMB_THREADS
            if start:
                self.runners += 1
        if start:
            self.pool.start(_ThumbRunner(self))

    def drop_pending(self) -> None:
        """Forget thumbnails not started yet (the grid moved on; visible cells ask again when painted)."""
        with self.lock:
            self.pending.clear()

    def emit_thumb(self, key: ThumbKey, image: QImage | None, reason: str | None) -> None:
        with self.lock:
            if not self.closing:
                self.relay.thumb.emit(key, image, reason)

    def _store_thumb(self, key: ThumbKey, image: QImage | None, reason: str | None) -> None:
        self.cache[key] = (image, reason)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)

    def clear_cache(self) -> None:
        self.cache.clear()

    def shutdown(self) -> None:
        """Idempotent: no signal is emitted once this returns."""
        with self.lock:
            self.closing = True
            self.pending.clear()
        self.pool.clear()
        self.pool.waitForDone()
