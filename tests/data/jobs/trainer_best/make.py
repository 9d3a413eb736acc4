"""Writes a Hugging Face Trainer output dir with `load_best_model_at_end` and `save_metrics`, as the official
example scripts (run_glue.py) leave it, with the real tools; then GROUND_TRUTH.json.

Not part of the test suite: run it from the repository root with a tools venv holding torch and transformers,

    .toolsenv/bin/python tests/data/jobs/trainer_best/make.py

A 1-layer BERT (random init, no download) classifies synthetic token sequences for 6 epochs (a learning rate high enough that the last epoch is not the best), evaluated and
saved every epoch; the best checkpoint by eval_loss is reloaded at the end. Then, as run_glue.py does:
`save_model`, `save_metrics("train", train_result.metrics + train_samples)`, `save_state`, `evaluate` (of the
reloaded best model) and `save_metrics("eval", ... + eval_samples)`. The final evaluation exists only in
`eval_results.json`/`all_results.json`; `train_samples`/`eval_samples` only there.

Ground truth: the `*_results.json` files and `trainer_state.json` read with `json` (they are the Trainer's
own record of what it reported), plus `TrainerState.load_from_json` for best_metric and log_history.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    import torch
    import transformers
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        Trainer,
        TrainerState,
        TrainingArguments,
    )

    torch.manual_seed(0)

    class Toy(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, n: int, seed: int) -> None:
            g = torch.Generator().manual_seed(seed)
            self.x = torch.randint(4, 60, (n, 12), generator=g)
            # labels mostly follow the first token, half at random: it learns, then overfits
            self.y = torch.where(
                torch.rand(n, generator=g) < 0.5,
                torch.randint(0, 2, (n,), generator=g),
                (self.x[:, 0] > 30).long(),
            )

        def __len__(self) -> int:
            return len(self.y)

        def __getitem__(self, i: int) -> dict:
            return {
                "input_ids": self.x[i],
                "attention_mask": torch.ones(12, dtype=torch.long),
                "labels": self.y[i],
            }

    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    train_ds, eval_ds = Toy(96, 1), Toy(32, 2)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bert-tiny-best"
        args = TrainingArguments(
            output_dir=str(out),
            num_train_epochs=6,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=16,
            learning_rate=5e-2,
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="steps",
            logging_steps=2,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            save_total_limit=2,
            report_to="none",
            seed=0,
            use_cpu=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds)
        train_result = trainer.train()
        trainer.save_model()
        metrics = train_result.metrics
        metrics["train_samples"] = len(train_ds)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(eval_ds)
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        target = HERE / "out" / out.name
        shutil.rmtree(HERE / "out", ignore_errors=True)
        shutil.copytree(out, target, symlinks=True)
    state = TrainerState.load_from_json(str(target / "trainer_state.json"))
    truth = {
        "tools": {"transformers": transformers.__version__, "torch": torch.__version__},
        "readers": {
            "results": "json.load of the *_results.json files save_metrics wrote",
            "state": "transformers.TrainerState.load_from_json(trainer_state.json)",
        },
        "output_dir": target.relative_to(HERE).as_posix(),
        "results": {
            name: json.loads((target / name).read_text())
            for name in ("train_results.json", "eval_results.json", "all_results.json")
        },
        "best_metric": state.best_metric,
        "best_model_checkpoint": Path(state.best_model_checkpoint or "").name,
        "log_history": state.log_history,
        "global_step": state.global_step,
        "max_steps": state.max_steps,
    }
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
