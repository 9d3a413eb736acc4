"""Saved views in the index: the named queries that list, load, save, rename and delete them, and import of a
view file (its document checked by `core.views.parse_view`, its filter by the filter language).

A view is stored as the same JSON document it is exported as; the `views` table (migration `m021_views`)
has no tie to the runs cache, so re-indexing or rebuilding runs keeps every view. Writes go through the
writer thread like every other mutation of the index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from expdesk.core.errors import UsageError
from expdesk.core.paths import watched_folder_holding
from expdesk.core.views import SavedView, ViewError, check_name, parse_view, read_view_file
from expdesk.index.filter.parser import parse_filter
from expdesk.index.reader import IndexReader

if TYPE_CHECKING:
    from expdesk.index.service import Index


@dataclass(frozen=True)
class ViewEntry:
    """One saved view as a menu lists it."""

    name: str
    updated_at: float


def list_views(reader: IndexReader) -> list[ViewEntry]:
    """Every saved view, by name (case-insensitive)."""
    rows = reader.conn.execute("SELECT name, updated_at FROM views ORDER BY lower(name), name")
    return [ViewEntry(r[0], r[1]) for r in rows]


def load_view(reader: IndexReader, name: str) -> SavedView:
    """The saved view called `name`; `UsageError` when there is none, `ViewError` when its stored document
    is not a view (a DB edited by hand)."""
    row = reader.conn.execute("SELECT doc FROM views WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise UsageError(f"no saved view named {name!r}")
    return parse_view(row[0], f"saved view {name!r}")


def save_view(index: Index, view: SavedView) -> None:
    """Store `view` under its name, replacing a view of that name (its creation time is kept)."""
    name = check_name(view.name)
    doc = view.renamed(name).to_json()
    now = time.time()
    index.writer.call(
        lambda c: c.execute(
            "INSERT INTO views (name, doc, created_at, updated_at) VALUES (?,?,?,?)"
            " ON CONFLICT(name) DO UPDATE SET doc=excluded.doc, updated_at=excluded.updated_at",
            (name, doc, now, now),
        )
    )


def delete_view(index: Index, name: str) -> None:
    index.writer.call(lambda c: c.execute("DELETE FROM views WHERE name = ?", (name,)))


def rename_view(index: Index, old: str, new: str) -> None:
    """Rename a saved view; `UsageError` when `old` does not exist or `new` is taken."""
    new = check_name(new)
    with index.reader() as reader:
        view = load_view(reader, old)
        if new != old and any(e.name == new for e in list_views(reader)):
            raise UsageError(f"a view named {new!r} exists already")
    doc = view.renamed(new).to_json()

    index.writer.call(
        lambda c: c.execute(
            "UPDATE views SET name = ?, doc = ?, updated_at = ? WHERE name = ?", (new, doc, time.time(), old)
        )
    )


def check_filter(view: SavedView, source: str) -> SavedView:
    """`ViewError` when the view's filter is not valid filter language (the reason and column said)."""
    if view.filter.strip():
        try:
            parse_filter(view.filter)
        except UsageError as exc:
            raise ViewError(f"{source}: its filter does not parse: {exc}") from None
    return view


def import_view(path: Path) -> SavedView:
    """A view file checked through and through; not stored yet (the caller may rename it first)."""
    return check_filter(read_view_file(path), path.name)


def export_view(view: SavedView, path: Path, watched: set[str]) -> Path:
    """Write `view` as a JSON file, never into a watched folder."""
    folder = watched_folder_holding(path, watched)
    if folder is not None:
        raise UsageError(f"{path} is inside the watched folder {folder}; expdesk never writes there")
    path.write_text(view.to_json(), encoding="utf-8")
    return path
