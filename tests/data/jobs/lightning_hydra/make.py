"""Writes one training job the way ashleve/lightning-hydra-template lays it out, with the real tools, then
GROUND_TRUTH.json read back with each tool's own reader.

Not part of the test suite (the tools are not expdesk dependencies): run it from the repository root with a
tools venv,

    python3 -m venv .toolsenv && .toolsenv/bin/pip install torch==2.13.0 && \\
        .toolsenv/bin/pip install lightning hydra-core wandb tensorboard pandas
    python3 -m venv .toolsenv-w17 && .toolsenv-w17/bin/pip install wandb==0.17.9   # the .wandb framing reader
    .toolsenv/bin/python tests/data/jobs/lightning_hydra/make.py

It also writes ../named_wandb/: a second job whose Hydra config names the W&B run it logs to
(`logger.wandb.id`), kept outside the job folder (see `named_job`).

The project below is a small copy of the template's structure (`configs/` with model/data/trainer/logger/
callbacks/paths/hydra groups, `logger: many_loggers` = CSV + TensorBoard + W&B offline, `paths.root_dir:
${oc.env:PROJECT_ROOT}`, run dir `${paths.log_dir}/${task_name}/runs/${now:...}`), training a tiny MLP on
synthetic data for 3 epochs and testing the best checkpoint, as `src/train.py` does. What is kept is the job
folder `logs/train/runs/<date>_<time>/` exactly as written, less W&B's internal debug log (large, says
nothing) and its `tmp/`.

Ground truth: `.hydra/config.yaml` through OmegaConf (unresolved), `csv/version_0/metrics.csv` through
pandas, the event files through TensorBoard's EventAccumulator, the W&B log through wandb's DataStore.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONFIGS = {
    "train.yaml": """\
defaults:
  - _self_
  - data: synthetic
  - model: mlp
  - callbacks: default
  - logger: many_loggers
  - trainer: cpu
  - paths: default
  - hydra: default
task_name: "train"
tags: ["dev"]
train: True
test: True
ckpt_path: null
seed: 12345
""",
    "data/synthetic.yaml": """\
_target_: datamodule.SyntheticDataModule
n_samples: 192
n_features: 8
batch_size: 32
""",
    "model/mlp.yaml": """\
_target_: module.MLPLitModule
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 0.003
  weight_decay: 0.0
net:
  _target_: module.SimpleNet
  input_size: 8
  hidden_size: 16
  output_size: 2
""",
    "callbacks/default.yaml": """\
model_checkpoint:
  _target_: lightning.pytorch.callbacks.ModelCheckpoint
  dirpath: ${paths.output_dir}/checkpoints
  filename: "epoch_{epoch:03d}"
  monitor: "val/acc"
  mode: "max"
  save_last: True
  auto_insert_metric_name: False
""",
    "logger/many_loggers.yaml": """\
defaults:
  - csv
  - tensorboard
  - wandb
""",
    "logger/csv.yaml": """\
csv:
  _target_: lightning.pytorch.loggers.csv_logs.CSVLogger
  save_dir: "${paths.output_dir}"
  name: "csv/"
  prefix: ""
""",
    "logger/tensorboard.yaml": """\
tensorboard:
  _target_: lightning.pytorch.loggers.tensorboard.TensorBoardLogger
  save_dir: "${paths.output_dir}/tensorboard/"
  name: null
  log_graph: False
  default_hp_metric: True
  prefix: ""
""",
    "logger/wandb.yaml": """\
wandb:
  _target_: lightning.pytorch.loggers.wandb.WandbLogger
  save_dir: "${paths.output_dir}"
  offline: True
  id: null
  project: "lightning-hydra-template"
  log_model: False
  prefix: ""
  group: ""
  tags: []
  job_type: ""
""",
    "trainer/cpu.yaml": """\
_target_: lightning.pytorch.trainer.Trainer
default_root_dir: ${paths.output_dir}
min_epochs: 1
max_epochs: 3
accelerator: cpu
devices: 1
check_val_every_n_epoch: 1
deterministic: False
enable_progress_bar: False
log_every_n_steps: 2
""",
    "paths/default.yaml": """\
root_dir: ${oc.env:PROJECT_ROOT}
data_dir: ${paths.root_dir}/data/
log_dir: ${paths.root_dir}/logs/
output_dir: ${hydra:runtime.output_dir}
work_dir: ${hydra:runtime.cwd}
""",
    "hydra/default.yaml": """\
run:
  dir: ${paths.log_dir}/${task_name}/runs/${now:%Y-%m-%d}_${now:%H-%M-%S}
sweep:
  dir: ${paths.log_dir}/${task_name}/multiruns/${now:%Y-%m-%d}_${now:%H-%M-%S}
  subdir: ${hydra.job.num}
job_logging:
  handlers:
    file:
      filename: ${hydra.runtime.output_dir}/${task_name}.log
""",
}

MODULE = """
import torch
from lightning import LightningModule


