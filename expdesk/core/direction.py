"""Whether a metric is better low or high, inferred from its name (loss -> min, accuracy -> max).

Shared by the compare table (best cell of a row) and sweep lineage (which sibling a run beat).
"""

from __future__ import annotations

import re
from enum import StrEnum


class Direction(StrEnum):
    MIN = "min"
    MAX = "max"
    NONE = "none"


_MIN_WORDS = frozenset(
    [
        "loss",
        "losses",
        "error",
        "errors",
        "err",
        "mse",
        "mae",
        "rmse",
        "perplexity",
        "ppl",
        "wer",
        "cer",
        "time",
        "latency",
        "nll",
    ]
)
_MAX_WORDS = frozenset(
    [
        "acc",
        "accuracy",
        "f1",
        "precision",
        "recall",
        "auc",
        "bleu",
        "rouge",
        "score",
        "r2",
        "iou",
        "map",
        "miou",
        "top1",
        "top5",
        "fscore",
    ]
)
_SPLIT = re.compile(r"[^a-z0-9]+")


def infer_direction(metric: str) -> Direction:
    """min/max from the metric's name; the most specific (last) matching word wins: `val_loss_acc` -> max."""
    # whole words first ("mAP" is map), then camelCase parts ("valLoss" is val + loss)
    plain = [w for w in _SPLIT.split(metric.lower()) if w]
    camel = [w for w in _SPLIT.split(_camel_to_snake(metric)) if w]
    for word in [*reversed(plain), *reversed(camel)]:
        for candidate in (word, word.rstrip("0123456789") or word):
            if candidate in _MIN_WORDS:
                return Direction.MIN
            if candidate in _MAX_WORDS:
                return Direction.MAX
    return Direction.NONE


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()
