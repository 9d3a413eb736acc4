"""Make the handoff fixtures with the real tools (never run by the tests; re-run by hand to refresh them).

    .toolsenv/bin/python tests/data/handoff/make_handoff.py            # torch 2.13, transformers, lightning,
                                                                      # peft, mlflow 3, optuna, scikit-learn
    .toolsenv-mlflow2/bin/python tests/data/handoff/make_handoff.py mlflow2  # mlflow-skinny 2.22.1

Every folder below is written by the tool itself from a tiny real training loop on synthetic data; the
models are made tiny so the fixtures stay a few hundred KB. `GROUND_TRUTH.json` is read back with the tools'
own readers (safetensors, `torch.load` of our own trusted checkpoints, `trainer_state.json`, MlflowClient).

- `trainer/out/tiny-cls`: Trainer with `load_best_model_at_end` (eval_loss), `save_total_limit=2`: the best
  checkpoint is not the last one.
- `trainer/out/tiny-final`: no best metric; the script saves the final model sharded (`max_shard_size`) with its
  tokenizer next to the checkpoints, as training scripts do after `trainer.train()`.
- `trainer/out/tiny-lora`: a PEFT LoRA model trained by the Trainer: checkpoints hold adapters.
- `lightning/lightning_logs/version_0`: `ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)`;
  `version_1`: `ModelCheckpoint(save_last="link")` without a monitor (last.ckpt is a symlink).
- `mlflow/sweep/{mlflow.db.gz,mlruns}`: an Optuna study logged as an MLflow parent run with one nested child
  per trial; the best trial's child logs the sklearn model (MLflow 3 logged model).
- `mlflow/served/{mlflow.db.gz,mlartifacts}`: a run logged through `mlflow server --artifacts-destination`
  (artifact URIs are `mlflow-artifacts:/...`).
- `keras/run-sgd`: Keras 3 (torch backend) with CSVLogger, a ModelCheckpoint per epoch and a best-only one.
- `mlflow2/mlruns`: mlflow 2.22 file store, `mlflow.sklearn.log_model` (MLmodel inside the run's artifacts).

The Windows-moved store (`file:///D:/...` URIs) is made by the tests from `mlflow/sweep` by rewriting the
URIs the way MLflow on Windows records them (`Path.as_uri()`: `file:///D:/work/sweep/mlruns/1/<run>/artifacts`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7


def _clean(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# -- Hugging Face Trainer -------------------------------------------------------------------------------
def _tiny_bert(vocab_size: int) -> object:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def _tokenizer(folder: Path) -> object:
    from transformers import BertTokenizerFast

    words = ["good", "bad", "fine", "poor", "great", "awful", "movie", "plot", "the", "a"]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tok = BertTokenizerFast(vocab_file=str(vocab))
    vocab.unlink()
    return tok


def _dataset(tok: object, n: int, seed: int) -> list[dict[str, object]]:
    import random

    import torch

    rng = random.Random(seed)
    pos, neg, filler = ["good", "fine", "great"], ["bad", "poor", "awful"], ["the", "movie", "plot", "a"]
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(filler), rng.choice(pos if label else neg), rng.choice(filler)]
        if rng.random() < 0.3:  # label noise so that eval loss does not fall forever
            label = 1 - label
        enc = tok(" ".join(words), padding="max_length", max_length=8)  # type: ignore[operator]
        rows.append({k: torch.tensor(v) for k, v in enc.items()} | {"labels": torch.tensor(label)})
    return rows


def make_trainer() -> dict[str, object]:
    from transformers import Trainer, TrainingArguments, set_seed

    out = _clean(HERE / "trainer" / "out")
    truth: dict[str, object] = {}
    work = HERE / "trainer" / "_tok"
    work.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(work)
    shutil.rmtree(work)
    os.chdir(HERE / "trainer")  # output_dir recorded relative to the cwd, as in most scripts
    for name, best, lora in (("tiny-cls", True, False), ("tiny-final", False, False), ("tiny-lora", True, True)):
        set_seed(SEED)
        model = _tiny_bert(len(tok))  # type: ignore[arg-type]
        if lora:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"],
                                                     task_type="SEQ_CLS"))  # fmt: skip
        args = TrainingArguments(
            output_dir=f"out/{name}",
            eval_strategy="steps",
            eval_steps=3,
            save_steps=3,
            max_steps=12,
            logging_steps=1,
            per_device_train_batch_size=8,
            learning_rate=0.5 if best else 0.05,  # large: eval loss rises late, so the best is not the last
            save_total_limit=2 if best else 1,
            load_best_model_at_end=best,
            metric_for_best_model="eval_loss" if best else None,
            report_to="none",
            seed=SEED,
            use_cpu=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=_dataset(tok, 64, 1), eval_dataset=_dataset(tok, 32, 2),
                          processing_class=tok)  # type: ignore[arg-type]  # fmt: skip
        trainer.train()
        run = out / name
        if not best:
            # the usual end of a training script: the final model next to the checkpoints, here in shards
            model.save_pretrained(run, max_shard_size="2KB")  # type: ignore[attr-defined]
            tok.save_pretrained(run)  # type: ignore[attr-defined]
            trainer.save_state()
        state = json.loads(
            (run / "trainer_state.json").read_text()
            if (run / "trainer_state.json").exists()
            else max(run.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name[11:])).read_text()
        )
        checkpoints = sorted((p.name for p in run.glob("checkpoint-*")), key=lambda s: int(s[11:]))
        best_ckpt = state.get("best_model_checkpoint")
        if best:
            assert best_ckpt and Path(best_ckpt).name != checkpoints[-1], (best_ckpt, checkpoints)
        truth[name] = {
            "best_model_checkpoint": best_ckpt,
            "checkpoints": checkpoints,
            "tensors": {folder: _tensor_digests(run / folder) for folder in [*checkpoints, "."]},
            "files": {folder: sorted(p.name for p in (run / folder).iterdir() if p.is_file())
                      for folder in [*checkpoints, "."]},  # fmt: skip
        }
    return truth


def _tensor_digests(folder: Path) -> dict[str, dict[str, str]]:
    """sha256 of every tensor's bytes, per safetensors file, read with the safetensors library."""
    import hashlib

    from safetensors import safe_open

    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            out[path.name] = {
                k: hashlib.sha256(handle.get_tensor(k).contiguous().numpy().tobytes()).hexdigest()
                for k in sorted(handle.keys())
            }
    return out


