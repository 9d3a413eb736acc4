"""Hydra multiruns: the sweep folder (`multirun.yaml` at its root) and what its jobs share.

`multirun.yaml` is the sweep's composed config, written once when the sweep starts; its
`hydra.overrides.task` holds the command line as typed (`lr=0.1,0.01`) and `hydra.sweeper.params` the
sweeper's own search space. A key is *varied* when its value is a sweep: a top-level comma list, or one of
Hydra's sweep functions (`range`, `choice`, `interval`, `glob`, `tag`, `sort`, `shuffle`).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from expdesk.core.codec import param_str
from expdesk.core.errors import SourceError
from expdesk.core.paths import is_regular_file, is_within
from expdesk.sources.common.yamlconfig import read_yaml_checked

MULTIRUN_FILE = "multirun.yaml"
#: how far above a job folder a sweep's `multirun.yaml` may be (custom `hydra.sweep.subdir` can nest)
SWEEP_DEPTH = 3
_SWEEP_FUNCTION = re.compile(r"^\s*(range|choice|interval|glob|tag|sort|shuffle)\s*\(")


def find_sweep(job: Path, root: Path) -> Path | None:
    """The multirun root above a job folder (within the watched root), if any."""
    folder = job
    for _ in range(SWEEP_DEPTH):
        if folder == root or folder.parent == folder:
            return None
        folder = folder.parent
        if not is_within(folder, root):
            return None
        if is_regular_file(folder / MULTIRUN_FILE):
            return folder
    return None


def split_override(text: str) -> tuple[str, str]:
    """`optimizer.lr=0.01` -> (`optimizer.lr`, `0.01`); `+x=1`/`~x` keep their prefix (it changes meaning)."""
    key, sep, value = text.partition("=")
    return key.strip(), value if sep else ""


def _top_level_comma(value: str) -> bool:
    depth, quote = 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def is_sweep(value: str) -> bool:
    """Does an override's value sweep (several values), rather than set one?"""
    return _top_level_comma(value) or _SWEEP_FUNCTION.match(value) is not None


def plain_key(key: str) -> str:
    """`+x`, `++x`, `~x` -> `x`: the config key an override touches."""
    return key.lstrip("+~")


@functools.lru_cache(maxsize=64)
def _load(path: str, _identity: tuple[int, int, int]) -> dict[str, Any]:
    data = read_yaml_checked(Path(path))
    return data if isinstance(data, dict) else {}


def load_multirun(sweep: Path) -> dict[str, Any]:
    """The sweep's `multirun.yaml` (cached by file identity: every job of a sweep asks for it)."""
    path = sweep / MULTIRUN_FILE
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror}") from None
    return _load(str(path), (st.st_ino, st.st_size, st.st_mtime_ns))


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def sweep_spec(doc: dict[str, Any]) -> tuple[dict[str, str], list[str], dict[str, str], list[str]]:
    """(what each key was set to by the sweep, the command line's overrides, the sweeper's params, the varied
    keys). The command line wins over the sweeper's params for one key, as in Hydra."""
    hydra = _get(doc, "hydra") or {}
    task = _get(hydra, "overrides", "task")
    overrides = [param_str(o) for o in task] if isinstance(task, list) else []
    params_raw = _get(hydra, "sweeper", "params")
    sweeper_params = (
        {str(k): "null" if v is None else param_str(v) for k, v in params_raw.items()}
        if isinstance(params_raw, dict)
        else {}
    )
    spec: dict[str, str] = dict(sweeper_params)
    for text in overrides:
        key, value = split_override(text)
        if key:
            spec[plain_key(key)] = value
    varied = sorted(k for k, v in spec.items() if is_sweep(v))
    return spec, overrides, sweeper_params, varied


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 62, name)


def job_folders(sweep: Path) -> list[str]:
    """Job folders below a sweep (relative, natural order): where `.hydra/config.yaml` is, at most
    `SWEEP_DEPTH` levels down. Only folders are listed on the way (a job's own files are never walked), and a
    job's folder is not searched further."""
    found = []
    stack: list[tuple[Path, str, int]] = [(sweep, "", 0)]
    while stack:
        folder, prefix, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.name == ".hydra" or not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            rel = f"{prefix}{entry.name}"
            if is_regular_file(Path(entry.path) / ".hydra" / "config.yaml"):
                found.append(rel)
            elif depth + 1 < SWEEP_DEPTH:
                stack.append((Path(entry.path), rel + "/", depth + 1))
    return sorted(found, key=lambda j: [_natural(p) for p in j.split("/")])
