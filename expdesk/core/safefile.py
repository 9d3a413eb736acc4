"""Reading untrusted files safely: regular files only (no links, FIFOs or devices), size caps, safe YAML
(no Python tags, alias limits) and JSON that tolerates the NaN/Infinity literals Python writes.

The one place that opens a run's file or a bundle's file for reading; readers, the lineage hasher and
the bundle all go through it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from expdesk.core.codec import param_str
from expdesk.core.errors import IncompleteRead, SourceError, UnsafePath
from expdesk.core.lfs import LfsPointer, refuse_pointer

#: refuse YAML documents bigger than this (a 50 MB config is an attack or a mistake, not a config)
MAX_YAML_BYTES = 8 * 1024 * 1024
#: alias expansions allowed per document: billion-laughs stops here
MAX_YAML_ALIASES = 100
#: values a document may expand to once aliases are followed (99 aliases can still nest to 9**11 values)
MAX_YAML_EXPANDED = 200_000


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags, ever) that also caps alias expansion against billion-laughs."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._alias_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._alias_count += 1
            if self._alias_count > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (alias bomb?)")
        return super().compose_node(parent, index)


def _construct_str_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # YAML allows non-string keys (1: x, null: y); params need strings, and unhashable keys must not crash us.
    pairs = loader.construct_pairs(node, deep=True)
    out: dict[Any, Any] = {}
    for k, v in pairs:
        out[k if isinstance(k, str) else param_str(k)] = v
    return out


LimitedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_str_keys)

_FastLoader: type | None = None
if hasattr(yaml, "CSafeLoader"):
    # libyaml's safe loader is ~10x faster; used only for documents without anchors, where the alias
    # counting of LimitedLoader has nothing to count
    class _CSafeStrKeys(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        pass

    _CSafeStrKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_str_keys)
    _FastLoader = _CSafeStrKeys


def safe_yaml(text: str | bytes, source: Path | str = "<yaml>") -> Any:
    """Parse YAML with the safe loader and limits. `${...}` interpolations are plain strings to YAML already.

    Unknown tags (`!!python/object/apply:...`) are refused by the safe loader: that is a `SourceError`.
    """
    if len(text) > MAX_YAML_BYTES:
        raise SourceError(source, f"YAML larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB, not parsed")
    try:
        anchors = b"&" in text if isinstance(text, bytes) else "&" in text
        loader = _FastLoader if _FastLoader is not None and not anchors else LimitedLoader
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise SourceError(source, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where) from None
    except RecursionError:
        raise SourceError(source, "YAML nested too deeply") from None
    if _expanded_size(data, MAX_YAML_EXPANDED) > MAX_YAML_EXPANDED:
        raise SourceError(source, f"YAML expands to more than {MAX_YAML_EXPANDED} values (alias bomb?)")
    return data


def _expanded_size(data: Any, budget: int) -> int:
    """Values reachable when shared (aliased) containers are counted every time they are referenced;
    stops counting past `budget`, so a bomb costs at most `budget` steps."""
    count = 0
    stack = [data]
    while stack and count <= budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def read_yaml_file(path: Path) -> Any:
    data = read_bytes_capped(path, MAX_YAML_BYTES)
    return safe_yaml(data, path)


def open_regular(path: Path | str, lstat: os.stat_result | None = None) -> tuple[int, os.stat_result]:
    """Open a run's file for reading only if it is a regular file and not a symlink.

    Every refusal is an `UnsafePath` (a `SourceError`). A link (to `/etc/passwd`, to another user's file) is refused, not followed: a recorded path is shown,
    never read outside its root. FIFOs and devices are refused before `open` (opening a FIFO can block or
    wake its writer); O_NONBLOCK and the `fstat` re-check cover a file swapped between the two calls.
    `lstat`: the file's lstat when a directory walk just took it (spares a second one per file).
    """
    try:
        st = os.lstat(path) if lstat is None else lstat
    except OSError as exc:
        raise UnsafePath(path, f"cannot open: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(path, "is a symbolic link (not followed)")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(path, "not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnsafePath(path, f"cannot open: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePath(path, "not a regular file")
    try:
        # a clone without its LFS objects: the file is a pointer, and saying so beats "invalid JSON"
        refuse_pointer(fd, st.st_size, path)
    except LfsPointer:
        os.close(fd)
        raise
    return fd, st


def read_bytes_capped(path: Path | str, cap: int, lstat: os.stat_result | None = None) -> bytes:
    """Read a whole small file, refusing files over `cap` bytes and anything that is not a regular file."""
    fd, st = open_regular(path, lstat)
    try:
        if st.st_size > cap:
            raise SourceError(path, f"file is {st.st_size} bytes, over the {cap}-byte limit")
        chunks: list[bytes] = []
        remaining = cap + 1
        while remaining > 0:
            # the size fstat gave, plus one byte: a short read is the end of the file (no extra read)
            want = min(remaining, st.st_size + 1, 1 << 20) if not chunks else min(remaining, 1 << 20)
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            if len(chunk) < want:
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


#: Python refuses int() of more digits than this (CVE-2020-10735 guard); such a number is read as a float
_MAX_INT_DIGITS = 4000


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def loads(text: str | bytes) -> Any:
    """`json.loads` that reads a 5000-digit integer as ±inf instead of raising a bare ValueError."""
    return json.loads(text, parse_int=_parse_int)


def parse_json_text(text: str | bytes, source: Path | str, *, partial_ok: bool = False) -> Any:
    """JSON that accepts the NaN/Infinity literals Python and Sacred write. Deep nesting is an error.

    `partial_ok`: the file may be mid-rewrite (Sacred, trainer_state.json); an empty or truncated document
    raises `IncompleteRead` so the caller retries instead of reporting corruption.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if partial_ok and not text.strip():
        raise IncompleteRead(source, "file is empty (being rewritten?)")
    try:
        return loads(text)
    except RecursionError:
        raise SourceError(source, "JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        if partial_ok and exc.pos >= len(text.rstrip()) - 1:
            raise IncompleteRead(source, f"truncated JSON at line {exc.lineno}") from None
        raise SourceError(source, f"invalid JSON: {exc.msg}", f"line {exc.lineno} col {exc.colno}") from None


MAX_JSON_BYTES = 256 * 1024 * 1024


def read_json_file(path: Path, *, partial_ok: bool = False) -> Any:
    return parse_json_text(read_bytes_capped(path, MAX_JSON_BYTES), path, partial_ok=partial_ok)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def walk_stats(path: Path, prune: frozenset[str] = frozenset()) -> Iterator[tuple[str, os.stat_result]]:
    """(relative POSIX path, lstat) of every file below `path`; symlinks are neither followed nor listed
    as directories, so a link to `/` or a link loop cannot make us leave the run.
    """
    # plain strings, not Path objects: this walk is the whole cost of a warm re-index of a sweep
    stack = [(os.fspath(path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=_name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            try:
                # the entry's type comes with the listing: a directory needs no stat of its own
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in prune:
                        stack.append((entry.path, rel + "/"))
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield rel, st
