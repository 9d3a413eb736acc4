"""Everything known about one run that produced (part of) a model: identity, timings, host, command, code,
environment, inputs and outputs with SHA-256. Each fact says where it came from (`evidence`):

- "recorded": the tool wrote it (MLflow tags, W&B metadata, dvc.lock...), read by expdesk's reader;
- "observed-at-export": expdesk looked at the disk when exporting (SHA-256 of a file, the git work tree);
- "inferred": derived by expdesk from recorded facts (duration from start and end).

What is not known is listed in `gaps`, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.index.lineage_queries import RunRow
from expdesk.index.reader import iso
from expdesk.lineage.catalog import Catalog, FileUse
from expdesk.lineage.files import HashCache
from expdesk.lineage.gitinfo import observe_git, recorded_git

ENV_KEYS = (
    "python",
    "python_version",
    "packages",
    "os",
    "platform",
    "cpu",
    "gpu",
    "gpus",
    "cuda",
    "driver",
    "conda",
)
COMMAND_KEYS = ("command", "argv", "entry_point", "program", "overrides", "args")


@dataclass
class RunRecord:
    run: RunRow
    identity: dict[str, Any]
    code: dict[str, Any] | None
    diff: bytes | None
    environment: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    gaps: list[str] = field(default_factory=list)


def _fact(value: Any, evidence: str = "recorded") -> dict[str, Any]:
    return {"value": value, "evidence": evidence}


def identity_of(run: RunRow, gaps: list[str]) -> dict[str, Any]:
    info = run.info
    out: dict[str, Any] = {
        "key": run.key,
        "tool": run.format,
        "tool_version": _fact(info.get("tool_version")) if info.get("tool_version") else None,
        "native_id": run.native_id,
        "name": run.name,
        "experiment": run.experiment,
        "status": _fact(run.status),
        "native_status": run.native_status,
        # relative to the run's store (or its own folder): never this machine's path, never the watched root
        "path": run.relative(run.path),
        "folder": Path(run.path).name,
        "path_relative_to": "store" if run.base != Path(run.path) else "run folder",
    }
    if run.parts:
        # one training job read from several tools' folders: every part, with what joined it
        out["parts"] = [
            {"key": key, "tool": fmt, "path": run.relative(path), "native_id": native_id, "joined_by": rule}
            for key, fmt, path, native_id, rule in run.parts
        ]
    for label, value in (("start", run.start_time), ("end", run.end_time)):
        if value is None:
            out[label] = None
            gaps.append(f"{label} time not recorded")
        else:
            # the index stores epoch seconds; the reader converted the tool's own unit (MLflow ms, TB s...)
            out[label] = {
                "utc": iso(value),
                "epoch_seconds": value,
                "unit_in_index": "s",
                "evidence": "recorded",
            }
    if run.start_time is not None and run.end_time is not None:
        out["duration_seconds"] = _fact(round(run.end_time - run.start_time, 3), "inferred")
    for name in ("host", "user", "cwd", "exit_status"):
        if info.get(name) is not None:
            out[name] = _fact(info[name])
        elif name in ("host", "user"):
            gaps.append(f"{name} not recorded")
    command = {k: info[k] for k in COMMAND_KEYS if info.get(k) is not None}
    if command:
        out["command"] = _fact(command)
    else:
        gaps.append("command line not recorded")
    return out


def environment_of(run: RunRow, gaps: list[str]) -> dict[str, Any]:
    env = {k: run.info[k] for k in ENV_KEYS if run.info.get(k) is not None}
    if not any(k in env for k in ("python", "python_version")):
        gaps.append("Python version not recorded")
    if "packages" not in env:
        gaps.append("package list not recorded")
    return {"recorded": env, "evidence": "recorded"} if env else {"recorded": {}, "evidence": "none recorded"}


def describe_file(run: RunRow, use: FileUse, hashes: HashCache, fresh: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "role": use.role,
        "recorded_path": use.path,
        "resolved_path": None,
        "size": use.size,
        "sha256": None,
        "tool_digests": dict(sorted(use.digests.items())),
        "bytes_included": False,
    }
    if use.local is not None:
        entry["resolved_path"] = run.relative(use.local)
        digest = hashes.sha256(run.root, use.local, fresh=fresh)
        if digest is not None:
            entry["sha256"] = digest
            entry["size"] = hashes.size(run.root, use.local)
            entry["evidence"] = "observed-at-export"
    if entry["sha256"] is None:
        # honesty rule: keep what the tool recorded, never hash some other current file in its place
        entry["evidence"] = "recorded"
        entry["unverifiable"] = True
    return entry


def build_record(
    catalog: Catalog, hashes: HashCache, key: str, fresh: bool = True, observe: bool = True
) -> RunRecord:
    run = catalog.run(key)
    if run is None:
        raise KeyError(key)
    gaps: list[str] = []
    identity = identity_of(run, gaps)
    code = recorded_git(run.info)
    diff: bytes | None = None
    if code is None and observe:
        code, diff, reason = observe_git(Path(run.path), Path(run.root))
        if code is None:
            gaps.append(f"no git information: {reason}")
    elif code is None:
        gaps.append("no git information recorded")
    if code is not None and diff is None and code.get("dirty"):
        recorded_diff = run.info.get("git", {}).get("diff") if isinstance(run.info.get("git"), dict) else None
        if isinstance(recorded_diff, str):
            diff = recorded_diff.encode("utf-8")
        else:
            gaps.append("work tree was dirty but no diff was recorded")
    environment = environment_of(run, gaps)
    inputs = [describe_file(run, u, hashes, fresh) for u in catalog.inputs(key)]
    outputs = [describe_file(run, u, hashes, fresh) for u in catalog.outputs(key)]
    for entry in inputs:
        if entry.get("unverifiable"):
            digests = ", ".join(f"{k}={v}" for k, v in entry["tool_digests"].items()) or "no digest"
            gaps.append(f"input {entry['recorded_path']} not available here ({digests} as recorded)")
    if not inputs:
        gaps.append("no inputs recorded")
    hashes.flush()
    return RunRecord(run, identity, code, diff, environment, inputs, outputs, gaps)
