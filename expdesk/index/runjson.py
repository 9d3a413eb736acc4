"""Run JSON (the CLI's `--json` shape, the detail panel's data) for runs and for single parts.

A run's JSON is the run's: params, tags and metrics from the `run_*` views (a joined run's merged values),
artifacts of every part (paths relative to the run's folder), and `parts`: each part's tool, folder, native
id, label, and the rule and evidence that joined it. `parts_json` gives one part as its reader read it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Protocol

import numpy as np

from expdesk.core.artifact_uri import artifact_dirs
from expdesk.core.codec import unpack_exact
from expdesk.core.summary import json_number
from expdesk.index.finals import unpack as unpack_final
from expdesk.index.media_store import media_json
from expdesk.index.stale import is_stale


class IndexReader(Protocol):
    """What these functions need of `expdesk.index.reader.IndexReader` (which calls them)."""

    conn: sqlite3.Connection
    stale_after: float

    def series_by_id(self, series_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


_CHUNK = 400


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds (`2026-11-26T19:22:00.000Z`); None stays None."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _base(r: Any, now: float, stale_after: float) -> dict[str, Any]:
    info = json.loads(r["info"] or "{}")
    # (a sqlite3.Row's `in` looks at its values, not its column names)
    joined = json.loads(r["joined_info"] or "{}") if "joined_info" in r.keys() else {}  # noqa: SIM118
    return {
        "key": r["key"],
        "format": r["format"],
        "path": r["path"],
        "native_id": r["native_id"],
        "name": r["name"],
        "experiment": r["experiment"],
        "status": r["status"],
        "native_status": r["native_status"],
        "stale": is_stale(r["status"], r["last_activity"], now, stale_after),
        "deleted": bool(r["deleted"]),
        "start_time": iso(r["start_time"]),
        # where the start time came from, when the reader said (a file mtime is a last resort); a joined
        # run's names the part it is from
        "start_time_from": joined.get("start_time_from") if joined else info.get("start_time_from"),
        "end_time": iso(r["end_time"]),
        # a parent that is a part of a joined run is that run (a sweep's job read by two tools)
        "parent": r["parent_run"] if "parent_run" in r.keys() else r["parent_key"],  # noqa: SIM118
        "params": {},
        "tags": {},
        "metrics": {},
        "artifacts": [],
        "unread": [],
        "error": r["error"],
        "info": info,
        "gone": bool(r["gone"]),
    }


def metric_entry(r: Any) -> dict[str, Any]:
    """A metric summary as run JSON carries it; `final` only where the run reported one."""
    last, vmin, vmax = unpack_exact(r["exact"])
    entry: dict[str, Any] = {
        "count": r["count"],
        "first_step": r["first_step"],
        "last_step": r["last_step"],
        "last": json_number(last) if r["count"] else None,
        "min": None if math.isnan(vmin) else json_number(vmin),
        "max": None if math.isnan(vmax) else json_number(vmax),
        "nan_count": r["nan_count"],
    }
    final = unpack_final(r["final_exact"])
    if final is not None:
        entry["final"] = json_number(final)
        entry["final_source"] = r["final_source"]
    return entry


def _history(reader: IndexReader, series_id: int) -> list[dict[str, Any]]:
    steps, values, stamps = reader.series_by_id(series_id)
    return [
        {"step": int(s), "value": json_number(float(v)), "timestamp": None if math.isnan(t) else int(t)}
        for s, v, t in zip(steps, values, stamps, strict=True)
    ]


def runs_json(reader: IndexReader, keys: list[str], history: bool = False) -> list[dict[str, Any]]:
    """Run JSON for many runs with a handful of queries."""
    if not keys:
        return []
    now = time.time()
    conn = reader.conn
    out: dict[str, dict[str, Any]] = {}
    for part in _chunks(keys):
        marks = ",".join("?" * len(part))
        for r in conn.execute(
            "SELECT r.*, p.info AS info, COALESCE((SELECT m.run_key FROM parts m WHERE m.part_key = r.parent_key),"
            f" r.parent_key) AS parent_run FROM run_rows r JOIN runs p ON p.key = r.key WHERE r.key IN ({marks})",
            part,
        ):
            out[r["key"]] = _base(r, now, reader.stale_after)
            out[r["key"]]["formats"] = r["formats"].split("+")
        for view, target in (("run_params", "params"), ("run_tags", "tags")):
            for r in conn.execute(
                f"SELECT run_key, key, value FROM {view} WHERE run_key IN ({marks}) ORDER BY key", part
            ):
                if r[0] in out:
                    out[r[0]][target][r[1]] = r[2]
        labels = _parts(reader, part, out)
        for r in conn.execute(
            "SELECT run_key, key, series_id, part_key, count, first_step, last_step, nan_count, exact, final_exact,"
            f" final_source FROM run_metrics WHERE run_key IN ({marks}) ORDER BY key",
            part,
        ):
            if r["run_key"] not in out:
                continue
            entry = metric_entry(r)
            if r["run_key"] in labels:
                entry["part"] = labels[r["run_key"]].get(r["part_key"])
            if history:
                entry["history"] = _history(reader, r["series_id"]) if r["series_id"] is not None else []
            out[r["run_key"]]["metrics"][r["key"]] = entry
        _artifacts(reader, out, part)
        _unread(reader, out, part, labels)
        _media(reader, out, part, labels)
        for r in conn.execute(f"SELECT * FROM annotations WHERE run_key IN ({marks})", part):
            if r["run_key"] in out:
                out[r["run_key"]]["starred"] = bool(r["starred"])
                out[r["run_key"]]["note"] = r["note"]
                if r["hidden"]:  # hidden in the window (Delete): the CLI's --all lists it, marked
                    out[r["run_key"]]["hidden"] = True
        for r in conn.execute(f"SELECT run_key, tag FROM user_tags WHERE run_key IN ({marks})", part):
            if r[0] in out:
                out[r[0]].setdefault("labels", []).append(r[1])
        for r in conn.execute(f"SELECT key, note FROM join_notes WHERE key IN ({marks})", part):
            if r[0] in out:
                out[r[0]].setdefault("join_notes", []).append(r[1])
    return [out[k] for k in keys if k in out]


def _parts(reader: IndexReader, keys: list[str], out: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Fill each run's `parts`; returns run key -> part key -> label for joined runs."""
    marks = ",".join("?" * len(keys))
    labels: dict[str, dict[str, str]] = {}
    rows = reader.conn.execute(
        "SELECT m.run_key, r.key, r.format, r.path, r.native_id, m.rule, m.label, m.evidence FROM parts m"
        f" JOIN runs r ON r.key = m.part_key WHERE m.run_key IN ({marks}) ORDER BY m.run_key, m.rank",
        keys,
    )
    for run_key, key, fmt, path, native_id, rule, label, evidence in rows:
        if run_key not in out:
            continue
        out[run_key].setdefault("parts", []).append(
            {
                "key": key,
                "format": fmt,
                "path": path,
                "native_id": native_id,
                "label": label,
                "rule": rule,
                "evidence": json.loads(evidence or "{}"),
            }
        )
        labels.setdefault(run_key, {})[key] = label
    _gave(reader, out, labels)
    for run in out.values():
        if "parts" not in run:
            run["parts"] = [
                {
                    "key": run["key"],
                    "format": run["format"],
                    "path": run["path"],
                    "native_id": run["native_id"],
                    "label": run["format"],
                    "rule": "alone",
                    "evidence": {},
                }
            ]
    return labels


