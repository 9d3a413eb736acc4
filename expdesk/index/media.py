"""Media in the index: the named queries that read a run's media (writing and the run JSON's `media`
entries are in `media_store`, which the writer and `IndexReader` use without importing this module).

A media series is one (key, kind) of a run; each item row says where its bytes live (file, offset, length,
codec), never the bytes. `item_payload` / `item_bytes` fetch one item by run, key and step (for the CLI,
the GUI and reports), through `expdesk.sources.media`, which checks the file is still inside the run's root.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from expdesk.core.errors import UsageError
from expdesk.index.media_store import media_json
from expdesk.sources import media as source_media
from expdesk.sources.media import Location, Payload

if TYPE_CHECKING:
    from expdesk.index.reader import IndexReader

_ITEM_COLUMNS = "id, step, file, offset, length, codec, wall_time, mime, meta, error"


# -- reading ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MediaSeries:
    """One media series of a run: its id (for `series_items`), key, kind and item count."""

    id: int
    run_key: str
    key: str
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One item as the index holds it (`meta` is parsed when asked for: a grid loads 10,000 rows at once)."""

    id: int
    step: int | None
    file: str
    offset: int
    length: int
    codec: str
    wall_time: float | None
    mime: str | None
    meta_json: str
    error: str | None

    @property
    def meta(self) -> dict[str, Any]:
        parsed = json.loads(self.meta_json or "{}")
        return parsed if isinstance(parsed, dict) else {}


def _row(r: Sequence[Any]) -> MediaRow:
    return MediaRow(*r)


