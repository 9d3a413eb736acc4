"""Trackio projects (`<TRACKIO_DIR>/<project>.db`), read in place, read-only, incrementally by rowid.

A project file holds many runs; each becomes one expdesk run whose native id is Trackio's `run_id` (the run's
name in files written before Trackio 0.24, which had no ids). The experiment is the project (the file's name,
which is Trackio's canonical project name). What a run holds, and where it comes from:

- params: the run's `configs` row, Trackio's reserved `_Username`/`_Created`/`_Group` taken out (user,
  start time, `trackio.group` tag); nested config flattened with dots;
- metrics: every `metrics` row (`history.py`), system metrics apart under `system/`;
- media: images, tables, histograms... listed per key in `info.media`; the files they name (below
  `<TRACKIO_DIR>/media/`) are the run's artifacts, relative to `info.artifact_dir`;
- Trackio artifacts (`log_artifact`/`use_artifact`): their files as the run's outputs/inputs with Trackio's
  SHA-256, and a `trackio.artifact` link from a user of a version to the run that produced it;
- times: start = the earliest of `_Created` and the first recorded row; Trackio records no end and no status
  (a finished run and a crashed one look the same), so the end is blank, the status `unknown`, and the last
  recorded row is the run's last activity.

Incremental: the cursor keeps the last `id` read per table and how many of the run's rows it had seen; rows
deleted or rewritten under it (Trackio's delete/rename/move) or a replaced file start the run over.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate, Status
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.core.safefile import loads
from expdesk.sources.base import Reader
from expdesk.sources.common.values import flatten
from expdesk.sources.trackio import _sqlite, schema
from expdesk.sources.trackio.artifacts import read_artifacts
from expdesk.sources.trackio.history import History, parse_time
from expdesk.sources.trackio.media import artifacts_for, media_info
from expdesk.sources.trackio.schema import Schema
from expdesk.sources.trackio.values import TOKENS

#: config keys Trackio adds itself (`Run.__init__`); everything else in `configs.config` is the user's
RESERVED_CONFIG = ("_Username", "_Created", "_Group")
#: an idle project read through `immutable=1` is re-read when a writer touched it meanwhile, this often
READ_ATTEMPTS = 3
MAX_ALERTS = 1000


def _run_ids(conn: Any, found: Schema) -> list[str]:
    """Every run identity in the project: in `metrics`, `configs` or `system_metrics` (a run may hold only
    system samples, which Trackio's own run list leaves out). A skip-scan over each table's index on the
    identity column: one seek per run, not a pass over every row."""
    ids: set[str] = set()
    for table in ("metrics", "configs", "system_metrics"):
        col = found.identity_column(table)
        if not found.readable(table) or found.by_id != (col == "run_id"):
            continue  # absent, or a stray table keyed the other way than the project's runs
        rows = conn.execute(
            f"WITH RECURSIVE r(v) AS (SELECT MIN({col}) FROM {table} UNION ALL"
            f" SELECT (SELECT MIN({col}) FROM {table} WHERE {col} > r.v) FROM r WHERE r.v IS NOT NULL)"
            " SELECT v FROM r WHERE v IS NOT NULL"
        ).fetchall()
        ids.update(str(r[0]) for r in rows)
    return sorted(ids)


def _trackio_evidence(path: Path) -> bool:
    """Beside an unreadable `.db`: Trackio's own lock file or media folder for that project."""
    return path.with_suffix(".lock").is_file() or (path.parent / "media" / path.stem).is_dir()


class TrackioReader(Reader):
    format = "trackio"
    priority = 90
    claims_subtree = False  # the folder is a TRACKIO_DIR holding other projects (and whatever else)

    def detect(self, path: Path) -> float:
        if path.suffix != ".db" or not _sqlite.looks_like_sqlite(path):
            return 0.0
        try:
            conn = _sqlite.connect_ro(path)
        except SourceError:
            return 0.5 if _trackio_evidence(path) else 0.0
        try:
            found = schema.tables(conn)
        except _sqlite.DB_ERRORS:
            # torn or locked: claimed only where Trackio left its marks, so the run shows the reason
            return 0.5 if _trackio_evidence(path) else 0.0
        finally:
            conn.close()
        if schema.is_trackio(found):
            return 1.0
        # Trackio's tables with a `metrics` table this reader cannot read (a newer or damaged layout): claimed
        # where Trackio left its marks, so the run says why instead of the project vanishing
        return 0.5 if schema.is_foreign(found) is False and _trackio_evidence(path) else 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        try:
            conn = _sqlite.connect_ro(path)
            try:
                ids = _run_ids(conn, schema.inspect(conn, str(path)))
            finally:
                conn.close()
        except (SourceError, *_sqlite.DB_ERRORS):
            # one run without an id stands for the project: reading it reports why nothing could be listed
            return [RunRef(self.format, path, root, native_id=None, store=path)]
        return [RunRef(self.format, path, root, native_id=i, store=path) for i in ids]

    def fingerprint(self, ref: RunRef) -> str:
        parts = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(f"{ref.path}{suffix}")
                parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append("-")
        return "|".join(parts)

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        for _attempt in range(READ_ATTEMPTS):
            before = _sqlite.snapshot(ref.path) if _sqlite.idle_wal(ref.path) else None
            conn = _sqlite.connect_ro(ref.path)
            try:
                update = self._read(conn, ref, cursor or {})
            except _sqlite.DB_ERRORS as exc:
                what = f"run {ref.native_id}" if ref.native_id else "project"
                raise SourceError(ref.path, f"{what}: {_sqlite.explain(exc)}") from None
            finally:
                conn.close()
            if before is None or before == _sqlite.snapshot(ref.path):
                return update
        # a writer kept touching the file while it was read through an immutable connection
        raise IncompleteRead(ref.path, "the project changed while it was read; read again")

    def _read(self, conn: Any, ref: RunRef, cursor: dict[str, Any]) -> RunUpdate:
        found = schema.inspect(conn, str(ref.path))
        if ref.native_id is None:
            raise IncompleteRead(
                ref.path, "the project could not be listed before; its runs are listed next pass"
            )
        run_id = ref.native_id
        name = self._name(conn, found, run_id)
        if name is None:
            raise SourceError(ref.path, f"run {run_id} is no longer in the project")
        st = os.stat(ref.path)
        state = dict(cursor)
        if state and (
            state.get("ino") != st.st_ino
            or state.get("name") != name
            or self._shrank(conn, found, run_id, state)
        ):
            state = {}  # rows went away or were rewritten (delete, rename, move, a replaced file): start over
        update = RunUpdate(name=name, experiment=ref.path.stem)
        update.metrics_reset = bool(cursor) and not state
        state.update(ino=st.st_ino, name=name)
        history = History(state)
        self._history(conn, found, run_id, name, history)
        config_note = self._config(conn, found, run_id, name, update)
        self._alerts(conn, found, run_id, name, update, history)
        traces = self._traces(conn, found, run_id)
        update.files, update.links, versions = read_artifacts(
            conn, found, ref.path.stem, run_id, ref.path.parent, ref.root
        )
        update.metrics = history.series()
        state = history.finish()
        update.cursor = state
        update.status, update.native_status = Status.UNKNOWN, None  # Trackio records neither end nor status
        update.last_activity = state.get("t1")
        created = update.info.pop("_created_s", None)
        starts = [t for t in (created, state.get("t0")) if t is not None]
        update.start_time = min(starts) if starts else None
        media_dir = ref.path.parent / "media"
        update.artifacts, missing = artifacts_for(state.get("files", []), media_dir, ref.root)
        update.info.update(media_info(state, traces, media_dir, missing))
        if versions:
            update.info["trackio_artifacts"] = versions
        update.info["trackio"] = {
            "project": ref.path.stem,
            "identity": "run_id" if found.by_id else "run_name",
            "schema_version": found.version,
        }
        if state.get("naive"):
            update.info["trackio"]["timestamps"] = "recorded without a time zone; read as local time"
        notes = [n for n in (found.newer_than_known(), config_note, history.error()) if n]
        update.error = "; ".join(notes) or None
        return update

    # -- small state --------------------------------------------------------------------------------------
    @staticmethod
    def _where(found: Schema, table: str, run_id: str, name: str) -> tuple[str, str]:
        """The WHERE clause selecting one run's rows of `table` (by id, or by name in a pre-0.24 table)."""
        col = found.identity_column(table)
        return f"{col} = ?", run_id if col == "run_id" or not found.by_id else name

    def _name(self, conn: Any, found: Schema, run_id: str) -> str | None:
        if not found.by_id:
            hit = any(
                conn.execute(f"SELECT 1 FROM {t} WHERE run_name = ? LIMIT 1", (run_id,)).fetchone()
                for t in ("metrics", "configs", "system_metrics")
                if found.readable(t)
            )
            return run_id if hit else None
        for table in ("configs", "metrics", "system_metrics"):
            if found.readable(table) and found.identity_column(table) == "run_id":
                order = "" if table == "configs" else " ORDER BY id DESC"
                row = conn.execute(
                    f"SELECT run_name FROM {table} WHERE run_id = ?{order} LIMIT 1", (run_id,)
                ).fetchone()
                if row is not None:
                    return str(row[0])
        return None

    def _shrank(self, conn: Any, found: Schema, run_id: str, state: dict[str, Any]) -> bool:
        for table, last_key, count_key in (("metrics", "m", "mc"), ("system_metrics", "s", "sc")):
            if not found.readable(table) or not state.get(count_key):
                continue
            where, value = self._where(found, table, run_id, state.get("name", run_id))
            seen = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {where} AND id <= ?", (value, state[last_key])
            ).fetchone()[0]
            if seen != state[count_key]:
                return True
        return False

    def _history(self, conn: Any, found: Schema, run_id: str, name: str, history: History) -> None:
        state = history.state
        for table, last_key, count_key in (("metrics", "m", "mc"), ("system_metrics", "s", "sc")):
            if not found.readable(table):
                continue
            where, value = self._where(found, table, run_id, name)
            step = "step" if table == "metrics" else "NULL"
            rows = conn.execute(
                f"SELECT id, timestamp, {step}, metrics FROM {table} WHERE {where} AND id > ? ORDER BY id",
                (value, int(state.get(last_key, 0))),
            )
            count = int(state.get(count_key, 0))
            for row_id, stamp, row_step, blob in rows:
                if table == "metrics":
                    history.metric_row(row_id, stamp, row_step, blob)
                else:
                    history.system_row(row_id, stamp, blob)
                state[last_key] = row_id
                count += 1
            state[count_key] = count

    def _config(self, conn: Any, found: Schema, run_id: str, name: str, update: RunUpdate) -> str | None:
        """Params, group, user and creation time from the run's config row; a note when it cannot be read."""
        if not found.readable("configs"):
            return None
        where, value = self._where(found, "configs", run_id, name)
        row = conn.execute(
            f"SELECT config, created_at FROM configs WHERE {where} LIMIT 1", (value,)
        ).fetchone()
        if row is None:
            return None
        try:
            config = loads(row[0])
        except (ValueError, TypeError, RecursionError) as exc:
            return f"configs row of run {run_id}: not JSON ({type(exc).__name__}); no params read"
        if not isinstance(config, dict):
            return (
                f"configs row of run {run_id}: a JSON {type(config).__name__}, not an object; no params read"
            )
        # Trackio's reader turns top-level "NaN"/"Infinity" strings back into floats; nested ones stay text
        user = {
            k: TOKENS.get(v, v) if isinstance(v, str) else v
            for k, v in config.items()
            if k not in RESERVED_CONFIG
        }
        update.params = flatten(user)
        if isinstance(config.get("_Group"), str):
            update.tags["trackio.group"] = config["_Group"]
        if isinstance(config.get("_Username"), str):
            update.info["user"] = config["_Username"]
        created = config.get("_Created")
        if isinstance(created, str):
            update.info["created"] = created
            seconds, _naive = parse_time(created)
            if seconds == seconds:  # not NaN
                update.info["_created_s"] = seconds
        return None

    def _alerts(
        self, conn: Any, found: Schema, run_id: str, name: str, update: RunUpdate, history: History
    ) -> None:
        if not found.readable("alerts"):
            return
        where, value = self._where(found, "alerts", run_id, name)
        rows = conn.execute(
            f"SELECT timestamp, title, text, level, step FROM alerts WHERE {where} ORDER BY timestamp LIMIT ?",
            (value, MAX_ALERTS),
        ).fetchall()
        if rows:
            update.info["alerts"] = [
                {"timestamp": t, "title": title, "text": text, "level": level, "step": step}
                for t, title, text, level, step in rows
            ]
            for t, *_rest in rows:
                history.note_time(t)

    @staticmethod
    def _traces(conn: Any, found: Schema, run_id: str) -> dict[str, list[Any]]:
        """Traces Trackio moved out of the logged row into its `traces` table: count and steps per key."""
        if not found.readable("traces") or not found.by_id:
            return {}
        rows = conn.execute(
            "SELECT key, COUNT(*), MIN(step), MAX(step) FROM traces WHERE run_id = ? GROUP BY key", (run_id,)
        ).fetchall()
        return {str(key): ["trace", count, first, last] for key, count, first, last in rows}


READER = TrackioReader()
