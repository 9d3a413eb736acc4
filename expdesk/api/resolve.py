"""Which runs the caller means: run keys or unique prefixes (as the CLI takes them), `Run`s, or the index of
a frame from `Workspace.runs`. A key that matches no run, or several, is a `LookupKeyError` (a KeyError)
naming the candidates."""

from __future__ import annotations

import sys
from typing import Any

from expdesk.api.errors import LookupKeyError
from expdesk.api.records import Run
from expdesk.index import column_queries as queries
from expdesk.index.reader import IndexReader

#: candidates named in an error, at most
SHOWN = 10


def _described(reader: IndexReader, keys: list[str]) -> str:
    labels = queries.run_labels(reader, keys)
    parts = []
    for key in keys[:SHOWN]:
        name, fmt = labels.get(key, (None, "?"))
        parts.append(f"{key} ({fmt}{', ' + repr(name) if name else ''})")
    return ", ".join(parts) + (", …" if len(keys) > SHOWN else "")


def resolve_one(reader: IndexReader, key: Any) -> str:
    """The run key `key` means: itself, the one key it is a prefix of, or a `Run`'s key."""
    if isinstance(key, Run):
        key = key.key
    if not isinstance(key, str):
        raise TypeError(f"a run is given by its key (str) or a Run, not {type(key).__name__}")
    if not key:
        raise LookupKeyError("an empty string is not a run key")
    by_key, named = queries.find_runs(reader, key, SHOWN)
    if by_key and (by_key[0] == key or len(by_key) == 1):
        return by_key[0]
    if by_key:
        more = "more than " if len(by_key) > SHOWN else ""
        raise LookupKeyError(
            f"{key!r} is ambiguous: it starts {more}{min(len(by_key), SHOWN)} run keys: "
            f"{_described(reader, by_key)}",
            by_key[:SHOWN],
        )
    if named:
        whose = {why for _, why in named}
        raise LookupKeyError(
            f"no run key starts with {key!r}; runs with that {' or '.join(sorted(whose))}: "
            f"{_described(reader, [k for k, _ in named])} (use the key)",
            [k for k, _ in named],
        )
    raise LookupKeyError(
        f"no run key starts with {key!r} (keys are the index of ws.runs(), e.g. ws.runs().index)"
    )


def resolve_many(reader: IndexReader, runs: Any) -> list[str]:
    """Run keys for `runs`: one key, prefix or `Run`, a frame from `Workspace.runs` (its index), a pandas
    Index or Series of keys, or an iterable of keys and `Run`s. Duplicates are dropped, order kept."""
    if isinstance(runs, str | Run):
        items: list[Any] = [runs]
    else:
        pandas = sys.modules.get("pandas")  # only a caller who has pandas can pass a frame
        if pandas is not None and isinstance(runs, pandas.DataFrame):
            items = list(runs.index)
        elif pandas is not None and isinstance(runs, pandas.Series):
            items = list(runs.to_numpy())
        else:
            try:
                items = list(runs)
            except TypeError:
                raise TypeError(
                    f"runs are given as keys, Runs or a frame from ws.runs(), not {type(runs).__name__}"
                ) from None
    texts = [r.key if isinstance(r, Run) else r for r in items]
    exact = queries.run_labels(reader, [t for t in texts if isinstance(t, str)])  # full keys: one query
    out: dict[str, None] = {}
    for text in texts:
        out[text if isinstance(text, str) and text in exact else resolve_one(reader, text)] = None
    return list(out)