def _unread(
    reader: IndexReader, out: dict[str, dict[str, Any]], keys: list[str], labels: dict[str, dict[str, str]]
) -> None:
    """Files every part could not read, with the reason (a joined run's: paths from the run's folder, and
    which part said so)."""
    marks = ",".join("?" * len(keys))
    rows = reader.conn.execute(
        "SELECT pr.run_key, u.run_key, r.path, u.path, u.reason FROM part_runs pr JOIN unread u"
        f" ON u.run_key = pr.part_key JOIN runs r ON r.key = pr.part_key WHERE pr.run_key IN ({marks})"
        " ORDER BY pr.run_key, u.path",
        keys,
    )
    for run_key, part_key, part_path, rel, reason in rows:
        run = out.get(run_key)
        if run is None:
            continue
        if run_key not in labels:
            run["unread"].append({"path": rel, "reason": reason})
            continue
        inside = relative_to_run(run["path"], part_path, rel)
        run["unread"].append({"path": inside or rel, "reason": reason, "part": labels[run_key].get(part_key)})


def _media(
    reader: IndexReader, out: dict[str, dict[str, Any]], keys: list[str], labels: dict[str, dict[str, str]]
) -> None:
    """Media series of every part (a joined run's entries name their part, as its metrics do)."""
    marks = ",".join("?" * len(keys))
    owners: dict[str, str] = {}
    for part_key, run_key in reader.conn.execute(
        f"SELECT part_key, run_key FROM part_runs WHERE run_key IN ({marks})", keys
    ):
        owners[part_key] = run_key
    for part_key, media in media_json(reader.conn, sorted(owners)).items():
        run_key = owners[part_key]
        if run_key not in out or not media:
            continue
        if run_key in labels:
            media = [{**m, "part": labels[run_key].get(part_key)} for m in media]
        out[run_key].setdefault("media", []).extend(media)


