"""Writes TensorBoard hparams fixtures with torch's SummaryWriter, then GROUND_TRUTH.json read back with
TensorBoard's own EventAccumulator and hparams plugin_data protos.

Run from the repository root with a venv holding torch and tensorboard (not project dependencies):
    .toolsenv/bin/python tests/data/fidelity/tensorboard/make_tb.py

`add_hparams` stores every number as a double (`number_value`), so `batch_size=8` is recorded as 8.0:
* `runs/plain_ints`: integers, a float and a bool, no domain;
* `runs/with_domain`: integers declared with `hparam_domain_discrete`, and a float that happens to be whole.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make() -> None:
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(HERE / "runs", ignore_errors=True)
    with SummaryWriter(HERE / "runs" / "plain_ints") as writer:
        for step in range(3):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.add_hparams(
            {"batch_size": 8, "layers": 3, "lr": 0.001, "use_bn": True, "opt": "adam"},
            {"hparam/final_loss": 0.33},
            run_name="hp",
        )
    with SummaryWriter(HERE / "runs" / "with_domain") as writer:
        writer.add_scalar("loss", 0.5, 0)
        writer.add_hparams(
            {"batch_size": 16, "dropout": 0.5, "scale": 2.0},
            {"hparam/final_loss": 0.5},
            hparam_domain_discrete={"batch_size": [8, 16, 32], "scale": [0.5, 1.0, 2.0]},
            run_name="hp",
        )


def truth() -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    runs = []
    for run in sorted((HERE / "runs").iterdir()):
        session = run / "hp"
        acc = EventAccumulator(str(session))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        values: dict = {}
        domains: dict = {}
        for _tag, raw in content.items():
            data = plugin_data_pb2.HParamsPluginData.FromString(raw)
            if data.HasField("session_start_info"):
                for key, value in data.session_start_info.hparams.items():
                    kind = value.WhichOneof("kind")
                    values[key] = {"kind": kind, "value": getattr(value, kind)}
            if data.HasField("experiment"):
                for info in data.experiment.hparam_infos:
                    if info.HasField("domain_discrete"):
                        domains[info.name] = [
                            getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values
                        ]
        runs.append({"path": run.relative_to(HERE).as_posix(), "hparams": values, "domains": domains})
    return {
        "tool": "tensorboard",
        "readers": {"hparams": "EventAccumulator.PluginTagToContent('hparams') + plugin_data_pb2"},
        "runs": runs,
    }


if __name__ == "__main__":
    make()
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth(), indent=1, sort_keys=True) + "\n")
