"""From a changed path to the run it belongs to: longest-prefix lookup over the runs known per root.

A `RouteTable` is immutable: the coalescing worker builds a new one after each discovery and swaps it in
with one attribute assignment, so observer threads look paths up without taking a lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from expdesk.core.entities import RunRef

#: SQLite sidecar files: a change to `mlflow.db-wal` is a change to every run of `mlflow.db`
DB_SIDECARS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Route:
    """Where a changed path leads: run keys to re-read, or a root to rediscover, or nothing (outside)."""

    keys: tuple[str, ...] = ()
    root: str | None = None


@dataclass(frozen=True)
class RouteTable:
    by_path: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_key: Mapping[str, RunRef] = field(default_factory=dict)
    roots: frozenset[str] = frozenset()

    @classmethod
    def build(cls, refs_by_root: Mapping[str, Iterable[RunRef]]) -> RouteTable:
        by_path: dict[str, list[str]] = {}
        by_key: dict[str, RunRef] = {}
        for refs in refs_by_root.values():
            for ref in refs:
                by_key[ref.key] = ref
                # several runs share one path in DB-backed stores (every run of an mlflow.db)
                by_path.setdefault(os.path.normpath(ref.path), []).append(ref.key)
        return cls(
            {p: tuple(dict.fromkeys(k)) for p, k in by_path.items()},
            by_key,
            frozenset(os.path.normpath(r) for r in refs_by_root),
        )

    def lookup(self, path: str) -> Route:
        """The innermost run whose path is a prefix of `path`; else the innermost root holding it."""
        current = os.path.normpath(path)
        for suffix in DB_SIDECARS:
            if current.endswith(suffix) and current[: -len(suffix)] in self.by_path:
                current = current[: -len(suffix)]
                break
        while True:
            keys = self.by_path.get(current)
            if keys:
                return Route(keys=keys)
            if current in self.roots:
                return Route(root=current)
            parent = os.path.dirname(current)
            if parent == current:
                return Route()
            current = parent
