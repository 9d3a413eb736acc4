"""One resolver for recorded artifact locations: where a run's artifact folder is *now*, inside its store.

MLflow records where artifacts went as the machine that logged them saw it: `file:///D:/work/mlruns/1/<run>/
artifacts` from Windows, `C:\\Users\\...\\artifacts` (raw paths, older clients), `/home/alice/proj/mlruns/...`
from a cluster, `./mlruns/1/<run>/artifacts` (relative), or `mlflow-artifacts:/1/<run>/artifacts` when a
tracking server (`--artifacts-destination`, default `./mlartifacts`) stored them. None of those machine paths
is followed: the location is re-rooted on the store as it sits now by its *marker*, the trailing ids MLflow
itself puts in every location (`<experiment>/<run>/artifacts`, `<experiment>/models/<model>/artifacts`).

Candidates, first existing wins: `<store>/<folder before the marker>/<marker...>` (e.g. `mlruns`,
`mlartifacts`), `<store>/<marker...>`, then `<store>/<any child folder>/<marker...>`. A candidate is only taken
when it resolves, symlinks included, inside `contain` (the watched root); never outside the store.

The readers call this at index time and record the answer in the run's info (`artifact_dir`,
`artifact_dir_rule`); `show`, the GUI and the bundle use `artifact_dirs(...)` on that record, so all of them
agree by construction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from expdesk.core.paths import is_regular_file, is_within

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_DRIVE = re.compile(r"^[A-Za-z]:$")
#: schemes whose bytes live on another service (never on this disk)
REMOTE_SCHEMES = ("s3", "gs", "wasbs", "wasb", "abfss", "dbfs", "hdfs", "viewfs", "http", "https", "ftp",
                  "sftp", "oss", "runs", "models", "uc", "databricks")  # fmt: skip
#: how many child folders of the store are tried for a server's artifact destination
MAX_CHILDREN = 64


@dataclass(frozen=True)
class Located:
    """The local folder (None when there is none here) and the rule that found it, or why not."""

    path: Path | None
    rule: str


@dataclass(frozen=True)
class ParsedUri:
    kind: str  # "local" | "unc" | "relative" | "mlflow-artifacts" | "remote"
    parts: tuple[str, ...]
    scheme: str | None = None


def parse_location(uri: str) -> ParsedUri:
    """Split a recorded location into its path components (separators `/` and `\\`, percent-decoded once)."""
    text = uri.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else None
    if scheme is not None and len(scheme) == 1 and text[1:2] == ":":
        scheme = None  # `C:\x` or `C:/x`: a drive letter, not a scheme
    if scheme == "file":
        rest = text[len("file:") :]
        if rest.startswith("//"):
            host, _, path = rest[2:].partition("/")
            rest = "/" + path
            if host and host.lower() != "localhost":
                return ParsedUri("unc", (host, *_split(unquote(path))), scheme)
        return ParsedUri("local", _split(unquote(rest)), scheme)
    if scheme == "mlflow-artifacts":
        rest = text[len("mlflow-artifacts:") :]
        if rest.startswith("//"):
            rest = rest[2:].partition("/")[2]  # //host:port/<path>
        return ParsedUri("mlflow-artifacts", _split(unquote(rest)), scheme)
    if scheme is not None:
        return ParsedUri("remote", (), scheme)
    if text.startswith(("\\\\", "//")):
        return ParsedUri("unc", _split(text), None)
    parts = _split(text)
    absolute = text.startswith(("/", "\\")) or bool(parts and _DRIVE.match(parts[0]))
    return ParsedUri("local" if absolute else "relative", parts, None)


def _split(path: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[\\/]+", path) if p and p != ".")


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0") and ":" not in name


def locate(
    uri: str | None, store: Path, contain: Path, marker: Sequence[str], children: bool = True
) -> Located:
    """The folder a recorded artifact location names, re-rooted on `store`, contained in `contain`.

    `marker`: the trailing ids that identify the folder (e.g. `[experiment_id, run_id, "artifacts"]`).
    """
    if not uri:
        return Located(None, "no artifact location recorded")
    if not marker or not all(_plain(str(m)) for m in marker):
        return Located(None, "the run's ids are not plain folder names")
    parsed = parse_location(uri)
    if parsed.kind == "remote":
        return Located(None, f"artifacts are in a remote store ({parsed.scheme}:), not on this machine")
    parts = parsed.parts
    if ".." in parts:
        return Located(None, f"artifact location {uri!r} climbs with '..'")
    start = _find(parts, tuple(str(m) for m in marker))
    if start is None:
        return Located(None, f"artifact location {uri!r} does not end in {'/'.join(marker)}")
    tail = parts[start:]
    before = parts[start - 1] if start > 0 else None
    candidates: list[tuple[Path, str]] = []
    if before is not None and _plain(before):
        candidates.append(
            (store.joinpath(before, *tail), f"re-rooted on the store as {before}/{'/'.join(tail)}")
        )
    candidates.append((store.joinpath(*tail), f"re-rooted on the store as {'/'.join(tail)}"))
    if children:
        candidates += [(store / name / Path(*tail), f"found in the store's folder {name}/")
                       for name in _child_dirs(store) if name != before]  # fmt: skip
    root = contain.resolve()
    refused = None
    for candidate, rule in candidates:
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            continue
        if not resolved.is_dir():
            continue
        if not is_within(resolved, root):
            refused = f"{candidate} resolves outside {contain}; not followed"
            continue
        return Located(candidate, f"{parsed.kind} location {rule}")
    return Located(
        None, refused or f"no folder for {'/'.join(tail)} in the store {store} (not copied along?)"
    )


def _find(parts: tuple[str, ...], marker: tuple[str, ...]) -> int | None:
    """Index of the last occurrence of `marker` in `parts` followed only by plain names."""
    n = len(marker)
    for i in range(len(parts) - n, -1, -1):
        if parts[i : i + n] == marker and all(_plain(p) for p in parts[i:]):
            return i
    return None


def _child_dirs(store: Path) -> list[str]:
    try:
        with os.scandir(store) as entries:
            names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return names[:MAX_CHILDREN]


def artifact_dirs(run_path: str | Path, info: Mapping[str, Any]) -> list[Path]:
    """Where a run's artifact paths are relative to, from what its reader recorded (the one accessor).

    A reader that resolved an artifact location records `artifact_dir` (None: nothing on this machine); any
    other run's artifacts are relative to its own folder (or its `artifacts/`, as MLflow runs indexed before
    the readers recorded `artifact_dir` keep them).
    """
    if "artifact_dir" in info:
        recorded = info.get("artifact_dir")
        return [Path(recorded)] if isinstance(recorded, str) and recorded else []
    return [Path(run_path), Path(run_path) / "artifacts"]


def artifact_file(run_path: str | Path, root: str | Path, info: Mapping[str, Any], rel: str) -> Path | None:
    """The artifact `rel` (a path as listed in the index) as a local regular file inside `root`, or None."""
    if "\0" in rel or ".." in _split(rel) or rel.startswith(("/", "\\")):
        return None
    top = Path(root).resolve()
    for base in artifact_dirs(run_path, info):
        candidate = base / rel
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            continue
        if is_within(resolved, top) and is_regular_file(resolved):
            return resolved
    return None
