"""MLflow's request limits and the batches that respect them.

Limits (MLflow REST API, `runs/log-batch`, "Request Limits": https://mlflow.org/docs/latest/rest-api.html#log-batch
and the Databricks copy of the same page, https://docs.databricks.com/api/experiments/v1/log-batch): a request
may be up to 1 MB of JSON and hold at most 1000 metrics + params + tags in total, 1000 metrics, 100 params and
100 tags. Value lengths are the server's `mlflow/utils/validation.py` constants (MLflow 2.x-3.x): params up to
6000 characters, tags up to 8000, keys up to 250; names only `[/\\w.\\- :]`, and must not normalise as a path
to another name.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
#: below the documented 1 MB so the run id and JSON framing always fit
MAX_BYTES = 900_000
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
_NAME = re.compile(r"^[/\w.\- :]*$")


def name_problem(name: str) -> str | None:
    """Why MLflow would refuse `name` as a param or metric key, or None."""
    if not name:
        return "empty name"
    if len(name) > MAX_KEY:
        return f"name longer than {MAX_KEY} characters"
    if not _NAME.match(name):
        return "MLflow names may only contain letters, digits, _ - . / : and spaces"
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(("..", "/")):
        return f"MLflow refuses names that normalise as paths to another name ({norm!r})"
    return None


def json_value(value: float) -> float | str:
    """Protobuf JSON spells non-finite doubles as strings; plain JSON cannot carry them at all."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


@dataclass
class Batch:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    size: int = 0

    def body(self, run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "metrics": self.metrics, "params": self.params, "tags": self.tags}

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


def batches(
    params: list[dict[str, str]], tags: list[dict[str, str]], metrics: Iterator[dict[str, Any]]
) -> Iterator[Batch]:
    """Pack params and tags first, then metrics, into as few requests as the limits allow (order kept)."""
    batch = Batch()
    for kind, items, limit in (("params", params, MAX_PARAMS), ("tags", tags, MAX_TAGS)):
        for item in items:
            size = len(json.dumps(item)) + 1
            if (
                len(getattr(batch, kind)) >= limit
                or len(batch) >= MAX_ENTITIES
                or batch.size + size > MAX_BYTES
            ):
                yield batch
                batch = Batch()
            getattr(batch, kind).append(item)
            batch.size += size
    for item in metrics:
        # metric entries are small and uniform: estimate rather than serialise each point twice
        size = len(item["key"]) + 80
        if len(batch.metrics) >= MAX_METRICS or len(batch) >= MAX_ENTITIES or batch.size + size > MAX_BYTES:
            yield batch
            batch = Batch()
        batch.metrics.append(item)
        batch.size += size
    if len(batch):
        yield batch
