"""Hugging Face `Trainer` output directories.

Layout: `<out>/checkpoint-<step>/{trainer_state.json, training_args.bin, config.json, model.safetensors, ...}`
and, after `save_model`/`save_state`, the same files in `<out>` itself. `<out>/runs/<date>_<host>/` holds
TensorBoard event files when `report_to=tensorboard`: they belong to this run (the reader claims the
subtree) and are listed in `info["tensorboard_dirs"]`; their scalars duplicate `log_history`, so metrics
come from `trainer_state.json` only, as in the ground truth.

Metrics: every numeric key of each `log_history` entry except `step`/`epoch`, x = `step`. The authoritative
`trainer_state.json` is the output dir's own, else the highest checkpoint's (it holds the whole history so
far). The file is rewritten whole at every save, so the cursor keeps how many entries were consumed and a
digest of them: if the new history still starts with them only the rest is returned, else it starts over.
Status: the Trainer writes none; `finished` when the output dir has its own final `trainer_state.json`
with `global_step >= max_steps`, otherwise `unknown`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from expdesk.core.codec import param_str
from expdesk.core.entities import FileRef, Link, RunRef, RunUpdate, Series, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import local_path_for_uri
from expdesk.core.safefile import read_json_file
from expdesk.sources.base import Reader, list_artifacts
from expdesk.sources.common.finals import finals_from
from expdesk.sources.common.values import to_float
from expdesk.sources.transformers._trainer_args import read_training_args

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
ARGS_FILE = "training_args.bin"
CURSOR_VERSION = 1
#: sibling output dirs compared when looking for the run a resumed run continued
MAX_SIBLINGS = 200


def checkpoints(path: Path) -> list[tuple[int, Path]]:
    """`checkpoint-<n>` sub-directories, highest step first."""
    found = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                match = _CHECKPOINT.match(entry.name)
                if match and entry.is_dir(follow_symlinks=False):
                    found.append((int(match.group(1)), Path(entry.path)))
    except OSError:
        return []
    return sorted(found, reverse=True)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file() and not path.is_symlink()
    except OSError:
        return False


def is_output_dir(path: Path) -> bool:
    if _is_file(path / STATE_FILE) and (_is_file(path / ARGS_FILE) or _is_file(path / "config.json")):
        return True
    return any(_is_file(ckpt / STATE_FILE) for _, ckpt in checkpoints(path)[:3])


class TrainerReader(Reader):
    format = "transformers"
    priority = 70
    claims_subtree = True  # checkpoints and runs/ (TensorBoard) are parts of the run

    def detect(self, path: Path) -> float:
        return 0.9 if is_output_dir(path) else 0.0

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        state, source, problem = _authoritative_state(ref.path)
        update = RunUpdate(name=ref.path.name)
        if state is None:
            if isinstance(problem, IncompleteRead) or problem is None:
                raise problem or IncompleteRead(ref.path, "no trainer_state.json yet")
            raise problem
        history = [e for e in state.get("log_history") or [] if isinstance(e, dict)]
        preferred_torn = isinstance(problem, IncompleteRead)
        if preferred_torn and cursor is not None:
            # the newest trainer_state.json is being rewritten: no new points now, same cursor, retry later
            update.cursor = cursor
        else:
            _metrics(update, history, cursor)
        params_error = _params(update, ref.path)
        results_errors = _results(update, ref.path)
        _status_and_info(update, ref.path, state, source)
        update.links = _links(ref, history, state, update.params.get("output_dir"))
        update.artifacts = list_artifacts(ref.path)
        update.files = [
            FileRef(
                "output", "checkpoint" if "/" in a.path else "model", a.path, str(ref.path / a.path), a.size
            )
            for a in update.artifacts
            if a.path.endswith(".safetensors")
        ]
        # a file caught mid-rewrite is not an error (the next read sees it whole)
        errors = [
            str(e)
            for e in (problem, params_error, *results_errors)
            if e is not None and not isinstance(e, IncompleteRead)
        ]
        update.error = "; ".join(errors) or None
        return update


#: what `Trainer.save_metrics(split, metrics)` writes (and `all_results.json`, the union of the others)
RESULT_FILES = ("train_results.json", "eval_results.json", "test_results.json", "predict_results.json")
ALL_RESULTS = "all_results.json"


def _results(update: RunUpdate, path: Path) -> list[SourceError]:
    """`*_results.json` as the run's finals: what the script saved as its outcome. With
    `load_best_model_at_end` the final evaluation (of the reloaded best model) is only here, and keys like
    `eval_samples` are only here. A split's own file names the source of its keys; `all_results.json` the
    rest."""
    errors: list[SourceError] = []
    found = []
    for name in (*RESULT_FILES, ALL_RESULTS):
        file = path / name
        if not _is_file(file):
            continue
        try:
            data = read_json_file(file, partial_ok=True)
        except IncompleteRead:
            continue  # being rewritten by save_metrics: the next read has it
        except SourceError as exc:
            errors.append(exc)
            continue
        if not isinstance(data, dict):
            errors.append(SourceError(file, "not a JSON object of metrics"))
            continue
        found.append(name)
        for key, final in finals_from(data, name).items():
            update.finals.setdefault(key, final)
    if found:
        update.info["results_files"] = found
    return errors


def _authoritative_state(path: Path) -> tuple[dict[str, Any] | None, str | None, SourceError | None]:
    """The output dir's own trainer_state.json, else the highest checkpoint's that parses."""
    candidates = [path / STATE_FILE] + [ckpt / STATE_FILE for _, ckpt in checkpoints(path)]
    problem: SourceError | None = None
    for candidate in candidates:
        if not _is_file(candidate):
            continue
        try:
            state = read_json_file(candidate, partial_ok=True)
        except SourceError as exc:
            # being rewritten (or broken): an older checkpoint still tells most of the story
            problem = problem or _torn_or_corrupt(candidate, exc)
            continue
        if isinstance(state, dict):
            return state, candidate.relative_to(path).as_posix(), problem
        problem = problem or SourceError(candidate, "trainer_state.json is not a JSON object")
    return None, None, problem


def _torn_or_corrupt(path: Path, exc: SourceError) -> SourceError:
    """The Trainer writes `json.dumps(state, indent=2)`: a file not ending in `}` is cut short, not broken.

    (`parse_json_text` only calls an error at the very end a truncation; a cut inside a string fails earlier.)
    """
    if isinstance(exc, IncompleteRead):
        return exc
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16))
            tail = handle.read().rstrip()
    except OSError:
        return exc
    return exc if tail.endswith(b"}") else IncompleteRead(path, f"truncated JSON ({exc.reason})")


def _digest(entries: list[dict[str, Any]]) -> str:
    text = json.dumps(entries, sort_keys=True, allow_nan=True, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _metrics(update: RunUpdate, history: list[dict[str, Any]], cursor: dict[str, Any] | None) -> None:
    done = 0
    if cursor and cursor.get("v") == CURSOR_VERSION:
        seen = int(cursor.get("entries", 0))
        if seen <= len(history) and _digest(history[:seen]) == cursor.get("digest"):
            done = seen
        else:
            update.metrics_reset = True
    elif cursor is not None:
        update.metrics_reset = True
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for entry in history[done:]:
        step = entry.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            continue
        for key, value in entry.items():
            if key in ("step", "epoch") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            number = to_float(value)
            if number is None:
                continue
            steps, values = columns.setdefault(key, ([], []))
            steps.append(step)
            values.append(number)
    update.metrics = [Series.from_lists(k, s, v) for k, (s, v) in columns.items()]
    update.cursor = {"v": CURSOR_VERSION, "entries": len(history), "digest": _digest(history)}


def _params(update: RunUpdate, path: Path) -> SourceError | None:
    """training_args.bin of the output dir, else of the highest checkpoint (never unpickled)."""
    for candidate in [path / ARGS_FILE] + [ckpt / ARGS_FILE for _, ckpt in checkpoints(path)]:
        if not _is_file(candidate):
            continue
        try:
            fields = read_training_args(candidate)
        except SourceError as exc:
            return exc
        update.params = {key: param_str(value) for key, value in fields.items()}
        update.info["training_args"] = candidate.relative_to(path).as_posix()
        return None
    return None


def _status_and_info(update: RunUpdate, path: Path, state: dict[str, Any], source: str | None) -> None:
    global_step = state.get("global_step")
    max_steps = state.get("max_steps")
    final = source == STATE_FILE
    if final and isinstance(global_step, int) and isinstance(max_steps, int) and 0 < max_steps <= global_step:
        update.status = Status.FINISHED
    info = update.info
    info.update(
        {
            "metrics_source": source,
            "global_step": global_step,
            "max_steps": max_steps,
            "epoch": state.get("epoch"),
            "best_metric": state.get("best_metric"),
            "best_model_checkpoint": state.get("best_model_checkpoint"),
            "best_global_step": state.get("best_global_step"),
            "checkpoints": [ckpt.name for _, ckpt in sorted(checkpoints(path))],
            "tensorboard_dirs": _tensorboard_dirs(path),
        }
    )
    config = path / "config.json"
    if not _is_file(config):
        config = next(
            (c / "config.json" for _, c in checkpoints(path) if _is_file(c / "config.json")), config
        )
    if _is_file(config):
        try:
            model = read_json_file(config)
        except SourceError:
            model = None
        if isinstance(model, dict):
            info["model"] = {
                "model_type": model.get("model_type"),
                "architectures": model.get("architectures"),
            }
            info["config_files"] = [config.relative_to(path).as_posix()]
    mtimes = []
    for candidate in [path / STATE_FILE] + [c / STATE_FILE for _, c in checkpoints(path)]:
        try:
            mtimes.append(candidate.stat().st_mtime)
        except OSError:
            continue
    # trainer_state.json records steps, not times; a TensorBoard writer (report_to=tensorboard) names its
    # event files after the moment it opened them. Without those, mtimes are all there is, and said to be.
    update.last_activity = max(mtimes) if mtimes else None
    if mtimes:
        update.info["last_activity_from"] = "file mtime"
    created = _event_file_times(path, info["tensorboard_dirs"])
    if created:
        update.start_time, update.info["start_time_from"] = (
            min(created),
            "event file name (its creation time)",
        )
    elif mtimes:
        update.start_time = min(mtimes)
        update.info["start_time_from"] = "file mtime (oldest trainer_state.json)"


_EVENT_NAME = re.compile(r"^events\.out\.tfevents\.(\d{9,11})(?:\.\d+)?\.")


def _event_file_times(path: Path, dirs: list[str]) -> list[float]:
    """`events.out.tfevents.<unix time>.<host>...`: the writer's clock when it created each file."""
    found = []
    for rel in dirs:
        try:
            with os.scandir(path / rel) as entries:
                for entry in entries:
                    match = _EVENT_NAME.match(entry.name)
                    if match:
                        found.append(float(match.group(1)))
        except OSError:
            continue
    return found