# -- Lightning -----------------------------------------------------------------------------------------
def make_lightning() -> dict[str, object]:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.3, hidden: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2))

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> torch.Tensor:
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> None:
            logits = self.net(batch[0])
            self.log("val_loss", torch.nn.functional.cross_entropy(logits, batch[1]))
            self.log("val_acc", (logits.argmax(1) == batch[1]).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)

    root = _clean(HERE / "lightning")
    os.chdir(root)
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] + 0.8 * torch.randn(96, generator=g) > 0).long()
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32)
    truth: dict[str, object] = {}
    for version, callback in (
        (0, ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=2, save_last=True,
                            filename="{epoch}-{val_loss:.3f}")),
        (1, ModelCheckpoint(save_last="link")),
    ):  # fmt: skip
        L.seed_everything(SEED)
        trainer = L.Trainer(max_epochs=8, logger=CSVLogger("."), callbacks=[callback], enable_progress_bar=False,
                            enable_model_summary=False, accelerator="cpu", log_every_n_steps=1)  # fmt: skip
        trainer.fit(Tiny(lr=1.5 if version == 0 else 0.1), train, val)
        folder = root / "lightning_logs" / f"version_{version}"
        best = f"checkpoints/{Path(callback.best_model_path).name}" if callback.best_model_path else None
        files = sorted(p.name for p in (folder / "checkpoints").iterdir())
        if version == 0:
            assert best and best != "checkpoints/last.ckpt" and len(files) == 3, (best, files)
            newest = max((p for p in (folder / "checkpoints").iterdir() if p.name != "last.ckpt"),
                         key=lambda p: int(p.name.split("-")[0][6:]))  # fmt: skip
            assert newest.name != Path(best).name, "the best checkpoint should not be the newest one"
        states = {}
        for name in files:
            ckpt = torch.load(folder / "checkpoints" / name, weights_only=False, map_location="cpu")  # our file
            cb = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
            states[name] = {
                "epoch": ckpt["epoch"],
                "global_step": ckpt["global_step"],
                "best_model_path": Path(cb["best_model_path"]).name if cb.get("best_model_path") else None,
                "best_model_score": None if cb.get("best_model_score") is None else float(cb["best_model_score"]),
                "monitor": cb.get("monitor"),
                "last_model_path": Path(cb["last_model_path"]).name if cb.get("last_model_path") else None,
            }
        truth[f"version_{version}"] = {
            "best_model_path": best,
            "best_model_score": None if callback.best_model_score is None else float(callback.best_model_score),
            "monitor": callback.monitor,
            "checkpoints": files,
            "last_is_symlink": (folder / "checkpoints" / "last.ckpt").is_symlink(),
            "states": states,
        }
    return truth


