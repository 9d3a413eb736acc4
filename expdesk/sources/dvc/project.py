"""DVC projects as runs: params files, pipeline stages with the md5/size of every dep and out, staleness.

The project does not claim its subtree: a `dvclive/` folder inside it is a run of its own (format
"dvclive"), linked back to the project. Nothing here is hashed or executed, and no recorded path is followed
out of the project (`dvc.lock` is just text someone may have edited).
"""

from __future__ import annotations

import configparser
import hashlib
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from expdesk.core.entities import Artifact, FileRef, RunRef, RunUpdate, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file
from expdesk.core.safefile import MAX_YAML_BYTES, read_bytes_capped, read_json_file, walk_stats
from expdesk.core.summary import json_number
from expdesk.sources.base import Reader
from expdesk.sources.common.finals import finals_from
from expdesk.sources.common.folders import run_name
from expdesk.sources.common.tables import flatten_record, number
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked
from expdesk.sources.dvc._stages import (
    DEFAULT_PARAMS,
    MISSING,
    as_dict,
    as_list,
    build_stages,
    dvc_file_stage,
    local_path,
    lookup,
    stale_reasons,
    top_level_outputs,
)

#: never artifacts: DVC's own cache/tmp (machine-local, huge), VCS data, environments
PRUNE = frozenset({".dvc", ".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".tox"})
#: files in `.dvc/` worth listing; `config.local` is left out on purpose (it holds remote credentials)
DVC_DIR_FILES = ("config", ".gitignore")
MAX_FINGERPRINT_ENTRIES = 20000


def _head_has_stages(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    # DVCLive writes a dvc.yaml with only metrics/plots/params: that folder is not a pipeline project
    return head.startswith(b"stages:") or b"\nstages:" in head


def metric_values(data: Any) -> dict[str, Any]:
    """A metrics file (DVC `metrics:` / DVCLive metrics.json) -> flat `{"train/loss": 0.3, "step": 14}`;
    DVCLive's "nan" strings and NaN floats become "NaN" (strict JSON)."""
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in flatten_record(data).items():
        v = number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value  # `step` stays an integer
        elif v is not None:
            out[key] = json_number(v)
        elif isinstance(value, str):
            out[key] = value
    return out


def looks_like_project(path: Path) -> bool:
    return READER.detect(path) > 0


def load_data_file(path: Path) -> Any:
    """A params/metrics file as DVC reads it (YAML, JSON, TOML). Python params files are not executed."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json_file(path, partial_ok=True)
    if suffix == ".toml":
        try:
            return tomllib.loads(read_bytes_capped(path, MAX_YAML_BYTES).decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(path, f"invalid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        return read_yaml_checked(path)
    raise SourceError(path, "unsupported params/metrics file type")


class DvcReader(Reader):
    format = "dvc"
    priority = 55
    claims_subtree = False

    def detect(self, path: Path) -> float:
        try:
            names = set(os.listdir(path))
        except OSError:
            return 0.0
        if ".dvc" in names and os.path.isdir(path / ".dvc") and not os.path.islink(path / ".dvc"):
            return 0.9
        if "dvc.lock" in names and is_regular_file(path / "dvc.lock"):
            return 0.85
        if "dvc.yaml" in names and is_regular_file(path / "dvc.yaml") and _head_has_stages(path / "dvc.yaml"):
            return 0.8
        return 0.0

    def fingerprint(self, ref: RunRef) -> str:
        digest = hashlib.sha1()
        for _, (rel, st) in zip(range(MAX_FINGERPRINT_ENTRIES), self._walk(ref.path), strict=False):
            digest.update(
                f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode("utf-8", "surrogateescape")
            )
        try:
            st = os.stat(ref.path / ".dvc" / "tmp" / "rwlock")
            digest.update(f"rwlock\0{st.st_size}\0{st.st_mtime_ns}".encode())
        except OSError:
            pass
        return digest.hexdigest()

    def _walk(self, project: Path) -> list[tuple[str, os.stat_result]]:
        entries = list(walk_stats(project, PRUNE))
        for name in DVC_DIR_FILES:
            try:
                entries.append((f".dvc/{name}", os.lstat(project / ".dvc" / name)))
            except OSError:
                continue
        return [(rel, st) for rel, st in entries if stat.S_ISREG(st.st_mode)]

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        project = ref.path
        if not project.is_dir():
            raise SourceError(project, "project folder is gone")
        errors: list[str] = []
        update = RunUpdate(name=run_name(project, ref.root))
        files = self._walk(project)
        update.artifacts = sorted(
            (Artifact(rel, st.st_size, st.st_mtime_ns) for rel, st in files), key=lambda a: a.path
        )
        dvc_yaml = self._load(project, "dvc.yaml", errors)
        lock = self._load(project, "dvc.lock", errors)
        stages = build_stages(dvc_yaml, lock)
        for rel, _ in files:
            if rel.endswith(".dvc") and not rel.startswith(".dvc/"):
                data = self._load(project, rel, errors)
                if data is not None:
                    stages.append(dvc_file_stage(rel, data))

        params_files = self._params_files(project, dvc_yaml, stages, update, errors)
        stale: dict[str, list[str]] = {}
        for stage in stages:
            reasons = stale_reasons(stage, project, params_files)
            if reasons:
                stale[stage["name"]] = reasons
        # the top level's declared outputs as one more (unnamed) stage's outs: DVCLive declares its folder there
        # (a path a stage already lists keeps its stage's entry, with the locked md5 and size)
        in_stages = {o["path"] for stage in stages for o in stage["outs"]}
        declared = {
            "deps": [],
            "outs": [o for o in top_level_outputs(dvc_yaml) if o["path"] not in in_stages],
        }
        update.files = self._file_refs(project, [*stages, declared])
        update.info["stages"] = [self._stage_info(s) for s in stages]
        update.info["stale_stages"] = sorted(stale)
        update.info["stale_reasons"] = stale
        update.info["config_files"] = [
            n for n in ("dvc.yaml", "dvc.lock", DEFAULT_PARAMS) if is_regular_file(project / n)
        ]
        update.info["latest"] = self._latest_metrics(project, dvc_yaml, stages, errors, update)
        update.info["no_scm"] = self._no_scm(project)
        update.status, update.native_status = self._status(project)
        mtimes = [a.mtime_ns for a in update.artifacts]
        update.last_activity = max(mtimes) / 1e9 if mtimes else None
        update.info["last_activity_from"] = "file mtime"  # a DVC project records no times of its own
        update.error = "; ".join(errors[:5]) or None
        return update

    def _load(self, project: Path, rel: str, errors: list[str]) -> Any:
        path = project / rel
        if not is_regular_file(path):
            return None
        try:
            return load_data_file(path) if not rel.endswith((".lock", ".dvc")) else read_yaml_checked(path)
        except IncompleteRead:
            return None  # being rewritten by DVC right now: the next read gets it
        except SourceError as exc:
            errors.append(str(exc))
            return None

    def _params_files(
        self, project: Path, dvc_yaml: Any, stages: list[dict[str, Any]], update: RunUpdate, errors: list[str]
    ) -> dict[str, Any]:
        """Load every params file: params.yaml, dvc.yaml's top-level `params:` and those stages name.
        Params are what `dvc params show` merges: whole files, except stage-only files (listed keys)."""
        whole = [DEFAULT_PARAMS] + [p for p in as_list(as_dict(dvc_yaml).get("params")) if isinstance(p, str)]
        wanted = dict.fromkeys(whole)
        for stage in stages:
            wanted.update(dict.fromkeys(stage["params"]))
            wanted.update(dict.fromkeys(stage["locked_params"]))
        loaded: dict[str, Any] = {}
        for rel in wanted:
            local = local_path(project, rel)
            loaded[rel] = (
                self._load(project, rel, errors) if local is not None and is_regular_file(local) else None
            )
        for rel in wanted:
            data = loaded[rel]
            if not isinstance(data, dict):
                continue
            if rel in whole:
                update.params.update(flatten(data))
                continue
            for stage in stages:
                for key in stage["params"].get(rel) or []:
                    value = lookup(data, key)
                    if isinstance(value, dict):
                        update.params.update(flatten(value, key))
                    elif value is not MISSING:
                        update.params.update(flatten({key: value}))
        return loaded

    def _file_refs(self, project: Path, stages: list[dict[str, Any]]) -> list[FileRef]:
        refs: dict[FileRef, None] = {}
        for stage in stages:
            for direction, items in (("input", stage["deps"]), ("output", stage["outs"])):
                for f in items:
                    role = (
                        "dep"
                        if direction == "input"
                        else ("metric" if f.get("metric") else "plot" if f.get("plot") else "out")
                    )
                    local = local_path(project, f["path"])
                    md5 = f.get("md5")
                    refs[
                        FileRef(
                            direction,
                            role,
                            f["path"],
                            str(local) if local is not None else None,
                            f.get("size") if isinstance(f.get("size"), int) else None,
                            (("md5", md5),) if isinstance(md5, str) else (),
                        )
                    ] = None
        return list(refs)

    def _stage_info(self, stage: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": stage["name"],
            "dvcfile": stage["dvcfile"],
            "cmd": stage["cmd"],
            "deps": stage["deps"],
            "outs": stage["outs"],
            "params": stage["locked_params"] or {f: keys for f, keys in stage["params"].items()},
            "frozen": stage["frozen"],
        }

    def _latest_metrics(
        self, project: Path, dvc_yaml: Any, stages: list[dict[str, Any]], errors: list[str], update: RunUpdate
    ) -> dict[str, Any]:
        """What `dvc metrics show` prints: the values in dvc.yaml's metrics files (top level and stages).
        They are the stages' reported results: the run's finals, each from its file."""
        names = [p for p in as_list(as_dict(dvc_yaml).get("metrics")) if isinstance(p, str)]
        names += [o["path"] for s in stages for o in s["outs"] if o.get("metric")]
        latest: dict[str, Any] = {}
        for rel in dict.fromkeys(names):
            local = local_path(project, rel)
            if local is not None and is_regular_file(local):
                values = metric_values(self._load(project, rel, errors))
                latest.update(values)
                for key, final in finals_from(values, rel).items():
                    update.finals.setdefault(key, final)
        return latest

    def _no_scm(self, project: Path) -> bool:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(
                read_bytes_capped(project / ".dvc" / "config", 1 << 20).decode("utf-8", "replace")
            )
        except (SourceError, configparser.Error):
            return False
        return parser.get("core", "no_scm", fallback="false").strip().lower() in ("true", "1", "yes")

    def _status(self, project: Path) -> tuple[Status, str | None]:
        """DVC records no run status. While `dvc repro` runs, `.dvc/tmp/rwlock` lists the paths it writes."""
        rwlock = project / ".dvc" / "tmp" / "rwlock"
        if not is_regular_file(rwlock):
            return Status.UNKNOWN, None
        try:
            data = read_json_file(rwlock, partial_ok=True)
        except SourceError:
            return Status.UNKNOWN, None
        if as_dict(as_dict(data).get("write")):
            return Status.RUNNING, "rwlock: write"
        return Status.UNKNOWN, None


READER = DvcReader()
