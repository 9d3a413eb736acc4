"""MLflow file store (`mlruns/`): experiments, runs, params, tags, metrics, datasets, logged models.

Layout per FORMATS.md. Read in place: a store moved from another machine records absolute `file://` URIs
for the old location, so artifacts are found relative to where each run folder lives *now*.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.artifact_uri import Located, locate
from expdesk.core.entities import FileRef, RunRef, RunUpdate
from expdesk.core.errors import SourceError
from expdesk.core.paths import is_within
from expdesk.core.safefile import MAX_YAML_BYTES, read_bytes_capped, read_yaml_file, walk_stats
from expdesk.sources.base import (
    Reader,
    ReadItem,
    ReadOutcome,
    contain,
    fingerprint_of,
    finish_read,
    list_artifacts,
)
from expdesk.sources.common.tail import read_new_lines
from expdesk.sources.mlflow._batch import Job, by_top, parse_metrics
from expdesk.sources.mlflow._common import (
    STATUS_INTS,
    count_lines,
    info_from_tags,
    recorded_activity,
    status_of,
)
from expdesk.sources.mlflow._media import media_items
from expdesk.sources.mlflow._meta import parse_flat_meta

MAX_VALUE_BYTES = 1 << 20  # a param/tag file larger than 1 MiB is not a param
RUN_PARTS = ("metrics", "params", "tags", "artifacts")


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _is_run_dir(path: Path) -> bool:
    names = _listdir(path)
    # git drops empty dirs: a run may lack params/ or artifacts/, but it has meta.yaml and one of the parts
    return "meta.yaml" in names and any(p in names for p in RUN_PARTS)


def _is_experiment_dir(path: Path) -> bool:
    names = _listdir(path)
    if "meta.yaml" not in names:
        return False
    for name in names[:200]:
        if len(name) >= 16 and _is_run_dir(path / name):
            return True
    # an experiment with no runs yet still has meta.yaml naming an experiment_id
    return "models" in names or "datasets" in names or "tags" in names


def _is_store(path: Path) -> bool:
    names = _listdir(path)
    if "meta.yaml" in names:
        return False
    return any(
        (path / n / "meta.yaml").is_file() and _is_experiment_dir(path / n)
        for n in names[:500]
        if n not in ("models", ".trash")
    )


def _read_kv_dir(folder: Path) -> tuple[dict[str, str], list[str]]:
    """`params/` or `tags/`: one file per key, keys with `/` are sub-directories, raw values."""
    return _read_kv_entries(folder, folder.is_symlink(), list(walk_stats(folder)))


def _read_kv_entries(
    folder: Path, is_link: bool, entries: list[tuple[str, os.stat_result]]
) -> tuple[dict[str, str], list[str]]:
    out: dict[str, str] = {}
    errors: list[str] = []
    if is_link:
        # a linked params/ or tags/ folder could point anywhere (`/etc`): shown as an error, never read
        return out, [f"{folder}: is a symbolic link (not followed)"]
    base = str(folder)
    for rel, st in entries:
        try:
            value = read_bytes_capped(os.path.join(base, rel), MAX_VALUE_BYTES, st)
            out[rel] = value.decode("utf-8", "replace")
        except SourceError as exc:
            errors.append(str(exc))
    return dict(sorted(out.items())), errors


def _safe_meta(path: Path, lstat: os.stat_result | None = None) -> dict[str, Any]:
    data = parse_flat_meta(read_bytes_capped(path, MAX_YAML_BYTES, lstat)) if lstat else None
    if data is None:
        data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise SourceError(path, "meta.yaml is not a mapping")
    return data


class MlflowFileReader(Reader):
    format = "mlflow"
    priority = 100
    claims_subtree = True

    def detect(self, path: Path) -> float:
        if _is_store(path):
            return 1.0
        if _is_experiment_dir(path) or _is_run_dir(path):
            return 0.95
        return 0.0

    def runs(self, path: Path, root: Path) -> Iterator[RunRef]:
        if _is_run_dir(path):
            yield self._ref(path, root, path.parent.parent)
            return
        experiments = (
            [path]
            if _is_experiment_dir(path)
            else [path / n for n in sorted(_listdir(path)) if n != "models"]
        )
        if path.name != ".trash" and (path / ".trash").is_dir():
            experiments += [path / ".trash" / n for n in sorted(_listdir(path / ".trash"))]
        store = path if not _is_experiment_dir(path) else path.parent
        for exp in experiments:
            for name in sorted(_listdir(exp)):
                run_dir = exp / name
                if name not in ("models", "datasets", "tags") and _is_run_dir(run_dir):
                    yield self._ref(run_dir, root, store)

    def _ref(self, run_dir: Path, root: Path, store: Path) -> RunRef:
        return RunRef(self.format, run_dir, root, native_id=run_dir.name, store=store)

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        job = self._read_parts(ref, cursor, list(walk_stats(ref.path)), _Shared())
        parse_metrics([job])
        job.update.last_activity = recorded_activity(job.update)
        return job.update

    def read_batch(self, items: Sequence[ReadItem], budget_bytes: int) -> list[ReadOutcome]:
        """Many runs in one go (a sweep): one walk per run gives both the fingerprint and every file list,
        the experiment's meta.yaml is read once, and the metric files of all runs are parsed in one call."""
        shared = _Shared()
        outcomes: list[ReadOutcome] = []
        jobs: list[Job] = []
        finishing: list[tuple[RunRef, dict[str, Any] | None, RunUpdate]] = []
        held = 0
        for ref, cursor in items:
            # the walk is the fingerprint: taken before any file is read, like `fingerprint` then `read`
            entries = list(walk_stats(ref.path))
            fingerprint = fingerprint_of(entries, ref.path)
            job, error = contain(ref, self._read_parts, ref, cursor, entries, shared)
            if job is None:
                outcomes.append((None, fingerprint, error))
                continue
            jobs.append(job)
            finishing.append((ref, cursor, job.update))
            outcomes.append((job.update, fingerprint, None))
            held += sum(len(t.data) for _, t, _, _ in job.tails)
            if held >= budget_bytes:
                break
        parse_metrics(jobs)
        for ref, cursor, update in finishing:
            update.last_activity = recorded_activity(update)  # the points are parsed now
            finish_read(ref, cursor, update)  # after the parse: its errors are the run's too
        return outcomes

    def _read_parts(
        self,
        ref: RunRef,
        cursor: dict[str, Any] | None,
        entries: list[tuple[str, os.stat_result]],
        shared: _Shared,
    ) -> Job:
        """Everything of a run but the parse of its metric lines (left in the job for `_parse_metrics`).
        `entries` is `walk_stats(run_dir)`: every file list below comes from it, not from another walk."""
        run_dir = ref.path
        top = by_top(entries)
        meta = _safe_meta(run_dir / "meta.yaml", top.stat("meta.yaml"))
        exp_dir = run_dir.parent
        errors: list[str] = []
        update = RunUpdate()
        exp_meta, exp_error = shared.experiment(exp_dir, ref.root)
        if exp_error:
            errors.append(exp_error)
        update.params, errs = _read_kv_entries(run_dir / "params", top.is_link("params"), top.below("params"))
        errors += errs
        update.tags, errs = _read_kv_entries(run_dir / "tags", top.is_link("tags"), top.below("tags"))
        errors += errs
        native_status = _status_word(meta["status"]) if "status" in meta else None
        update.native_status = native_status
        update.status = status_of(native_status)
        update.name = update.tags.get("mlflow.runName") or meta.get("run_name") or run_dir.name
        update.experiment = str(exp_meta.get("name") or meta.get("experiment_id") or exp_dir.name)
        update.start_time = _seconds(meta.get("start_time"))
        update.end_time = _seconds(meta.get("end_time"))
        update.deleted = (
            meta.get("lifecycle_stage") == "deleted"
            or exp_meta.get("lifecycle_stage") == "deleted"
            or exp_dir.parent.name == ".trash"
        )
        update.parent_native_id = update.tags.get("mlflow.parentRunId")
        update.info = info_from_tags(update.tags, meta.get("user_id"))
        update.info["experiment_id"] = str(meta.get("experiment_id", exp_dir.name))
        update.info["artifact_uri"] = meta.get("artifact_uri")
        job = Job(update, errors)
        if top.is_link("metrics"):
            errors.append(f"{run_dir / 'metrics'}: is a symbolic link (not followed)")
        else:
            self._read_metric_tails(run_dir / "metrics", top.below("metrics"), cursor or {}, job)
        located = self._artifact_dir(run_dir, meta, ref)
        update.info["artifact_dir"] = None if located.path is None else str(located.path)
        update.info["artifact_dir_rule"] = located.rule
        if located.path == run_dir / "artifacts" and not top.is_link("artifacts"):
            update.artifacts = top.artifacts("artifacts")  # the walk already listed it
        elif located.path is not None:
            update.artifacts = list_artifacts(located.path)
        if located.path is not None:
            update.media, update.media_complete = media_items(located.path, update.artifacts), True
        elif meta.get("artifact_uri"):
            update.info["artifacts_elsewhere"] = True  # remote store, or a link we refuse to follow
        if top.has("inputs") or top.has("outputs"):
            self._read_inputs_outputs(run_dir, exp_dir, ref, update, errors)
        return job

    def _artifact_dir(self, run_dir: Path, meta: dict[str, Any], ref: RunRef) -> Located:
        """Where the run's artifacts are now: the recorded URI re-rooted on this store (`core.artifact_uri`);
        a run that recorded none keeps them in `<run>/artifacts`."""
        uri = meta.get("artifact_uri")
        if not uri:
            local = run_dir / "artifacts"
            # a missing dir is just an empty one (git drops empty dirs); a symlinked one is never followed
            return Located(
                None if local.is_symlink() else local, "no artifact_uri: the run's artifacts/ folder"
            )
        return locate(str(uri), run_dir.parent.parent, ref.root, [run_dir.parent.name, run_dir.name])

    def _read_metric_tails(
        self, metrics_dir: Path, entries: list[tuple[str, os.stat_result]], cursor: dict[str, Any], job: Job
    ) -> None:
        """The new whole lines of every metric file (parsed later, with other runs' files in one call)."""
        previous: dict[str, Any] = cursor.get("metrics", {})
        files = sorted(entries, key=lambda e: e[0])
        states: dict[str, Any] = {}
        if set(previous) - {rel for rel, _ in files}:
            # a metric file vanished: the run was rewritten, start over
            job.update.metrics_reset = True
            previous = {}
        base = str(metrics_dir)
        for rel, st in files:
            try:
                tail = read_new_lines(os.path.join(base, rel), previous.get(rel), lstat=st)
            except SourceError as exc:
                job.errors.append(str(exc))
                continue
            first_line = 1 if tail.reset else int(previous.get(rel, {}).get("lines", 0)) + 1
            lines = count_lines(tail.data)
            states[rel] = {**tail.state, "lines": first_line - 1 + lines}
            job.tails.append((rel, tail, first_line, lines))
        job.previous = previous
        job.update.cursor = {"metrics": states}

    def _read_inputs_outputs(
        self, run_dir: Path, exp_dir: Path, ref: RunRef, update: RunUpdate, errors: list[str]
    ) -> None:
        datasets, models = [], []
        for kind, folder in (("input", run_dir / "inputs"), ("output", run_dir / "outputs")):
            for name in sorted(_listdir(folder)):
                try:
                    meta = _safe_meta(folder / name / "meta.yaml")
                except SourceError as exc:
                    errors.append(str(exc))
                    continue
                if kind == "input" and meta.get("source_type") == "DATASET":
                    ds = self._dataset(exp_dir, str(meta.get("source_id", "")), ref)
                    context = (
                        (meta.get("tags") or {}).get("mlflow.data.context")
                        if isinstance(meta.get("tags"), dict)
                        else None
                    )
                    ds["context"] = context
                    datasets.append(ds)
                    digests = (("mlflow_digest", str(ds["digest"])),) if ds.get("digest") else ()
                    update.files.append(
                        FileRef(
                            "input",
                            context or "dataset",
                            ds.get("source") or ds["name"] or "",
                            None,
                            None,
                            digests,
                        )
                    )
                elif kind == "output" and meta.get("destination_type") == "MODEL_OUTPUT":
                    model = self._logged_model(exp_dir, str(meta.get("destination_id", "")), ref)
                    model["step"] = meta.get("step")
                    models.append(model)
                    if model.get("local_dir"):
                        base = Path(model["local_dir"])
                        for art in list_artifacts(base):
                            update.files.append(
                                FileRef(
                                    "output",
                                    "model",
                                    f"models/{model['model_id']}/{art.path}",
                                    str(base / art.path),
                                    art.size,
                                )
                            )
        if datasets:
            update.info["datasets"] = datasets
        if models:
            update.info["logged_models"] = models

    def _dataset(self, exp_dir: Path, dataset_id: str, ref: RunRef) -> dict[str, Any]:
        path = exp_dir / "datasets" / dataset_id / "meta.yaml"
        out: dict[str, Any] = {
            "dataset_id": dataset_id,
            "name": None,
            "digest": None,
            "source": None,
            "source_type": None,
        }
        if dataset_id and "/" not in dataset_id and path.is_file():
            meta = _safe_meta(path)
            for k in ("name", "digest", "source", "source_type", "schema", "profile"):
                out[k] = meta.get(k)
        return out

    def _logged_model(self, exp_dir: Path, model_id: str, ref: RunRef) -> dict[str, Any]:
        out: dict[str, Any] = {"model_id": model_id, "name": None, "status": None, "local_dir": None}
        folder = exp_dir / "models" / model_id
        if not model_id or "/" in model_id or not (folder / "meta.yaml").is_file():
            return out
        meta = _safe_meta(folder / "meta.yaml")
        out["name"] = meta.get("name")
        out["status"] = _status_word(meta.get("status"), LOGGED_MODEL_STATUS)
        artifacts = folder / "artifacts"
        if artifacts.is_dir() and is_within(artifacts.resolve(), ref.root.resolve()):
            out["local_dir"] = str(artifacts)
        out["registered_versions"] = self._registered_versions(ref, model_id)
        return out

    def _registered_versions(self, ref: RunRef, model_id: str) -> list[dict[str, Any]]:
        registry = (ref.store or ref.path.parent.parent) / "models"
        found = []
        for name in sorted(_listdir(registry)):
            for version in sorted(_listdir(registry / name)):
                meta_path = registry / name / version / "meta.yaml"
                if not version.startswith("version-") or not meta_path.is_file():
                    continue
                try:
                    meta = _safe_meta(meta_path)
                except SourceError:
                    continue
                if meta.get("model_id") == model_id or meta.get("source") == f"models:/{model_id}":
                    found.append(
                        {
                            "name": meta.get("name", name),
                            "version": meta.get("version"),
                            "stage": meta.get("current_stage"),
                            "status": meta.get("status"),
                        }
                    )
        return found


