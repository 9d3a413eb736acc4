"""Writes DVCLive folders with dvclive itself, then GROUND_TRUTH.json read back with dvclive's own helpers
(`dvclive.utils.parse_tsv`, `parse_json`, `dvclive.serialize.load_yaml`).

Run from the repository root with a venv holding dvclive (not a project dependency):
    .toolsenv/bin/python tests/data/fidelity/dvclive/make_dvclive.py

* `summary_only/dvclive`: `log_params` and `log_metric(..., plot=False)`: params.yaml + metrics.json, no
  plots folder (a run with params and final values, no history);
* `folds/dvclive` and `folds/dvclive/fold_<k>`: one Live per cross-validation fold nested in the summary
  Live's folder (seen in public repositories);
* `step_metric/dvclive`: a metric named `train/step`, whose TSV column collides with DVCLive's own `step`
  column: the file holds one column, the metric's values.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make() -> None:
    from dvclive import Live

    cwd = os.getcwd()
    try:
        for case in ("summary_only", "folds", "step_metric"):
            shutil.rmtree(HERE / case, ignore_errors=True)
            (HERE / case).mkdir()
            os.chdir(HERE / case)
            if case == "summary_only":
                with Live(save_dvc_exp=False, dvcyaml=None) as live:
                    live.log_params({"lr": 0.01, "epochs": 3, "model": {"depth": 4}})
                    live.log_metric("acc", 0.91, plot=False)
                    live.log_metric("val/loss", 0.2, plot=False)
            elif case == "folds":
                scores = []
                for fold in range(2):
                    with Live(dir=f"dvclive/fold_{fold}", save_dvc_exp=False, dvcyaml=None) as live:
                        live.log_param("fold", fold)
                        for epoch in range(3):
                            live.log_metric("train/loss", 1.0 / (epoch + 1 + fold))
                            live.next_step()
                        scores.append(0.8 + fold / 10)
                with Live(dir="dvclive", save_dvc_exp=False, dvcyaml=None) as live:
                    live.log_metric("cv/score", sum(scores) / len(scores))
            else:
                with Live(save_dvc_exp=False, dvcyaml=None) as live:
                    for epoch in range(3):
                        live.log_metric("train/step", float(40 * (epoch + 1)))
                        live.log_metric("train/loss", 1.0 / (epoch + 1))
                        live.next_step()
    finally:
        os.chdir(cwd)


def truth() -> dict:
    from dvclive.serialize import load_yaml
    from dvclive.utils import parse_json, parse_tsv

    runs = []
    for live_dir in sorted(p.parent for p in HERE.glob("*/**/metrics.json")):
        entry: dict = {"path": live_dir.relative_to(HERE).as_posix()}
        entry["params"] = load_yaml(live_dir / "params.yaml") if (live_dir / "params.yaml").exists() else {}
        entry["metrics_json"] = parse_json(live_dir / "metrics.json")
        histories = {}
        plots = live_dir / "plots" / "metrics"
        for tsv in sorted(plots.rglob("*.tsv")) if plots.is_dir() else []:
            histories[tsv.relative_to(plots).as_posix()[: -len(".tsv")]] = parse_tsv(tsv)
        entry["tsv"] = histories
        entry["files"] = sorted(p.relative_to(live_dir).as_posix() for p in live_dir.rglob("*") if p.is_file())
        runs.append(entry)
    import dvclive

    return {
        "tool": "dvclive",
        "dvclive_version": __import__("importlib.metadata").metadata.version("dvclive"),
        "readers": {"tsv": "dvclive.utils.parse_tsv", "json": "dvclive.utils.parse_json", "params": "dvclive.serialize.load_yaml"},
        "runs": runs,
    }


if __name__ == "__main__":
    make()
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth(), indent=1, sort_keys=True) + "\n")
