"""The metric files a job writes into its own folder (Hydra jobs, hand-written run folders).

`metrics.json` is rewritten whole by the job, so it is re-read when its identity/size/mtime changes and its
history replaces what was indexed; its shape is recognised by structure (`metricjson`). Without a history in
it, the first table present (`metrics.jsonl`, `metrics.csv`, ...) is read incrementally on a tail cursor.
A file that looks like metrics but cannot be read is returned as `unread` with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.core.entities import Series
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.paths import is_regular_file
from expdesk.core.safefile import read_json_file
from expdesk.sources.common.folders import METRIC_FILES, read_metric_file
from expdesk.sources.common.metricjson import parse_metric_doc

JSON_FILE = "metrics.json"


@dataclass
class JobMetrics:
    series: list[Series] = field(default_factory=list)
    reset: bool = False
    cursor: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: the metrics JSON's top-level numbers (final values), if any
    summary: dict[str, Any] | None = None
    #: (file name, reason) of metric files that could not be read
    unread: list[tuple[str, str]] = field(default_factory=list)

    @property
    def found_files(self) -> bool:
        return bool(self.cursor.get("json") or self.cursor.get("table"))


def _signature(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def read_job_metrics(
    folder: Path,
    state: dict[str, Any] | None,
    tables: tuple[str, ...] = METRIC_FILES,
    json_file: str | None = JSON_FILE,
) -> JobMetrics:
    """New metric points of a job folder. Raises `IncompleteRead` while the JSON file is being rewritten."""
    state = state or {}
    out = JobMetrics()
    old_json = state.get("json") or {}
    json_history = False
    if json_file is not None and is_regular_file(folder / json_file):
        path = folder / json_file
        sig = _signature(path)
        if old_json.get("sig") == sig:
            out.cursor["json"] = old_json
            out.summary, json_history = old_json.get("summary"), bool(old_json.get("history"))
            out.unread = [(json_file, r) for r in old_json.get("unread", [])]
        else:
            try:
                doc = parse_metric_doc(read_json_file(path, partial_ok=True))
            except IncompleteRead:
                raise
            except SourceError as exc:
                # too big, not JSON, nested too deep: said on the run, and the other files still read
                reasons = [f"not read: {exc.reason}" + (f" ({exc.where})" if exc.where else "")]
                out.cursor["json"] = {"sig": sig, "summary": None, "history": False, "unread": reasons}
                out.unread = [(json_file, reasons[0])]
            else:
                out.summary, json_history = doc.summary, doc.has_history
                out.cursor["json"] = {
                    "sig": sig,
                    "summary": doc.summary,
                    "history": json_history,
                    "unread": doc.unread,
                }
                out.unread = [(json_file, r) for r in doc.unread]
                if json_history:
                    out.series, out.reset = doc.series, True  # a rewritten file replaces everything indexed
    if old_json.get("history") and not json_history:
        out.reset = True  # the history we indexed is gone
    if not json_history:
        table = next((n for n in tables if is_regular_file(folder / n)), None)
        if table is not None:
            table_state = state.get("table_state") if state.get("table") == table else None
            out.reset = out.reset or table_state is None
            try:
                more, table_reset, new_state, errs = read_metric_file(folder, table, table_state)
            except SourceError as exc:
                out.unread.append((table, f"not read: {exc.reason}"))
                out.errors.append(str(exc))
            else:
                out.series.extend(more)
                out.reset = out.reset or table_reset
                out.errors.extend(errs)
                out.cursor.update(table=table, table_state=new_state)
        elif state.get("table"):
            out.reset = True
    return out
