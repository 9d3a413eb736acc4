"""Writes the Lightning fixtures of this folder with lightning itself, then GROUND_TRUTH.json.

Run from the repository root with a venv holding torch and lightning (not project dependencies):
    .toolsenv/bin/python tests/data/fidelity/lightning/make_lightning.py

* `logs/lightning_logs/version_0`: CSVLogger and TensorBoardLogger writing into one version folder (the
  second logger given the first one's version), hparams holding a Namespace, a dataclass, a tuple, a
  function and a torch.device, which Lightning dumps with `!!python/...` tags;
* `logs/lightning_logs/version_1`: a fit that crashed in its first training step: only `hparams.yaml`;
* `logs/lightning_logs/version_2` + `version_3`: `logger=[CSVLogger(d), TensorBoardLogger(d)]` as most
  people write it: each logger takes the next free version, so one fit leaves two folders.

Ground truth: metrics.csv through pandas (dtype=str, an empty cell = not logged), event files through
TensorBoard's EventAccumulator, hparams.yaml through PyYAML's unsafe loader *here only* (this script wrote
the file; Lightning's own `load_hparams_from_yaml` refuses these tags) and turned into plain data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class OptimCfg:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 10


def relu_squared(x: float) -> float:
    return max(x, 0.0) ** 2


def make() -> None:
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from torch.utils.data import DataLoader, TensorDataset

    class Model(L.LightningModule):
        def __init__(self, args: argparse.Namespace, optim: OptimCfg, dims: tuple, act, device_hint, lr: float = 0.01, crash: bool = False) -> None:  # noqa: ANN001
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
            if self.hparams.crash:
                raise RuntimeError("out of memory (simulated)")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    loader = DataLoader(data, batch_size=8)
    args = argparse.Namespace(seed=0, data_dir="data/", batch_size=8, augment=False)
    save_dir = HERE / "logs"
    shutil.rmtree(save_dir, ignore_errors=True)
    for fit in ("shared", "crash", "apart"):
        crash = fit == "crash"
        csv_logger = CSVLogger(save_dir)
        loggers = [csv_logger]
        if fit == "shared":
            loggers.append(TensorBoardLogger(save_dir, version=csv_logger.version))
        elif fit == "apart":
            loggers.append(TensorBoardLogger(save_dir))
        trainer = L.Trainer(
            max_epochs=2,
            logger=loggers,
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        model = Model(args, OptimCfg(), (64, 32), relu_squared, torch.device("cpu"), lr=0.01, crash=crash)
        try:
            trainer.fit(model, loader, loader)
        except RuntimeError:
            pass


def plain(value):  # noqa: ANN001, ANN201
    """What a Python-tagged node holds, as data: an object's fields, a tuple's items, a name's text."""
    if isinstance(value, argparse.Namespace):
        return {k: plain(v) for k, v in vars(value).items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    if type(value).__module__ == "torch":  # torch.device: dumped as `!!python/object/apply` with its args
        return [str(value)]
    return value


def flat(tree: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flat(value, name))
        elif isinstance(value, (list, dict)):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


def summary(points: list[tuple[int, float]]) -> dict:
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    top = max(steps)
    finite = [v for v in values if not math.isnan(v)]
    return {
        "count": len(points),
        "first_step": min(steps),
        "last_step": top,
        "last_value": [v for s, v in points if s == top][-1],
        "min": min(finite),
        "max": max(finite),
    }


def truth() -> dict:
    import pandas as pd
    import yaml
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = []
    for version in sorted((HERE / "logs" / "lightning_logs").iterdir()):
        entry: dict = {"path": version.relative_to(HERE).as_posix(), "files": sorted(p.name for p in version.iterdir())}
        hparams = yaml.unsafe_load((version / "hparams.yaml").read_text())  # our own file, see the docstring
        entry["params"] = flat(plain(hparams))
        csv_metrics: dict = {}
        if (version / "metrics.csv").exists():
            frame = pd.read_csv(version / "metrics.csv", dtype=str, keep_default_na=False)
            for column in frame.columns:
                if column in ("epoch", "step"):
                    continue
                points = [(int(r["step"]), float(r[column])) for _, r in frame.iterrows() if r[column] != ""]
                csv_metrics[column] = summary(points)
        entry["csv_metrics"] = csv_metrics
        event_metrics: dict = {}
        if any(p.name.startswith("events.out.tfevents") for p in version.iterdir()):
            acc = EventAccumulator(str(version), size_guidance={"scalars": 0})
            acc.Reload()
            for tag in acc.Tags()["scalars"]:
                event_metrics[tag] = summary([(e.step, e.value) for e in acc.Scalars(tag)])
                event_metrics[tag]["first_wall_time"] = min(e.wall_time for e in acc.Scalars(tag))
                event_metrics[tag]["last_wall_time"] = max(e.wall_time for e in acc.Scalars(tag))
        entry["event_metrics"] = event_metrics
        runs.append(entry)
    import lightning

    return {
        "tool": "lightning",
        "lightning_version": lightning.__version__,
        "readers": {
            "params": "yaml.unsafe_load(hparams.yaml) (written by this script), tagged objects as plain data",
            "csv": "pandas.read_csv(metrics.csv, dtype=str, keep_default_na=False)",
            "events": "tensorboard EventAccumulator(size_guidance scalars=0)",
        },
        "runs": runs,
    }


if __name__ == "__main__":
    make()
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth(), indent=1, sort_keys=True) + "\n")