def _tensorboard_dirs(path: Path) -> list[str]:
    """`runs/<name>/` folders holding event files (report_to=tensorboard)."""
    found = []
    try:
        with os.scandir(path / "runs") as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    with os.scandir(entry.path) as inner:
                        if any(e.name.startswith("events.out.tfevents.") for e in inner):
                            found.append(f"runs/{entry.name}")
    except OSError:
        return []
    return sorted(found)


def _links(
    ref: RunRef, history: list[dict[str, Any]], state: dict[str, Any], recorded_out: str | None
) -> list[Link]:
    """A resumed run whose history starts with another output dir's, and a best checkpoint elsewhere."""
    links: list[Link] = []
    own = ref.path.resolve()
    best = state.get("best_model_checkpoint")
    if isinstance(best, str) and best and recorded_out:
        # the recorded paths are relative to the training script's cwd: re-root them on where the run is now
        recorded_parent = os.path.dirname(recorded_out.rstrip("/")) or "."
        target = local_path_for_uri(
            best if recorded_parent != "." else f"./{best}", recorded_parent, ref.path.parent, ref.root
        )
        if target is not None and _CHECKPOINT.match(target.name) and target.parent != own and target.is_dir():
            links.append(
                Link(
                    "trainer.resume",
                    target_path=str(target.parent),
                    evidence=(("best_model_checkpoint", best),),
                )
            )
    if history:
        for sibling, shared in _resumed_from(ref, history):
            if not any(link.target_path == str(sibling) for link in links):
                links.append(
                    Link(
                        "trainer.resume",
                        target_path=str(sibling),
                        evidence=(("shared_log_history_entries", str(shared)),),
                    )
                )
    return links


def _resumed_from(ref: RunRef, history: list[dict[str, Any]]) -> list[tuple[Path, int]]:
    """Sibling output dirs with a checkpoint whose log_history is a proper prefix of ours."""
    found = []
    parent = ref.path.parent
    try:
        siblings = sorted(e.path for e in os.scandir(parent) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    own_digests: dict[int, str] = {}
    for sibling in map(Path, siblings[:MAX_SIBLINGS]):
        if sibling.name == ref.path.name:
            continue
        best_shared = 0
        for _, ckpt in checkpoints(sibling):
            try:
                other = read_json_file(ckpt / STATE_FILE)
            except SourceError:
                continue
            past = other.get("log_history") if isinstance(other, dict) else None
            if not isinstance(past, list) or not past or len(past) >= len(history):
                continue
            n = len(past)
            if n not in own_digests:
                own_digests[n] = _digest(history[:n])
            if _digest(past) == own_digests[n]:
                best_shared = max(best_shared, n)
        if best_shared:
            found.append((sibling, best_shared))
    return found


READER = TrainerReader()
