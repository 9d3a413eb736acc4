"""Code provenance: what the tool recorded about git, or what the run folder's git work tree says now.

Observation is guarded: the work tree must lie inside the run's watched root (a repository *above* the root
is someone else's project, e.g. the checkout that holds a copy of the runs), and git is run with optional
locks off (so `status` never rewrites `.git/index` inside a watched folder), no fsmonitor, no hooks, no
external diff or textconv. A repository whose own config (local or worktree scope) defines filters or
commands is not run at all: clean filters execute on `status`/`diff`, and we never execute what a watched folder
configures. Filters from the user's own system or global config (git-lfs installs one for everybody) are
switched off for our calls rather than refused: `git-lfs clean` writes objects into `.git/lfs` of the watched
folder, and an empty filter command makes git compare the file as it is (an LFS pointer stays a pointer).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from expdesk.core.paths import is_within

GIT_TIMEOUT = 20.0
MAX_DIFF_BYTES = 16 * 1024 * 1024
#: config that makes `status`/`diff` run programs (our own `-c core.fsmonitor=false` is listed too: fine)
_RISKY_CONFIG = re.compile(r"^(filter\.|diff\.[^=]*\.(command|textconv)=|core\.fsmonitor=(?!false$))", re.I)
_SECRET_QUERY = re.compile(r"(token|key|secret|password|sig|signature|auth)", re.I)


def strip_credentials(url: str) -> str:
    """A remote URL without user:password (http tokens often sit in the user part) or secret query args."""
    if "://" not in url:
        return url  # scp-like `git@host:path`: the user is a login name, not a secret
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username and parts.scheme in ("ssh", "git+ssh") and not parts.password:
        host = f"{parts.username}@{host}"
    query = "&".join(q for q in parts.query.split("&") if q and not _SECRET_QUERY.search(q.split("=", 1)[0]))
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def recorded_git(info: dict[str, Any]) -> dict[str, Any] | None:
    git = info.get("git")
    if not isinstance(git, dict) or not git:
        return None
    out: dict[str, Any] = {"source": "recorded by the tool", "evidence": "recorded"}
    for name in ("commit", "branch", "describe", "dirty", "untracked", "submodules", "entry_script"):
        if git.get(name) is not None:
            out[name] = git[name]
    remotes = git.get("remotes") or ({"origin": git["remote"]} if git.get("remote") else {})
    if isinstance(remotes, dict):
        out["remotes"] = {str(k): strip_credentials(str(v)) for k, v in sorted(remotes.items())}
    return out


def find_work_tree(start: Path, root: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.git`, but never above `root`."""
    root = root.resolve()
    folder = start.resolve()
    if folder.is_file():
        folder = folder.parent
    while is_within(folder, root):
        if (folder / ".git").exists():
            return folder
        if folder == root:
            break
        folder = folder.parent
    return None


#: config scopes a watched repository supplies itself (`include.path` entries there show as these scopes)
_REPOSITORY_SCOPES = ("local", "worktree")


def _git(top: Path, *args: str, binary: bool = False, overrides: tuple[str, ...] = ()) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise OSError("git is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"})
    cmd = [git, "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
           *overrides, "-C", str(top), *args]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, timeout=GIT_TIMEOUT, env=env, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        raise OSError(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done.stdout


def observe_git(start: Path, root: Path) -> tuple[dict[str, Any] | None, bytes | None, str | None]:
    """(git.json fields, diff bytes, reason when nothing could be observed)."""
    top = find_work_tree(start, root)
    if top is None:
        return None, None, "the run folder is not inside a git work tree within its watched root"
    try:
        config = _git(top, "config", "--list", "--show-scope").decode("utf-8", "replace").splitlines()
        entries = [(scope, item) for scope, _, item in (line.partition("\t") for line in config)]
        risky = [
            item.split("=", 1)[0]
            for scope, item in entries
            if scope in _REPOSITORY_SCOPES and _RISKY_CONFIG.match(item)
        ]
        if risky:
            return None, None, f"git not run: the repository config defines {', '.join(sorted(set(risky)))}"
        user_filters = sorted(
            {
                item.split(".")[1]
                for scope, item in entries
                if item.lower().startswith("filter.") and "." in item[7:]
            }
        )
        overrides = tuple(
            arg
            for name in user_filters
            for key in ("clean", "smudge", "process")
            for arg in ("-c", f"filter.{name}.{key}=")
        ) + tuple(arg for name in user_filters for arg in ("-c", f"filter.{name}.required=false"))

        def git(*args: str) -> bytes:
            return _git(top, *args, overrides=overrides)

        commit = git("rev-parse", "HEAD").decode().strip()
        branch = git("rev-parse", "--abbrev-ref", "HEAD").decode().strip()
        remotes: dict[str, str] = {}
        for line in git("remote", "-v").decode("utf-8", "replace").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] not in remotes:
                remotes[fields[0]] = strip_credentials(fields[1])
        status = git("status", "--porcelain=v1", "-z", "--untracked-files=normal").split(b"\0")
        untracked = sorted(e[3:].decode("utf-8", "replace") for e in status if e.startswith(b"?? "))
        tracked_changes = [e for e in status if e and not e.startswith(b"?? ")]
        diff = git("diff", "--binary", "--no-ext-diff", "--no-textconv", "HEAD") if tracked_changes else b""
        submodules = git("submodule", "status").decode("utf-8", "replace").split("\n")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"git could not be read: {exc}"
    out: dict[str, Any] = {
        "source": "git work tree at export time (not necessarily the state when the run ran)",
        "evidence": "observed-at-export",
        "work_tree": top.relative_to(root.resolve()).as_posix() or ".",
        "commit": commit,
        "branch": None if branch == "HEAD" else branch,
        "remotes": remotes,
        "dirty": bool(tracked_changes or untracked),
        "untracked": untracked,
        "submodules": [s.strip() for s in submodules if s.strip()],
    }
    if user_filters:
        out["filters_not_run"] = user_filters  # files under them were compared as stored (e.g. LFS pointers)
    if len(diff) > MAX_DIFF_BYTES:
        out["diff_omitted"] = f"diff is {len(diff)} bytes, over the {MAX_DIFF_BYTES}-byte cap"
        diff = b""
    return out, diff or None, None