def _parts_of(reader: IndexReader, run_keys: Sequence[str]) -> dict[str, str]:
    """part key -> run key for every part of these runs (a run of one part is its own part)."""
    marks = ",".join("?" * len(run_keys))
    rows = reader.conn.execute(
        f"SELECT part_key, run_key FROM part_runs WHERE run_key IN ({marks})", tuple(run_keys)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def run_media(reader: IndexReader, run_key: str) -> list[dict[str, Any]]:
    """One run's `media` entries of the run JSON (`[{"key", "kind", "steps"}]`), every part's."""
    parts = sorted(_parts_of(reader, [run_key])) or [run_key]
    return [m for part in parts for m in media_json(reader.conn, [part])[part]]


def media_series(reader: IndexReader, run_keys: Sequence[str]) -> list[MediaSeries]:
    """The media series of these runs, by run (in the order given), then key and kind."""
    order = {k: i for i, k in enumerate(run_keys)}
    if not run_keys:
        return []
    owners = _parts_of(reader, run_keys)  # a joined run's media are its parts'
    marks = ",".join("?" * len(owners))
    cursor = reader.conn.cursor()
    cursor.row_factory = None  # tuples: a run may have 10,000 series
    cursor.execute(
        f"SELECT id, run_key, key, kind, count FROM media_series WHERE run_key IN ({marks})", tuple(owners)
    )
    found = [MediaSeries(r[0], owners[r[1]], *r[2:]) for r in cursor]
    return sorted(found, key=lambda s: (order[s.run_key], s.key, s.kind))


def runs_item_marks(reader: IndexReader, run_keys: Sequence[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Every item of these runs as int64 rows (series id, item id, step), sorted by series, step (step-less
    first, their step -2**63) and write order, plus the reasons of placeholders by item id. Ints only, in
    one query: the grid knows which item each cell shows at any step without building 10,000 rows;
    `items_by_id` fetches the few it draws."""
    if not run_keys:
        return np.empty((0, 3), dtype=np.int64), {}
    parts = tuple(_parts_of(reader, run_keys))
    marks = ",".join("?" * len(parts))
    cursor = reader.conn.cursor()
    cursor.row_factory = None  # plain tuples: a sqlite3.Row per item costs more than the query
    cursor.execute(
        "SELECT i.series_id, i.id, COALESCE(i.step, -9223372036854775808), i.error IS NOT NULL"
        " FROM media_items i JOIN media_series s ON s.id = i.series_id"
        f" WHERE s.run_key IN ({marks}) ORDER BY i.series_id, i.step, i.id",
        parts,
    )
    table = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 4)
    errors = _errors(reader, table[table[:, 3] == 1, 1].tolist())
    return np.ascontiguousarray(table[:, :3]), errors


def _errors(reader: IndexReader, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for item_id, error in reader.conn.execute(
            f"SELECT id, error FROM media_items WHERE id IN ({marks})", part
        ):
            out[item_id] = error
    return out


def items_by_id(reader: IndexReader, ids: Sequence[int]) -> dict[int, MediaRow]:
    """Items by id (those the index still holds)."""
    out: dict[int, MediaRow] = {}
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ",".join("?" * len(part))
        for r in reader.conn.execute(f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE id IN ({marks})", part):
            out[r[0]] = _row(r)
    return out


def series_items(reader: IndexReader, series_id: int) -> list[MediaRow]:
    """Every item of a series, by step (step-less first) and write order."""
    rows = reader.conn.execute(
        f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE series_id=? ORDER BY step, id", (series_id,)
    )
    return [_row(r) for r in rows]


def series_steps(reader: IndexReader, series_id: int) -> np.ndarray:
    """The steps of a series' items as int64 (one per item, sorted; step-less items left out)."""
    rows = reader.conn.execute(
        "SELECT step FROM media_items WHERE series_id=? AND step IS NOT NULL ORDER BY step, id", (series_id,)
    ).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def run_root(reader: IndexReader, run_key: str) -> str:
    """The watched root of a run: no media file outside it is ever read."""
    row = reader.conn.execute("SELECT root FROM runs WHERE key=?", (run_key,)).fetchone()
    if row is None:
        raise UsageError(f"no run {run_key!r} in the index")
    return str(row[0])


def location(row: MediaRow, root: str, key: str) -> Location:
    """Where to read an item's bytes (for `expdesk.sources.media`)."""
    return Location(row.file, row.offset, row.length, row.codec, root, key)


def find_item(
    reader: IndexReader, run_key: str, key: str, step: int | None, index: int = 0, kind: str | None = None
) -> tuple[MediaRow, str, Location]:
    """The `index`-th item of `key` logged at `step` (None: a step-less item) -> (row, kind, location).
    `UsageError` with a one-line reason for a key, kind, step or index the run does not have."""
    series = [s for s in media_series(reader, [run_key]) if s.key == key]
    if kind is not None:
        series = [s for s in series if s.kind == kind]
    if not series:
        known = sorted({s.key for s in media_series(reader, [run_key])})
        hint = f" (it has: {_some(known)})" if known else " (it has no media)"
        raise UsageError(
            f"run {run_key} has no media key {key!r}" + (f" of kind {kind}" if kind else "") + hint
        )
    if len(series) > 1:
        kinds = ", ".join(s.kind for s in series)
        raise UsageError(f"media key {key!r} of run {run_key} is logged as {kinds}: pick one with --kind")
    chosen = series[0]
    if step is None:
        rows = reader.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE series_id=? AND step IS NULL ORDER BY id",
            (chosen.id,),
        ).fetchall()
    else:
        rows = reader.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE series_id=? AND step=? ORDER BY id",
            (chosen.id, step),
        ).fetchall()
    if not rows:
        steps = series_steps(reader, chosen.id)
        what = "no step-less item" if step is None else f"nothing at step {step}"
        has = f"steps {_some([str(s) for s in np.unique(steps)])}" if len(steps) else "only step-less items"
        raise UsageError(f"media key {key!r} of run {run_key} has {what} (it has {has})")
    if not 0 <= index < len(rows):
        raise UsageError(
            f"media key {key!r} of run {run_key} has {len(rows)} item(s) at that step, not #{index}"
        )
    row = _row(rows[index])
    return row, chosen.kind, location(row, run_root(reader, run_key), key)


def item_payload(
    reader: IndexReader, run_key: str, key: str, step: int | None, index: int = 0, kind: str | None = None
) -> Payload:
    """One item loaded (image bytes, histogram buckets, text); a placeholder's reason is `error`."""
    row, found_kind, loc = find_item(reader, run_key, key, step, index, kind)
    if row.error:
        return Payload(error=row.error)
    return source_media.load(loc, found_kind)


def item_bytes(
    reader: IndexReader, run_key: str, key: str, step: int | None, index: int = 0, kind: str | None = None
) -> bytes:
    """An item as a file holds it: an image's original encoded bytes, a histogram as CSV, text as UTF-8.
    For embedding chosen media in a report; `UsageError` when it is not there, `ExpdeskError` when unreadable."""
    from io import BytesIO

    out = BytesIO()
    write_item(reader, run_key, key, step, out, index, kind)
    return out.getvalue()


def write_item(
    reader: IndexReader,
    run_key: str,
    key: str,
    step: int | None,
    out: BinaryIO,
    index: int = 0,
    kind: str | None = None,
) -> str:
    """Write an item to `out` (raw bytes streamed at any size, as stored; histograms as CSV; text as UTF-8);
    returns the item's kind. Raises `ExpdeskError` with the reason when the item cannot be read."""
    from expdesk.core.errors import ExpdeskError

    row, found_kind, loc = find_item(reader, run_key, key, step, index, kind)
    if row.error and loc.codec != "raw":
        raise ExpdeskError(f"media key {key!r} at step {step} cannot be read: {row.error}")
    if loc.codec == "raw":
        # written as stored even when it cannot be shown (bytes that are no image): they are the item
        try:
            source_media.copy_raw(loc, out)
        except (OSError, ExpdeskError) as exc:
            raise ExpdeskError(f"media key {key!r} at step {step} cannot be read: {exc}") from None
        return found_kind
    payload = source_media.load(loc, found_kind)
    if payload.error:
        raise ExpdeskError(f"media key {key!r} at step {step} cannot be read: {payload.error}")
    if payload.buckets is not None:
        out.write(source_media.buckets_csv(payload.buckets))
    else:
        out.write("\n".join(payload.texts).encode("utf-8"))
    return found_kind


def _some(values: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")
