"""Writes the Hydra fixtures of this folder with hydra-core itself, then GROUND_TRUTH.json read back with
OmegaConf (configs) and json (the metrics files the app wrote).

Run from the repository root with a venv holding hydra-core 1.3 (not a project dependency):
    .toolsenv/bin/python tests/data/fidelity/hydra/make_hydra.py

What it makes, each a shape seen in public repositories:
* `multirun/<date>/<time>/` - a sweep over the metric-file shape the job writes (`shape=...`): records under a
  key of the job's choosing, a dict of columns, a bare list of records, several tables, no step column, and
  one shape no reader can know (it must be listed as not read);
* `multirun/<date>/<time>/` - a second sweep (`lr=...` on the command line, `batch_size` through
  `hydra.sweeper.params`) with Hydra's job logging disabled: no job log, so times come from folder names;
* `outputs/<date>/<time>/` - a single run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

APP = '''
import json, logging, math
import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)

def curve(cfg):
    return [round(1.0 / (1.0 + cfg.lr * 10 * e), 6) for e in range(cfg.epochs)]

@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    log.info("training with lr=%s", cfg.lr)
    loss = curve(cfg)
    acc = [round(1.0 - v / 2, 6) for v in loss]
    if cfg.shape == "steps":
        doc = {"steps": [{"step": 10 * e, "loss": l, "acc": a} for e, (l, a) in enumerate(zip(loss, acc))],
               "final_acc": acc[-1]}
    elif cfg.shape == "columns":
        doc = {"epoch": list(range(cfg.epochs)), "loss": loss, "acc": acc}
    elif cfg.shape == "records":
        doc = [{"iteration": 100 * e, "loss": l} for e, l in enumerate(loss)]
    elif cfg.shape == "tables":
        doc = {"train": [{"global_step": e, "loss": l} for e, l in enumerate(loss)],
               "val": [{"global_step": e, "acc": a} for e, a in enumerate(acc) if e % 2 == 0],
               "best_acc": max(acc)}
    elif cfg.shape == "nostep":
        doc = {"log": [{"loss": l, "acc": a} for l, a in zip(loss, acc)]}
        doc["log"][1]["loss"] = float("nan")  # a logged NaN stays a NaN
    elif cfg.shape == "unknown":
        doc = {"confusion": [[5, 1], [2, 7]], "note": "no per-step values here"}
    else:
        raise ValueError(cfg.shape)
    with open("metrics.json", "w") as fh:
        json.dump(doc, fh, indent=1)

if __name__ == "__main__":
    main()
'''

CONFIG = """
defaults:
  - _self_
shape: steps
lr: 0.1
batch_size: 8
epochs: 4
model:
  layers: 2
  name: mlp
data_dir: ${hydra:runtime.cwd}/data
hydra:
  job:
    chdir: true
"""

#: the second sweep's config: the sweeper's own params live in the config, as Hydra documents it
SWEEP_CONFIG = """
defaults:
  - config
  - _self_
hydra:
  sweeper:
    params:
      batch_size: 8,16
"""

SHAPES = ["steps", "columns", "records", "tables", "nostep", "unknown"]


def run(app: Path, cwd: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(app / "app.py"), *args], cwd=cwd, check=True, capture_output=True)


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


def main() -> None:
    from omegaconf import OmegaConf

    for name in ("multirun", "outputs"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp)
        (app / "conf").mkdir()
        (app / "app.py").write_text(APP)
        (app / "conf" / "config.yaml").write_text(CONFIG)
        (app / "conf" / "sweep.yaml").write_text(SWEEP_CONFIG)
        run(app, HERE, "-m", "shape=" + ",".join(SHAPES))
        time.sleep(1.1)  # sweeps are named by the second they start
        run(
            app,
            HERE,
            "--config-name",
            "sweep",
            "-m",
            "lr=0.1,0.01",
            "hydra/job_logging=disabled",
        )
        time.sleep(1.1)
        run(app, HERE, "shape=columns", "lr=0.05")
    jobs = []
    for cfg in sorted(HERE.glob("*/*/*/**/.hydra/config.yaml")) + sorted(HERE.glob("outputs/*/*/.hydra/config.yaml")):
        job = cfg.parent.parent
        if any(j["path"] == job.relative_to(HERE).as_posix() for j in jobs):
            continue
        hydra_cfg = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "hydra.yaml"), resolve=False)["hydra"]
        metrics_path = job / "metrics.json"
        jobs.append(
            {
                "path": job.relative_to(HERE).as_posix(),
                "params": flat(OmegaConf.to_container(OmegaConf.load(cfg), resolve=False)),
                "overrides": OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml")),
                "job_num": hydra_cfg["job"].get("num"),
                "mode": str(hydra_cfg["mode"]),
                "metrics_json": json.loads(metrics_path.read_text()) if metrics_path.exists() else None,
                "has_log": any(job.glob("*.log")),
            }
        )
    sweeps = []
    for multirun in sorted(HERE.glob("multirun/*/*/multirun.yaml")):
        doc = OmegaConf.to_container(OmegaConf.load(multirun), resolve=False)
        sweeps.append(
            {
                "path": multirun.parent.relative_to(HERE).as_posix(),
                "task_overrides": doc["hydra"]["overrides"]["task"],
                "sweeper_params": doc["hydra"]["sweeper"].get("params"),
            }
        )
    truth = {
        "tool": "hydra",
        "readers": {
            "configs": "omegaconf.OmegaConf.load(...), to_container(resolve=False)",
            "metrics": "json.loads(metrics.json) as the app wrote it",
        },
        "hydra_version": __import__("hydra").__version__,
        "jobs": jobs,
        "sweeps": sweeps,
    }
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
