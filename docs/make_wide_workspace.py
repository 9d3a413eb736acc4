"""Write a Hydra sweep shaped like a real project's, for the "300-column workspace" screenshots:

    python -m venv /tmp/hydra-env && /tmp/hydra-env/bin/pip install hydra-core
    /tmp/hydra-env/bin/python docs/make_wide_workspace.py OUT_DIR

Hydra itself composes the config and writes each job's `.hydra/` folder (a transformer fine-tuning config of
~230 keys: model, optimizer, data, trainer, logging); the job, as Hydra apps do, writes `metrics.json` with
~70 metrics per epoch (losses, accuracies, learning rate, per-layer gradient norms). 18 jobs: a 3 x 2 x 3
sweep over learning rate, dropout and seed. Not run by the tests: expdesk does not depend on Hydra.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

LAYERS = 32


def config_yaml() -> str:
    lines = ["seed: 0", "model:", "  name: bert-large", "  hidden: 1024", "  heads: 16", "  dropout: 0.1"]
    for i in range(LAYERS):
        lines += [
            f"  layer_{i:02d}:",
            "    attention_dropout: 0.1",
            "    ffn_dim: 4096",
            "    activation: gelu",
            "    norm_eps: 1.0e-12",
            f"    freeze: {str(i < 4).lower()}",
            f"    init_std: {0.02 / math.sqrt(1 + i):.5f}",
            "    rotary: false",
        ]
    lines += [
        "optimizer:",
        "  name: adamw",
        "  lr: 0.001",
        "  betas: [0.9, 0.999]",
        "  eps: 1.0e-08",
        "  weight_decay: 0.01",
        "  warmup_steps: 500",
        "  schedule: cosine",
    ]
    lines += [
        "data:",
        "  name: glue/mnli",
        "  max_len: 256",
        "  batch_size: 32",
        "  num_workers: 8",
        "  shuffle: true",
        "  cache_dir: /scratch/cache/glue",
        "  tokenizer: bert-large-uncased",
    ]
    lines += [
        "trainer:",
        "  epochs: 6",
        "  precision: bf16",
        "  grad_clip: 1.0",
        "  accumulate: 2",
        "  eval_every: 1",
        "  devices: 4",
        "  strategy: ddp",
    ]
    lines += ["logging:", "  project: mnli-sweep", "  log_every: 50", "  save_top_k: 2", "  monitor: val/acc"]
    return "\n".join(lines) + "\n"  # fmt: skip


def main() -> int:
    out = Path(sys.argv[1]).resolve()
    conf = out.parent / f".{out.name}-conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config.yaml").write_text(config_yaml(), encoding="utf-8")
    import hydra
    from omegaconf import DictConfig

    @hydra.main(config_path=str(conf), config_name="config", version_base=None)
    def train(cfg: DictConfig) -> None:
        rng = random.Random(hash((cfg.seed, cfg.optimizer.lr, cfg.model.dropout)))
        quality = 0.6 + 0.05 * math.log10(cfg.optimizer.lr / 1e-5) - abs(cfg.model.dropout - 0.1)
        history = []
        for epoch in range(cfg.trainer.epochs):
            decay = math.exp(-0.5 * epoch)
            row: dict[str, float] = {"epoch": epoch}
            row["train/loss"] = 1.1 * decay + 0.3 + rng.gauss(0, 0.02)
            row["val/loss"] = row["train/loss"] + 0.08 + rng.gauss(0, 0.02)
            row["val/acc"] = min(0.95, quality + 0.2 * (1 - decay) + rng.gauss(0, 0.005))
            row["val/f1"] = row["val/acc"] - 0.01
            row["lr"] = cfg.optimizer.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.trainer.epochs))
            row["throughput/samples_per_s"] = 410 + rng.gauss(0, 5)
            for i in range(LAYERS):
                row[f"grad_norm/layer_{i:02d}"] = decay / (1 + i / 8) + rng.gauss(0, 0.01)
                row[f"weight_norm/layer_{i:02d}"] = 30 + i * 0.2 + epoch * 0.05
            history.append(row)
        Path("metrics.json").write_text(json.dumps({"history": history}, indent=1), encoding="utf-8")

    sys.argv = [
        sys.argv[0],
        "-m",
        "optimizer.lr=1e-3,3e-4,1e-4",
        "model.dropout=0.0,0.1",
        "seed=0,1,2",
        f"hydra.sweep.dir={out}",
        "hydra.job.chdir=true",
    ]
    train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
