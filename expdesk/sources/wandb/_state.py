"""What the records of a `.wandb` log add up to: run identity, config, summary, exit, environment, history.

`RunState` is folded record by record and round-trips through the JSON cursor, so an incremental read that
only sees new records still returns complete params, summary and status.
"""

from __future__ import annotations

import json
import math
from typing import Any

from expdesk.sources.wandb import _proto as pb

_INT64 = (-(1 << 63), (1 << 63) - 1)


def parse_json(value: str | bytes | None) -> Any:
    """A W&B value_json (Python's json, so NaN/Infinity literals are valid); unparsable text stays text."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class MetricBuffer:
    """New points per metric key, in write order."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.points = 0

    def add(self, key: str, step: int, value: float, ts_ms: float) -> None:
        entry = self.series.get(key)
        if entry is None:
            entry = self.series[key] = ([], [], [])
        entry[0].append(step)
        entry[1].append(value)
        entry[2].append(ts_ms)
        self.points += 1


def _numeric_leaves(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], float]]:
    """Numbers inside a legacy nested value_json dict; media objects (with `_type`) are not metrics."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        try:
            return [(path, float(value))]
        except OverflowError:
            return [(path, math.inf if value > 0 else -math.inf)]
    if isinstance(value, dict) and "_type" not in value:
        out = []
        for k, v in value.items():
            if not str(k).startswith("_"):
                out.extend(_numeric_leaves(v, (*path, str(k))))
        return out
    return []


class RunState:
    """Everything but metric points, as it stands after the records folded so far."""

    def __init__(self, saved: dict[str, Any] | None = None) -> None:
        saved = saved or {}
        self.run: dict[str, Any] = saved.get("run", {})
        self.config: dict[str, Any] = saved.get("config", {})
        self.summary: dict[str, str] = saved.get("summary", {})  # key -> value_json
        self.exit: dict[str, Any] | None = saved.get("exit")
        self.env: dict[str, Any] = saved.get("env", {})
        self.files: list[str] = saved.get("files", [])
        self.flags: dict[str, Any] = saved.get("flags", {})
        self.last_step: int = saved.get("last_step", -1)
        self.last_ts: float | None = saved.get("last_ts")
        #: the newest timestamp of any record that has one (history, system metrics, console output)
        self.last_seen: float | None = saved.get("last_seen")
        self.records: int = saved.get("records", 0)
        self.history: int = saved.get("history", 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "config": self.config,
            "summary": self.summary,
            "exit": self.exit,
            "env": self.env,
            "files": self.files,
            "flags": self.flags,
            "last_step": self.last_step,
            "last_ts": self.last_ts,
            "last_seen": self.last_seen,
            "records": self.records,
            "history": self.history,
        }

    def apply(self, payload: bytes, metrics: MetricBuffer) -> None:
        """Fold one Record. Raises `ProtoError` for a payload that is not a Record."""
        found = pb.record_type(payload)
        self.records += 1
        if found is None:
            return
        kind, body = found
        if kind == pb.REC_HISTORY:
            self._history(body, metrics)
        elif kind == pb.REC_SUMMARY:
            added, removed = pb.updates(body)
            for path, value_json in added:
                # kept as JSON text: only the last value of a key matters, so parse once, when reported
                self.summary["/".join(path)] = value_json.decode("utf-8", "replace") if value_json else "null"
            for path in removed:
                self.summary.pop("/".join(path), None)
        elif kind == pb.REC_CONFIG:
            self._config(pb.updates(body))
        elif kind == pb.REC_RUN:
            run = pb.run_record(body)
            config = run.pop("config", None)
            # a resumed run writes a second RunRecord: later values win, but empty strings do not erase
            self.run.update({k: v for k, v in run.items() if v not in ("", [], None)})
            if config is not None:
                self._config(config)
        elif kind == pb.REC_EXIT:
            self.exit = pb.exit_record(body)
        elif kind == pb.REC_ENVIRONMENT:
            self.env.update(pb.environment(body))
        elif kind == pb.REC_FILES:
            for saved in pb.files_record(body):
                if saved not in self.files:
                    self.files.append(saved)
        elif kind == pb.REC_HEADER:
            producer = pb.header_version(body)
            if producer:
                self.flags["sdk"] = producer
        elif kind in (pb.REC_STATS, pb.REC_OUTPUT, pb.REC_OUTPUT_RAW):
            self._seen(pb.stamped(body))
        elif kind == pb.REC_FINAL:
            self.flags["final"] = True
        elif kind == pb.REC_PREEMPTING:
            self.flags["preempting"] = True

    def _seen(self, moment: float | None) -> None:
        if moment is not None and math.isfinite(moment) and moment > 0:
            self.last_seen = moment if self.last_seen is None else max(self.last_seen, moment)

    def _config(self, change: tuple[list[tuple[tuple[str, ...], Any]], list[tuple[str, ...]]]) -> None:
        added, removed = change
        for path, value_json in added:
            node = self.config
            for part in path[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[path[-1]] = parse_json(value_json)
        for path in removed:
            node = self.config
            for part in path[:-1]:
                child = node.get(part)
                node = child if isinstance(child, dict) else {}
            node.pop(path[-1], None)

    def _history(self, body: bytes, metrics: MetricBuffer) -> None:
        items, step = pb.history(body)
        self.history += 1
        ts_ms = math.nan
        step_item: float | None = None
        media: list[str] = []
        candidates: list[tuple[str, int, Any]] = []
        for name, nested, kind, value in items:
            if name[:1] == "_":
                if name == "_timestamp" or name == "_step":
                    number = _number(kind, value)
                    if number is not None and math.isfinite(number):
                        if name == "_timestamp":
                            ts_ms = number * 1000.0
                        else:
                            step_item = number
            elif "/_" in name:  # a nested part starting with "_" (name = nested parts joined by "/")
                if nested is not None and name.endswith("/_type"):
                    media.append(name[:-5])  # `sample/_type` marks `sample/*` as a media object, not metrics
            else:
                candidates.append((name, kind, value))
        if step is None:
            # legacy SDKs leave HistoryRecord.step unset and only log `_step`; with neither, count on
            step = int(step_item) if step_item is not None else self.last_step + 1
        if not _INT64[0] <= step <= _INT64[1]:
            return
        self.last_step = step
        if ts_ms == ts_ms:  # not NaN
            self.last_ts = ts_ms / 1000.0
            self._seen(self.last_ts)
        series = metrics.series
        for name, kind, value in candidates:
            if media and any(name.startswith(prefix) for prefix in media):
                continue
            if kind == pb.NUMBER:
                number = value
            elif kind == pb.JSON:
                try:
                    number = float(value)  # the common case: a bare number (NaN/Infinity included)
                except ValueError:
                    if value[:1] == b"{":
                        for leaf, leaf_value in _numeric_leaves(parse_json(value), (name,)):
                            metrics.add("/".join(leaf), step, leaf_value, ts_ms)
                    continue
            else:
                continue
            entry = series.get(name)
            if entry is None:
                entry = series[name] = ([], [], [])
            entry[0].append(step)
            entry[1].append(number)
            entry[2].append(ts_ms)
            metrics.points += 1


def _number(kind: int, value: Any) -> float | None:
    if kind == pb.NUMBER:
        return float(value)
    if kind == pb.JSON:
        try:
            return float(value)
        except ValueError:
            return None
    return None
