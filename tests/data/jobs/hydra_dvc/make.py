"""A Hydra app run by `dvc repro` with `hydra.run.dir=.`: the project root is both the Hydra job folder
(`.hydra/`, the job log, the app's `metrics.json`) and a DVC project (`dvc.yaml`, `dvc.lock`, the stage's
params and metrics). Written by hydra-core and dvc; GROUND_TRUTH.json from OmegaConf and DVC's own API.

Not part of the test suite: run it from the repository root with a tools venv holding hydra-core and dvc,

    .toolsenv/bin/python tests/data/jobs/hydra_dvc/make.py

Kept: the project as `dvc repro` left it, less `.git`, `.dvc/cache` and `.dvc/tmp`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"

CONFIG = """\
train:
  lr: 0.02
  epochs: 3
  optimizer: sgd
data:
  path: ${oc.env:DATA_DIR,data}/train.csv
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py hydra.run.dir=. hydra.job.chdir=False
    deps:
    - train.py
    params:
    - conf/config.yaml:
      - train
    metrics:
    - metrics.json:
        cache: false
"""

TRAIN = """\
import json
import logging

import hydra

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    history = []
    loss = 1.0
    for epoch in range(cfg.train.epochs):
        loss *= 1.0 - cfg.train.lr * 10
        history.append({"epoch": epoch, "loss": loss, "acc": 1.0 - loss / 2})
        log.info("epoch %d loss %.4f", epoch, loss)
    json.dump({"history": history, "final_loss": loss, "best_acc": history[-1]["acc"]}, open("metrics.json", "w"))


if __name__ == "__main__":
    main()
"""


def run(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Researcher",
        "GIT_AUTHOR_EMAIL": "researcher@example.org",
        "GIT_COMMITTER_NAME": "Researcher",
        "GIT_COMMITTER_EMAIL": "researcher@example.org",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    dvc_bin = str(Path(sys.executable).with_name("dvc"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "project"
        (work / "conf").mkdir(parents=True)
        (work / "conf" / "config.yaml").write_text(CONFIG)
        (work / "dvc.yaml").write_text(DVC_YAML)
        (work / "train.py").write_text(TRAIN)
        run("git", "init", "-q", "-b", "main", cwd=work)
        run(dvc_bin, "init", "-q", cwd=work)
        run("git", "add", "-A", cwd=work)
        run("git", "commit", "-q", "-m", "project", cwd=work)
        run(dvc_bin, "repro", cwd=work)
        os.chdir(work)
        import dvc.api
        from omegaconf import OmegaConf

        truth = {
            "hydra_config": OmegaConf.to_container(
                OmegaConf.load(work / ".hydra" / "config.yaml"), resolve=False
            ),
            "params_show": dvc.api.params_show(),
            "metrics_show": dvc.api.metrics_show(),
            "metrics_json": json.loads((work / "metrics.json").read_text()),
        }
        os.chdir(HERE)
        shutil.rmtree(PROJECT, ignore_errors=True)
        shutil.copytree(
            work,
            PROJECT,
            symlinks=True,
            ignore=lambda d, names: [
                n for n in names if n == ".git" or (d.endswith(".dvc") and n in ("cache", "tmp"))
            ],
        )
    from importlib.metadata import version

    truth["tools"] = {"dvc": version("dvc"), "hydra-core": version("hydra-core")}
    truth["project"] = "project"
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
