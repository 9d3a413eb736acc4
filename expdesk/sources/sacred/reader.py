"""Sacred FileStorageObserver: `<basedir>/<id>/{run.json, config.json, metrics.json, cout.txt, info.json}`.

Sacred rewrites run.json, metrics.json and info.json *in place* at every heartbeat (truncate, then write), so
an empty or truncated JSON document is a write in progress: the previous state (kept in the cursor) stands
and the next read tries again. metrics.json is a whole-file rewrite too, so it is re-parsed when its size,
mtime or identity changed, and each metric key is compared with what was sent before: a key whose old
points are an unchanged prefix sends only its new points; any other change sends the key again in full.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import FileRef, RunRef, RunUpdate, Series, Status
from expdesk.core.errors import IncompleteRead, SourceError, UnsafePath
from expdesk.core.paths import is_within, resolve_inside
from expdesk.core.safefile import MAX_JSON_BYTES, parse_json_text, read_bytes_capped
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.times import naive_utc
from expdesk.sources.common.values import flatten, to_float

CURSOR_VERSION = 1
SIGNATURE = ("run.json", "config.json", "cout.txt", "metrics.json")

#: TIMEOUT comes from Sacred's `TimeoutInterrupt`, a `SacredInterrupt` the experiment's own code raises when
#: it ran out of time: Sacred handles it exactly like INTERRUPTED (stop_time written, observers told), and
#: nothing outside killed the process. So it is an interruption, not a kill.
STATUSES = {
    "COMPLETED": Status.FINISHED,
    "FAILED": Status.FAILED,
    "INTERRUPTED": Status.INTERRUPTED,
    "TIMEOUT": Status.INTERRUPTED,
    "QUEUED": Status.QUEUED,
    "RUNNING": Status.RUNNING,
}
#: what a JSON document cut short ends with after the last complete token (a literal or number prefix)
_TRUNCATED_TAIL = re.compile(
    r"-?[0-9.eE+-]*|N|Na|I|In|Inf|Infi|Infin|Infini|Infinit|-I[nfity]*|t|tr|tru|f|fa|fal|fals|n|nu|nul"
)
_CREDENTIALS = re.compile(r"(?<=://)[^/@]+@")
_MD5_SUFFIX = re.compile(r"_([0-9a-f]{32})(?:\.[^/]*)?$")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _isfile(path: Path) -> bool:
    try:
        return path.is_file() and not path.is_symlink()
    except OSError:
        return False


def _run_dirs(basedir: Path) -> list[Path]:
    """Run folders of an observer basedir. `_sources/` (and `_resources/`) hold snapshots, not runs."""
    try:
        entries = list(os.scandir(basedir))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(("_", ".")):
            continue
        try:
            if entry.is_dir(follow_symlinks=False) and _isfile(Path(entry.path) / "run.json"):
                found.append(Path(entry.path))
        except OSError:
            continue
    # ids 1, 2, 10 sort numerically; custom `--id` names after them
    found.sort(key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))
    return found


class SacredReader(Reader):
    format = "sacred"
    priority = 60
    claims_subtree = True

    def detect(self, path: Path) -> float:
        try:
            if not path.is_dir():
                return 0.0
            if _isfile(path / "run.json"):
                # a single run folder handed over directly: run.json next to Sacred's other files
                others = sum(_isfile(path / name) for name in SIGNATURE[1:])
                return 0.8 if others else 0.0
            with os.scandir(path) as entries:
                names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            numeric = [n for n in names if n.isdigit()]
            if any(_isfile(path / n / "run.json") for n in numeric[:20]):
                return 0.95 if "_sources" in names else 0.9
            return 0.0
        except OSError:
            return 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        if _isfile(path / "run.json"):
            return [RunRef(self.format, path, root, native_id=path.name, store=path.parent)]
        return [RunRef(self.format, p, root, native_id=p.name, store=path) for p in _run_dirs(path)]

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        if not _isfile(ref.path / "run.json"):
            raise SourceError(ref.path / "run.json", "missing (not a Sacred run folder any more?)")
        old = cursor if cursor and cursor.get("v") == CURSOR_VERSION else {}
        update = RunUpdate()
        errors: list[str] = []
        run = _cached_json(ref.path / "run.json", old.get("run"), errors)
        config = _cached_json(ref.path / "config.json", old.get("config"), errors)
        run_info = _cached_json(ref.path / "info.json", old.get("info"), errors)
        data = run["data"] if isinstance(run["data"], dict) else {}
        self._identity(update, ref, data)
        update.params = flatten(config["data"]) if isinstance(config["data"], dict) else {}
        update.info = {**self._info(data, run_info["data"]), **update.info}  # + where the times came from
        update.files = self._files(ref, data)
        update.artifacts = list_artifacts(ref.path)
        metrics_state = _metrics(
            ref.path / "metrics.json", old.get("metrics"), cursor is not None and not old, update, errors
        )
        update.error = "; ".join(errors) or None
        update.cursor = {
            "v": CURSOR_VERSION,
            "run": run,
            "config": config,
            "info": run_info,
            "metrics": metrics_state,
        }
        return update

    @staticmethod
    def _identity(update: RunUpdate, ref: RunRef, run: dict[str, Any]) -> None:
        experiment = _dict(run.get("experiment"))
        update.name = str(experiment.get("name") or ref.native_id)
        update.experiment = experiment.get("name")
        native = run.get("status")
        update.native_status = str(native) if native is not None else None
        update.status = STATUSES.get(str(native), Status.UNKNOWN)
        update.start_time = naive_utc(run.get("start_time")) or naive_utc(run.get("queue_time"))
        update.end_time = naive_utc(run.get("stop_time"))
        beat = naive_utc(run.get("heartbeat"))
        try:
            mtime = os.stat(ref.path / "run.json").st_mtime
        except OSError:
            mtime = None
        # the heartbeat is the run's own sign of life; fall back to the file when there is none (QUEUED)
        update.last_activity = beat if beat is not None else mtime
        update.info["last_activity_from"] = "heartbeat" if beat is not None else "file mtime (run.json)"
        if update.start_time is not None:
            update.info["start_time_from"] = "run.json"

    @staticmethod
    def _info(run: dict[str, Any], run_info: Any) -> dict[str, Any]:
        info: dict[str, Any] = {}
        host = _dict(run.get("host"))
        experiment = _dict(run.get("experiment"))
        meta = _dict(run.get("meta"))
        if host.get("hostname"):
            info["host"] = host["hostname"]
        if isinstance(host.get("os"), list) and host["os"]:
            info["os"] = host["os"][-1]
        for key, name in (("python_version", "python"), ("cpu", "cpu"), ("gpus", "gpu")):
            if host.get(key):
                info[name] = host[key]
        if host.get("ENV"):
            info["environment"] = host["ENV"]
        if run.get("command") is not None:
            info["command"] = run["command"]  # Sacred's command name (e.g. "main"), not an argv
        if isinstance(experiment.get("dependencies"), list):
            info["packages"] = experiment["dependencies"]
        repos = experiment.get("repositories")
        if isinstance(repos, list) and repos and isinstance(repos[0], dict):
            first = repos[0]
            info["git"] = {
                "commit": first.get("commit"),
                "remote": _no_credentials(first.get("url")),
                "dirty": first.get("dirty"),
            }
        info["config_files"] = ["config.json"]
        sacred = {
            "experiment": experiment.get("name"),
            "mainfile": experiment.get("mainfile"),
            "base_dir": experiment.get("base_dir"),
            "repositories": repos or [],
            "comment": meta.get("comment"),
            "named_configs": meta.get("named_configs"),
            "config_updates": meta.get("config_updates"),
        }
        info["sacred"] = {k: v for k, v in sacred.items() if v is not None}
        if "result" in run:
            info["result"] = run["result"]
        if isinstance(run.get("fail_trace"), list):
            # a FAILED run's traceback is the run's outcome, not a read error: it lives in info
            info["fail_trace"] = "".join(str(line) for line in run["fail_trace"])
        if run_info is not None:
            info["run_info"] = run_info
        return info

    @staticmethod
    def _files(ref: RunRef, run: dict[str, Any]) -> list[FileRef]:
        """Source snapshots (`_sources/<name>_<md5>.py`) and resources, contained in the watched root."""
        experiment = _dict(run.get("experiment"))
        out = []
        pairs = [("source", p) for p in experiment.get("sources") or []]
        pairs += [("resource", p) for p in run.get("resources") or []]
        basedir = ref.store or ref.path.parent
        for role, pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                continue
            name, stored = pair
            local = None
            # resources are recorded with the observer's absolute basedir: re-root the `_resources/...` tail
            marker = stored.replace("\\", "/").rfind("/_resources/")
            if marker >= 0:
                stored = stored.replace("\\", "/")[marker + 1 :]
            try:
                target = resolve_inside(basedir, stored)
                if is_within(target, ref.root.resolve()) and _isfile(target):
                    local = str(target)  # FileRef.local is absolute (contained in the root)
            except UnsafePath:
                local = None
            digest = _MD5_SUFFIX.search(stored)
            digests = (("md5", digest.group(1)),) if digest else ()
            out.append(FileRef("input", role, name, local, None, digests))
        return out


def _read_json(path: Path) -> Any:
    """`read_json_file(partial_ok=True)`, plus the truncations it misses: cut inside a string or a literal
    (`"start_`, `Na`) is a rewrite in progress too, not a corrupt file."""
    data = read_bytes_capped(path, MAX_JSON_BYTES)
    try:
        return parse_json_text(data, path, partial_ok=True)
    except IncompleteRead:
        raise
    except SourceError:
        if _looks_truncated(data.decode("utf-8", "replace")):
            raise IncompleteRead(path, "truncated JSON (being rewritten?)") from None
        raise


def _looks_truncated(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        tail = text[exc.pos :].rstrip()
        return exc.msg.startswith("Unterminated string") or _TRUNCATED_TAIL.fullmatch(tail) is not None
    except (ValueError, RecursionError):
        return False
    return False


def _cached_json(path: Path, old: dict[str, Any] | None, errors: list[str]) -> dict[str, Any]:
    """{"sig": file identity, "data": parsed JSON}: re-parsed only when the file changed; a half-written
    file keeps the previous data (and the previous signature, so it is re-read next time)."""
    old = old if isinstance(old, dict) else {"sig": None, "data": None}
    try:
        st = os.stat(path)
    except OSError:
        return {"sig": None, "data": None}
    sig = [st.st_ino, st.st_size, st.st_mtime_ns]
    if sig == old.get("sig"):
        return old
    try:
        return {"sig": sig, "data": _read_json(path)}
    except IncompleteRead:
        return old
    except SourceError as exc:
        errors.append(str(exc))
        return old


def _metrics(
    path: Path, old: dict[str, Any] | None, reset: bool, update: RunUpdate, errors: list[str]
) -> dict[str, Any]:
    """Series for what changed in metrics.json since `old` ({"sig", "keys": {key: {"n", "h"}}})."""
    old = old if isinstance(old, dict) else {"sig": None, "keys": {}}
    if reset:
        old = {"sig": None, "keys": {}}
        update.metrics_reset = True
    try:
        st = os.stat(path)
    except OSError:
        return old
    sig = [st.st_ino, st.st_size, st.st_mtime_ns]
    if sig == old.get("sig"):
        return old
    try:
        doc = _read_json(path)
    except IncompleteRead:
        return old
    except SourceError as exc:
        errors.append(str(exc))
        return old
    if not isinstance(doc, dict):
        errors.append(str(SourceError(path, "expected a JSON object {name: {steps, timestamps, values}}")))
        return old
    parsed = {str(key): _series_arrays(path, str(key), entry, errors) for key, entry in doc.items()}
    keys: dict[str, dict[str, Any]] = {}
    previous: dict[str, Any] = old.get("keys", {})
    if any(key not in parsed for key in previous):
        update.metrics_reset = True  # a key vanished: only a reset can drop it
        previous = {}
    for key, (steps, values, stamps) in parsed.items():
        n = len(steps)
        keys[key] = {"n": n, "h": _digest(steps, values, stamps, n)}
        before = previous.get(key)
        if before is None:
            if n:
                update.metrics.append(Series(key, steps, values, stamps))
        elif before["n"] <= n and _digest(steps, values, stamps, before["n"]) == before["h"]:
            if n > before["n"]:
                k = before["n"]
                update.metrics.append(Series(key, steps[k:], values[k:], stamps[k:]))
        else:
            update.metrics.append(Series(key, steps, values, stamps, replace=True))
    return {"sig": sig, "keys": keys}


def _series_arrays(
    path: Path, key: str, entry: Any, errors: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(entry, dict):
        errors.append(str(SourceError(path, f"metric {key!r} is not an object")))
        entry = {}
    steps_in = entry.get("steps") if isinstance(entry.get("steps"), list) else []
    values_in = entry.get("values") if isinstance(entry.get("values"), list) else []
    stamps_in = entry.get("timestamps") if isinstance(entry.get("timestamps"), list) else []
    if len(steps_in) != len(values_in):
        errors.append(
            str(
                SourceError(
                    path,
                    f"metric {key!r} has {len(steps_in)} steps and "
                    f"{len(values_in)} values; extra entries ignored",
                )
            )
        )
    fast = _fast_arrays(steps_in, values_in, stamps_in)
    if fast is not None:
        return fast
    steps, values, stamps = [], [], []
    for i, (raw_step, raw_value) in enumerate(zip(steps_in, values_in, strict=False)):
        step = _step(raw_step)
        value = to_float(raw_value)
        if step is None or value is None:
            continue  # a None value or a non-integer step is not a plottable point
        steps.append(step)
        values.append(value)
        stamp = naive_utc(stamps_in[i]) if i < len(stamps_in) else None
        stamps.append(stamp * 1000.0 if stamp is not None else math.nan)
    return (
        np.array(steps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.array(stamps, dtype=np.float64),
    )


def _fast_arrays(
    steps_in: list[Any], values_in: list[Any], stamps_in: list[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The well-formed case at C speed (numpy parses ISO 8601 itself); None sends the caller to the careful
    per-point path (None values, bools, float steps, odd timestamps, ragged lists)."""
    n = len(steps_in)
    if not (n == len(values_in) == len(stamps_in)) or n == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. numpy's deprecation of tz-aware strings: take the slow path
            steps = np.asarray(steps_in)
            values = np.asarray(values_in)
            texts = np.asarray(stamps_in)
            if steps.dtype.kind != "i" or values.dtype.kind not in "if" or texts.dtype.kind != "U":
                return None
            moments = texts.astype("datetime64[us]")
    except (ValueError, TypeError, OverflowError, Warning):
        return None
    stamps = moments.astype(np.int64).astype(np.float64) / 1000.0  # naive UTC microseconds -> ms
    stamps[np.isnat(moments)] = math.nan
    return steps.astype(np.int64), values.astype(np.float64), stamps


def _step(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int) and -(1 << 63) <= raw < (1 << 63):
        return raw
    return None


def _digest(steps: np.ndarray, values: np.ndarray, stamps: np.ndarray, n: int) -> str:
    h = hashlib.sha1(steps[:n].tobytes())
    h.update(values[:n].tobytes())
    h.update(stamps[:n].tobytes())
    return h.hexdigest()


def _no_credentials(url: Any) -> Any:
    return _CREDENTIALS.sub("", url) if isinstance(url, str) else url


READER = SacredReader()
