"""DVCLive folders: `metrics.json` (latest values), `params.yaml`, `plots/metrics/**/*.tsv` (histories).

The metric name is the TSV's path below `plots/metrics` without `.tsv` (`train/loss`), as DVCLive maps `/` in
names to sub-folders. Each TSV is read incrementally on its own cursor. A DVCLive folder inside a DVC project
is its own run, linked to the project (`dvc.project`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

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
        plots = path.joinpath(*METRICS_DIR)
        try:
            has_plots = stat.S_ISDIR(os.stat(plots).st_mode)
        except OSError:
            has_plots = False
        if has_plots and is_regular_file(path / "metrics.json"):
            return 0.85
        if has_plots and is_regular_file(path / "params.yaml"):
            return 0.7  # steps logged, no `log_metric` summary yet
        return 0.0

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
        update.artifacts = list_artifacts(folder)
        mtimes = [a.mtime_ns for a in update.artifacts]
        update.last_activity = max(mtimes) / 1e9 if mtimes else None
        update.error = "; ".join(errors[:5]) or None
        return update

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


READER = DvcLiveReader()
