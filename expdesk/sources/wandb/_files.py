"""A W&B run folder's side files, for folders whose `run-<id>.wandb` log is gone or empty.

The log is the complete record, but public repositories often hold run folders without it (git-ignored,
over a size cap): an online (synced) run leaves `files/config.yaml` (`key: {desc, value}`, or `key: {value}`
in newer SDKs, plus `wandb_version` and the SDK's own `_wandb`), `files/wandb-summary.json` (the last value of
every logged key, with `_step`, `_timestamp`, `_runtime`) and `files/wandb-metadata.json` (host, program,
`startedAt` in naive UTC). From those: the params, one point per summary number at the summary's step (the
last values, all the folder still holds) and the start time.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

from expdesk.core.entities import Series
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.numbers import as_float
from expdesk.core.safefile import read_json_file
from expdesk.sources.common.times import naive_utc
from expdesk.sources.common.yamlconfig import read_yaml_checked

CONFIG = "files/config.yaml"
SUMMARY = "files/wandb-summary.json"
METADATA = "files/wandb-metadata.json"
SIDE_FILES = (CONFIG, SUMMARY, METADATA)
#: what the SDK adds to config.yaml besides the run's own config
_SDK_KEYS = ("_wandb", "wandb_version")


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def has_side_files(folder: Path) -> bool:
    return any(is_regular(folder / name) for name in (CONFIG, SUMMARY))


def read_json_side(path: Path, unread: list[tuple[str, str]], rel: str) -> dict[str, Any]:
    """A side JSON file as a dict ({} when absent, being rewritten, or unreadable - the last is listed)."""
    if not os.path.lexists(path):
        return {}
    try:
        data = read_json_file(path, partial_ok=True) if is_regular(path) else {}
    except IncompleteRead:
        return {}
    except SourceError as exc:
        unread.append((rel, f"not read: {exc.reason}"))
        return {}
    return data if isinstance(data, dict) else {}


def config_values(folder: Path, unread: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The run's config from files/config.yaml ({key: value}), or None when there is no such file."""
    path = folder / CONFIG
    if not is_regular(path):
        return None
    try:
        doc = read_yaml_checked(path)
    except SourceError as exc:
        unread.append((CONFIG, f"not read: {exc.reason}"))
        return None
    if not isinstance(doc, dict):
        unread.append((CONFIG, "not read: not a mapping"))
        return None
    out = {}
    for key, entry in doc.items():
        if key in _SDK_KEYS:
            continue
        # `{desc: null, value: ...}` (and `{value: ...}`): the value is what the run was configured with
        out[str(key)] = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
    return out


def summary_series(summary: dict[str, Any]) -> list[Series]:
    """The summary's numbers as one point each, at the summary's `_step` (0 without one) and `_timestamp`."""
    step = as_float(summary.get("_step"))
    stamp = as_float(summary.get("_timestamp"))
    at = int(step) if step is not None and math.isfinite(step) and abs(step) < 2**63 else 0
    ts = stamp * 1000.0 if stamp is not None and math.isfinite(stamp) else math.nan
    out = []
    for key, value in summary.items():
        if key.startswith("_") or isinstance(value, bool):
            continue
        number = as_float(value)
        if number is not None:
            out.append(Series.from_lists(key, [at], [number], [ts], replace=True))
    return out


def started_at(meta: dict[str, Any]) -> float | None:
    """`startedAt` of wandb-metadata.json (naive UTC) as epoch seconds."""
    return naive_utc(meta.get("startedAt"))
