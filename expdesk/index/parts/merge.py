"""A joined run's values from its parts' values (pure: no SQL). Parts come in rank order, head first.

* Params and tags: the first part (the job's config) gives a key its value; a later part holding the same
  value adds nothing; when another part holds a different value, both are kept, each labelled with its part
  (`key@hydra`, `key@lightning`; label = the part's tool, or tool:folder), and the plain key stays the job
  config's.
* Metrics: a key's series comes from the first part that logged it, in metric precedence (the job's own
  files, then the loggers that count the job's steps: Lightning's CSV in full precision, TensorBoard; W&B
  counts its own steps). The same series from a later part (the same point count, last, min and max equal
  at float32 precision: TensorBoard stores float32 what the CSV writes in full; steps may differ, W&B numbers
  its rows itself) adds nothing; a different one is kept as `key@label`. Finals: the first part that
  reported one; a different reported value is kept as `key@label`.
* Times: the earliest recorded start (a start taken from file mtimes only when no part recorded one), the
  latest activity, and the latest end once no part is running.
* Status: from the parts that know one, and among them from those whose tool records it (a W&B exit
  record, MLflow's status, a finished trainer state) over those that guess it (Hydra's "empty log, no
  metrics"). A failure wins; a finished part outweighs a running one that has shown no life since it
  finished (an unfinished log); otherwise running.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from expdesk.core.codec import unpack_exact

_FAILURES = ("failed", "killed", "interrupted")
#: tools that record a run's status (the others infer it, or record none)
RECORDS_STATUS = frozenset(
    {"wandb", "mlflow", "mlflow-sqlite", "mlflow-remote", "sacred", "transformers", "trackio"}
)
#: which part's series a metric key takes first (lower first; unlisted tools last, in part order)
METRIC_RANK = {
    "hydra": 0,
    "transformers": 1,
    "dvc": 2,
    "sacred": 3,
    "mlflow": 4,
    "mlflow-sqlite": 4,
    "lightning": 5,
    "keras": 6,
    "dvclive": 7,
    "tensorboard": 8,
    "trackio": 9,
    "wandb": 10,
    "generic": 11,
}


@dataclass
class MetricRow:
    """One metric of a part: its series summary (count 0 and no series id when it only has a final)."""

    series_id: int | None = None
    count: int = 0
    first_step: int | None = None
    last_step: int | None = None
    last: float | None = None
    min: float | None = None
    max: float | None = None
    argmin_step: int | None = None
    argmax_step: int | None = None
    nan_count: int = 0
    last_timestamp: float | None = None
    exact: bytes | None = None
    final: float | None = None
    final_exact: bytes | None = None
    final_source: str | None = None
    part_key: str = ""


@dataclass
class PartValues:
    """Everything of one part the merge looks at."""

    key: str
    format: str
    label: str
    name: str | None = None
    experiment: str | None = None
    status: str = "unknown"
    native_status: str | None = None
    deleted: bool = False
    start_time: float | None = None
    start_from_mtime: bool = False
    start_from: str | None = None  # what the part's reader said its start time came from
    end_time: float | None = None
    last_activity: float | None = None
    error: str | None = None
    params: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricRow] = field(default_factory=dict)


@dataclass
class MergedRun:
    name: str | None
    experiment: str | None
    status: str
    native_status: str | None
    deleted: bool
    start_time: float | None
    end_time: float | None
    last_activity: float | None
    error: str | None
    formats: str
    start_from: str | None  # which part's start is the run's, and where that part took it from
    params: dict[str, tuple[str, float | None, str]]  # key -> (value, num, part key)
    tags: dict[str, tuple[str, str]]  # key -> (value, part key)
    metrics: dict[str, MetricRow]


def _canonical(text: str) -> object:
    """A param's value as data where its text is JSON or a Python literal of plain data (TensorBoard's
    hparams plugin keeps `str(['dev'])` of what the Hydra config holds as `["dev"]`)."""
    stripped = text.strip()
    for candidate in (stripped, _pythonish(stripped)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return stripped


def _pythonish(text: str) -> str:
    if text[:1] not in "[{(" or '"' in text:
        return text
    out = text.replace("'", '"').replace("(", "[").replace(")", "]")
    for word, json_word in (("None", "null"), ("True", "true"), ("False", "false")):
        out = out.replace(word, json_word)
    return out


#: how YAML, JSON and Python spell the same scalar words
_WORDS = {"true": "true", "false": "false", "none": "null", "null": "null", "~": "null"}


def _same_text(a: tuple[str, float | None], b: tuple[str, float | None]) -> bool:
    """Two recorded values of one param say the same thing (text, number, or data spelled differently)."""
    if a[0] == b[0]:
        return True
    if a[1] is not None and b[1] is not None:
        return a[1] == b[1]
    word_a, word_b = _WORDS.get(a[0].strip().lower()), _WORDS.get(b[0].strip().lower())
    if word_a is not None or word_b is not None:
        return word_a == word_b
    return _canonical(a[0]) == _canonical(b[0])


def _f32(value: float) -> float:
    return float(np.float32(value)) if math.isfinite(value) and abs(value) < 3.4e38 else value


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or _f32(a) == _f32(b)


def same_series(a: MetricRow, b: MetricRow) -> bool:
    """One series logged twice (by two loggers of one job): as many points, and the same last, min and max
    at float32 precision (steps are not compared: W&B numbers its history rows itself)."""
    if a.count != b.count or a.count == 0:
        return False
    return all(_close(x, y) for x, y in zip(unpack_exact(a.exact), unpack_exact(b.exact), strict=True))


def _status(parts: Sequence[PartValues]) -> tuple[str, str | None]:
    knowing = [p for p in parts if p.status != "unknown"]
    knowing = [p for p in knowing if p.format in RECORDS_STATUS] or knowing
    for p in knowing:
        if p.status in _FAILURES:
            return p.status, p.native_status
    finished = [p for p in knowing if p.status == "finished"]
    running = [p for p in knowing if p.status == "running"]
    if finished:
        done_at = max((p.end_time or p.last_activity or 0.0) for p in finished)
        alive = [p for p in running if (p.last_activity or 0.0) > done_at]
        if not alive:
            return "finished", finished[0].native_status
        return "running", alive[0].native_status
    if running:
        return "running", running[0].native_status
    return (knowing[0].status, knowing[0].native_status) if knowing else ("unknown", None)


def merge(parts: Sequence[PartValues]) -> MergedRun:
    """The run of these parts (head first)."""
    head = parts[0]
    labels = {p.key: p.label for p in parts}
    params: dict[str, tuple[str, float | None, str]] = {}
    for p in parts:
        for key, value in p.params.items():
            have = params.get(key)
            if have is None:
                params[key] = (value[0], value[1], p.key)
            elif not _same_text((have[0], have[1]), value):
                # both values kept, each labelled with its part; the plain key stays the job's config's
                params.setdefault(f"{key}@{labels[have[2]]}", have)
                params.setdefault(f"{key}@{p.label}", (value[0], value[1], p.key))
    tags: dict[str, tuple[str, str]] = {}
    for p in parts:
        for key, text in p.tags.items():
            have_tag = tags.get(key)
            if have_tag is None:
                tags[key] = (text, p.key)
            elif have_tag[0] != text:
                tags.setdefault(f"{key}@{labels[have_tag[1]]}", have_tag)
                tags.setdefault(f"{key}@{p.label}", (text, p.key))
    metrics = _metrics(parts)
    status, native = _status(parts)
    recorded = [p for p in parts if p.start_time is not None and not p.start_from_mtime]
    timed = recorded or [p for p in parts if p.start_time is not None]
    first = min(timed, key=lambda p: p.start_time or 0.0) if timed else None
    starts = [first.start_time] if first is not None and first.start_time is not None else []
    ends = [p.end_time for p in parts if p.end_time is not None]
    activity = [p.last_activity for p in parts if p.last_activity is not None]
    errors = [f"{p.label}: {p.error}" for p in parts if p.error]
    return MergedRun(
        name=head.name,
        experiment=next((p.experiment for p in parts if p.experiment), None),
        status=status,
        native_status=native,
        deleted=head.deleted,
        start_time=min(starts) if starts else None,
        end_time=max(ends) if ends and status != "running" else None,
        last_activity=max(activity) if activity else None,
        error="; ".join(errors) or None,
        formats="+".join(dict.fromkeys(p.format for p in parts)),
        start_from=None if first is None else f"{first.label}: {first.start_from or 'recorded'}",
        params=params,
        tags=tags,
        metrics=metrics,
    )


def _metrics(parts: Sequence[PartValues]) -> dict[str, MetricRow]:
    out: dict[str, MetricRow] = {}
    parts = sorted(parts, key=lambda p: METRIC_RANK.get(p.format, 99))  # stable: part order within a rank
    for p in parts:
        for key, m in p.metrics.items():
            if m.count == 0 and m.series_id is None:
                continue  # final only: placed below
            row = _series_only(m, p.key)
            have = out.get(key)
            if have is None:
                out[key] = row
            elif not same_series(have, row):
                out.setdefault(f"{key}@{p.label}", row)
    for p in parts:
        for key, m in p.metrics.items():
            if m.final_exact is None:
                continue
            have = out.get(key)
            if have is None:
                out[key] = MetricRow(part_key=p.key)
                have = out[key]
            if have.final_exact is None:
                have.final, have.final_exact, have.final_source = m.final, m.final_exact, m.final_source
                continue
            if _close(_exact_final(have.final_exact), _exact_final(m.final_exact)):
                continue
            labelled = out.setdefault(f"{key}@{p.label}", MetricRow(part_key=p.key))
            if labelled.final_exact is None:
                labelled.final, labelled.final_exact, labelled.final_source = (
                    m.final,
                    m.final_exact,
                    m.final_source,
                )
    return out


def _series_only(m: MetricRow, part_key: str) -> MetricRow:
    return MetricRow(
        m.series_id, m.count, m.first_step, m.last_step, m.last, m.min, m.max, m.argmin_step, m.argmax_step,
        m.nan_count, m.last_timestamp, m.exact, part_key=part_key,
    )  # fmt: skip


def _exact_final(blob: bytes) -> float:
    return float(np.frombuffer(blob, dtype="<f8")[0])
