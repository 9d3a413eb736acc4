"""MLflow SQLite tracking store (`mlflow.db` + artifact folder), opened read-only, never locked.

Opened through `sources.common.sqlite_ro`: `mode=ro` while MLflow has the file open, `immutable=1` only on an
idle WAL file (nothing beside it to read through, and `mode=ro` would create `-wal`/`-shm` in the folder).
Incremental: metric rows are read by `rowid > cursor` through MLflow's own `(run_uuid)` index.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.artifact_uri import Located, locate
from expdesk.core.entities import FileRef, RunRef, RunUpdate, Series
from expdesk.core.errors import IncompleteRead, SourceError
from expdesk.sources.base import Reader, ReadItem, ReadOutcome, contain, finish_read, list_artifacts
from expdesk.sources.common import sqlite_ro
from expdesk.sources.common.sqlite_ro import DB_ERRORS, idle_wal, looks_like_sqlite, snapshot
from expdesk.sources.mlflow._common import info_from_tags, recorded_activity, status_of
from expdesk.sources.mlflow._media import media_items

REQUIRED_TABLES = {"runs", "experiments", "metrics", "params", "tags"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: how long a read waits for a lock MLflow's writer holds (its commits are short)
BUSY_TIMEOUT_S = 5.0


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite_ro.connect_ro(path, BUSY_TIMEOUT_S)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


class MlflowSqliteReader(Reader):
    format = "mlflow-sqlite"
    priority = 100
    claims_subtree = False  # the folder holding mlflow.db may hold other runs too

    def detect(self, path: Path) -> float:
        if (
            not path.is_file()
            or path.suffix not in (".db", ".sqlite", ".sqlite3")
            or not looks_like_sqlite(path)
        ):
            return 0.0
        try:
            conn = connect_ro(path)
        except SourceError:
            return 0.0
        try:
            tables = _tables(conn)
        except DB_ERRORS:
            return 0.0
        finally:
            conn.close()
        return 1.0 if REQUIRED_TABLES | {"alembic_version"} <= tables else 0.0

    def runs(self, path: Path, root: Path) -> list[RunRef]:
        try:
            conn = connect_ro(path)
            try:
                ids = [r[0] for r in conn.execute("SELECT run_uuid FROM runs ORDER BY start_time, run_uuid")]
            finally:
                conn.close()
        except DB_ERRORS:
            return []
        return [RunRef(self.format, path, root, native_id=i, store=path) for i in ids]

    def fingerprint(self, ref: RunRef) -> str:
        return sqlite_ro.fingerprint(ref.path)

    def read(self, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        before = snapshot(ref.path) if idle_wal(ref.path) else None
        conn = connect_ro(ref.path)
        try:
            update = self._read_one(conn, ref, cursor)
        finally:
            conn.close()
        if before is not None and before != snapshot(ref.path):
            # a writer started (or checkpointed) while we read, possibly through an immutable connection
            raise IncompleteRead(ref.path, "the database changed while it was read; read again")
        return update

    def _read_one(self, conn: sqlite3.Connection, ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        try:
            return self._read(conn, ref, cursor or {})
        except DB_ERRORS as exc:
            raise SourceError(ref.path, f"run {ref.native_id}: {exc}") from None

    def read_batch(self, items: Sequence[ReadItem], budget_bytes: int) -> list[ReadOutcome]:
        """The runs of one database through one connection (not one connection, schema read and file
        check per run: a sweep logged to mlflow.db has thousands of runs)."""
        out: list[ReadOutcome] = []
        held = 0
        while len(out) < len(items) and held < budget_bytes:
            path = items[len(out)][0].path
            group: list[ReadOutcome] = []
            fingerprint = self.fingerprint(items[len(out)][0])
            before = snapshot(path) if idle_wal(path) else None
            try:
                conn = connect_ro(path)
            except SourceError as exc:
                conn, failed = None, str(exc)
            try:
                for ref, cursor in items[len(out) :]:
                    if ref.path != path or held >= budget_bytes:
                        break
                    if conn is None:
                        group.append((None, fingerprint, failed))
                        continue
                    update, error = contain(ref, self._read_one, conn, ref, cursor)
                    if update is not None:
                        finish_read(ref, cursor, update)
                        held += 24 * sum(len(s.steps) for s in update.metrics)
                    group.append((update, fingerprint, error))
            finally:
                if conn is not None:
                    conn.close()
            if before is not None and before != snapshot(path):
                changed = str(IncompleteRead(path, "the database changed while it was read; read again"))
                group = [(None, fingerprint, changed) for _ in group]
            out += group
        return out

    def _read(self, conn: sqlite3.Connection, ref: RunRef, cursor: dict[str, Any]) -> RunUpdate:
        run_id = ref.native_id
        row = conn.execute(
            "SELECT r.name, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri,"
            " r.experiment_id, e.name, e.lifecycle_stage FROM runs r LEFT JOIN experiments e"
            " ON e.experiment_id = r.experiment_id WHERE r.run_uuid = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise SourceError(ref.path, f"run {run_id} is no longer in the database")
        name, user, status, start, end, stage, artifact_uri, exp_id, exp_name, exp_stage = row
        update = RunUpdate(name=name or run_id, experiment=exp_name or str(exp_id))
        update.native_status = status
        update.status = status_of(status)
        update.start_time = None if start is None else start / 1000.0
        update.end_time = None if end is None else end / 1000.0
        update.deleted = stage == "deleted" or exp_stage == "deleted"
        update.params = dict(
            sorted(conn.execute("SELECT key, value FROM params WHERE run_uuid=?", (run_id,)))
        )
        update.tags = dict(sorted(conn.execute("SELECT key, value FROM tags WHERE run_uuid=?", (run_id,))))
        update.name = update.tags.get("mlflow.runName") or update.name
        update.parent_native_id = update.tags.get("mlflow.parentRunId")
        update.info = info_from_tags(update.tags, user)
        update.info["experiment_id"] = str(exp_id)
        update.info["artifact_uri"] = artifact_uri
        self._metrics(conn, run_id, cursor, update)
        artifacts = self._local(ref, artifact_uri, str(exp_id), run_id)
        update.info["artifact_dir"] = None if artifacts.path is None else str(artifacts.path)
        update.info["artifact_dir_rule"] = artifacts.rule
        if artifacts.path is not None:
            update.artifacts = list_artifacts(artifacts.path)
            update.media, update.media_complete = media_items(artifacts.path, update.artifacts), True
        self._inputs_outputs(conn, ref, run_id, update)
        update.last_activity = recorded_activity(update)
        return update

    def _metrics(
        self, conn: sqlite3.Connection, run_id: str | None, cursor: dict[str, Any], update: RunUpdate
    ) -> None:
        last_rowid = int(cursor.get("rowid", 0))
        # every query below stops at the rowid seen now: a row MLflow adds meanwhile is read next time,
        # once, not twice (through MLflow's (run_uuid) index, a seek: the cost is the new rows only)
        high = conn.execute("SELECT MAX(rowid) FROM metrics WHERE run_uuid=?", (run_id,)).fetchone()[0] or 0
        count_now = 0
        if cursor:
            count_now = conn.execute(
                "SELECT COUNT(*) FROM metrics WHERE run_uuid=? AND rowid<=?", (run_id, high)
            ).fetchone()[0]
            if count_now < int(cursor.get("count", 0)):
                last_rowid = 0  # rows were deleted: start over
                update.metrics_reset = True
        if high <= last_rowid:
            update.cursor = {"rowid": last_rowid, "count": count_now}
            return
        # From the start, `+rowid` keeps SQLite on MLflow's (run_uuid, key, step) index: the run's rows come
        # in series order with no sort (a plain read of the table). An increment reads only the new rows,
        # through the (run_uuid) index by rowid range, and sorts those few.
        where, args = (
            ("run_uuid=? AND +rowid<=?", (run_id, high))
            if last_rowid == 0
            else ("run_uuid=? AND rowid>? AND rowid<=?", (run_id, last_rowid, high))
        )
        # the keys' raw bytes: a key that is not valid UTF-8 is still matched exactly (never dropped)
        groups = conn.execute(
            f"SELECT CAST(key AS BLOB), COUNT(*) FROM metrics WHERE {where} GROUP BY key ORDER BY key", args
        ).fetchall()
        if not cursor:
            count_now = sum(n for _, n in groups)  # read from the start: every row up to `high` is here
        bad: list[str] = []
        table = _table_fast(conn, where, args)
        if table is not None and len(table) == sum(n for _, n in groups):
            start = 0
            for raw, n in groups:
                update.metrics.append(_series_of(_key_name(raw), table[start : start + n]))
                start += n
        else:
            for raw, _n in groups:
                series = _series_careful(conn, run_id, _key_name(raw), _key_match(raw), last_rowid, high, bad)
                if len(series.steps):
                    update.metrics.append(series)
        if bad:
            update.error = "; ".join(bad[:5])
        update.cursor = {"rowid": high, "count": count_now}

    def _local(
        self, ref: RunRef, uri: str | None, exp_id: str, tail_id: str | None, kind: str = ""
    ) -> Located:
        """A recorded artifact location (another machine's path, `mlflow-artifacts:`...) re-rooted on the
        folder holding the DB as it sits now (`core.artifact_uri`), never the recorded path itself."""
        if tail_id is None:
            return Located(None, "no run id")
        return locate(uri, ref.path.parent, ref.root, [exp_id, *([kind] if kind else []), tail_id])

    def _inputs_outputs(
        self, conn: sqlite3.Connection, ref: RunRef, run_id: str | None, update: RunUpdate
    ) -> None:
        tables = _tables(conn)
        datasets, models = [], []
        if {"inputs", "datasets"} <= tables:
            for input_uuid, ds_id in conn.execute(
                "SELECT input_uuid, source_id FROM inputs WHERE destination_id=? AND source_type='DATASET'",
                (run_id,),
            ).fetchall():
                ds = conn.execute(
                    "SELECT name, digest, dataset_source_type, dataset_source, dataset_schema,"
                    " dataset_profile FROM datasets WHERE dataset_uuid=?",
                    (ds_id,),
                ).fetchone()
                tags = (
                    dict(conn.execute("SELECT name, value FROM input_tags WHERE input_uuid=?", (input_uuid,)))
                    if "input_tags" in tables
                    else {}
                )
                if ds is None:
                    continue
                context = tags.get("mlflow.data.context")
                datasets.append(
                    {
                        "dataset_id": ds_id,
                        "name": ds[0],
                        "digest": ds[1],
                        "source_type": ds[2],
                        "source": ds[3],
                        "schema": ds[4],
                        "profile": ds[5],
                        "context": context,
                    }
                )
                update.files.append(
                    FileRef(
                        "input",
                        context or "dataset",
                        ds[3] or ds[0] or "",
                        None,
                        None,
                        (("mlflow_digest", str(ds[1])),) if ds[1] else (),
                    )
                )
        if {"inputs", "logged_models"} <= tables:
            for model_id, step in conn.execute(
                "SELECT destination_id, step FROM inputs WHERE source_id=? AND destination_type='MODEL_OUTPUT'",
                (run_id,),
            ).fetchall():
                m = conn.execute(
                    "SELECT name, status, artifact_location, experiment_id FROM logged_models"
                    " WHERE model_id=?",
                    (model_id,),
                ).fetchone()
                if m is None:
                    continue
                local = self._local(ref, m[2], str(m[3]), model_id, "models").path
                versions = []
                if "model_versions" in tables:
                    versions = [
                        {"name": v[0], "version": v[1], "stage": v[2], "status": v[3]}
                        for v in conn.execute(
                            "SELECT name, version, current_stage, status FROM model_versions WHERE source=?",
                            (f"models:/{model_id}",),
                        )
                    ]
                models.append(
                    {
                        "model_id": model_id,
                        "name": m[0],
                        "status": {1: "PENDING", 2: "READY", 3: "FAILED"}.get(m[1], m[1]),
                        "artifact_location": m[2],
                        "local_dir": str(local) if local and local.is_dir() else None,
                        "step": step,
                        "registered_versions": versions,
                    }
                )
                if local is not None and local.is_dir():
                    for art in list_artifacts(local):
                        update.files.append(
                            FileRef(
                                "output",
                                "model",
                                f"models/{model_id}/{art.path}",
                                str(local / art.path),
                                art.size,
                            )
                        )
        if datasets:
            update.info["datasets"] = datasets
        if models:
            update.info["logged_models"] = models


_POINTS = "SELECT {} FROM metrics WHERE run_uuid=? AND {} AND rowid>? AND rowid<=? ORDER BY rowid"
#: a metric row as numpy reads it straight off the cursor: no Python list per point
_ROW = np.dtype([("rowid", "<i8"), ("step", "<i8"), ("ts", "<f8"), ("value", "<f8"), ("is_nan", "<i8")])


def _key_name(raw: bytes | None) -> str:
    return bytes(raw or b"").decode("utf-8", "replace")


def _key_match(raw: bytes | None) -> tuple[str, str | bytes | None]:
    """A WHERE term and its parameter that match one key exactly, whatever its bytes."""
    if raw is None:
        return "key IS ?", None
    try:
        return "key=?", bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return "CAST(key AS BLOB)=?", bytes(raw)


def _table_fast(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> np.ndarray | None:
    """The run's new rows in series order, converted in bulk (no Python list per point), or None when a row
    is not what MLflow writes (text or NULL where numbers belong, a step beyond int64): then the careful
    path names the bad rows."""
    rows = conn.execute(
        f"SELECT rowid, step, timestamp, value, is_nan FROM metrics WHERE {where} ORDER BY key, step, rowid",
        args,
    )
    try:
        table = np.fromiter(rows, dtype=_ROW)
    except (TypeError, ValueError, OverflowError):
        return None
    # SQLite cannot store a NaN (it becomes NULL): a NaN here is a NULL, or text, that numpy let through
    if np.isnan(table["value"]).any() or np.isnan(table["ts"]).any():
        return None
    return table


def _series_of(key: str, rows: np.ndarray) -> Series:
    """One series from its rows (index order: by step). Points are stored in the order MLflow wrote them
    (rowid), as a cold read and later increments then agree; that is already step order unless steps
    were logged out of order."""
    if len(rows) > 1 and not (np.diff(rows["rowid"]) > 0).all():
        rows = rows[np.argsort(rows["rowid"], kind="stable")]
    values = np.where(rows["is_nan"] != 0, np.nan, rows["value"])
    return Series(key, rows["step"].copy(), values, rows["ts"].copy())


def _series_careful(
    conn: sqlite3.Connection,
    run_id: str | None,
    key: str,
    match: tuple[str, str | bytes | None],
    low: int,
    high: int,
    bad: list[str],
) -> Series:
    """Row by row: SQLite columns hold whatever was written (text in a REAL column, NULL, 1e30 steps): a bad
    row is named and skipped, the rest of the series still reads."""
    steps: list[int] = []
    values: list[float] = []
    stamps: list[float] = []
    for rowid, step, ts, value, is_nan in conn.execute(
        _POINTS.format("rowid, step, timestamp, value, is_nan", match[0]), (run_id, match[1], low, high)
    ):
        try:
            point = (int(step), math.nan if is_nan else float(value), float(ts))
            if not INT64_MIN <= point[0] <= INT64_MAX:
                raise OverflowError(f"step {step} does not fit in 64 bits")
        except (TypeError, ValueError, OverflowError) as exc:
            if len(bad) < 5:
                bad.append(f"metrics row {rowid} ({key}): {exc}")
            continue
        steps.append(point[0])
        values.append(point[1])
        stamps.append(point[2])
    return Series(key, np.array(steps, dtype=np.int64), np.array(values), np.array(stamps))


READER = MlflowSqliteReader()
