"""DVC pipeline stages: `dvc.yaml` (what should run) merged with `dvc.lock` (what ran, with md5 + size of
every dep/out) and `*.dvc` files (`dvc add`), as plain JSON-able dicts.

Paths are recorded relative to the stage's `wdir` (relative to the `.dvc` file's folder for `dvc add`);
everything here is expressed relative to the project. Nothing is hashed: staleness is judged from the
params recorded in dvc.lock against the params files now, and recorded sizes against sizes on disk.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expdesk.core.codec import param_str
from expdesk.core.errors import UnsafePath
from expdesk.core.paths import resolve_inside

DEFAULT_PARAMS = "params.yaml"
#: what `lookup` returns for an absent key (None is a legitimate YAML value)
MISSING = object()


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def join_path(base: str, path: str) -> str:
    """A recorded path relative to `base` (a wdir or a .dvc file's folder) -> relative to the project.
    URLs (`import-url` deps) are kept as recorded."""
    if "://" in path or not base or base == ".":
        return path
    return posixpath.normpath(posixpath.join(base, path))


def local_path(project: Path, path: str) -> Path | None:
    """Where a recorded path is now, contained in the project; None for URLs, escapes and missing files."""
    if "://" in path:
        return None
    try:
        candidate = resolve_inside(project, path)
    except UnsafePath:
        return None
    return candidate if os.path.lexists(candidate) else None


def lookup(tree: Any, key: str) -> Any:
    """A DVC params key (`train.lr`, `layers.0`) in a loaded params file; `MISSING` when absent."""
    if isinstance(tree, Mapping) and key in tree:
        return tree[key]
    node = tree
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def _entry(raw: Any) -> tuple[str, dict[str, Any]] | None:
    """A dvc.yaml dep/out: `path` or `{path: {cache: false, ...}}`."""
    if isinstance(raw, str):
        return raw, {}
    if isinstance(raw, dict) and len(raw) == 1:
        path, opts = next(iter(raw.items()))
        return str(path), as_dict(opts)
    return None


def _params_spec(raw: Any) -> dict[str, list[str] | None]:
    """dvc.yaml `params:` -> {file: [keys] (None = whole file)}."""
    out: dict[str, list[str] | None] = {}
    for item in as_list(raw):
        if isinstance(item, str):
            keys = out.setdefault(DEFAULT_PARAMS, [])
            if keys is not None:
                keys.append(item)
        elif isinstance(item, dict):
            for file, keys in item.items():
                if not isinstance(keys, list):
                    out[str(file)] = None
                elif (known := out.get(str(file), [])) is not None:
                    out[str(file)] = known + [param_str(k) for k in keys]
    return out


def expand_stages(stages: Any) -> dict[str, dict[str, Any]]:
    """dvc.yaml `stages:` with `foreach/do` and `matrix` expanded to `name@key` (templates not resolved)."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in as_dict(stages).items():
        spec = as_dict(spec)
        if "foreach" in spec and "do" in spec:
            items = spec["foreach"]
            # a `${...}` foreach is resolved by DVC from params; dvc.lock lists its expansions
            keys = list(items) if isinstance(items, dict) else [param_str(i) for i in as_list(items)]
            for key in keys:
                out[f"{name}@{key}"] = as_dict(spec["do"])
        elif isinstance(spec.get("matrix"), dict):
            axes = [[param_str(v) for v in as_list(values)] for values in spec["matrix"].values()]
            body = {k: v for k, v in spec.items() if k != "matrix"}
            for combo in itertools.product(*axes):
                out[f"{name}@{'-'.join(combo)}"] = body
        else:
            out[str(name)] = spec
    return out


def _lock_stages(lock: Any) -> dict[str, dict[str, Any]]:
    lock = as_dict(lock)
    if "stages" in lock or "schema" in lock:
        return {str(k): as_dict(v) for k, v in as_dict(lock.get("stages")).items()}
    return {str(k): as_dict(v) for k, v in lock.items()}  # schema 1.0: stages at the top level


def _locked_file(raw: Any, base: str) -> dict[str, Any] | None:
    raw = as_dict(raw)
    if not isinstance(raw.get("path"), str):
        return None
    out: dict[str, Any] = {"path": join_path(base, raw["path"])}
    for key in ("md5", "size", "nfiles"):
        value = raw.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            out[key] = value if key != "md5" else str(value)
    return out


def build_stages(dvc_yaml: Any, lock: Any) -> list[dict[str, Any]]:
    """Stages of dvc.yaml merged with dvc.lock, in dvc.yaml order, then lock-only stages."""
    defined = expand_stages(as_dict(dvc_yaml).get("stages"))
    locked = _lock_stages(lock)
    result = []
    for name in list(defined) + [n for n in locked if n not in defined]:
        spec, entry = defined.get(name, {}), locked.get(name, {})
        wdir: str = spec["wdir"] if isinstance(spec.get("wdir"), str) else "."
        flags: dict[str, dict[str, Any]] = {}
        for kind in ("outs", "metrics", "plots"):
            for raw in as_list(spec.get(kind)):
                parsed = _entry(raw)
                if parsed:
                    flags[join_path(wdir, parsed[0])] = {
                        "cache": bool(parsed[1].get("cache", True)),
                        "metric": kind == "metrics",
                        "plot": kind == "plots",
                    }
        deps = _merge(
            [join_path(wdir, p[0]) for p in map(_entry, as_list(spec.get("deps"))) if p],
            [f for f in (_locked_file(d, wdir) for d in as_list(entry.get("deps"))) if f],
        )
        outs = _merge(
            list(flags), [f for f in (_locked_file(o, wdir) for o in as_list(entry.get("outs"))) if f]
        )
        for out in outs:
            out.update(flags.get(out["path"], {"cache": True, "metric": False, "plot": False}))
        cmd = entry.get("cmd", spec.get("cmd"))
        result.append(
            {
                "name": name,
                "dvcfile": "dvc.yaml",
                "cmd": cmd if isinstance(cmd, (str, list)) else None,
                "yaml_cmd": spec.get("cmd") if isinstance(spec.get("cmd"), (str, list)) else None,
                "deps": deps,
                "outs": outs,
                "params": _params_spec(spec.get("params")),
                "locked_params": {str(f): as_dict(v) for f, v in as_dict(entry.get("params")).items()},
                "in_yaml": name in defined,
                "in_lock": name in locked,
                "frozen": bool(spec.get("frozen", False)),
            }
        )
    return result


def top_level_outputs(dvc_yaml: Any) -> list[dict[str, Any]]:
    """Paths dvc.yaml declares outside any stage: the top-level `metrics:` and `plots:` lists and the paths
    of `artifacts:` (what DVCLive writes with `dvcyaml=True`, and what `dvc metrics/plots show` read).

    A top-level plot is a path (`dvclive/plots/metrics: {x: step}`) or a named definition whose files are
    the keys of its `y` (and `x`) mapping."""
    spec = as_dict(dvc_yaml)
    out: dict[str, dict[str, Any]] = {}
    for raw in as_list(spec.get("metrics")):
        if isinstance(raw, str):
            out.setdefault(raw, {"path": raw, "cache": False, "metric": True, "plot": False})
    for raw in as_list(spec.get("plots")):
        parsed = _entry(raw)
        if parsed is None:
            continue
        name, props = parsed
        files = [f for axis in ("y", "x") if isinstance(props.get(axis), dict) for f in props[axis]]
        for path in [str(f) for f in files] or [name]:
            out.setdefault(path, {"path": path, "cache": False, "metric": False, "plot": True})
    for artifact in as_dict(spec.get("artifacts")).values():
        artifact_path = as_dict(artifact).get("path")
        if isinstance(artifact_path, str):
            out.setdefault(
                artifact_path, {"path": artifact_path, "cache": True, "metric": False, "plot": False}
            )
    return list(out.values())


def dvc_file_stage(rel: str, data: Any) -> dict[str, Any]:
    """A `dvc add` file (`data/raw.csv.dvc`): outs (and import deps) relative to the file's folder."""
    data = as_dict(data)
    base = posixpath.dirname(rel) or "."
    wdir = join_path(base, data["wdir"]) if isinstance(data.get("wdir"), str) else base
    outs = [f for f in (_locked_file(o, wdir) for o in as_list(data.get("outs"))) if f]
    for out, raw in zip(outs, [o for o in as_list(data.get("outs")) if _locked_file(o, wdir)], strict=True):
        out.update(cache=bool(raw.get("cache", True)), metric=False, plot=False)
    deps = [f for f in (_locked_file(d, wdir) for d in as_list(data.get("deps"))) if f]
    return {
        "name": rel,
        "dvcfile": rel,
        "cmd": None,
        "yaml_cmd": None,
        "deps": deps,
        "outs": outs,
        "params": {},
        "locked_params": {},
        "in_yaml": False,
        "in_lock": True,
        "frozen": bool(data.get("frozen", False)),
    }


def _merge(declared: list[str], locked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Declared paths in dvc.yaml order with their locked md5/size, then paths only the lock knows."""
    if locked:
        # `${item}.o` in a foreach/matrix body: the lock holds the resolved path; the template adds nothing
        declared = [p for p in declared if "${" not in p]
    by_path = {f["path"]: f for f in locked}
    out = [by_path.get(p, {"path": p}) for p in dict.fromkeys(declared)]
    out += [f for f in locked if f["path"] not in set(declared)]
    return out


def stale_reasons(stage: dict[str, Any], project: Path, params_files: dict[str, Any]) -> list[str]:
    """Why `dvc status` would call this stage changed, judged without hashing anything.

    `params_files` maps a params file (project-relative) to its loaded content (`None` = missing/unreadable).
    """
    reasons = []
    if stage["in_yaml"] and not stage["in_lock"] and not stage["frozen"]:
        return ["never run (not in dvc.lock)"]
    yaml_cmd, cmd = stage["yaml_cmd"], stage["cmd"]
    # a templated cmd (`${item}`) is only resolved in dvc.lock; comparing it literally would always differ
    if isinstance(yaml_cmd, str) and "${" not in yaml_cmd and isinstance(cmd, str) and yaml_cmd != cmd:
        reasons.append("cmd changed")
    for file, values in stage["locked_params"].items():
        current = params_files.get(file)
        if current is None:
            reasons.append(f"params file {file} missing")
            continue
        for key, locked_value in values.items():
            if lookup(current, key) != locked_value:
                reasons.append(f"param {file}:{key} changed")
    for file, keys in stage["params"].items():
        for key in keys or []:
            if key not in stage["locked_params"].get(file, {}):
                reasons.append(f"param {file}:{key} not in dvc.lock")
    for kind, files in (("dep", stage["deps"]), ("out", stage["outs"])):
        for f in files:
            size = f.get("size")
            if not isinstance(size, int) or str(f.get("md5", "")).endswith(".dir"):
                continue  # directories would need a walk and a hash of every file: left to `dvc status`
            local = local_path(project, f["path"])
            try:
                st = os.stat(local) if local is not None else None
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_size != size:
                reasons.append(f"{kind} {f['path']} size changed")
    return reasons
