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
