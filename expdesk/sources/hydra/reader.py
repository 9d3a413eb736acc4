"""Hydra job folders (single runs and the jobs of a multirun sweep).

A job folder holds `.hydra/{config,hydra,overrides}.yaml`; Hydra itself writes no metrics and no status, so
metrics are whatever the app wrote next to it (`metrics.json` with a per-step `history`, or the
`metrics.jsonl` / `metrics.csv` the generic reader knows). `${...}` interpolations are kept as literal text.

Sweeps: each job is found at its own folder (the walk does not stop at the multirun root), so runs another
tool wrote inside a job folder (a Lightning CSVLogger under the job's output dir) are still found. A job
below a `multirun.yaml` gets the sweep as experiment and a `hydra.sweep` link.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from expdesk.core.codec import param_str
from expdesk.core.entities import Link, RunRef, RunUpdate, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file, is_within
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.folders import run_name
from expdesk.sources.common.named_runs import named_runs
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked
from expdesk.sources.hydra._metrics import read_job_metrics

CONFIG_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")
#: how far above a job folder a sweep's `multirun.yaml` may be (custom `hydra.sweep.subdir` can nest)
SWEEP_DEPTH = 3
#: OmegaConf's "missing value" marker (job.num/id in a single run)
MISSING = "???"


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _present(value: Any) -> Any:
    return None if value == MISSING else value


def find_sweep(job: Path, root: Path) -> Path | None:
    """The multirun root above a job folder (within the watched root), if any."""
    folder = job
    for _ in range(SWEEP_DEPTH):
        if folder == root or folder.parent == folder:
            return None
        folder = folder.parent
        if not is_within(folder, root):
            return None
        if is_regular_file(folder / "multirun.yaml"):
            return folder
    return None


def split_override(text: str) -> tuple[str, str]:
    """`optimizer.lr=0.01` -> (`optimizer.lr`, `0.01`); `+x=1`/`~x` keep their prefix (it changes meaning)."""
    key, sep, value = text.partition("=")
    return key.strip(), value if sep else ""


class HydraReader(Reader):
    format = "hydra"
    priority = 70
    # Not claiming the subtree: a job's output dir often holds another tool's run (Lightning, TensorBoard).
    claims_subtree = False

    def detect(self, path: Path) -> float:
        # a job folder = `.hydra/config.yaml`; beats generic (0.4) and Lightning (0.8) for the job dir itself
        return 0.9 if is_regular_file(path / ".hydra" / "config.yaml") else 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        sweep = find_sweep(path, root)
        hint = (("sweep", str(sweep)),) if sweep is not None else ()
        return [RunRef(self.format, path, root, hint=hint)]

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = ref.path
        dot_hydra = folder / ".hydra"
        if not folder.is_dir():
            raise SourceError(folder, "run folder is gone")
        errors: list[str] = []
        docs: dict[str, Any] = {}
        for name in CONFIG_FILES:
            path = dot_hydra / name
            if not is_regular_file(path):
                continue
            try:
                docs[name] = read_yaml_checked(path)
            except SourceError as exc:
                errors.append(str(exc))
        update = RunUpdate(name=run_name(folder, ref.root))
        update.info["config_files"] = [f".hydra/{n}" for n in CONFIG_FILES if is_regular_file(dot_hydra / n)]
        config = docs.get("config.yaml")
        if isinstance(config, dict):
            update.params = flatten(config)
            update.links += named_runs(update.params, "hydra config")  # join evidence (a W&B id...)
        elif config is not None:
            errors.append(f"{dot_hydra / 'config.yaml'}: expected a mapping, found {type(config).__name__}")
        self._hydra_info(docs, update)
        self._sweep(ref, update)

        prev = dict(cursor or {})
        has_metrics = False
        try:
            result = read_job_metrics(folder, prev.get("metrics"))
        except IncompleteRead:
            result = None
            has_metrics = True  # a metrics file is being rewritten: the job is alive, keep the old cursor
            new_metrics_cursor = prev.get("metrics")
        except SourceError as exc:
            result = None
            errors.append(str(exc))
            new_metrics_cursor = prev.get("metrics")
        if result is not None:
            update.metrics, update.metrics_reset, new_metrics_cursor, errs, summary = result
            errors.extend(errs)
            has_metrics = bool(new_metrics_cursor)
            if summary:
                update.info["summary"] = summary
        update.artifacts = list_artifacts(folder)
        update.status, update.native_status = self._status(folder, update, has_metrics)
        mtimes = [a.mtime_ns for a in update.artifacts]
        update.last_activity = max(mtimes) / 1e9 if mtimes else None
        # the job log's first record is stamped by Hydra's logging (local time, like `${now:...}`); mtimes are
        # only a fallback: a copied or cloned run folder has the mtimes of the copy
        update.start_time = _log_start(folder)
        if update.start_time is None:
            with contextlib.suppress(OSError):
                # Hydra writes .hydra/config.yaml once, when the job starts
                update.start_time = os.stat(dot_hydra / "config.yaml").st_mtime
        update.cursor = {"metrics": new_metrics_cursor}
        update.error = "; ".join(errors[:5]) or None
        return update

    def _hydra_info(self, docs: dict[str, Any], update: RunUpdate) -> None:
        hydra = _get(docs.get("hydra.yaml"), "hydra")
        overrides = docs.get("overrides.yaml")
        if not isinstance(overrides, list):
            overrides = _get(hydra, "overrides", "task")
        overrides = [param_str(o) for o in overrides] if isinstance(overrides, list) else []
        for item in overrides:
            key, value = split_override(item)
            if key:
                update.tags[f"hydra.override.{key}"] = value
        choices = _get(hydra, "runtime", "choices")
        if isinstance(choices, dict):
            for group, option in choices.items():
                # Hydra's own groups (hydra/launcher, hydra/job_logging...) are the same in almost every run
                if not str(group).startswith("hydra/"):
                    update.tags[f"hydra.choice.{group}"] = "null" if option is None else param_str(option)
            update.info["choices"] = {str(k): v if v is None else param_str(v) for k, v in choices.items()}
        update.info["overrides"] = overrides
        job = _get(hydra, "job")
        runtime = _get(hydra, "runtime")
        fields = {
            "job_name": _get(job, "name"),
            "job_num": _present(_get(job, "num")),
            "job_id": _present(_get(job, "id")),
            "override_dirname": _get(job, "override_dirname"),
            "config_name": _get(job, "config_name"),
            "hydra_mode": _get(hydra, "mode"),
            "hydra_version": _get(runtime, "version"),
            "output_dir": _get(runtime, "output_dir"),
            "cwd": _get(runtime, "cwd"),
        }
        for key, value in fields.items():
            if value is not None and not isinstance(value, (dict, list)):
                update.info[key] = value if isinstance(value, (int, float, bool)) else param_str(value)
        if update.experiment is None and isinstance(fields["job_name"], str):
            update.experiment = fields["job_name"]

    def _sweep(self, ref: RunRef, update: RunUpdate) -> None:
        sweep_text = ref.hint_value("sweep")
        sweep = Path(sweep_text) if sweep_text else find_sweep(ref.path, ref.root)
        if sweep is None:
            return
        update.experiment = run_name(sweep, ref.root)
        update.links.append(Link(rule="hydra.sweep", target_path=str(sweep)))
        update.info["sweep_dir"] = str(sweep)

    def _status(self, folder: Path, update: RunUpdate, has_metrics: bool) -> tuple[Status, str | None]:
        """Hydra records no status. The one telltale (see GROUND_TRUTH): a failed job has `.hydra/` but no
        metrics and an empty log, because the traceback went to stderr."""
        if has_metrics:
            return Status.UNKNOWN, None
        job_name = update.info.get("job_name")
        logs = [folder / f"{job_name}.log"] if isinstance(job_name, str) else []
        logs += sorted(p for p in folder.glob("*.log") if p not in logs)
        for log in logs:
            if is_regular_file(log):
                try:
                    empty = os.stat(log).st_size == 0
                except OSError:
                    return Status.UNKNOWN, None
                return (Status.FAILED, "empty log, no metrics") if empty else (Status.UNKNOWN, None)
        return Status.UNKNOWN, None


READER = HydraReader()


_LOG_STAMP = re.compile(rb"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3})\]")


def _log_start(folder: Path) -> float | None:
    """Epoch seconds of the first record of the job's `*.log` (Hydra's `[YYYY-mm-dd HH:MM:SS,mmm]` format)."""
    try:
        logs = sorted(
            e.name for e in os.scandir(folder) if e.name.endswith(".log") and e.is_file(follow_symlinks=False)
        )
    except OSError:
        return None
    for name in logs:
        try:
            with open(folder / name, "rb") as fh:
                head = fh.read(64)
        except OSError:
            continue
        match = _LOG_STAMP.match(head)
        if match:
            stamp = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S")
            return stamp.timestamp() + int(match.group(2)) / 1000  # naive: the machine's local time
    return None
