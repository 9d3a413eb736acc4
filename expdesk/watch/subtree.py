"""Runs that start inside another run's folder: a logger's version folder appearing in a Hydra job dir, a
DVCLive folder in a DVC project. The runs whose readers do not own their subtree are walked again when a
folder appears or goes inside them (the root's walk would find them too, but only at the next reconcile)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from expdesk.core.entities import RunRef
from expdesk.sources import registry
from expdesk.watch.routes import RouteTable


def open_formats() -> frozenset[str]:
    """Formats whose run folders may hold other runs' folders (their readers do not claim the subtree)."""
    return frozenset(r.format for r in registry.readers() if not r.claims_subtree)


def started_below(
    table: RouteTable, keys: Iterable[str], skip_roots: set[str], cancelled: Callable[[], bool]
) -> list[RunRef]:
    """Runs at or below the folders of the runs `keys` that `table` does not route yet."""
    found: dict[str, RunRef] = {}
    for key in dict.fromkeys(keys):
        ref = table.by_key.get(key)
        if ref is None or str(ref.root) in skip_roots or not os.path.isdir(ref.path):
            continue
        try:
            below = list(registry.discover(ref.root, cancelled, start=ref.path))
        except OSError:
            continue
        for new in below:
            if new.key not in table.by_key:
                found.setdefault(new.key, new)
    return list(found.values())