LOGGED_MODEL_STATUS = {1: "PENDING", 2: "READY", 3: "FAILED"}


class _Shared:
    """What the runs of one batch share: their experiment's meta.yaml (read once, not once per run) and
    resolved roots. Lives for one batch only, so a changed experiment is seen on the next pass."""

    def __init__(self) -> None:
        self._experiments: dict[tuple[Path, Path], tuple[dict[str, Any], str | None]] = {}

    def experiment(self, exp_dir: Path, root: Path) -> tuple[dict[str, Any], str | None]:
        key = (exp_dir, root)
        if key not in self._experiments:
            meta: dict[str, Any] = {}
            error = None
            if is_within(exp_dir.resolve(), root.resolve()) and (exp_dir / "meta.yaml").is_file():
                try:
                    meta = _safe_meta(exp_dir / "meta.yaml")
                except SourceError as exc:
                    error = str(exc)
            self._experiments[key] = (meta, error)
        return self._experiments[key]


def _status_word(value: Any, words: dict[int, str] = STATUS_INTS) -> str | None:
    """The enum int MLflow writes -> its name; anything else is kept as text (a hand-edited meta.yaml)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return words.get(value, str(value))
    return str(value)


def _seconds(ms: Any) -> float | None:
    try:
        return None if ms is None else float(ms) / 1000.0
    except (TypeError, ValueError):
        return None


READER = MlflowFileReader()
_ = np  # numpy arrays flow through Series
