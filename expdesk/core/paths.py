"""Where expdesk keeps its own files, and the containment rule for every path read from a run.

Containment: a path recorded inside a run (artifact URI, checkpoint path, dataset source) is only ever
followed when it resolves, symlinks included, to a place inside the run's watched root.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from expdesk.core.errors import UnsafePath

APP_NAME = "expdesk"
ENV_DB = "EXPDESK_DB"


def data_dir() -> Path:
    """The per-user data dir (platformdirs). Imported lazily so `core` stays stdlib-light."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def config_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False)


def default_db_path() -> Path:
    """`EXPDESK_DB` wins over the platform data dir."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    return data_dir() / "index.sqlite"


#: roots that name a tracking server (listed over HTTP by `expdesk.remote`), not a folder: kept verbatim
SERVER_SCHEMES = ("mlflow+http://", "mlflow+https://")


def is_server_url(text: str, plain_http: bool = False) -> bool:
    """`mlflow+http(s)://host` names a tracking server used as an index root. With `plain_http`, a bare
    `http(s)://host` counts too (where the user types a server to push to or browse)."""
    return text.startswith(SERVER_SCHEMES + (("http://", "https://") if plain_http else ()))


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def is_within(path: Path, root: Path) -> bool:
    """True when `path` (already resolved) is `root` or below it."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def watched_folder_holding(target: Path, folders: Iterable[str]) -> str | None:
    """The watched folder `target` would be written into (links resolved), or None: expdesk writes its
    exports, reports and view files anywhere but there."""
    resolved = target.resolve()
    for folder in sorted(folders):
        if is_server_url(folder, plain_http=True):
            continue  # a tracking server listed as a root: no folder here
        if is_within(resolved, Path(folder).resolve()):
            return folder
    return None


def resolve_inside(root: Path, relative: str) -> Path:
    """Join a recorded *relative* path onto `root` and refuse anything that leaves it.

    Refused: absolute paths, drive letters, UNC/backslash tricks, `~`, NUL, `..` that climbs out,
    URL-encoded traversal (decoded repeatedly until stable), symlinks that resolve outside.
    """
    text = relative
    for _ in range(4):  # %252e -> %2e -> . : decode until stable so double encoding cannot hide `..`
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    if "\0" in text:
        raise UnsafePath(relative, "path contains a NUL byte")
    text = text.replace("\\", "/")
    if text.startswith(("/", "~")) or _WINDOWS_DRIVE.match(text) or _SCHEME.match(text):
        raise UnsafePath(relative, "absolute path or URI where a relative path was expected")
    root_resolved = root.resolve()
    candidate = (root_resolved / text).resolve()
    if not is_within(candidate, root_resolved):
        raise UnsafePath(relative, f"path leaves its root {root}")
    return candidate


def is_regular_file(path: Path) -> bool:
    """A plain file we may open: never a FIFO, device or socket (opening a FIFO blocks forever)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)


def local_path_for_uri(uri: str, recorded_root: str | None, actual_root: Path, contain: Path) -> Path | None:
    """Map a recorded absolute location (e.g. an MLflow `artifact_uri` from another machine) to here.

    The store moved: `recorded_root` is where the store was when the URI was written, `actual_root` where it
    is now. The URI's tail below `recorded_root` is re-rooted onto `actual_root`, then contained in `contain`.
    Returns None when the URI cannot be mapped safely (other scheme, outside the old root, escapes).
    """
    text = uri
    if text.startswith("file://"):
        text = text[len("file://") :]
        if not text.startswith("/"):
            return None  # file://host/... names another machine
    elif _SCHEME.match(text) and not _WINDOWS_DRIVE.match(text):
        return None  # s3://, mlflow-artifacts:, http:... are not local
    text = unquote(text)
    if recorded_root is None:
        return None
    base = recorded_root.rstrip("/")
    if text != base and not text.startswith(base + "/"):
        return None
    tail = text[len(base) :].lstrip("/")
    try:
        target = resolve_inside(actual_root, tail) if tail else actual_root.resolve()
    except UnsafePath:
        return None
    return target if is_within(target, contain.resolve()) else None