# -- MLflow 3: an Optuna sweep as parent + nested children, and a served store ---------------------------
def _sklearn_data() -> tuple[object, object, object, object]:
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=80) > 0).astype(int)
    return x[:60], y[:60], x[60:], y[60:]


def make_mlflow_sweep() -> dict[str, object]:
    import mlflow
    import optuna
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import log_loss

    store = _clean(HERE / "mlflow" / "sweep")
    os.chdir(store)
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("sgd-sweep")
    x_train, y_train, x_val, y_val = _sklearn_data()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    children: dict[int, str] = {}
    losses: dict[int, float] = {}

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True) as child:
            mlflow.log_params({"alpha": alpha, "loss": "log_loss", "trial": trial.number})
            model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=SEED, max_iter=50)
            for epoch in range(3):
                model.partial_fit(x_train, y_train, classes=[0, 1])
                val = float(log_loss(y_val, model.predict_proba(x_val)))
                mlflow.log_metric("val_loss", val, step=epoch)
            children[trial.number] = child.info.run_id
            losses[trial.number] = val
            trial.set_user_attr("run_id", child.info.run_id)
            return val

    with mlflow.start_run(run_name="optuna-sweep") as parent:
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
        study.optimize(objective, n_trials=4)
        mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric("best_val_loss", study.best_value)
        mlflow.set_tag("optuna.direction", "minimize")
        best_run = children[study.best_trial.number]
        model = SGDClassifier(loss="log_loss", alpha=study.best_params["alpha"], random_state=SEED, max_iter=50)
        for _ in range(3):
            model.partial_fit(x_train, y_train, classes=[0, 1])
    with mlflow.start_run(run_id=best_run):
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="skops",
                                        skops_trusted_types=["numpy.dtype"])  # fmt: skip
        mlflow.log_text("alpha chosen by the sweep\n", "notes/choice.txt")
    client = mlflow.MlflowClient()
    truth = {
        "parent": parent.info.run_id,
        "children": {str(k): v for k, v in children.items()},
        "val_loss": {children[k]: v for k, v in losses.items()},
        "best_run": best_run,
        "model_id": info.model_id,
        "model_files": sorted(
            a.path for a in client.list_logged_model_artifacts(info.model_id)
        ),  # type: ignore[attr-defined]
        "best_run_artifacts": sorted(_walk_artifacts(client, best_run)),
        "mlflow_version": mlflow.__version__,
    }
    _gzip_db(store)
    return truth


