"""Weights & Biases offline (and synced) run folders: `wandb/offline-run-<date>-<id>/run-<id>.wandb`.

Current SDKs write everything only into the binary `.wandb` transaction log (framing in `_wandb_log`,
records in `_wandb_proto`); the legacy SDK (0.17) also leaves `files/wandb-metadata.json` (used for the
environment when the log has no EnvironmentRecord) and a stub `files/wandb-summary.json` (used only when the
log has no summary: the log is authoritative, the metadata's `"state": "running"` is never believed).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.safefile import open_regular, read_json_file
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.finals import finals_from
from expdesk.sources.common.times import naive_utc
from expdesk.sources.common.values import flatten
from expdesk.sources.wandb import _log as _wandb_log
from expdesk.sources.wandb import _proto as _wandb_proto
from expdesk.sources.wandb._files import (
    CONFIG,
    METADATA,
    SUMMARY,
    config_values,
    has_side_files,
    is_regular,
    read_json_side,
    started_at,
    summary_series,
)
from expdesk.sources.wandb._media import MediaSink
from expdesk.sources.wandb._state import MetricBuffer, RunState, parse_json

#: `offline-run-20261126_192224-g6l3ugh2` (offline) or `run-20261126_192224-g6l3ugh2` (online)
RUN_DIR = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>.+)$")
LOG_FILE = re.compile(r"^run-(?P<id>.+)\.wandb$")
CURSOR_VERSION = 1
#: the head digest spans the header and the first records (run id): a replaced log differs there
HEAD_BYTES = 4096
#: legacy JSON side files are small; a huge one is not what the SDK wrote
SIDE_FILE_CAP = 16 * 1024 * 1024


def _log_files(folder: Path) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if LOG_FILE.match(n))


def _looks_like_run(path: Path) -> bool:
    """A W&B run folder: its log, or (the log gone) the files an online run leaves, or at least its logs/."""
    if _log_files(path) or has_side_files(path):
        return True
    try:
        return stat.S_ISDIR(os.lstat(path / "logs").st_mode) or stat.S_ISDIR(os.lstat(path / "files").st_mode)
    except OSError:
        return False


def _is_run_dir(path: Path) -> bool:
    return RUN_DIR.match(path.name) is not None and _looks_like_run(path)


def _run_dirs(folder: Path, limit: int | None = None) -> list[Path]:
    """Real run directories below a `wandb/` dir: `latest-run` is a symlink (or a copy's plain file)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not RUN_DIR.match(entry.name):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        if _looks_like_run(Path(entry.path)):
            found.append(Path(entry.path))
            if limit is not None and len(found) >= limit:
                break
    return found


class WandbReader(Reader):
    format = "wandb"
    priority = 70
    claims_subtree = True

    def detect(self, path: Path) -> float:
        try:
            if not path.is_dir():
                return 0.0
            if _is_run_dir(path):
                return 0.95  # a run folder handed over directly
            return 0.9 if _run_dirs(path, limit=1) else 0.0
        except OSError:
            return 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        if _is_run_dir(path):
            return [self._ref(path, path.parent, root)]
        return [self._ref(folder, path, root) for folder in _run_dirs(path)]

    def _ref(self, folder: Path, store: Path, root: Path) -> RunRef:
        match = RUN_DIR.match(folder.name)
        native_id = match.group("id") if match else folder.name
        return RunRef(self.format, folder, root, native_id=native_id, store=store)

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        logs = _log_files(ref.path)
        preferred = f"run-{ref.native_id}.wandb"
        if not logs:
            return self._read_without_log(ref, preferred, "missing: the run's log is not in the folder")
        name = preferred if preferred in logs else logs[0]
        log_path = ref.path / name
        update = RunUpdate()
        fd, _ = open_regular(log_path)
        try:
            st = os.fstat(fd)
            valid = self._cursor_matches(fd, st, name, cursor)
            state = RunState(cursor["state"] if valid and cursor else None)
            offset = int(cursor["offset"]) if valid and cursor else 0
            update.metrics_reset = not valid and cursor is not None
            metrics = MetricBuffer()
            header_ok = _wandb_log.check_header(fd, str(log_path))
            if header_ok:
                media = MediaSink(log_path, ref.path, update.media)
                offset, update.error = _fold(
                    fd, str(log_path), max(offset, _wandb_log.HEADER_LEN), st.st_size, state, metrics, media
                )
            if state.records == 0 and update.error is None and st.st_size == _wandb_log.HEADER_LEN:
                update.error = (
                    f"{name} holds no records after its header: the run was probably killed "
                    "before anything was logged"
                )
            head = hashlib.sha1(os.pread(fd, min(offset, HEAD_BYTES), 0)).hexdigest()
        finally:
            os.close(fd)
        if state.records == 0 and has_side_files(ref.path):
            # an empty log (killed before its first record, or truncated in a copy) next to the files an
            # online run leaves: those files are what the folder holds
            reason = update.error or f"empty: {st.st_size} bytes, no records"
            return self._read_without_log(ref, name, f"not read: {reason}")
        update.cursor = {
            "v": CURSOR_VERSION,
            "file": name,
            "ino": st.st_ino,
            "dev": st.st_dev,
            "offset": offset,
            "head": head,
            "state": state.to_json(),
        }
        update.metrics = [
            Series(
                key, np.array(s, dtype=np.int64), np.array(v, dtype=np.float64), np.array(t, dtype=np.float64)
            )
            for key, (s, v, t) in metrics.series.items()
        ]
        self._fill(update, ref, state, st.st_mtime)
        return update

    @staticmethod
    def _cursor_matches(fd: int, st: os.stat_result, name: str, cursor: dict[str, Any] | None) -> bool:
        if not cursor or cursor.get("v") != CURSOR_VERSION or cursor.get("file") != name:
            return False
        offset = cursor.get("offset")
        if not isinstance(offset, int) or offset > st.st_size or not isinstance(cursor.get("state"), dict):
            return False
        if cursor.get("ino") != st.st_ino or cursor.get("dev") != st.st_dev:
            return False
        return hashlib.sha1(os.pread(fd, min(offset, HEAD_BYTES), 0)).hexdigest() == cursor.get("head")

    def _fill(self, update: RunUpdate, ref: RunRef, state: RunState, mtime: float) -> None:
        run = state.run
        update.name = run.get("display_name") or run.get("run_id") or ref.native_id
        update.experiment = run.get("project") or None
        update.tags = {tag: "" for tag in run.get("tags", [])}  # W&B tags are labels without values
        config = {k: v for k, v in state.config.items() if k != "_wandb"}
        update.params = flatten(config)
        # the run's own newest timestamp (a history row, a system-metrics sample, a console line) says when it
        # was last alive; a copied folder's mtime says when it was copied
        seen = [t for t in (state.last_seen, run.get("start_time")) if t is not None]
        if seen:
            update.last_activity = max(seen)
            update.info["last_activity_from"] = (
                "last history row"
                if state.last_seen is not None and state.last_seen == state.last_ts
                else "run log"
            )
        else:
            update.last_activity = mtime
            update.info["last_activity_from"] = "file mtime"
        if state.exit is not None:
            code = state.exit.get("exit_code", 0)
            update.status = Status.FINISHED if code == 0 else Status.FAILED
            update.native_status = f"exit_code={code}"
        else:
            # no exit record yet: alive, or killed hard; the index judges staleness from last_activity
            update.status = Status.RUNNING
            update.native_status = "no exit record"
        legacy_meta = self._legacy_json(ref.path / "files" / "wandb-metadata.json", update)
        start = run.get("start_time") or state.env.get("started_at")
        if start is None and isinstance(legacy_meta.get("startedAt"), str):
            start = naive_utc(legacy_meta["startedAt"])
        update.start_time = start
        if state.exit is not None:
            runtime_end = start + state.exit.get("runtime", 0) if start is not None else None
            ends = [t for t in (runtime_end, state.last_ts) if t is not None]
            update.end_time = max(ends) if ends else None
        summary = {key: parse_json(text) for key, text in state.summary.items()}
        summary_from = "summary record"
        if not summary:
            legacy_summary = self._legacy_json(ref.path / "files" / "wandb-summary.json", update)
            summary = _flat_values(legacy_summary)
            summary_from = "files/wandb-summary.json"
        times = {k: v for k, v in update.info.items() if k.endswith("_from")}
        update.info = _info(state, legacy_meta, summary, ref) | times
        if start is not None:
            update.info["start_time_from"] = "run log" if run.get("start_time") else "wandb-metadata.json"
        # the summary is what W&B shows as the run's result (the last logged value unless the run set it)
        update.finals = finals_from(_results_only(summary), summary_from, skip_private=True)
        update.artifacts = list_artifacts(ref.path)

    def _read_without_log(self, ref: RunRef, log_name: str, why: str) -> RunUpdate:
        """A run folder whose log is gone or empty: params from files/config.yaml, last values from
        files/wandb-summary.json, environment and start from files/wandb-metadata.json. Status is unknown
        (only the log records the exit)."""
        folder = ref.path
        if not has_side_files(folder):
            present = sorted(a.path for a in list_artifacts(folder))
            held = ", ".join(present[:5]) + (" ..." if len(present) > 5 else "") if present else "nothing"
            raise SourceError(
                folder,
                f"W&B run folder with nothing to read: no {log_name}, no {CONFIG} or {SUMMARY} (it holds: {held})",
            )
        update = RunUpdate(name=ref.native_id, status=Status.UNKNOWN, metrics_reset=True)
        update.native_status = "no run log"
        update.unread.append((log_name, why))
        config = config_values(folder, update.unread) or {}
        update.params = flatten({k: v for k, v in config.items() if k != "_wandb"})
        summary = read_json_side(folder / SUMMARY, update.unread, SUMMARY)
        meta = read_json_side(folder / METADATA, update.unread, METADATA)
        update.metrics = summary_series(summary)
        update.start_time = started_at(meta)
        if update.start_time is not None:
            update.info["start_time_from"] = "wandb-metadata.json"
        stamp = summary.get("_timestamp")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            update.last_activity = float(stamp)
            update.info["last_activity_from"] = "wandb-summary.json"
        update.info["summary"] = {k: v for k, v in _flat_values(summary).items() if not k.startswith("_")}
        for key in ("host", "username", "program", "python", "os", "executable", "cuda"):
            if meta.get(key):
                update.info["user" if key == "username" else key] = meta[key]
        git = _legacy_git(meta)
        if git:
            update.info["git"] = git
        update.artifacts = list_artifacts(folder)
        update.cursor = {"v": CURSOR_VERSION, "file": None}
        return update

    @staticmethod
    def _legacy_json(path: Path, update: RunUpdate) -> dict[str, Any]:
        if not os.path.lexists(path):
            return {}
        try:
            data = read_json_file(path, partial_ok=True) if is_regular(path) else {}
        except IncompleteRead:
            return {}  # being rewritten: the next read picks it up
        except SourceError as exc:
            update.error = update.error or str(exc)
            return {}
        return data if isinstance(data, dict) else {}


def _fold(
    fd: int,
    path: str,
    start: int,
    size: int,
    state: RunState,
    metrics: MetricBuffer,
    media: MediaSink | None = None,
) -> tuple[int, str | None]:
    """Fold every complete record from `start`; returns (offset after the last one, error or None).

    A framing error (CRC, length) stops the scan: the offset stays before it, so it is retried and reported
    on every read until the bytes change. An undecodable payload whose CRC matched is skipped (the writer
    meant those bytes; a newer SDK may encode differently) and remembered in the state so it stays reported.
    """
    offset = start
    try:
        for payload, end in _wandb_log.scan(fd, path, start, size):
            try:
                state.apply(payload, metrics)
                if media is not None:
                    media.record(payload, state.last_step, offset, end)
            except _wandb_proto.ProtoError as exc:
                reason = f"undecodable record skipped: {exc}"
                state.flags.setdefault(
                    "record_error", str(SourceError(path, reason, f"record ending at byte {end}"))
                )
            offset = end
    except SourceError as exc:
        return offset, str(exc)
    return offset, state.flags.get("record_error")


def _info(state: RunState, meta: dict[str, Any], summary: dict[str, Any], ref: RunRef) -> dict[str, Any]:
    env, run = state.env, state.run
    info: dict[str, Any] = {}
    host = env.get("host") or run.get("host") or meta.get("host")
    if host:
        info["host"] = host
    user = env.get("username") or meta.get("username")
    if user:
        info["user"] = user
    program = env.get("program") or meta.get("program")
    args = env.get("args") if "args" in env else meta.get("args")
    if program:
        info["command"] = [program, *(args if isinstance(args, list) else [])]
    for key, meta_key in (
        ("python", "python"),
        ("os", "os"),
        ("executable", "executable"),
        ("cuda", "cuda"),
        ("docker", "docker"),
    ):
        value = env.get("cuda_version" if key == "cuda" else key) or meta.get(meta_key)
        if value:
            info[key] = value
    if env.get("root"):
        info["cwd"] = env["root"]
    gpu = env.get("gpu_type") or meta.get("gpu")
    if gpu:
        info["gpu"] = {"type": gpu, "count": env.get("gpu_count") or meta.get("gpu_count")}
    git = env.get("git") or run.get("git") or _legacy_git(meta)
    if git:
        info["git"] = git
    wandb_info = {
        key: run[key]
        for key in (
            "run_id",
            "entity",
            "project",
            "group",
            "job_type",
            "notes",
            "sweep_id",
            "resumed",
            "starting_step",
        )
        if run.get(key)
    }
    wandb_info["tags"] = list(run.get("tags", []))
    wandb_info["records"] = state.records
    wandb_info["history_rows"] = state.history
    if state.exit is not None:
        wandb_info["exit_code"] = state.exit.get("exit_code", 0)
        wandb_info["runtime_s"] = state.exit.get("runtime", 0)
    for flag in ("sdk", "final", "preempting"):
        if flag in state.flags:
            wandb_info[flag] = state.flags[flag]
    info["wandb"] = wandb_info
    if state.files:
        # FilesRecord paths are relative to the run's files/ folder
        info["saved_files"] = [f"files/{p}" for p in state.files]
    info["summary"] = summary
    return info


def _flat_values(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary dicts as `a/b` keys (how W&B spells nested summary keys), values kept as they are."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flat_values(value, name))
        else:
            out[name] = value
    return out


def _legacy_git(meta: dict[str, Any]) -> dict[str, str]:
    git = meta.get("git")
    if not isinstance(git, dict):
        return {}
    out = {}
    if git.get("commit"):
        out["commit"] = str(git["commit"])
    if git.get("remote"):
        out["remote"] = str(git["remote"])
    return out


READER = WandbReader()


def _results_only(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without the fields of logged objects: an image or histogram's summary entry is an object
    W&B marks with `_type` (`sample/_type: image-file`, `sample/size: 268`), whose numbers describe the file,
    not a result of the run."""
    objects = {key.rpartition("/")[0] for key in summary if key.rpartition("/")[2] == "_type"}
    objects.update(key for key, value in summary.items() if isinstance(value, dict) and "_type" in value)
    if not objects:
        return summary

    def inside_object(key: str) -> bool:
        # the key itself or any of its parents (`a`, `a/b` of `a/b/c`): a few lookups per key
        parts = key.split("/")
        return any("/".join(parts[:i]) in objects for i in range(1, len(parts) + 1))

    return {key: value for key, value in summary.items() if not inside_object(key)}
