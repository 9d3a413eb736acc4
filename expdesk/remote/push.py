"""Push indexed runs of any format to an MLflow tracking server, idempotently.

Identity: every pushed run carries the tag `expdesk.source_key` = its stable expdesk run key, and a second
push finds it with `runs/search` instead of creating a copy.

Metric idempotency — the server is the truth: when a run already exists, each metric key the server knows is
counted with `metrics/get-history`, and only the points after that count are sent. We chose this over a
"pushed count" tag because `log-batch` may have been committed while its answer was lost (a server that
stops mid-push): a tag written after the batch would then be stale and the retry would duplicate points.
Points are sent per key in write order, so the server's count is exactly our prefix. To keep a re-push of
unchanged runs cheap, a digest of everything we send is stored last, as `expdesk.push_digest`: when it matches,
the run is skipped with no further request. A push writes nothing locally (no index rows, nothing in run
folders), so a failure can leave nothing half-recorded on our side; on the server it leaves a prefix that
the retry completes.

Params are immutable in MLflow: a param whose value differs on the server is reported as a conflict and
not sent (the rest of the run still is).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.index.reader import IndexReader
from expdesk.remote import batching
from expdesk.remote.http import MlflowRest, RemoteError, ServerRefused
from expdesk.remote.mlflow_api import ServerApi, remote_status

SOURCE_KEY_TAG = "expdesk.source_key"
DIGEST_TAG = "expdesk.push_digest"
DEFAULT_EXPERIMENT = "expdesk"
#: tags we set ourselves; copies of them from a source run are dropped
_OWN_TAGS = ("expdesk.", "mlflow.parentRunId", "mlflow.runName")

Progress = Callable[[int, int, str], None]


@dataclass
class RunResult:
    key: str
    name: str
    remote_id: str = ""
    experiment_id: str = ""
    created: bool = False
    unchanged: bool = False
    points: int = 0
    params: int = 0
    tags: int = 0
    artifacts: int = 0
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class PushReport:
    server: str
    runs: list[RunResult] = field(default_factory=list)
    requests: int = 0

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runs)


def _ms(iso_time: str | None) -> int | None:
    if not iso_time:
        return None
    return round(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp() * 1000)


def _parents_first(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before their children, so a child can point at its parent's server id."""
    by_key = {r["key"]: r for r in runs}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def visit(run: dict[str, Any], seen: frozenset[str]) -> None:
        if run["key"] in done or run["key"] in seen:
            return
        parent = by_key.get(run.get("parent") or "")
        if parent is not None:
            visit(parent, seen | {run["key"]})
        done.add(run["key"])
        ordered.append(run)

    for run in runs:
        visit(run, frozenset())
    return ordered


def artifact_file(run: dict[str, Any], rel: str) -> Path | None:
    """The local file behind artifact `rel` of `run`, never outside the run's artifact folder."""
    folder = Path(run["path"])
    candidates = []
    recorded = run.get("info", {}).get("artifact_dir")
    if isinstance(recorded, str) and recorded:
        candidates.append(Path(recorded))
    if run["format"].startswith("mlflow"):
        candidates.append(folder / "artifacts")
    candidates.append(folder)
    for base in candidates:
        path = base / rel
        try:
            real, real_base = os.path.realpath(path), os.path.realpath(base)
        except OSError:
            continue
        if os.path.commonpath([real, real_base]) == real_base and os.path.isfile(real):
            return Path(real)
    return None


