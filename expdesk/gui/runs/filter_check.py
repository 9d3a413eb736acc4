"""Keys a filter names that no run has: "did you mean val_loss?" instead of a silent 0 runs.

A filter on a misspelt key is valid (a key can appear later, on a live run), so this is a warning beside the
filter, computed from the vocabulary the window already holds. Pure: no Qt, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from expdesk.index.filter import parse_filter
from expdesk.index.filter.errors import FilterError
from expdesk.index.filter.nodes import BoolOp, Compare, Flag, Node, Not, Operand

#: the vocabulary section of each namespace, and the word a message uses for it
_SECTIONS = {"params": ("params", "param"), "tags": ("tags", "tag"), "metrics": ("metrics", "metric")}


@dataclass(frozen=True)
class UnknownKey:
    namespace: str  # params | tags | metrics
    key: str
    pos: int
    length: int
    suggestions: tuple[str, ...]

    def message(self) -> str:
        word = _SECTIONS[self.namespace][1]
        text = f"no run has the {word} '{self.key}'"
        if self.suggestions:
            names = " or ".join(f"{s}" for s in self.suggestions)
            text += f": did you mean {names}?"
        return text


def _operands(node: Node) -> Iterator[Operand]:
    if isinstance(node, Compare | Flag):
        yield node.operand
    elif isinstance(node, Not):
        yield from _operands(node.inner)
    elif isinstance(node, BoolOp):
        yield from _operands(node.left)
        yield from _operands(node.right)


def unknown_keys(text: str, vocabulary: Mapping[str, Sequence[str]]) -> list[UnknownKey]:
    """Params, tags and metrics the filter names that are in no run of the index, with the closest known
    keys (the whole key, then its last path segment: `val_los` -> `val_loss`, `loss` -> `train/loss`)."""
    try:
        tree = parse_filter(text)
    except FilterError:
        return []  # the syntax error is reported on its own
    out: list[UnknownKey] = []
    seen: set[tuple[str, str]] = set()
    for operand in _operands(tree):
        if operand.kind not in _SECTIONS or (operand.kind, operand.name) in seen:
            continue
        seen.add((operand.kind, operand.name))
        known = vocabulary.get(_SECTIONS[operand.kind][0], ())
        if operand.name in known:
            continue
        prefix = f"{operand.kind}."
        close = difflib.get_close_matches(operand.name, list(known), n=3, cutoff=0.6)
        if not close:
            tails = {k.rsplit("/", 1)[-1].rsplit(".", 1)[-1]: k for k in known}
            close = [tails[t] for t in difflib.get_close_matches(operand.name, list(tails), n=3, cutoff=0.6)]
        out.append(UnknownKey(operand.kind, operand.name, operand.pos, operand.length,
                              tuple(prefix + c for c in close)))  # fmt: skip
    return out
