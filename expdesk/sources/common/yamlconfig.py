"""YAML that is safe to flatten into params (shared by the Hydra, Lightning, DVC and DVCLive readers).

`_values.safe_yaml` refuses Python tags and caps the number of aliases, but a few dozen aliases still build a
structure whose *expansion* has billions of nodes (PyYAML shares the objects, so loading is cheap); turning it
into params (`flatten`, `json.dumps` of lists) would then hang. Self-referencing anchors (`&a {x: *a}`) make
`flatten` recurse forever. Both are refused here before anything walks the tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expdesk.core.errors import SourceError
from expdesk.core.safefile import read_yaml_file

#: nodes a config may expand to; real configs have hundreds
MAX_EXPANDED_NODES = 200_000


def check_expansion(data: Any, source: Path | str, limit: int = MAX_EXPANDED_NODES) -> None:
    """Raise `SourceError` when `data` expands to more than `limit` nodes or contains a cycle."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]  # shared via an alias: counted by its expanded size, computed once
        if key in in_progress:
            raise SourceError(source, "YAML refers to itself (recursive anchor)")
        in_progress.add(key)
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += size(child)
            if total > limit:
                raise SourceError(source, f"YAML expands to more than {limit} nodes (alias bomb?)")
        in_progress.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise SourceError(source, "YAML nested too deeply") from None


def read_yaml_checked(path: Path) -> Any:
    """`read_yaml_file` plus the expansion check: the result can be flattened without surprises."""
    data = read_yaml_file(path)
    check_expansion(data, path)
    return data
