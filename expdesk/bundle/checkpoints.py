"""Which checkpoint file of a Lightning or Keras run is "the model".

Lightning: the best per `ModelCheckpoint`, as the callback recorded it in the newest checkpoint (the Lightning
reader reads that state from each `.ckpt`'s pickle opcodes, never unpickling); else `last.ckpt` (a symlink
with `save_last="link"` is followed inside the run only); else the checkpoint with the highest global step.
A `.ckpt` is one file holding weights, optimizer and loop state together: it is packed whole.

Keras: a whole-model file (`.keras`, a full-model `.h5`) over weights-only ones (`.weights.h5`, which need the
model's code); among several, one whose name says "best", else the one with the highest epoch number in its
name (the last `ModelCheckpoint` wrote), else the newest name in sort order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from expdesk.core.errors import UsageError

_EPOCH = re.compile(r"epoch[=_-]?(\d+)", re.I)
_STEP = re.compile(r"step[=_-]?(\d+)", re.I)


@dataclass
class FilePick:
    path: str  # relative to the run folder
    rule: str
    why: str
    notes: list[str]


def _name(recorded: str) -> str:
    return PurePosixPath(recorded.replace("\\", "/")).name


def _number(recorded: Any, pattern: re.Pattern[str], name: str) -> int:
    """The recorded int, else the number the file name carries (`epoch=3`, `step=120`), else -1."""
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    match = pattern.search(name)
    return int(match.group(1)) if match else -1


def _order(rel: str, states: dict[str, Any]) -> tuple[int, int, bool, str]:
    """Newest first key: recorded global step, else numbers in the file name; `last.ckpt` wins ties."""
    raw = states.get(rel)
    state: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = _name(rel)
    step = _number(state.get("global_step"), _STEP, name)
    epoch = _number(state.get("epoch"), _EPOCH, name)
    return (step, epoch, name.startswith("last"), name)


def choose_lightning(run_path: Path, info: dict[str, Any]) -> FilePick:
    checkpoints = [c for c in info.get("checkpoints") or [] if isinstance(c, str) and c.endswith(".ckpt")]
    states: dict[str, Any] = info.get("checkpoint_states") or {}
    present = {_name(c): c for c in checkpoints if (run_path / c).is_file()}
    notes: list[str] = []
    readable = [
        c for c in checkpoints if isinstance(states.get(c), dict) and "model_checkpoints" in states[c]
    ]
    for bad in sorted(c for c in checkpoints if isinstance(states.get(c), dict) and "error" in states[c]):
        notes.append(f"{bad}: callback state not read ({states[bad]['error']})")
    if readable:
        newest = max(readable, key=lambda c: _order(c, states))
        for callback in states[newest]["model_checkpoints"]:
            best = callback.get("best_model_path")
            if not best or callback.get("monitor") is None:
                continue  # without a monitor "best" is only the latest save
            name = _name(best)
            score = callback.get("best_model_score")
            how = (f"best per ModelCheckpoint(monitor={callback['monitor']!r}, mode={callback.get('mode', 'min')!r}): "
                   f"best_model_score {score!r}, as recorded in {newest}")  # fmt: skip
            if name in present:
                return FilePick(present[name], "lightning.best_model_path", how, notes)
            notes.append(
                f"best checkpoint {name} (best_model_path {best!r}) is no longer on disk; fell back to the last"
            )
    last = present.get("last.ckpt")
    if last is not None:
        return FilePick(last, "lightning.last", "last: last.ckpt (ModelCheckpoint save_last)", notes)
    link = run_path / "checkpoints" / "last.ckpt"
    if link.is_symlink():
        target = _name(str(link.readlink()))
        if target in present:
            return FilePick(present[target], "lightning.last", f"last: last.ckpt links to {target}", notes)
        notes.append(f"checkpoints/last.ckpt links to {target}, which is not a checkpoint of this run")
    if present:
        newest_present = max(present.values(), key=lambda c: _order(c, states))
        return FilePick(
            newest_present, "lightning.newest", "last: the checkpoint with the highest step", notes
        )
    raise UsageError(
        f"Lightning run {run_path} has no checkpoint files" + (f" ({'; '.join(notes)})" if notes else "")
    )


def choose_keras(run_path: Path, artifacts: list[str]) -> FilePick | None:
    full = [
        a
        for a in artifacts
        if a.endswith(".keras") or (a.endswith((".h5", ".hdf5")) and ".weights." not in a)
    ]
    weights_only = [a for a in artifacts if a.endswith(".weights.h5")]
    pool, notes = (
        (full, [])
        if full
        else (weights_only, ["only weights files (.weights.h5): loading needs the model's code"])
    )
    if not pool:
        return None
    if len(pool) == 1:
        return FilePick(pool[0], "keras.single", "the run's only Keras model file", notes)
    named_best = [a for a in pool if "best" in _name(a).lower()]
    if len(named_best) == 1:
        return FilePick(named_best[0], "keras.best_by_name", "the model file named 'best' (ModelCheckpoint "
                        "save_best_only)", notes)  # fmt: skip
    newest = max(pool, key=lambda a: _order(a, {}))
    return FilePick(
        newest, "keras.last", f"last: highest epoch in the file name among {len(pool)} model files", notes
    )
