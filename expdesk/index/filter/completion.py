"""Completion for the filter bar: candidates for the word being typed, from the context before it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from expdesk.index.filter.errors import FilterError
from expdesk.index.filter.tokens import QUOTES, breaks_word, tokenize
from expdesk.index.filter.vocabulary import AGGREGATES, ATTRIBUTES, FLAGS, OPERATORS, STATUSES

_BARE_KEY = re.compile(r"[^\s()<>=~,!\"']+")


def _quote_key(key: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def completions(
    prefix: str, param_keys: Iterable[str], metric_keys: Iterable[str], tag_keys: Iterable[str]
) -> list[str]:
    """Candidates for the word being typed at the end of `prefix` (the filter text up to the cursor).
    Each candidate replaces that word; the context (after an operand, after an operator...) picks the kind."""
    split = len(prefix)
    while split > 0 and not breaks_word(prefix, split - 1) and prefix[split - 1] not in QUOTES:
        split -= 1
    word, before = prefix[split:], prefix[:split]
    try:
        tokens = tokenize(before)[:-1]
    except FilterError:
        return []
    last = tokens[-1] if tokens else None
    prev = tokens[-2] if len(tokens) > 1 else None
    operands = [*ATTRIBUTES, "params.", "tags.", "metrics."]
    low = word.lower()
    if low.startswith("params.") or low.startswith("tags."):
        namespace = low.split(".", 1)[0]
        keys = param_keys if namespace == "params" else tag_keys
        pool = [f"{namespace}.{_quote_key(k)}" for k in keys]
    elif low.startswith("metrics."):
        pool = [f"metrics.{_quote_key(k)}.{agg}" for k in metric_keys for agg in (*AGGREGATES, "at(")]
    elif last is None or last.kind in ("(",) or last.keyword in ("and", "or", "not"):
        pool = [*operands, "not", "("]
    elif last.kind == "op" or last.kind == "," or last.keyword in ("in",):
        attr = prev.text.lower() if prev is not None and last.kind == "op" else ""
        pool = list(STATUSES) if attr == "status" else (["true", "false"] if attr in FLAGS else [])
    elif last.kind == "word" and last.keyword is None and (prev is None or prev.kind != "op"):
        pool = [*OPERATORS, "in", "not in", "is null", "is not null", "and", "or"]
    else:
        pool = ["and", "or"]
    seen: dict[str, None] = {}
    for candidate in pool:
        if candidate.lower().startswith(low) and candidate != word:
            seen.setdefault(candidate)
    return list(seen)
