"""MLflow's `meta.yaml` files, read fast when they are what MLflow writes: flat `key: value` lines.

MLflow writes each run's meta.yaml with `yaml.safe_dump` of a flat dict: plain or single-quoted scalars, ints,
`[]`. Through PyYAML (even its C parser) the Python-side construction costs ~0.1 ms a file, which is a third
of a small run's whole indexing budget in a sweep. Lines of exactly that shape are parsed here, each scalar
resolved by PyYAML's own YAML 1.1 resolver so that `run_name: yes`, `name: 1e3` or `x: 2024-01-01` mean
what they mean to PyYAML; anything else (nesting, flow maps, quotes with escapes, floats, bools,
timestamps, comments, anchors, tags) returns None and the caller uses the safe loader. A property test holds
this to `yaml.safe_load` on generated documents.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*):(?: (.*))?")
#: single-quoted, with no character YAML counts as a line break (NEL, LS, PS) or a BOM inside
_QUOTED = re.compile("'((?:[^'\n\x85\u2028\u2029\ufeff]|'')*)'")
#: a plain scalar of printable ASCII that no indicator starts (`- x` is a list, `-` alone too)
_PLAIN = re.compile(r"(?:[A-Za-z0-9_./+()]|-(?=[!-~]))[ -~]*")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_RESOLVER = yaml.resolver.Resolver()
#: characters YAML refuses anywhere in a document (the loader raises on them: so do we, by stepping aside)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_STR, _INT, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "null"))


def _scalar(text: str) -> tuple[bool, Any]:
    """(understood, value) for one value as written after `key: `."""
    quoted = _QUOTED.fullmatch(text)
    if quoted is not None:
        return True, quoted.group(1).replace("''", "'")
    if text == "[]":
        return True, []
    if not _PLAIN.fullmatch(text) or text.endswith((" ", ":")) or ": " in text or " #" in text:
        return False, None
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return True, text
    if tag == _INT and _DECIMAL.fullmatch(text):
        return True, int(text)
    if tag == _NULL:
        return True, None
    return False, None  # floats, bools, timestamps, 0x/0o/sexagesimal ints: the real loader decides


def parse_flat_meta(data: bytes) -> dict[str, Any] | None:
    """The mapping in `data` when every line is `key: scalar` as MLflow writes it, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n") or "\r" in text or "\t" in text or _NON_PRINTABLE.search(text):
        return None
    out: dict[str, Any] = {}
    for line in text[:-1].split("\n"):
        match = _LINE.fullmatch(line)
        if match is None or _RESOLVER.resolve(yaml.ScalarNode, match.group(1), (True, False)) != _STR:
            return None  # (a key `yes:` or `null:` is not the string it looks like)
        value = match.group(2)
        if value is None:
            out[match.group(1)] = None
            continue
        understood, parsed = _scalar(value)
        if not understood:
            return None
        out[match.group(1)] = parsed
    return out or None
