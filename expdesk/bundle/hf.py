"""Which files load a Hugging Face model, and which checkpoint of a Trainer run is "the model".

A Trainer checkpoint folder holds the model (weights, `config.json`, `generation_config.json`, tokenizer and
processor files, PEFT adapters) next to the training state (`optimizer.pt`, `scheduler.pt`, `rng_state*.pth`,
`scaler.pt`, `training_args.bin`, `trainer_state.json`) that only resuming needs. The model is every file of
the chosen folder except the training state; a sharded checkpoint's index must name only shards that are
there, or the export is refused (half a model is never packed).

The checkpoint: `best_model_checkpoint` from `trainer_state.json` (as the index recorded it), matched by its
folder name inside the run; else the last one, i.e. the model `save_model`/`save_pretrained` wrote into the
output folder itself, else the highest `checkpoint-<step>`.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from expdesk.core.errors import SourceError, UnsafePath, UsageError
from expdesk.core.safefile import read_bytes_capped
from expdesk.lineage.files import contained

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: files only resuming training needs (the Trainer's `_save_optimizer_and_scheduler`, `_save_rng_state`...)
TRAINING_STATE = re.compile(
    r"^(optimizer(\.pt|\.bin)?|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth|training_args\.bin|"
    r"trainer_state\.json|optimizer_\d+\.pt|pytorch_model_fsdp_\d+\.bin|zero_to_fp32\.py|latest)$"
)
WEIGHTS = re.compile(
    r"^(model|pytorch_model|adapter_model|tf_model|flax_model|diffusion_pytorch_model)"
    r"([-.][\w.-]*)?\.(safetensors|bin|h5|msgpack)$"
)
SHARD_INDEX = re.compile(r"\.(safetensors|bin)\.index\.json$")
MAX_INDEX_BYTES = 16 << 20


@dataclass
class FolderPick:
    """The files of one folder that load the model (relative names) and what was left out, with why."""

    folder: Path
    files: list[tuple[str, Path]]
    left_out: list[tuple[str, Path, str]] = field(default_factory=list)


def weights_in(folder: Path) -> list[str]:
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return []
    return [n for n in names if WEIGHTS.match(n) or SHARD_INDEX.search(n)]


def pick_files(root: str | Path, folder: Path, with_training_state: bool) -> FolderPick:
    """The model files of a HF model folder (top level only: checkpoints and `runs/` are siblings)."""
    pick = FolderPick(folder, [])
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list the model folder ({exc.strerror or exc})") from None
    for entry in entries:
        name = entry.name
        try:
            st = entry.lstat()
        except OSError as exc:  # removed while we listed the folder
            if WEIGHTS.match(name):
                raise UsageError(
                    f"weights file {entry}: {exc.strerror or exc}; refusing to pack half a model"
                ) from None
            pick.left_out.append((name, entry, f"not copied: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            why = (
                "a checkpoint of its own"
                if CHECKPOINT.match(name)
                else "a sub-folder, not part of the model files"
            )
            pick.left_out.append((name + "/", entry, why))
            continue
        if TRAINING_STATE.match(name) and not with_training_state:
            pick.left_out.append(
                (name, entry, "training state (resuming only); --with-training-state packs it")
            )
            continue
        try:
            source = contained(root, entry)
        except UnsafePath as exc:
            if WEIGHTS.match(name):
                raise UsageError(
                    f"weights file {entry}: {exc.reason}; refusing to pack half a model"
                ) from None
            pick.left_out.append((name, entry, f"not copied: {exc.reason}"))
            continue
        if not source.is_file():
            if WEIGHTS.match(name) or SHARD_INDEX.search(name):
                raise UsageError(
                    f"weights file {entry} is a dangling link or not a regular file; refusing to pack half a model"
                )
            pick.left_out.append((name, entry, "not a regular file (dangling link, FIFO or device)"))
            continue
        pick.files.append((name, source))
    names = {n for n, _ in pick.files}
    if not any(WEIGHTS.match(n) for n in names):
        raise UsageError(
            f"{folder} holds no model weights (model*.safetensors, pytorch_model*.bin, adapter_model.*)"
        )
    for name in sorted(n for n in names if SHARD_INDEX.search(n)):
        missing = sorted(set(shards_of(folder / name)) - names)
        if missing:
            raise UsageError(
                f"{folder / name} names shard(s) that are not there: {', '.join(missing[:5])}; "
                "refusing to pack half a model"
            )
    return pick


def shards_of(index: Path) -> list[str]:
    """The shard file names a `*.safetensors.index.json` / `pytorch_model.bin.index.json` maps weights to."""
    try:
        doc = json.loads(read_bytes_capped(index, MAX_INDEX_BYTES))
    except (SourceError, ValueError, RecursionError) as exc:
        raise UsageError(f"{index}: unreadable shard index ({exc})") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        raise UsageError(f"{index}: no weight_map")
    shards = {v for v in weight_map.values() if isinstance(v, str)}
    bad = [s for s in shards if "/" in s or "\\" in s or s in ("", ".", "..")]
    if bad:
        raise UsageError(f"{index}: shard name {bad[0]!r} is not a file name in the folder")
    return sorted(shards)


@dataclass
class TrainerPick:
    folder: Path
    rule: str  # which rule chose it
    why: str  # the evidence, in words
    notes: list[str]  # fallbacks taken, said in the manifest and the card


def choose_checkpoint(run_path: Path, info: dict[str, Any]) -> TrainerPick:
    """The best checkpoint per `trainer_state.json`, else the last (the output folder's own model, else the
    highest checkpoint). A recorded best that is gone, or holds no weights, falls back and says so."""
    notes: list[str] = []
    steps = sorted(
        (int(m.group(1)), run_path / name)
        for name in (info.get("checkpoints") or [])
        if isinstance(name, str) and (m := CHECKPOINT.match(name))
    )
    best = info.get("best_model_checkpoint")
    if isinstance(best, str) and best:
        name = PurePosixPath(best.replace("\\", "/")).name
        metric = info.get("best_metric")
        candidate = run_path / name
        if not CHECKPOINT.match(name):
            notes.append(
                f"best_model_checkpoint {best!r} does not name a checkpoint folder; used the last instead"
            )
        elif not candidate.is_dir():
            notes.append(f"best checkpoint {name} (best_model_checkpoint {best!r}) is no longer on disk; "
                         "fell back to the last")  # fmt: skip
        elif not weights_in(candidate):
            notes.append(f"best checkpoint {name} holds no weights file; fell back to the last")
        else:
            score = f" (best_metric {metric!r})" if metric is not None else ""
            return TrainerPick(candidate, "trainer.best_model_checkpoint",
                               f"best checkpoint per trainer_state.json: best_model_checkpoint {best!r}{score}", notes)  # fmt: skip
    if weights_in(run_path):
        return TrainerPick(run_path, "trainer.final_model",
                           "last: the model saved in the output folder itself (save_model / save_pretrained)",
                           notes + (["no best_model_checkpoint recorded (no metric_for_best_model)"] if not best else []))  # fmt: skip
    for step, folder in reversed(steps):
        if weights_in(folder):
            return TrainerPick(folder, "trainer.last_checkpoint", f"last: the highest checkpoint ({folder.name})",
                               notes + (["no best_model_checkpoint recorded"] if not best else []))  # fmt: skip
        notes.append(f"checkpoint-{step} holds no weights file; skipped")
    raise UsageError(
        f"Trainer run {run_path} has no model weights in its output folder or checkpoints"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
