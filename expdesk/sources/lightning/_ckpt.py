"""What a Lightning `.ckpt` says about itself and its `ModelCheckpoint` callbacks, read WITHOUT unpickling.

A `.ckpt` is `torch.save(dict)`: a zip whose `<name>/data.pkl` holds `epoch`, `global_step` and `callbacks`,
where each `ModelCheckpoint` stores its state under a key such as
`ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', ...}`: `best_model_path` (as the training machine saw
it), `best_model_score` (a 0-d tensor), `best_k_models` (path -> score), `last_model_path`. The opcode walk of
`common.pickle_ops` rebuilds those plain values; scores are decoded from their tensor records' raw bytes.
The state written into the newest checkpoint is the callback's final word on which checkpoint is best.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

from expdesk.core.errors import SourceError, UnsafePath
from expdesk.core.safefile import open_regular
from expdesk.sources.common.pickle_ops import Tensor, scalar_of, simulate, torch_zip_pickle

STATE_KEYS = ("monitor", "best_model_path", "last_model_path", "kth_best_model_path", "dirpath")
#: the callback key's repr of its init arguments: `ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', ...}`
_KEY_ARGS = re.compile(r"^ModelCheckpoint(\{.*\})$", re.S)
MAX_BEST_K = 100


def checkpoint_state(path: Path) -> dict[str, Any]:
    """`{"epoch", "global_step", "model_checkpoints": [...]}` of one `.ckpt` (SourceError when unreadable)."""
    try:
        fd, _st = open_regular(path)
    except UnsafePath as exc:
        raise SourceError(path, exc.reason) from None
    with os.fdopen(fd, "rb") as handle:
        data, prefix = torch_zip_pickle(handle, path)
        top = simulate(data, path)
        if not isinstance(top, dict):
            raise SourceError(path, "the checkpoint's pickle is not a dict")
        out: dict[str, Any] = {
            k: top[k]
            for k in ("epoch", "global_step")
            if isinstance(top.get(k), int) and not isinstance(top[k], bool)
        }
        version = top.get("pytorch-lightning_version")
        if isinstance(version, str):
            out["lightning_version"] = version
        callbacks = top.get("callbacks")
        found = []
        for key, state in callbacks.items() if isinstance(callbacks, dict) else []:
            if isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(state, dict):
                found.append(_callback(key, state, handle, prefix, path))
        out["model_checkpoints"] = found
    return out


def _callback(key: str, state: dict[Any, Any], handle: Any, prefix: str, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        k: state[k] for k in STATE_KEYS if k in state and (state[k] is None or isinstance(state[k], str))
    }
    entry.update(_init_args(key))
    entry["best_model_score"] = _score(state.get("best_model_score"), handle, prefix, path)
    best_k = state.get("best_k_models")
    if isinstance(best_k, dict):
        entry["best_k_models"] = {
            str(p): _score(v, handle, prefix, path)
            for p, v in list(best_k.items())[:MAX_BEST_K]
            if isinstance(p, str)
        }
    return entry


def _score(value: Any, handle: Any, prefix: str, path: Path) -> float | None:
    if isinstance(value, Tensor):
        try:
            return scalar_of(handle, prefix, value, path)
        except SourceError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _init_args(key: str) -> dict[str, Any]:
    """`mode`, `save_top_k`... from the callback key: a repr of plain values, parsed as a literal (never eval)."""
    match = _KEY_ARGS.match(key)
    if not match or len(key) > 4096:
        return {}
    try:
        args = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    if not isinstance(args, dict):
        return {}
    return {
        k: v
        for k, v in args.items()
        if k in ("mode", "every_n_train_steps", "every_n_epochs") and isinstance(v, (str, int, type(None)))
    }
