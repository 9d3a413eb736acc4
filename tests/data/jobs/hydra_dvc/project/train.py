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
    json.dump(
        {"history": history, "final_loss": loss, "best_acc": history[-1]["acc"]}, open("metrics.json", "w")
    )


if __name__ == "__main__":
    main()
