"""Writes a DVC project whose train stage logs with DVCLive, run through `dvc exp run` twice (the second with
`-S train.lr=0.05`), with the real tools; then GROUND_TRUTH.json from DVC's own API.

Not part of the test suite: run it from the repository root with a tools venv holding dvc and dvclive,

    .toolsenv/bin/python tests/data/jobs/dvc_exp/make.py

`dvc exp run` needs a Git repository: the project is `git init`ed and committed, and the experiments are
saved by DVC as Git refs. The workspace is kept as the second experiment left it (what a researcher's
checkout holds after `dvc exp run`), less `.git` (the walk never enters it), `.dvc/cache` and `.dvc/tmp`
(machine-local, as in a clone). Ground truth: `dvc.api.exp_show()` (every experiment; the workspace row is
what the folder holds), `dvc.api.params_show()`, `dvc.api.metrics_show()`, and DVCLive's `plots/metrics/*.tsv`
read with the csv module.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"

PARAMS = """\
train:
  lr: 0.01
  epochs: 4
  hidden: 8
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps:
    - train.py
    params:
    - train
    outs:
    - model.json
    metrics:
    - dvclive/metrics.json:
        cache: false
    plots:
    - dvclive/plots/metrics:
        x: step
        cache: false
"""

TRAIN = """\
import json
import math

import yaml
from dvclive import Live

params = yaml.safe_load(open("params.yaml"))["train"]
w = 0.0
with Live() as live:
    for epoch in range(params["epochs"]):
        w += params["lr"] * (1.0 - w)
        loss = math.exp(-3 * w) + 0.01 * epoch
        live.log_metric("train/loss", loss)
        live.log_metric("val/acc", 1.0 - loss / 2)
        live.next_step()
    live.summary["best/val_acc"] = 1.0 - loss / 2
json.dump({"w": w, "hidden": params["hidden"]}, open("model.json", "w"))
"""


def run(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Researcher",
        "GIT_AUTHOR_EMAIL": "researcher@example.org",
        "GIT_COMMITTER_NAME": "Researcher",
        "GIT_COMMITTER_EMAIL": "researcher@example.org",
        "DVC_NO_ANALYTICS": "1",
        # the stage's `python` is this venv's (it has dvclive)
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def tsv_series(folder: Path) -> dict[str, list[list[float]]]:
    out = {}
    base = folder / "dvclive" / "plots" / "metrics"
    for path in sorted(base.rglob("*.tsv")):
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        key = path.relative_to(base).with_suffix("").as_posix()
        out[key] = [[int(r["step"]), float(r[path.stem])] for r in rows]
    return out


def main() -> None:
    dvc_bin = str(Path(sys.executable).with_name("dvc"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "project"
        work.mkdir()
        (work / "params.yaml").write_text(PARAMS)
        (work / "dvc.yaml").write_text(DVC_YAML)
        (work / "train.py").write_text(TRAIN)
        run("git", "init", "-q", "-b", "main", cwd=work)
        run(dvc_bin, "init", "-q", cwd=work)
        run("git", "add", "-A", cwd=work)
        run("git", "commit", "-q", "-m", "project", cwd=work)
        run(dvc_bin, "exp", "run", "-n", "baseline", cwd=work)
        run(dvc_bin, "exp", "run", "-n", "faster", "-S", "train.lr=0.05", cwd=work)
        os.chdir(work)
        import dvc.api

        truth = {
            "exp_show": json.loads(json.dumps(dvc.api.exp_show(), default=str)),
            "params_show": dvc.api.params_show(),
            "metrics_show": dvc.api.metrics_show(),
            "dvclive_series": tsv_series(work),
            "exp_names": run(dvc_bin, "exp", "list", "--name-only", cwd=work).split(),
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

    truth["tools"] = {"dvc": version("dvc"), "dvclive": version("dvclive")}
    truth["project"] = "project"
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
