"""A plain script's output folder with two Lightning loggers, written by Lightning itself: `CSVLogger("out",
name="csv")` and `TensorBoardLogger("out", name="tb")` given to one Trainer, two fits (learning rates 0.01 and
0.05), so `out/csv/version_{0,1}` and `out/tb/version_{0,1}`. No Hydra job around them: the
`logger-versions` rule pairs them by version and hyperparameters. Then GROUND_TRUTH.json from pandas (the
CSVs) and TensorBoard's EventAccumulator.

Not part of the test suite: run it from the repository root with a tools venv holding lightning,
tensorboard and pandas,

    .toolsenv/bin/python tests/data/jobs/lightning_loggers/make.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fit(out: Path, lr: float) -> None:
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from torch.utils.data import DataLoader, TensorDataset

    class Model(L.LightningModule):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)
    loggers = [CSVLogger(out, name="csv"), TensorBoardLogger(out, name="tb")]
    trainer = L.Trainer(
        max_epochs=2, logger=loggers, log_every_n_steps=1, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(Model(lr), data)


def main() -> None:
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for lr in (0.01, 0.05):
            fit(out, lr)
        shutil.rmtree(HERE / "out", ignore_errors=True)
        shutil.copytree(out, HERE / "out")
    versions = {}
    for version in ("version_0", "version_1"):
        frame = pd.read_csv(HERE / "out" / "csv" / version / "metrics.csv")
        acc = EventAccumulator(str(HERE / "out" / "tb" / version))
        acc.Reload()
        versions[version] = {
            "csv": {c: int(frame[c].notna().sum()) for c in frame.columns if c not in ("step", "epoch")},
            "tensorboard": {tag: len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"]},
            "hparams": (HERE / "out" / "csv" / version / "hparams.yaml").read_text(),
        }
    from importlib.metadata import version as installed

    truth = {
        "tools": {"lightning": installed("lightning")},
        "readers": {"csv": "pandas.read_csv, non-empty cells per column", "tensorboard": "EventAccumulator"},
        "versions": versions,
    }
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
