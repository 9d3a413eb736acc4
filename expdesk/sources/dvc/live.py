"""DVCLive folders: `metrics.json` (latest values), `params.yaml`, `plots/metrics/**/*.tsv` (histories).

The metric name is the TSV's path below `plots/metrics` without `.tsv` (`train/loss`), as DVCLive maps `/` in
names to sub-folders. Each TSV is read incrementally on its own cursor. A DVCLive folder inside a DVC project
is its own run, linked to the project (`dvc.project`).

`log_params` writes `params.yaml` into the Live folder: those are the run's params. A Live folder may hold
no plots at all (`log_metric(..., plot=False)`): under DVCLive's default name `dvclive/` it is still a run.
One Live folder may sit inside another (`Live(dir="dvclive/fold_0")` per cross-validation fold next to the
summary's `Live()`): each is its own run, and the outer one does not list the inner ones' files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import Link, RunRef, RunUpdate, Series, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file, is_within
from expdesk.core.safefile import read_json_file, walk_stats
from expdesk.sources.base import Reader, list_artifacts, require_folder
from expdesk.sources.common.finals import finals_from
from expdesk.sources.common.folders import run_name
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked
from expdesk.sources.dvc._live_tsv import read_tsv
from expdesk.sources.dvc.project import looks_like_project, metric_values

METRICS_DIR = ("plots", "metrics")
#: DVCLive's default folder name: with it, params.yaml or metrics.json alone make a Live folder
DEFAULT_DIR = "dvclive"
#: how deep below a Live folder another one is looked for (`dvclive/fold_0`, `dvclive/cv/fold_0`)
NESTED_DEPTH = 2
#: a Live folder's own sub-folders, never other Live folders
OWN_DIRS = frozenset({"plots", "artifacts", "images", "media"})


def find_project(folder: Path, root: Path) -> Path | None:
    """The nearest DVC project at or above the folder's parent, without leaving the watched root."""
    current = folder
    while current != root and current.parent != current:
        current = current.parent
        if not is_within(current, root):
            return None
        if looks_like_project(current):
            return current
    return None


class DvcLiveReader(Reader):
    format = "dvclive"
    priority = 65
    claims_subtree = True  # plots/ and artifacts/ below are this run's files

    def detect(self, path: Path) -> float:
        return _live_confidence(path)

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        """This Live folder and any nested in it (each its own run)."""
        return [RunRef(self.format, p, root) for p in [path, *_nested_live(path)]]

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = require_folder(ref)
        errors: list[str] = []
        update = RunUpdate(name=run_name(folder, ref.root))
        params_path = folder / "params.yaml"
        if is_regular_file(params_path):
            try:
                data = read_yaml_checked(params_path)
            except SourceError as exc:
                errors.append(str(exc))
            else:
                if isinstance(data, dict):
                    update.params = flatten(data)
            update.info["config_files"] = ["params.yaml"]
        if is_regular_file(folder / "metrics.json"):
            try:
                update.info["latest"] = metric_values(
                    read_json_file(folder / "metrics.json", partial_ok=True)
                )
                # DVCLive's summary: what `dvc exp show` reports as the experiment's metrics
                update.finals = finals_from(update.info["latest"], "metrics.json")
            except IncompleteRead:
                pass  # DVCLive rewrites it at every step; the next read gets it
            except SourceError as exc:
                errors.append(str(exc))
        update.cursor = self._read_histories(folder, dict(cursor or {}), update, errors)
        project = find_project(folder, ref.root)
        if project is not None:
            update.links.append(Link(rule="dvc.project", target_path=str(project)))
            update.experiment = run_name(project, ref.root)
        update.status, update.native_status = Status.UNKNOWN, None  # DVCLive records no status
        inner = tuple(f"{p.relative_to(folder).as_posix()}/" for p in _nested_live(folder))
        update.artifacts = [a for a in list_artifacts(folder) if not a.path.startswith(inner)]
        self._times(update, dict(update.cursor))
        update.error = "; ".join(errors[:5]) or None
        return update

    @staticmethod
    def _times(update: RunUpdate, cursor: dict[str, Any]) -> None:
        """TSV timestamps (when DVCLive wrote the column) give the run's span; else mtimes, said so."""
        stamps = [s.timestamps[np.isfinite(s.timestamps)] for s in update.metrics]
        recorded = np.concatenate(stamps) if stamps else np.array([])
        span = None if update.metrics_reset else cursor.get("stamps")
        if len(recorded):
            low, high = float(recorded.min()), float(recorded.max())
            span = [min(low, span[0]), max(high, span[1])] if span else [low, high]
        update.cursor["stamps"] = span
        mtimes = [a.mtime_ns for a in update.artifacts]
        if span:
            update.start_time, update.last_activity = span[0] / 1000.0, span[1] / 1000.0
            update.info["start_time_from"] = update.info["last_activity_from"] = "metric timestamps"
        elif mtimes:
            update.start_time, update.last_activity = min(mtimes) / 1e9, max(mtimes) / 1e9
            update.info["start_time_from"] = "file mtime (oldest file)"
            update.info["last_activity_from"] = "file mtime"

    def _read_histories(
        self, folder: Path, cursor: dict[str, Any], update: RunUpdate, errors: list[str]
    ) -> dict[str, Any]:
        metrics_dir = folder.joinpath(*METRICS_DIR)
        files = sorted(
            rel for rel, st in walk_stats(metrics_dir) if rel.endswith(".tsv") and stat.S_ISREG(st.st_mode)
        )
        old: dict[str, Any] = cursor.get("tsv") or {}
        if any(rel not in files for rel in old):
            # a new session (resume=False) deletes the old files: drop everything and read afresh
            old = {}
            update.metrics_reset = True
        new: dict[str, Any] = {}
        series: list[Series] = []
        for rel in files:
            try:
                s, _, state, errs = read_tsv(metrics_dir / rel, old.get(rel), rel[: -len(".tsv")])
            except SourceError as exc:
                errors.append(str(exc))
                if rel in old:
                    new[rel] = old[rel]
                continue
            errors.extend(errs)
            new[rel] = state
            if len(s.steps) or s.replace:
                series.append(s)
        update.metrics = series
        return {"tsv": new}


def _live_confidence(path: Path) -> float:
    plots = path.joinpath(*METRICS_DIR)
    try:
        has_plots = stat.S_ISDIR(os.stat(plots).st_mode)
    except OSError:
        has_plots = False
    has_metrics = is_regular_file(path / "metrics.json")
    has_params = is_regular_file(path / "params.yaml")
    if has_plots and has_metrics:
        return 0.85
    if has_plots and has_params:
        return 0.7  # steps logged, no `log_metric` summary yet
    if path.name == DEFAULT_DIR and (has_metrics or has_params):
        return 0.7  # params and final values only (`plot=False`): DVCLive's own folder name says whose
    return 0.0


def _nested_live(folder: Path, depth: int = NESTED_DEPTH) -> list[Path]:
    """Live folders below `folder` (not `folder` itself), a few levels deep, skipping a Live folder's own."""
    found: list[Path] = []
    stack = [(folder, 0)]
    while stack:
        current, level = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.name in OWN_DIRS or not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            sub = Path(entry.path)
            if _live_confidence(sub) > 0:
                found.append(sub)
            elif level + 1 < depth:
                stack.append((sub, level + 1))
    return sorted(found)


READER = DvcLiveReader()
