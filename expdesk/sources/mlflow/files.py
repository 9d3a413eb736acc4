"""MLflow file store (`mlruns/`): experiments, runs, params, tags, metrics, datasets, logged models.

Layout per FORMATS.md. Read in place: a store moved from another machine records absolute `file://` URIs
for the old location, so artifacts are found relative to where each run folder lives *now*.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.artifact_uri import Located, locate
from expdesk.core.entities import FileRef, RunRef, RunUpdate, Series, Status
from expdesk.core.errors import SourceError
from expdesk.core.paths import is_within
from expdesk.core.safefile import read_bytes_capped, read_yaml_file, walk_stats
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.tail import read_new_lines
from expdesk.sources.mlflow._common import (
    STATUS_INTS,
    count_lines,
    info_from_tags,
    parse_many,
    parse_metric_lines,
    status_of,
)
from expdesk.sources.mlflow._media import media_items

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
    out: dict[str, str] = {}
    errors: list[str] = []
    if folder.is_symlink():
        # a linked params/ or tags/ folder could point anywhere (`/etc`): shown as an error, never read
        return out, [f"{folder}: is a symbolic link (not followed)"]
    for rel, _st in walk_stats(folder):
        try:
            out[rel] = read_bytes_capped(folder / rel, MAX_VALUE_BYTES).decode("utf-8", "replace")
        except SourceError as exc:
            errors.append(str(exc))
    return dict(sorted(out.items())), errors


def _safe_meta(path: Path) -> dict[str, Any]:
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
        run_dir = ref.path
        meta = _safe_meta(run_dir / "meta.yaml")
        exp_dir = run_dir.parent
        errors: list[str] = []
        update = RunUpdate()
        exp_meta: dict[str, Any] = {}
        if is_within(exp_dir.resolve(), ref.root.resolve()) and (exp_dir / "meta.yaml").is_file():
            try:
                exp_meta = _safe_meta(exp_dir / "meta.yaml")
            except SourceError as exc:
                errors.append(str(exc))
        update.params, errs = _read_kv_dir(run_dir / "params")
        errors += errs
        update.tags, errs = _read_kv_dir(run_dir / "tags")
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
        self._read_metrics(run_dir / "metrics", cursor or {}, update, errors)
        located = self._artifact_dir(run_dir, meta, ref)
        update.info["artifact_dir"] = None if located.path is None else str(located.path)
        update.info["artifact_dir_rule"] = located.rule
        if located.path is not None:
            update.artifacts = list_artifacts(located.path)
            update.media, update.media_complete = media_items(located.path, update.artifacts), True
        elif meta.get("artifact_uri"):
            update.info["artifacts_elsewhere"] = True  # remote store, or a link we refuse to follow
        self._read_inputs_outputs(run_dir, exp_dir, ref, update, errors)
        if update.status == Status.RUNNING:
            update.last_activity = _newest_mtime(run_dir)
        update.error = "; ".join(errors[:5]) or None
        return update

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

    def _read_metrics(
        self, metrics_dir: Path, cursor: dict[str, Any], update: RunUpdate, errors: list[str]
    ) -> None:
        previous: dict[str, Any] = cursor.get("metrics", {})
        if metrics_dir.is_symlink():
            errors.append(f"{metrics_dir}: is a symbolic link (not followed)")
            return
        files = sorted(rel for rel, _ in walk_stats(metrics_dir))
        states: dict[str, Any] = {}
        if set(previous) - set(files):
            # a metric file vanished: the run was rewritten, start over
            update.metrics_reset = True
            previous = {}
        tails = []
        for rel in files:
            try:
                tail = read_new_lines(metrics_dir / rel, previous.get(rel))
            except SourceError as exc:
                errors.append(str(exc))
                continue
            first_line = 1 if tail.reset else int(previous.get(rel, {}).get("lines", 0)) + 1
            lines = count_lines(tail.data)
            states[rel] = {**tail.state, "lines": first_line - 1 + lines}
            tails.append((rel, tail, first_line, lines))
        # one C-parser call for all of a run's metric files: per-call overhead, not parsing, dominates
        # small files (most runs log many short series)
        parsed = parse_many([t.data for _, t, _, _ in tails], [n for *_, n in tails])
        for i, (rel, tail, first_line, _) in enumerate(tails):
            if parsed is not None:
                steps, values, stamps, errs = parsed[i]
            else:
                steps, values, stamps, errs = parse_metric_lines(tail.data, f"metrics/{rel}", first_line)
            errors += errs
            if len(steps) or tail.reset:
                update.metrics.append(
                    Series(rel, steps, values, stamps, replace=tail.reset and rel in previous)
                )
        update.cursor = {"metrics": states}

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


def _newest_mtime(run_dir: Path) -> float | None:
    stamps = [st.st_mtime for _, st in walk_stats(run_dir, prune=frozenset({"artifacts"}))]
    return max(stamps) if stamps else None


READER = MlflowFileReader()
_ = np  # numpy arrays flow through Series