def part_artifact_base(path: str, info: str | None) -> PurePosixPath:
    """Where a part's artifact paths are relative to: its reader's recorded artifact folder, else its folder."""
    try:
        parsed = json.loads(info or "{}")
    except ValueError:
        parsed = {}
    dirs = artifact_dirs(path, parsed if isinstance(parsed, dict) else {})
    return PurePosixPath(dirs[0].as_posix() if dirs else path)


_GAVE = (
    ("params", "SELECT run_key, COUNT(*) FROM params WHERE run_key IN ({}) GROUP BY run_key"),
    ("metrics", "SELECT run_key, COUNT(*) FROM series WHERE count > 0 AND run_key IN ({}) GROUP BY run_key"),
    ("finals", "SELECT run_key, COUNT(*) FROM finals WHERE run_key IN ({}) GROUP BY run_key"),
    ("artifacts", "SELECT run_key, COUNT(*) FROM artifacts WHERE run_key IN ({}) GROUP BY run_key"),
)


def _gave(reader: IndexReader, out: dict[str, dict[str, Any]], labels: dict[str, dict[str, str]]) -> None:
    """What each part of a joined run gave (counts of its own params, series, finals, artifacts)."""
    part_keys = [k for parts in labels.values() for k in parts]
    if not part_keys:
        return
    counts: dict[str, dict[str, int]] = {k: {name: 0 for name, _ in _GAVE} for k in part_keys}
    marks = ",".join("?" * len(part_keys))
    for name, sql in _GAVE:
        for key, n in reader.conn.execute(sql.format(marks), part_keys):
            counts[key][name] = n
    for run_key in labels:
        for part in out[run_key].get("parts", []):
            part["gave"] = counts.get(part["key"], {})


def relative_to_run(run_path: str, part_path: str, rel: str) -> str | None:
    """A part's artifact path (relative to the part's folder) relative to its run's folder, or None when
    the part's folder is not inside the run's."""
    if part_path == run_path:
        return rel
    try:
        inner = PurePosixPath(part_path).relative_to(PurePosixPath(run_path))
    except ValueError:
        return None
    return (inner / rel).as_posix()


