"""The Lightning reader records each checkpoint's epoch, step and ModelCheckpoint state, read from the .ckpt's
pickle opcodes (never unpickled); ground truth: the same files read with `torch.load` by the fixture script."""

from __future__ import annotations

from pathlib import PurePosixPath

from expdesk.core.entities import RunRef
from expdesk.sources.lightning.reader import READER
from tests.bundle.handoff import HANDOFF, truth


def test_checkpoint_states_match_torch_load() -> None:
    gt = truth()["lightning"]
    root = HANDOFF / "lightning"
    for version, expected in gt.items():
        folder = root / "lightning_logs" / version
        update = READER.read(RunRef("lightning", folder, root), None)
        states = update.info["checkpoint_states"]
        for name, want in expected["states"].items():
            rel = f"checkpoints/{name}"
            if (folder / rel).is_symlink():
                assert rel not in states  # save_last="link": the link is not a file of its own
                continue
            got = states[rel]
            assert (got["epoch"], got["global_step"]) == (want["epoch"], want["global_step"])
            (callback,) = got["model_checkpoints"]
            assert callback["monitor"] == want["monitor"]
            assert PurePosixPath(callback["best_model_path"]).name == want["best_model_path"]
            assert (
                callback["best_model_score"] == want["best_model_score"]
            )  # exact: decoded from the tensor bytes
        # a second read reuses the cursor's states (the files did not change)
        again = READER.read(RunRef("lightning", folder, root), update.cursor)
        assert again.info["checkpoint_states"] == states
