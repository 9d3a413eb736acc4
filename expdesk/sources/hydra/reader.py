"""Hydra job folders (single runs and the jobs of a multirun sweep), and the sweep folders themselves.

A job folder holds `.hydra/{config,hydra,overrides}.yaml`; Hydra itself writes no metrics and no status, so
metrics are whatever the app wrote next to it (`common.jobmetrics`: a metrics.json of any common shape, or a
metrics.jsonl / metrics.csv). `${...}` interpolations are kept as literal text.

Sweeps: a folder with `multirun.yaml` is a run of its own (what was swept, which keys varied, its jobs), and
each job is found at its own folder (the walk does not stop at the multirun root), so runs another tool wrote
inside a job folder (a Lightning CSVLogger under the job's output dir) are still found. A job below a
`multirun.yaml` gets the sweep as experiment, the varied keys as a tag and a `hydra.sweep` link.

Times come from what Hydra recorded: the job log's first stamp, else the time in the folder's name (see
`_times`); the file mtime is the last resort and `info["start_time_from"]` says which one was used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from expdesk.core.codec import param_str
from expdesk.core.entities import Link, RunRef, RunUpdate, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file
from expdesk.sources.base import Reader, list_artifacts, unread_entry
from expdesk.sources.common.folders import run_name
from expdesk.sources.common.jobmetrics import read_job_metrics
from expdesk.sources.common.named_runs import named_runs
from expdesk.sources.common.values import flatten
from expdesk.sources.common.yamlconfig import read_yaml_checked
from expdesk.sources.hydra._sweep import (
    MULTIRUN_FILE,
    find_sweep,
    job_folders,
    load_multirun,
    plain_key,
    split_override,
    sweep_spec,
)
from expdesk.sources.hydra._times import folder_time, log_start

CONFIG_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")
#: OmegaConf's "missing value" marker (job.num/id in a single run)
MISSING = "???"
#: the native id of a sweep run: a sweep folder may also be a job folder (`hydra.sweep.subdir: .`)
SWEEP_ID = "multirun"


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _present(value: Any) -> Any:
    return None if value == MISSING else value


class HydraReader(Reader):
    format = "hydra"
    priority = 70
    # Not claiming the subtree: a job's output dir often holds another tool's run (Lightning, TensorBoard).
    claims_subtree = False

    def detect(self, path: Path) -> float:
        # a job folder = `.hydra/config.yaml`; beats generic (0.4) and Lightning (0.8) for the job dir itself
        if is_regular_file(path / ".hydra" / "config.yaml") or is_regular_file(path / MULTIRUN_FILE):
            return 0.9
        return 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        refs = []
        if is_regular_file(path / MULTIRUN_FILE):
            refs.append(RunRef(self.format, path, root, native_id=SWEEP_ID, hint=(("kind", "sweep"),)))
        if is_regular_file(path / ".hydra" / "config.yaml"):
            sweep = find_sweep(path, root)
            hint = (("sweep", str(sweep)),) if sweep is not None else ()
            refs.append(RunRef(self.format, path, root, hint=hint))
        return refs

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        if not ref.path.is_dir():
            raise SourceError(ref.path, "run folder is gone")
        if ref.native_id == SWEEP_ID:
            return self._read_sweep(ref)
        return self._read_job(ref, cursor)

    # -- a job ------------------------------------------------------------------------------------------
    def _read_job(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        folder = ref.path
        dot_hydra = folder / ".hydra"
        errors: list[str] = []
        update = RunUpdate(name=run_name(folder, ref.root))
        docs: dict[str, Any] = {}
        for name in CONFIG_FILES:
            path = dot_hydra / name
            if not is_regular_file(path):
                continue
            try:
                docs[name] = read_yaml_checked(path)
            except SourceError as exc:
                errors.append(str(exc))
                update.unread.append(unread_entry(folder, exc))
        update.info["config_files"] = [f".hydra/{n}" for n in CONFIG_FILES if is_regular_file(dot_hydra / n)]
        config = docs.get("config.yaml")
        if isinstance(config, dict):
            update.params = flatten(config)
            update.links += named_runs(update.params, "hydra config")  # join evidence (a W&B id...)
        elif config is not None:
            errors.append(f"{dot_hydra / 'config.yaml'}: expected a mapping, found {type(config).__name__}")
            update.unread.append(
                (".hydra/config.yaml", f"not read: a {type(config).__name__}, not a mapping")
            )
        self._hydra_info(docs, update)
        sweep = self._sweep(ref, update, errors)

        prev = dict(cursor or {})
        has_metrics = False
        new_metrics_cursor = prev.get("metrics")
        try:
            result = read_job_metrics(folder, prev.get("metrics"))
        except IncompleteRead:
            has_metrics = True  # a metrics file is being rewritten: the job is alive, keep the old cursor
        else:
            update.metrics, update.metrics_reset = result.series, result.reset
            new_metrics_cursor = result.cursor
            errors.extend(result.errors)
            update.unread.extend(result.unread)
            has_metrics = result.found_files
            if result.summary:
                update.info["summary"] = result.summary
        update.artifacts = list_artifacts(folder)
        update.status, update.native_status = self._status(folder, update, has_metrics)
        mtimes = [a.mtime_ns for a in update.artifacts]
        update.last_activity = max(mtimes) / 1e9 if mtimes else None
        update.info["last_activity_from"] = "file mtime"
        self._start(folder, docs.get("hydra.yaml"), sweep, update)
        update.cursor = {"metrics": new_metrics_cursor}
        update.error = "; ".join(errors[:5]) or None
        return update

    def _start(self, folder: Path, hydra_doc: Any, sweep: Path | None, update: RunUpdate) -> None:
        """The job log's first stamp, else the folder name's `${now:}` time, else (said so) the config's mtime."""
        start = log_start(folder)
        if start is not None:
            update.start_time, update.info["start_time_from"] = start, "job log"
            return
        hydra = _get(hydra_doc, "hydra")
        if sweep is not None or update.info.get("hydra_mode") == "MULTIRUN":
            sweep_dir, subdir = _get(hydra, "sweep", "dir"), _get(hydra, "sweep", "subdir")
            pattern = (
                f"{sweep_dir}/{subdir}" if isinstance(sweep_dir, str) and isinstance(subdir, str) else None
            )
            source = "folder name (hydra.sweep.dir)"
        else:
            pattern, source = _get(hydra, "run", "dir"), "folder name (hydra.run.dir)"
        if isinstance(pattern, str):
            start = folder_time(folder, pattern)
            if start is not None:
                update.start_time, update.info["start_time_from"] = start, source
                return
        try:
            # Hydra writes .hydra/config.yaml once, when the job starts; a copy's mtime is the copy's
            update.start_time = os.stat(folder / ".hydra" / "config.yaml").st_mtime
            update.info["start_time_from"] = "file mtime (.hydra/config.yaml)"
        except OSError:
            pass

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

    def _sweep(self, ref: RunRef, update: RunUpdate, errors: list[str]) -> Path | None:
        sweep_text = ref.hint_value("sweep")
        sweep = Path(sweep_text) if sweep_text else find_sweep(ref.path, ref.root)
        if sweep is None:
            return None
        update.experiment = run_name(sweep, ref.root)
        overrides = update.info.get("overrides") or []
        evidence: tuple[tuple[str, str], ...] = ()
        if update.info.get("job_num") is not None:
            evidence += (("job_num", str(update.info["job_num"])),)
        evidence += (("overrides", " ".join(overrides)),)
        update.links.append(Link(rule="hydra.sweep", target_path=str(sweep), evidence=evidence))
        update.info["sweep_dir"] = str(sweep)
        try:
            _spec, _cli, _params, varied = sweep_spec(load_multirun(sweep))
        except SourceError as exc:
            errors.append(str(exc))  # the sweep run lists its own multirun.yaml as not read
        else:
            update.tags["hydra.sweep.varied"] = ",".join(varied)
        return sweep

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

    # -- a sweep ----------------------------------------------------------------------------------------
    def _read_sweep(self, ref: RunRef) -> RunUpdate:
        folder = ref.path
        name = run_name(folder, ref.root)
        update = RunUpdate(name=name, experiment=name, status=Status.UNKNOWN)
        jobs = job_folders(folder)
        update.info.update(kind="sweep", jobs=jobs, config_files=[MULTIRUN_FILE])
        try:
            doc = load_multirun(folder)
        except SourceError as exc:
            update.unread.append(unread_entry(folder, exc))
            update.error = str(exc)
            doc = {}
        spec, cli, sweeper_params, varied = sweep_spec(doc)
        update.params = {f"sweep.{plain_key(k)}": v for k, v in spec.items()}
        update.tags["hydra.sweep.varied"] = ",".join(varied)
        sweeper = _get(doc, "hydra", "sweeper", "_target_")
        update.info.update(task_overrides=cli, sweeper_params=sweeper_params, varied=varied)
        if isinstance(sweeper, str):
            update.info["sweeper"] = sweeper
        inside = tuple(f"{j}/" for j in jobs)
        update.artifacts = [a for a in list_artifacts(folder) if not a.path.startswith(inside)]
        pattern = _get(doc, "hydra", "sweep", "dir")
        start = folder_time(folder, pattern) if isinstance(pattern, str) else None
        if start is not None:
            update.start_time, update.info["start_time_from"] = start, "folder name (hydra.sweep.dir)"
        else:
            try:
                update.start_time = os.stat(folder / MULTIRUN_FILE).st_mtime
                update.info["start_time_from"] = f"file mtime ({MULTIRUN_FILE})"
            except OSError:
                pass
        return update

    def fingerprint(self, ref: RunRef) -> str:
        if ref.native_id != SWEEP_ID:
            return super().fingerprint(ref)
        # a sweep changes when a job folder appears or a file of its own is rewritten, not with every job's
        # write (its fingerprint stays cheap however much the jobs log)
        digest = hashlib.sha1()
        for job in job_folders(ref.path):
            digest.update(job.encode("utf-8", "surrogateescape") + b"\0")
        try:
            entries = sorted(os.scandir(ref.path), key=lambda e: e.name)
        except OSError:
            return digest.hexdigest()
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            line = f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()


READER = HydraReader()