def _artifacts(reader: IndexReader, out: dict[str, dict[str, Any]], keys: list[str]) -> None:
    """Every part's artifacts, relative to the run's folder (a part outside it keeps its own paths and
    names itself in `part`); a file two parts list (the job folder's reader and a logger's) once."""
    marks = ",".join("?" * len(keys))
    rows = reader.conn.execute(
        "SELECT pr.run_key, a.run_key, r.path, a.path, a.size, CASE WHEN pr.run_key = pr.part_key"
        " AND NOT EXISTS (SELECT 1 FROM parts m WHERE m.run_key = pr.run_key) THEN NULL ELSE r.info END"
        " FROM part_runs pr JOIN artifacts a ON a.run_key = pr.part_key JOIN runs r ON r.key = pr.part_key"
        f" WHERE pr.run_key IN ({marks}) ORDER BY pr.run_key, a.path",
        keys,
    )
    seen: dict[str, set[str]] = {}
    bases: dict[str, str] = {}
    for run_key, part_key, part_path, rel, size, info in rows:
        run = out.get(run_key)
        if run is None:
            continue
        if info is None:  # a run of one part: its paths as its reader listed them
            run["artifacts"].append({"path": rel, "size": size})
            continue
        if part_key not in bases:
            bases[part_key] = str(part_artifact_base(part_path, info))
        path = relative_to_run(run["path"], bases[part_key], rel)
        entry: dict[str, Any] = {"path": path if path is not None else rel, "size": size}
        if path is None:
            entry["part"] = next((p["label"] for p in run["parts"] if p["key"] == part_key), part_key)
        marker = entry["path"] if path is not None else f"{part_key}\0{rel}"
        if marker in seen.setdefault(run_key, set()):
            continue
        seen[run_key].add(marker)
        run["artifacts"].append(entry)
    for run in out.values():
        run["artifacts"].sort(key=lambda a: (a.get("part", ""), a["path"]))


def run_artifacts(reader: IndexReader, key: str) -> list[dict[str, Any]]:
    """One run's artifacts as `runs_json` lists them, without the rest of the run's JSON."""
    row = reader.conn.execute(
        "SELECT key, format, path, native_id FROM run_rows WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return []
    out = {key: {"key": key, "format": row[1], "path": row[2], "native_id": row[3], "artifacts": []}}
    _parts(reader, [key], out)
    _artifacts(reader, out, [key])
    return list(out[key]["artifacts"])


def parts_json(reader: IndexReader, keys: list[str]) -> list[dict[str, Any]]:
    """Parts as their readers read them (not merged), with the run each belongs to."""
    if not keys:
        return []
    now = time.time()
    conn = reader.conn
    out: dict[str, dict[str, Any]] = {}
    for part in _chunks(keys):
        marks = ",".join("?" * len(part))
        for r in conn.execute(f"SELECT * FROM runs WHERE key IN ({marks})", part):
            out[r["key"]] = _base(r, now, reader.stale_after)
            out[r["key"]]["run"] = r["key"]
        for r in conn.execute(
            f"SELECT part_key, run_key, label, rule FROM parts WHERE part_key IN ({marks})", part
        ):
            out[r[0]].update(run=r[1], label=r[2], rule=r[3])
        for table, target in (("params", "params"), ("tags", "tags")):
            for r in conn.execute(
                f"SELECT run_key, key, value FROM {table} WHERE run_key IN ({marks})", part
            ):
                out[r[0]][target][r[1]] = r[2]
        for r in conn.execute(
            "SELECT s.run_key, s.key, s.count, s.first_step, s.last_step, s.nan_count, s.exact, f.exact AS"
            " final_exact, f.source AS final_source FROM series s LEFT JOIN finals f ON f.run_key = s.run_key"
            f" AND f.key = s.key WHERE s.run_key IN ({marks})",
            part,
        ):
            out[r[0]]["metrics"][r[1]] = metric_entry(r)
        for r in conn.execute(
            "SELECT run_key, key, exact AS final_exact, source AS final_source, 0 AS count, NULL AS first_step,"
            f" NULL AS last_step, 0 AS nan_count, NULL AS exact FROM finals WHERE run_key IN ({marks})",
            part,
        ):
            if r[1] not in out[r[0]]["metrics"]:
                out[r[0]]["metrics"][r[1]] = metric_entry(r)
        for r in conn.execute(
            f"SELECT run_key, path, size FROM artifacts WHERE run_key IN ({marks}) ORDER BY path", part
        ):
            out[r[0]]["artifacts"].append({"path": r[1], "size": r[2]})
        for r in conn.execute(
            f"SELECT run_key, path, reason FROM unread WHERE run_key IN ({marks}) ORDER BY path", part
        ):
            out[r[0]]["unread"].append({"path": r[1], "reason": r[2]})
    return [out[k] for k in keys if k in out]
