"""Metrics a Hydra app wrote into its job folder (Hydra itself writes none).

`metrics.json` is rewritten whole by the app, so it is re-read when its identity/size/mtime changes and
its history replaces what was indexed. Shapes seen: `{"history": [{"epoch": 0, "loss": ...}, ...], "final":
...}` (x = `step`, else `epoch`, else the record index), `{"history": {"loss": [...]}}` (Keras-style) and a
bare list of per-step dicts. Top-level scalars are a summary, not a history. Without a history,
`metrics.jsonl` / `metrics.csv` are read incrementally exactly as the generic reader does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expdesk.core.entities import Series
from expdesk.core.paths import is_regular_file
from expdesk.core.safefile import read_json_file
from expdesk.core.summary import json_number
from expdesk.sources.common.folders import METRIC_FILES, read_metric_file
from expdesk.sources.common.tables import (
    Columns,
    flatten_record,
    history_dict_to_series,
    number,
    records_to_columns,
)

JSON_FILE = "metrics.json"

#: (series, metrics_reset, cursor, errors, summary)
JobMetrics = tuple[list[Series], bool, dict[str, Any], list[str], dict[str, Any] | None]


def _signature(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level final values (`final_loss`, nested dicts as `a/b`), numbers in strict-JSON form."""
    out: dict[str, Any] = {}
    for key, value in flatten_record(data).items():
        if isinstance(value, str):
            out[key] = value
        elif (v := number(value)) is not None:
            out[key] = json_number(v)
    return out


def parse_metrics_json(data: Any) -> tuple[list[Series], dict[str, Any] | None]:
    """A parsed metrics.json -> (history series, summary of the top-level scalars)."""
    records: list[Mapping[str, Any]] | None = None
    summary = None
    if isinstance(data, list):
        records = [r for r in data if isinstance(r, Mapping)]
    elif isinstance(data, Mapping):
        history = data.get("history")
        rest = {k: v for k, v in data.items() if k != "history" and not isinstance(v, list)}
        summary = _summary(rest) or None
        if isinstance(history, list):
            records = [r for r in history if isinstance(r, Mapping)]
        elif isinstance(history, Mapping):
            return history_dict_to_series(history), summary
        else:
            # `{"loss": [per-epoch values]}` saved by hand: a history without the wrapper
            lists = {k: v for k, v in data.items() if isinstance(v, list)}
            return (history_dict_to_series(lists) if lists else []), summary
    if not records:
        return [], summary
    cols = Columns()
    records_to_columns(records, cols)
    return cols.series(replace=True), summary


def read_job_metrics(folder: Path, state: dict[str, Any] | None) -> JobMetrics:
    """New metric points of a job folder. Raises `IncompleteRead` while metrics.json is being rewritten."""
    state = state or {}
    new: dict[str, Any] = {}
    series: list[Series] = []
    errors: list[str] = []
    reset = False
    summary = None
    json_path = folder / JSON_FILE
    old_json = state.get("json") or {}
    json_history = False
    if is_regular_file(json_path):
        sig = _signature(json_path)
        if old_json.get("sig") == sig:
            new["json"] = old_json
            summary, json_history = old_json.get("summary"), bool(old_json.get("history"))
        else:
            data = read_json_file(json_path, partial_ok=True)
            history, summary = parse_metrics_json(data)
            json_history = bool(history)
            new["json"] = {"sig": sig, "summary": summary, "history": json_history}
            if json_history:
                series, reset = history, True  # a rewritten file replaces everything indexed
    if old_json.get("history") and not json_history:
        reset = True  # the history we indexed is gone
    if not json_history:
        table = next((n for n in METRIC_FILES if is_regular_file(folder / n)), None)
        if table is not None:
            table_state = state.get("table_state") if state.get("table") == table else None
            reset = reset or table_state is None
            more, table_reset, new_state, errs = read_metric_file(folder, table, table_state)
            series.extend(more)
            reset = reset or table_reset
            errors.extend(errs)
            new.update(table=table, table_state=new_state)
        elif state.get("table"):
            reset = True
    return series, reset, new, errors, summary
