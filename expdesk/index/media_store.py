"""Media rows of the index: storing a run's media items (writer thread) and the run JSON's `media` entries.

Kept apart from `media` (the reader-side named queries) so the writer's `store` and `IndexReader` import it
without an import cycle.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from expdesk.core.entities import MediaItem, RunUpdate


def apply_media(conn: sqlite3.Connection, run_key: str, update: RunUpdate) -> None:
    """Store an update's media: appended to what the run has, or replacing it all when the reader started
    over (`metrics_reset`) or lists the run's whole media on every read (`media_complete`)."""
    if update.metrics_reset or update.media_complete:
        delete_media(conn, [run_key])
    if not update.media:
        return
    ids = {
        (r[0], r[1]): r[2]
        for r in conn.execute("SELECT key, kind, id FROM media_series WHERE run_key=?", (run_key,))
    }
    by_series: dict[tuple[str, str], list[MediaItem]] = defaultdict(list)
    for item in update.media:
        by_series[(item.key, item.kind)].append(item)
    new = [pair for pair in by_series if pair not in ids]
    if new:
        conn.executemany(
            "INSERT INTO media_series (run_key, key, kind) VALUES (?,?,?)",
            [(run_key, k, kind) for k, kind in new],
        )
        for key, kind, series_id in conn.execute(
            "SELECT key, kind, id FROM media_series WHERE run_key=?", (run_key,)
        ):
            ids[(key, kind)] = series_id
    rows = []
    for pair, items in by_series.items():
        series_id = ids[pair]
        rows += [
            (
                series_id,
                m.step,
                m.file,
                m.offset,
                m.length,
                m.codec,
                m.wall_time,
                m.mime,
                json.dumps(dict(m.meta), sort_keys=True),
                m.error,
            )
            for m in items
        ]
    conn.executemany(
        "INSERT INTO media_items (series_id, step, file, offset, length, codec, wall_time, mime, meta, error)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "UPDATE media_series SET count = count + ? WHERE id = ?",
        [(len(items), ids[pair]) for pair, items in by_series.items()],
    )


def delete_media(conn: sqlite3.Connection, run_keys: Sequence[str]) -> None:
    """Forget the media of these runs (a re-read from the start, a removed root)."""
    for key in run_keys:
        conn.execute(
            "DELETE FROM media_items WHERE series_id IN (SELECT id FROM media_series WHERE run_key=?)", (key,)
        )
        conn.execute("DELETE FROM media_series WHERE run_key=?", (key,))


def media_json(conn: sqlite3.Connection, run_keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """`{run_key: [{"key", "kind", "steps"}]}` for the run JSON: series sorted by key then kind, steps sorted
    and distinct (a step-less item adds none, so a step-less series has `[]`)."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in run_keys}
    if not run_keys:
        return out
    marks = ",".join("?" * len(run_keys))
    entries: dict[int, dict[str, Any]] = {}
    for series_id, run_key, key, kind in conn.execute(
        f"SELECT id, run_key, key, kind FROM media_series WHERE run_key IN ({marks}) ORDER BY key, kind",
        tuple(run_keys),
    ):
        entry = {"key": key, "kind": kind, "steps": []}
        entries[series_id] = entry
        out[run_key].append(entry)
    if entries:
        for series_id, step in conn.execute(
            "SELECT DISTINCT i.series_id, i.step FROM media_items i JOIN media_series s ON s.id = i.series_id"
            f" WHERE s.run_key IN ({marks}) AND i.step IS NOT NULL ORDER BY i.series_id, i.step",
            tuple(run_keys),
        ):
            entries[series_id]["steps"].append(step)
    return out
