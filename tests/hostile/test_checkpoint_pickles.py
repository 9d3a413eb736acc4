"""A Lightning checkpoint is a torch zip holding a pickle: its callback state is read from the opcodes, and a
pickle that would run code when loaded runs nothing (the marker file is never created)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

from expdesk.sources.lightning._ckpt import checkpoint_state


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def _ckpt(path: Path, payload: object) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr("archive/version", "3\n")
    path.write_bytes(buf.getvalue())
    return path


def test_reduce_to_os_system_is_inert(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state = {"epoch": 3, "global_step": 40, "evil": _Boom(marker),
             "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'max'}": {
                 "monitor": "val_loss", "best_model_path": "/old/box/ckpts/epoch=1.ckpt", "trojan": _Boom(marker)}}}  # fmt: skip
    found = checkpoint_state(_ckpt(tmp_path / "last.ckpt", state))
    assert not marker.exists()
    assert (found["epoch"], found["global_step"]) == (3, 40)
    (callback,) = found["model_checkpoints"]
    assert callback["best_model_path"] == "/old/box/ckpts/epoch=1.ckpt" and callback["mode"] == "max"
    assert callback["best_model_score"] is None and "trojan" not in callback


def test_callback_key_is_parsed_as_a_literal_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    key = f"ModelCheckpoint{{'mode': __import__('os').system('touch {marker}')}}"
    found = checkpoint_state(_ckpt(tmp_path / "x.ckpt", {"callbacks": {key: {"monitor": None}}}))
    assert not marker.exists() and "mode" not in found["model_checkpoints"][0]


def test_not_a_torch_zip(tmp_path: Path) -> None:
    import pytest

    from expdesk.core.errors import SourceError

    (tmp_path / "legacy.ckpt").write_bytes(pickle.dumps({"epoch": 1}))
    with pytest.raises(SourceError, match="torch zip"):
        checkpoint_state(tmp_path / "legacy.ckpt")