def _distinct(
    steps: np.ndarray, values: np.ndarray, stamps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Drop exact repeats, keeping first occurrences in order. MLflow's SQL store keys metric rows on
    (key, timestamp, step, value) and silently merges repeats, so without this our point counts would never
    match the server's and the count-based resume would be off."""
    canonical = np.where(
        np.isnan(values), np.nan, values + 0.0
    )  # one NaN, no -0.0: as the server stores them
    rows = np.empty(len(steps), dtype=[("s", "<i8"), ("t", "<i8"), ("v", "<i8")])
    rows["s"], rows["t"], rows["v"] = steps, stamps.astype(np.int64), canonical.view(np.int64)
    _, first = np.unique(rows, return_index=True)
    if len(first) == len(steps):
        return steps, values, stamps, 0
    keep = np.sort(first)
    return steps[keep], values[keep], stamps[keep], len(steps) - len(keep)


class Pusher:
    """Pushes runs read from `reader` to one server; one instance per push job (it caches experiment ids)."""

    def __init__(
        self,
        reader: IndexReader,
        client: MlflowRest,
        experiment: str | None = None,
        artifacts: bool = True,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.reader = reader
        self.api = ServerApi(client)
        self.experiment = experiment
        self.artifacts = artifacts
        self.progress = progress or (lambda done, total, message: None)
        self.cancelled = cancelled
        self.remote_ids: dict[str, str] = {}  # local key -> server run id (this push)
        self._done = 0
        self._total = 0

    def push(self, keys: list[str]) -> PushReport:
        runs = _parents_first(self.reader.runs_json(keys))
        report = PushReport(self.api.client.base)
        self._total = sum(1 + sum(m["count"] for m in r["metrics"].values()) for r in runs)
        for index, run in enumerate(runs):
            label = run["name"] or run["key"]
            try:
                report.runs.append(self._push_run(run))
            except RemoteError as exc:
                completed = ", ".join(r.name for r in report.runs) or "none"
                # same exception (type, HTTP status, error code), with what it interrupted and what to do
                exc.args = (
                    f"{exc}\n  while pushing run {label} ({run['key']}), {index} of {len(runs)} runs complete "
                    f"({completed}). Nothing was recorded locally; push again to complete it: points already "
                    "on the server are not sent twice.",
                )
                raise
            finally:
                report.requests = self.api.client.requests_made
        return report

    # -- one run ------------------------------------------------------------------------------------
    def _tick(self, amount: int, message: str) -> None:
        if self.cancelled():
            raise InterruptedError("push cancelled")
        self._done += amount
        self.progress(self._done, self._total, message)

    def _push_run(self, run: dict[str, Any]) -> RunResult:
        key, label = run["key"], run["name"] or run["key"]
        result = RunResult(key, label)
        self._tick(0, f"{label}: looking up")
        experiment_id = self.api.experiment_id(self.experiment or run["experiment"] or DEFAULT_EXPERIMENT)
        result.experiment_id = experiment_id
        existing = self.api.find_run(experiment_id, SOURCE_KEY_TAG, key)
        parent_id = self._parent_id(run, experiment_id, result)
        digest = self._digest(run, parent_id)
        if existing is not None:
            result.remote_id = existing.run_id
            self.remote_ids[key] = existing.run_id
            if existing.tags.get(DIGEST_TAG) == digest:
                result.unchanged = True
                self._tick(1 + sum(m["count"] for m in run["metrics"].values()), f"{label}: up to date")
                return result
        else:
            # only the identifying tag at creation: if we stop right after, the retry finds this run
            created = self.api.create_run(experiment_id, label, _ms(run["start_time"]), {SOURCE_KEY_TAG: key})
            result.remote_id, result.created = created.run_id, True
            self.remote_ids[key] = created.run_id
            existing = created
        run_id = existing.run_id
        params = self._params(run, existing.params, result)
        tags = self._tags(run, parent_id, result)
        counts = self.api.metric_counts(run_id, set(run["metrics"]) & set(existing.metric_keys))
        points = self._points(run, counts, result)
        for batch in batching.batches(params, tags, points):
            self.api.log_batch(run_id, batch)
            self._tick(len(batch.metrics), f"{label}: {len(batch.metrics)} points")
        result.params, result.tags = len(params), len(tags)
        if self.artifacts:
            self._artifacts(run, existing.artifact_uri, result, fresh=result.created)
        end_ms = _ms(run["end_time"])
        self.api.update_run(run_id, remote_status(run["status"]), end_ms, label)
        self.api.set_tag(run_id, DIGEST_TAG, digest)  # last: only a complete push is ever "up to date"
        self._tick(1, f"{label}: done")
        return result

    def _parent_id(self, run: dict[str, Any], experiment_id: str, result: RunResult) -> str | None:
        parent = run.get("parent")
        if not parent:
            return None
        if parent in self.remote_ids:
            return self.remote_ids[parent]
        found = self.api.find_run(experiment_id, SOURCE_KEY_TAG, parent)
        if found is None:
            result.warnings.append(f"parent run {parent} is not on the server: push it too to keep the link")
            return None
        self.remote_ids[parent] = found.run_id
        return found.run_id

    def _digest(self, run: dict[str, Any], parent_id: str | None) -> str:
        state = {
            "experiment": self.experiment or run["experiment"] or DEFAULT_EXPERIMENT,
            "name": run["name"],
            "status": run["status"],
            "times": [run["start_time"], run["end_time"]],
            "params": run["params"],
            "tags": run["tags"],
            "parent": parent_id,
            "metrics": {k: [m["count"], m["last_step"]] for k, m in run["metrics"].items()},
            "artifacts": [[a["path"], a["size"]] for a in run["artifacts"]] if self.artifacts else [],
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def _params(self, run: dict[str, Any], remote: dict[str, str], result: RunResult) -> list[dict[str, str]]:
        out = []
        for name, value in run["params"].items():
            problem = batching.name_problem(name)
            if problem:
                result.warnings.append(f"param {name!r} not pushed: {problem}")
            elif len(value) > batching.MAX_PARAM_VALUE:
                result.warnings.append(
                    f"param {name!r} not pushed: {len(value)} characters, MLflow keeps at most "
                    f"{batching.MAX_PARAM_VALUE}"
                )
            elif name in remote and remote[name] != value:
                result.conflicts.append(
                    f"param {name!r} is {remote[name]!r} on the server but {value!r} here; MLflow params "
                    "cannot change, so the server keeps its value"
                )
            elif name not in remote:
                out.append({"key": name, "value": value})
        return out

    def _tags(self, run: dict[str, Any], parent_id: str | None, result: RunResult) -> list[dict[str, str]]:
        tags = {k: v for k, v in run["tags"].items() if not k.startswith(_OWN_TAGS)}
        tags.update(
            {
                SOURCE_KEY_TAG: run["key"],
                "expdesk.source_format": run["format"],
                "expdesk.status": run["status"],
                "mlflow.runName": run["name"] or run["key"],
            }
        )
        if run.get("native_id"):
            tags["expdesk.source_id"] = run["native_id"]
        if len(run.get("parts", [])) > 1:
            # one training job read from several tools' folders: which, so the server's run says so
            tags["expdesk.parts"] = ", ".join(p["label"] for p in run["parts"])
        for metric, summary in run["metrics"].items():
            # a reported result is no logged point: MLflow has no place for it but a tag (repr: exact)
            if "final" in summary:
                tags[f"expdesk.final.{metric}"] = repr(summary["final"])
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        out = []
        for name, value in tags.items():
            if len(name) > batching.MAX_KEY or not name:
                result.warnings.append(f"tag {name[:60]!r} not pushed: key too long for MLflow")
            elif len(value) > batching.MAX_TAG_VALUE:
                result.warnings.append(f"tag {name!r} not pushed: {len(value)} characters (max 8000)")
            else:
                out.append({"key": name, "value": value})
        return out

    def _points(
        self, run: dict[str, Any], counts: dict[str, int], result: RunResult
    ) -> Iterator[dict[str, Any]]:
        # metric timestamps are ms; unknown ones (NaN) fall back to the run's start, MLflow requires one
        fallback = _ms(run["start_time"]) or _ms(run["end_time"]) or 0
        for name, summary in run["metrics"].items():
            if not summary["count"]:
                continue  # a reported result with no points: sent as its `expdesk.final.` tag
            problem = batching.name_problem(name)
            if problem:
                result.warnings.append(f"metric {name!r} not pushed: {problem}")
                continue
            steps, values, stamps = self.reader.series(run["key"], name)
            already = counts.get(name, 0)
            if already > len(steps):
                result.warnings.append(
                    f"metric {name!r}: the server has {already} points, {len(steps)} here; nothing sent"
                )
                continue
            stamps = np.where(np.isnan(stamps), fallback, stamps)
            steps, values, stamps, dropped = _distinct(steps, values, stamps)
            if dropped:
                result.warnings.append(
                    f"metric {name!r}: {dropped} repeated (step, timestamp, value) points sent once; "
                    "an MLflow server stores each such point only once"
                )
            for step, value, stamp in zip(
                steps[already:].tolist(), values[already:].tolist(), stamps[already:].tolist(), strict=True
            ):
                result.points += 1
                yield {
                    "key": name,
                    "value": value if math.isfinite(value) else batching.json_value(value),
                    "timestamp": int(stamp),
                    "step": step,
                }

    def _artifacts(self, run: dict[str, Any], artifact_uri: str, result: RunResult, fresh: bool) -> None:
        if not run["artifacts"]:
            return
        if not artifact_uri.startswith("mlflow-artifacts:"):
            result.warnings.append(
                f"{len(run['artifacts'])} artifacts not pushed: the server does not proxy artifacts "
                f"(artifact location {artifact_uri}); start it with --serve-artifacts"
            )
            return
        prefix = artifact_uri.split(":", 1)[1].lstrip("/")
        # on a re-push, files already on the server with the same size are not uploaded again (a running
        # run re-pushed for its new metric points must not re-send its checkpoints); one listing per folder
        remote: dict[str, int] = {}
        if not fresh:
            for folder in sorted({posixpath.dirname(a["path"]) for a in run["artifacts"]}):
                try:
                    listed = self.api.client.list_artifacts(f"{prefix}/{folder}".rstrip("/"))
                except ServerRefused:
                    continue  # a folder not created yet
                remote.update({posixpath.join(folder, name): size for name, size in listed.items()})
        for artifact in run["artifacts"]:
            if remote.get(artifact["path"]) == artifact["size"]:
                continue
            local = artifact_file(run, artifact["path"])
            if local is None:
                result.warnings.append(f"artifact {artifact['path']} not found on disk; not pushed")
                continue
            self.api.client.put_artifact(f"{prefix}/{artifact['path']}", local)
            result.artifacts += 1
            self._tick(0, f"{run['name'] or run['key']}: {artifact['path']}")


def push_runs(
    reader: IndexReader,
    keys: list[str],
    client: MlflowRest,
    experiment: str | None = None,
    artifacts: bool = True,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> PushReport:
    """Push runs `keys` to the server behind `client`. Raises `RemoteError` (server) or `InterruptedError`."""
    return Pusher(reader, client, experiment, artifacts, progress, cancelled).push(keys)