class SimpleNet(torch.nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.model = torch.nn.Sequential(
            torch.nn.Linear(input_size, hidden_size), torch.nn.ReLU(), torch.nn.Linear(hidden_size, output_size)
        )

    def forward(self, x):
        return self.model(x)


class MLPLitModule(LightningModule):
    def __init__(self, net, optimizer):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.net = net
        self.criterion = torch.nn.CrossEntropyLoss()
        self.val_acc_best = 0.0

    def forward(self, x):
        return self.net(x)

    def _step(self, batch):
        x, y = batch
        logits = self.forward(x)
        loss = self.criterion(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        return loss, acc

    def training_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        self.log("train/acc", acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("val/loss", loss, on_step=False, on_epoch=True)
        self.log("val/acc", acc, on_step=False, on_epoch=True)

    def on_validation_epoch_end(self):
        acc = self.trainer.callback_metrics["val/acc"].item()
        self.val_acc_best = max(self.val_acc_best, acc)
        self.log("val/acc_best", self.val_acc_best, sync_dist=True, prog_bar=True)

    def test_step(self, batch, batch_idx):
        loss, acc = self._step(batch)
        self.log("test/loss", loss, on_step=False, on_epoch=True)
        self.log("test/acc", acc, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        return {"optimizer": self.hparams.optimizer(params=self.parameters())}
"""

DATAMODULE = """
import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset


class SyntheticDataModule(LightningDataModule):
    def __init__(self, n_samples, n_features, batch_size):
        super().__init__()
        self.save_hyperparameters(logger=False)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n_samples, n_features, generator=g)
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
        n = n_samples // 3
        self.parts = [TensorDataset(x[i * n:(i + 1) * n], y[i * n:(i + 1) * n]) for i in range(3)]

    def train_dataloader(self):
        return DataLoader(self.parts[0], batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.parts[1], batch_size=self.hparams.batch_size)

    def test_dataloader(self):
        return DataLoader(self.parts[2], batch_size=self.hparams.batch_size)
"""

TRAIN = '''
import hydra
import lightning as L
from omegaconf import OmegaConf


def log_hyperparameters(cfg, model, trainer):
    """The template's `log_hyperparameters`: which config parts every logger gets."""
    c = OmegaConf.to_container(cfg)
    hparams = {"model": c["model"]}
    hparams["model/params/total"] = sum(p.numel() for p in model.parameters())
    hparams["model/params/trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    hparams["model/params/non_trainable"] = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    for key in ("data", "trainer", "callbacks", "task_name", "tags", "ckpt_path", "seed"):
        hparams[key] = c.get(key)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)


@hydra.main(version_base="1.3", config_path="configs", config_name="train.yaml")
def main(cfg):
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    callbacks = [hydra.utils.instantiate(c) for c in cfg.callbacks.values()]
    loggers = [hydra.utils.instantiate(c) for c in cfg.logger.values()]
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    log_hyperparameters(cfg, model, trainer)
    trainer.fit(model=model, datamodule=datamodule)
    # our own checkpoint, which holds the net in its hparams (as the template's does)
    trainer.test(model=model, datamodule=datamodule, ckpt_path="best", weights_only=False)
    import wandb
    wandb.finish()


if __name__ == "__main__":
    main()
'''


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        out: dict[str, object] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def number(value: float) -> object:
    return value if math.isfinite(value) else str(value)


FRAMES = """
import base64, json, sys
from wandb.sdk.internal.datastore import DataStore
store = DataStore()
store.open_for_scan(sys.argv[1])
out = []
while True:
    try:
        data = store.scan_data()
    except AssertionError:
        break
    if data is None:
        break
    out.append(base64.b64encode(data).decode())
print(json.dumps(out))
"""


def wandb_records(log: Path) -> list:
    """The records of a `.wandb` log: framing by wandb 0.17.9's DataStore (current SDKs no longer ship a
    Python reader; the framing is unchanged), records parsed by the current SDK's protobuf classes."""
    import base64

    from wandb.proto import wandb_internal_pb2 as pb

    w17 = os.environ.get("WANDB17_PYTHON", str(HERE.parents[3] / ".toolsenv-w17" / "bin" / "python"))
    raw = subprocess.run([w17, "-c", FRAMES, str(log)], check=True, capture_output=True, text=True).stdout
    records = []
    for payload in json.loads(raw):
        record = pb.Record()
        record.ParseFromString(base64.b64decode(payload))
        records.append(record)
    return records


def wandb_truth(folder: Path) -> dict:
    history: dict[str, list] = {}
    summary: dict[str, object] = {}
    run_id = start = exit_code = None
    for record in wandb_records(next(folder.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id, start = record.run.run_id, record.run.start_time.ToMilliseconds() / 1000
        elif kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                if not key.startswith("_"):
                    history.setdefault(key, []).append([record.history.step.num, json.loads(item.value_json)])
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                if not key.startswith("_"):
                    summary[key] = json.loads(item.value_json)
        elif kind == "exit":
            exit_code = record.exit.exit_code
    return {
        "run_id": run_id,
        "start_time": start,
        "exit_code": exit_code,
        "history": history,
        "summary": summary,
    }


def truth_of(job: Path) -> dict:
    import pandas as pd
    from omegaconf import OmegaConf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "config.yaml"), resolve=False)
    frame = pd.read_csv(job / "csv" / "version_0" / "metrics.csv")
    csv_metrics = {}
    for column in frame.columns:
        if column == "step":
            continue
        rows = frame[["step", column]].dropna()
        csv_metrics[column] = [[int(s), number(float(v))] for s, v in rows.itertuples(index=False)]
    acc = EventAccumulator(str(job / "tensorboard" / "version_0"))
    acc.Reload()
    tb = {
        tag: [[e.step, number(e.value), e.wall_time] for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }
    (wandb_dir,) = [Path(p) for p in glob.glob(str(job / "wandb" / "offline-run-*"))]
    return {
        "job": job.relative_to(HERE).as_posix(),
        "hydra_config": config,
        "hydra_params": {k: v for k, v in flatten(config).items()},
        "csv": csv_metrics,
        "tensorboard": tb,
        "wandb_dir": wandb_dir.relative_to(HERE).as_posix(),
        "wandb": wandb_truth(wandb_dir),
    }


NAMED = HERE.parent / "named_wandb"
NAMED_ID = "h23resume"


def named_job(project: Path, env: dict[str, str]) -> None:
    """A second job whose config names its W&B run (`logger.wandb.id`) and keeps that run at the project root
    (`logger.wandb.save_dir=${paths.root_dir}`), as one does to resume a run: the job folder holds no W&B
    folder; the record names it. Kept in ../named_wandb/ (less the checkpoints, which the test needs not)."""
    before = set((project / "logs" / "train" / "runs").iterdir())
    overrides = ["logger=wandb", f"logger.wandb.id={NAMED_ID}", "logger.wandb.save_dir=${paths.root_dir}"]
    subprocess.run([sys.executable, "train.py", *overrides], cwd=project, env=env, check=True)
    (job,) = set((project / "logs" / "train" / "runs").iterdir()) - before
    for link in ("latest-run", "debug.log", "debug-internal.log"):
        if (project / "wandb" / link).is_symlink():
            (project / "wandb" / link).unlink()
    for stray in glob.glob(str(project / "wandb" / "*" / "logs" / "debug-internal.log")):
        os.unlink(stray)
    for tmpdir in glob.glob(str(project / "wandb" / "*" / "tmp")):
        shutil.rmtree(tmpdir)
    shutil.rmtree(NAMED, ignore_errors=True)
    ckpt = shutil.ignore_patterns("*.ckpt")
    shutil.copytree(job, NAMED / "logs" / "train" / "runs" / job.name, symlinks=True, ignore=ckpt)
    shutil.copytree(project / "wandb", NAMED / "wandb", symlinks=True)
    (run_dir,) = [Path(p) for p in glob.glob(str(NAMED / "wandb" / f"offline-run-*-{NAMED_ID}"))]
    truth = {
        "job": (NAMED / "logs" / "train" / "runs" / job.name).relative_to(NAMED).as_posix(),
        "wandb_dir": run_dir.relative_to(NAMED).as_posix(),
        "named_id": NAMED_ID,
        "hydra_config": __import__("omegaconf").OmegaConf.to_container(
            __import__("omegaconf").OmegaConf.load(job / ".hydra" / "config.yaml"), resolve=False
        ),
        "wandb": wandb_truth(run_dir),
    }
    (NAMED / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        for rel, text in CONFIGS.items():
            path = project / "configs" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (project / "module.py").write_text(MODULE)
        (project / "datamodule.py").write_text(DATAMODULE)
        (project / "train.py").write_text(TRAIN)
        env = {**os.environ, "PROJECT_ROOT": str(project), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        subprocess.run([sys.executable, "train.py"], cwd=project, env=env, check=True)
        (job,) = [Path(p) for p in glob.glob(str(project / "logs" / "train" / "runs" / "*"))]
        for link in ("latest-run", "debug.log", "debug-internal.log"):
            if (job / "wandb" / link).is_symlink():
                (job / "wandb" / link).unlink()
        for stray in glob.glob(str(job / "wandb" / "*" / "logs" / "debug-internal.log")):
            os.unlink(stray)
        for tmpdir in glob.glob(str(job / "wandb" / "*" / "tmp")):
            shutil.rmtree(tmpdir)
        shutil.rmtree(HERE / "logs", ignore_errors=True)
        shutil.copytree(project / "logs", HERE / "logs", symlinks=True)
        named_job(project, env)
    (job,) = [Path(p) for p in glob.glob(str(HERE / "logs" / "train" / "runs" / "*"))]
    import hydra
    import lightning
    import wandb

    truth = {
        "tools": {
            "hydra-core": hydra.__version__,
            "lightning": lightning.__version__,
            "wandb": wandb.__version__,
        },
        "readers": {
            "hydra_config": "omegaconf.OmegaConf.load(.hydra/config.yaml), to_container(resolve=False)",
            "csv": "pandas.read_csv(csv/version_0/metrics.csv), per column without empty cells",
            "tensorboard": "tensorboard EventAccumulator(tensorboard/version_0).Scalars(tag)",
            "wandb": "framing: wandb 0.17.9 DataStore.scan_data; records: current wandb_internal_pb2.Record",
        },
        **truth_of(job),
    }
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
