"""YAML that is safe to flatten into params (shared by the Hydra, Lightning, DVC and DVCLive readers).

`_values.safe_yaml` refuses Python tags and caps the number of aliases, but a few dozen aliases still build a
structure whose *expansion* has billions of nodes (PyYAML shares the objects, so loading is cheap); turning it
into params (`flatten`, `json.dumps` of lists) would then hang. Self-referencing anchors (`&a {x: *a}`) make
`flatten` recurse forever. Both are refused here before anything walks the tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from expdesk.core.codec import param_str
from expdesk.core.errors import SourceError
from expdesk.core.safefile import (
    MAX_YAML_BYTES,
    MAX_YAML_EXPANDED,
    LimitedLoader,
    read_bytes_capped,
    read_yaml_file,
)

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


# -- YAML that carries Python tags, read as plain data ----------------------------------------------------
#
# Lightning dumps hparams with `yaml.dump`, so a Namespace, a dataclass, a tuple or a function lands in
# hparams.yaml as `!!python/object:argparse.Namespace {...}`, `!!python/tuple [...]`,
# `!!python/name:__main__.fn ''`. The safe loader refuses those tags (and Lightning's own loader cannot build
# most of them either). These loaders read each tagged node as the data it holds - a mapping's fields, a
# sequence's items, a scalar's text - and construct nothing: no import, no call, whatever the tag says.

_PYTHON_TAG = "tag:yaml.org,2002:python/"


def _plain_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """Any node whose tag the safe loader does not know, as plain data by its kind."""
    if isinstance(node, yaml.MappingNode):
        return _construct_str_keys(loader, node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # `!!python/name:os.system ''` and `!!python/module:os ''` name something: the name is the value
    if suffix.startswith(("name:", "module:")):
        return suffix.split(":", 1)[1]
    return _plain_node(loader, node)


def _construct_str_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key if isinstance(key, str) else param_str(key)] = loader.construct_object(value_node, deep=True)
    return out


class _TaggedLoader(LimitedLoader):
    """SafeLoader + alias cap + Python (and any unknown) tags read as plain data."""


def _register(loader: type) -> None:
    loader.add_multi_constructor(_PYTHON_TAG, _python_tag)  # type: ignore[attr-defined]
    loader.add_constructor(None, _plain_node)  # type: ignore[attr-defined]
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_str_keys)  # type: ignore[attr-defined]


_register(_TaggedLoader)
_FastTagged: type | None = None
if hasattr(yaml, "CSafeLoader"):

    class _CTagged(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's parser for documents without anchors (nothing for the alias cap to count)."""

    _register(_CTagged)
    _FastTagged = _CTagged


def tagged_yaml(text: str | bytes, source: Path | str = "<yaml>") -> Any:
    """Parse YAML whose Python tags are read as plain data (see above), with the size, alias and expansion
    limits of every other YAML expdesk reads."""
    if len(text) > MAX_YAML_BYTES:
        raise SourceError(source, f"YAML larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB, not parsed")
    anchors = b"&" in text if isinstance(text, bytes) else "&" in text
    loader = _FastTagged if _FastTagged is not None and not anchors else _TaggedLoader
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise SourceError(source, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where) from None
    except RecursionError:
        raise SourceError(source, "YAML nested too deeply") from None
    check_expansion(data, source, MAX_YAML_EXPANDED)
    return data


def read_tagged_yaml(path: Path) -> Any:
    """`tagged_yaml` of a run's file (regular files only, size-capped)."""
    return tagged_yaml(read_bytes_capped(path, MAX_YAML_BYTES), path)
