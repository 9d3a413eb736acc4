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
from expdesk.sources.common import sqlite_ro
from expdesk.sources.common.values import flatten
from expdesk.sources.trackio import _sqlite, identity, schema
from expdesk.sources.trackio.artifacts import read_artifacts
from expdesk.sources.trackio.history import History, parse_time
from expdesk.sources.trackio.identity import Who, where
from expdesk.sources.trackio.media import artifacts_for, media_info
from expdesk.sources.trackio.schema import Schema
from expdesk.sources.trackio.values import TOKENS

#: config keys Trackio adds itself (`Run.__init__`); everything else in `configs.config` is the user's
RESERVED_CONFIG = ("_Username", "_Created", "_Group")
#: an idle project read through `immutable=1` is re-read when a writer touched it meanwhile, this often
READ_ATTEMPTS = 3
MAX_ALERTS = 1000


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
                ids = identity.native_ids(conn, schema.inspect(conn, str(path)))
            finally:
                conn.close()
        except (SourceError, *_sqlite.DB_ERRORS):
            # one run without an id stands for the project: reading it reports why nothing could be listed
            return [RunRef(self.format, path, root, native_id=None, store=path)]
        return [RunRef(self.format, path, root, native_id=i, store=path) for i in ids]

    def fingerprint(self, ref: RunRef) -> str:
        return sqlite_ro.fingerprint(ref.path)

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
        st = os.stat(ref.path)
        found = schema.inspect(conn, str(ref.path), st.st_ino)
        if ref.native_id is None:
            raise IncompleteRead(
                ref.path, "the project could not be listed before; its runs are listed next pass"
            )
        who = identity.resolve(conn, found, ref.native_id, ref.path.stem)
        if who is None:
            raise SourceError(ref.path, f"run {ref.native_id} is no longer in the project")
        state = dict(cursor)
        if state and (
            state.get("ino") != st.st_ino
            or state.get("name") != who.name
            or self._shrank(conn, found, who, state)
        ):
            state = {}  # rows went away or were rewritten (delete, rename, move, a replaced file): start over
        update = RunUpdate(name=who.name, experiment=who.project)
        update.metrics_reset = bool(cursor) and not state
        state.update(ino=st.st_ino, name=who.name)
        history = History(state)
        self._history(conn, found, who, history)
        config_note = self._config(conn, found, who, update)
        self._alerts(conn, found, who, update, history)
        traces = self._traces(conn, found, who)
        versions: list[dict[str, Any]] = []
        if who.run_id is not None:
            update.files, update.links, versions = read_artifacts(
                conn, found, ref.path.stem, who.run_id, ref.path.parent, ref.root
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
            "project": who.project,
            "identity": "run_id" if found.by_id else "project_name, run_name" if found.shared else "run_name",
            "schema_version": found.version,
        }
        if state.get("naive"):
            update.info["trackio"]["timestamps"] = "recorded without a time zone; read as local time"
        notes = [n for n in (found.newer_than_known(), config_note, history.error()) if n]
        update.error = "; ".join(notes) or None
        return update

    # -- small state --------------------------------------------------------------------------------------
    @staticmethod
    def _shrank(conn: Any, found: Schema, who: Who, state: dict[str, Any]) -> bool:
        for table, last_key, count_key in (("metrics", "m", "mc"), ("system_metrics", "s", "sc")):
            if not found.readable(table) or not state.get(count_key):
                continue
            clause, params = where(found, table, who)
            seen = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {clause} AND id <= ?", (*params, state[last_key])
            ).fetchone()[0]
            if seen != state[count_key]:
                return True
        return False

    @staticmethod
    def _history(conn: Any, found: Schema, who: Who, history: History) -> None:
        state = history.state
        for table, last_key, count_key in (("metrics", "m", "mc"), ("system_metrics", "s", "sc")):
            if not found.readable(table):
                continue
            clause, params = where(found, table, who)
            step = "step" if table == "metrics" and found.has_step else "NULL"
            rows = conn.execute(
                f"SELECT id, timestamp, {step}, metrics FROM {table} WHERE {clause} AND id > ? ORDER BY id",
                (*params, int(state.get(last_key, 0))),
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

    @staticmethod
    def _config(conn: Any, found: Schema, who: Who, update: RunUpdate) -> str | None:
        """Params, group, user and creation time from the run's config row; a note when it cannot be read."""
        if not found.readable("configs"):
            return None
        clause, params = where(found, "configs", who)
        row = conn.execute(f"SELECT config FROM configs WHERE {clause} LIMIT 1", params).fetchone()
        if row is None:
            return None
        try:
            config = loads(row[0])
        except (ValueError, TypeError, RecursionError) as exc:
            return f"configs row of run {who.native_id}: not JSON ({type(exc).__name__}); no params read"
        if not isinstance(config, dict):
            return (
                f"configs row of run {who.native_id}: a JSON {type(config).__name__}, not an object;"
                " no params read"
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

    @staticmethod
    def _alerts(conn: Any, found: Schema, who: Who, update: RunUpdate, history: History) -> None:
        if not found.readable("alerts"):
            return
        clause, params = where(found, "alerts", who)
        rows = conn.execute(
            f"SELECT timestamp, title, text, level, step FROM alerts WHERE {clause} ORDER BY timestamp LIMIT ?",
            (*params, MAX_ALERTS),
        ).fetchall()
        if rows:
            update.info["alerts"] = [
                {"timestamp": t, "title": title, "text": text, "level": level, "step": step}
                for t, title, text, level, step in rows
            ]
            for t, *_rest in rows:
                history.note_time(t)

    @staticmethod
    def _traces(conn: Any, found: Schema, who: Who) -> dict[str, list[Any]]:
        """Traces Trackio moved out of the logged row into its `traces` table: count and steps per key."""
        if not found.readable("traces") or who.run_id is None:
            return {}
        rows = conn.execute(
            "SELECT key, COUNT(*), MIN(step), MAX(step) FROM traces WHERE run_id = ? GROUP BY key",
            (who.run_id,),
        ).fetchall()
        return {str(key): ["trace", count, first, last] for key, count, first, last in rows}


READER = TrackioReader()