def _walk_artifacts(client: object, run_id: str, path: str | None = None) -> list[str]:
    out: list[str] = []
    for item in client.list_artifacts(run_id, path):  # type: ignore[attr-defined]
        out += _walk_artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_mlflow_served() -> dict[str, object]:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    store = _clean(HERE / "mlflow" / "served")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", "sqlite:///mlflow.db", "--artifacts-destination", "./mlartifacts",
         "--workers", "1"],
        cwd=store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("served")
        x_train, y_train, _x_val, _y_val = _sklearn_data()
        with mlflow.start_run(run_name="served-logreg") as run:
            mlflow.log_param("C", 0.5)
            model = LogisticRegression(C=0.5).fit(x_train, y_train)
            mlflow.log_metric("train_acc", float(model.score(x_train, y_train)))
            mlflow.log_text("hello\n", "notes/readme.txt")
            info = mlflow.sklearn.log_model(model, name="model", serialization_format="skops",
                                            skops_trusted_types=["numpy.dtype"])  # fmt: skip
        client = mlflow.MlflowClient()
        truth = {
            "run_id": run.info.run_id,
            "artifact_uri": client.get_run(run.info.run_id).info.artifact_uri,
            "artifacts": sorted(_walk_artifacts(client, run.info.run_id)),
            "model_id": info.model_id,
            "model_artifact_location": client.get_logged_model(info.model_id).artifact_location,
            "model_files": sorted(a.path for a in client.list_logged_model_artifacts(info.model_id)),
        }
    finally:
        server.terminate()
        server.wait(30)
    _gzip_db(store)
    return truth


# -- Keras 3 (torch backend) ----------------------------------------------------------------------------
def make_keras() -> dict[str, object]:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import numpy as np

    run = _clean(HERE / "keras" / "run-sgd")
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        keras.callbacks.CSVLogger(str(run / "training.log")),
        # every epoch's model, and the best one by val_loss, as the Keras docs show
        keras.callbacks.ModelCheckpoint(str(run / "ckpt" / "epoch{epoch:02d}.keras")),
        keras.callbacks.ModelCheckpoint(str(run / "best.keras"), monitor="val_loss", save_best_only=True),
    ]
    (run / "ckpt").mkdir()
    history = model.fit(x, y, epochs=4, batch_size=16, validation_split=0.25, callbacks=callbacks, verbose=0)
    val = [float(v) for v in history.history["val_loss"]]
    return {"val_loss": val, "best_epoch": val.index(min(val)) + 1,
            "files": sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())}  # fmt: skip


# -- MLflow 2 file store -------------------------------------------------------------------------------
def make_mlflow2() -> dict[str, object]:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    store = _clean(HERE / "mlflow2")
    os.chdir(store)
    mlflow.set_tracking_uri("file:./mlruns")
    mlflow.set_experiment("mlflow2-models")
    x_train, y_train, _x_val, _y_val = _sklearn_data()
    with mlflow.start_run(run_name="logreg-v2") as run:
        model = LogisticRegression(C=2.0).fit(x_train, y_train)
        mlflow.log_param("C", 2.0)
        mlflow.log_metric("train_acc", float(model.score(x_train, y_train)))
        mlflow.sklearn.log_model(model, artifact_path="model")
        mlflow.log_text("not a model\n", "extra/notes.txt")
    client = mlflow.MlflowClient()
    return {
        "run_id": run.info.run_id,
        "artifact_uri": run.info.artifact_uri,
        "artifacts": sorted(_walk_artifacts(client, run.info.run_id)),
        "mlflow_version": mlflow.__version__,
    }


def _gzip_db(store: Path) -> None:
    """An MLflow DB is ~1 MB of mostly empty pages: kept gzipped (mtime 0), the tests unpack it into a temp dir."""
    import gzip

    db = store / "mlflow.db"
    with open(db, "rb") as src, open(store / "mlflow.db.gz", "wb") as raw:
        with gzip.GzipFile(filename="mlflow.db", mode="wb", fileobj=raw, mtime=0) as dst:
            shutil.copyfileobj(src, dst)
    db.unlink()


def main() -> None:
    truth_file = HERE / "GROUND_TRUTH.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
    makers = {"trainer": make_trainer, "lightning": make_lightning, "mlflow_sweep": make_mlflow_sweep,
              "mlflow_served": make_mlflow_served, "keras": make_keras, "mlflow2": make_mlflow2}  # fmt: skip
    for name in sys.argv[1:] or [n for n in makers if n != "mlflow2"]:
        truth[name] = makers[name]()
        os.chdir(HERE)
    truth_file.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
