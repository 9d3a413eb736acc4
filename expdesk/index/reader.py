"""Read-only queries on the index (own `mode=ro` connection per reader; use one reader per thread)."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from expdesk.core.errors import ExpdeskError, UsageError
from expdesk.index import runjson
from expdesk.index.db import open_reader
from expdesk.index.finals import unpack as unpack_final
from expdesk.index.runjson import iso as iso  # re-exported: lineage records print times the same way
from expdesk.index.sql_functions import install_functions
from expdesk.index.stale import DEFAULT_STALE_AFTER
from expdesk.index.stale import is_stale as is_stale  # re-exported: tests and callers import it from here
from expdesk.index.storage import describe
from expdesk.index.store import decode_steps, decode_ts


class RunBasics(NamedTuple):
    """Where a run is and when it ran, as the index holds it (times are epoch seconds)."""

    format: str
    path: str
    root: str
    native_id: str | None
    start_time: float | None
    end_time: float | None
    last_activity: float | None


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One metric of a run: its series id (for `series_by_id`), key and point counts."""

    id: int
    key: str
    count: int
    nan_count: int


#: The runs table's default order: newest first, runs without a start time last (in SQLite a NULL sorts
#: below every number, so DESC puts them last), the key breaking ties. Spelled so that no index serves it: a
#: whole ordered list is a table scan and a sort, 2-6x faster at 100,000 runs than visiting every row
#: through the `run_rows_newest_first` index (measured). `NEWEST_FIRST_INDEXED` is the same order spelled as
#: that index is, for queries with a LIMIT, which stop after the first rows the index hands over.
NEWEST_FIRST = "r.start_time DESC, r.key"
NEWEST_FIRST_INDEXED = "r.start_time IS NULL, r.start_time DESC, r.key"


@functools.lru_cache(maxsize=16)
def _mmap_allowed(db_path: Path) -> bool:
    # once per index path and process: memory-mapped reads are unsafe on a network filesystem
    return describe(db_path).mmap_reads


class IndexReader:
    """Named read queries on the index. `conn` is for the index package's own query modules (`table`,
    `lineage_queries`, `hashes`); everything else calls a named query (tests/test_architecture.py)."""

    def __init__(
        self, db_path: Path, stale_after: float = DEFAULT_STALE_AFTER, mmap_reads: bool | None = None
    ) -> None:
        self.db_path = db_path
        #: whether `series_many` may read through a memory map (None: decided by the index's filesystem)
        self.mmap_reads = _mmap_allowed(Path(db_path)) if mmap_reads is None else mmap_reads
        self.conn = open_reader(db_path)
        install_functions(self.conn)  # regexp + chunk access used by compiled filters and sorts
        self.stale_after = stale_after
        # `interrupt` comes from another thread: never on a closed connection (undefined in SQLite)
        self._guard = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._guard:
            self._closed = True
            self.conn.close()

    def interrupt(self) -> None:
        """Stop the statement this reader is running (it raises `sqlite3.OperationalError`); callable from
        any thread, a no-op once the reader is closed. A filter typed further makes the last one's queries
        moot: the runs table stops them rather than let them hold a core."""
        with self._guard:
            if not self._closed:
                self.conn.interrupt()

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run lookup ---------------------------------------------------------------------------------
    def resolve(self, key_or_prefix: str) -> str:
        """A run key, or a unique prefix of one. A part's key (or prefix) gives the key of the run it is a
        part of: a part is never a row of its own."""
        part = self.resolve_part(key_or_prefix)
        row = self.conn.execute("SELECT run_key FROM parts WHERE part_key = ?", (part,)).fetchone()
        return row[0] if row is not None else part

    def resolve_part(self, key_or_prefix: str) -> str:
        """The key of the part (a run's own folder as one reader read it) a key or unique prefix names."""
        rows = self.conn.execute(
            "SELECT key FROM runs WHERE key LIKE ? ESCAPE '\\' LIMIT 3",
            (key_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        if not rows:
            raise UsageError(f"no run matches {key_or_prefix!r}")
        if len(rows) > 1 and rows[0]["key"] != key_or_prefix:
            raise UsageError(f"{key_or_prefix!r} is ambiguous: {', '.join(r['key'] for r in rows)}…")
        return rows[0]["key"]

    def run_keys(
        self,
        include_deleted: bool = False,
        where_sql: str = "",
        params: tuple[Any, ...] = (),
        order_sql: str = NEWEST_FIRST,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[str]:
        """Keys of the listed runs (on disk; not deleted in their tool unless `include_deleted`) matching a
        compiled filter, in `order_sql` over `run_rows r` (a joined run once); `limit` rows from `offset`."""
        clauses = ["r.gone = 0"]
        if not include_deleted:
            clauses.append("r.deleted = 0")
        if where_sql:
            clauses.append(f"({where_sql})")
        sql = f"SELECT r.key FROM run_rows r WHERE {' AND '.join(clauses)} ORDER BY {order_sql}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: 100,000 `sqlite3.Row`s cost more than the keys
        try:
            return [row[0] for row in cursor.execute(sql, params)]
        finally:
            cursor.close()

    def all_keys(self) -> set[str]:
        """Every run key the index holds, deleted and gone runs included (parts joined into a run are not
        runs: their run's key stands for them)."""
        return {r[0] for r in self.conn.execute("SELECT key FROM run_rows")}

    def running_activity(self) -> list[tuple[str, float]]:
        """(key, last sign of life) of every running run still on disk that has shown one."""
        rows = self.conn.execute(
            "SELECT key, last_activity FROM run_rows WHERE status='running' AND gone=0"
            " AND last_activity IS NOT NULL"
        )
        return [(r[0], r[1]) for r in rows]

    # -- one run ------------------------------------------------------------------------------------
    def run_basics(self, key: str) -> RunBasics | None:
        row = self.conn.execute(
            "SELECT format, path, root, native_id, start_time, end_time, last_activity FROM run_rows WHERE key = ?",
            (key,),
        ).fetchone()
        return None if row is None else RunBasics(*row)

    def series_infos(self, run_key: str) -> list[SeriesInfo]:
        """A run's metrics that have points (a reported final alone has no series), by key."""
        rows = self.conn.execute(
            "SELECT series_id, key, count, nan_count FROM run_metrics WHERE run_key = ? AND series_id IS NOT NULL"
            " ORDER BY key",
            (run_key,),
        )
        return [SeriesInfo(*r) for r in rows]

    def metric_names(self, run_key: str) -> list[str]:
        """A run's metric keys that have points, sorted."""
        rows = self.conn.execute(
            "SELECT key FROM run_metrics WHERE run_key=? AND series_id IS NOT NULL ORDER BY key", (run_key,)
        )
        return [r[0] for r in rows]

    def metric_finals(self, run_key: str) -> dict[str, float]:
        """The results a run reported (a metric's `final`), by metric key, exactly (NaN and -0.0 kept)."""
        rows = self.conn.execute(
            "SELECT key, final_exact FROM run_metrics WHERE run_key=? AND final_exact IS NOT NULL ORDER BY key",
            (run_key,),
        )
        out = {r[0]: unpack_final(r[1]) for r in rows}
        return {k: v for k, v in out.items() if v is not None}

    def params_of(self, run_key: str) -> dict[str, str]:
        """A run's params as recorded (text), by key."""
        rows = self.conn.execute("SELECT key, value FROM run_params WHERE run_key=? ORDER BY key", (run_key,))
        return {r[0]: r[1] for r in rows}

    def tags_of(self, run_key: str) -> dict[str, str]:
        """A run's tool tags, by key."""
        rows = self.conn.execute("SELECT key, value FROM run_tags WHERE run_key=? ORDER BY key", (run_key,))
        return {r[0]: r[1] for r in rows}

    # -- run JSON -----------------------------------------------------------------------------------
    def run_json(self, key: str, history: bool = False) -> dict[str, Any]:
        return self.runs_json([key], history)[0]

    def runs_json(self, keys: list[str], history: bool = False) -> list[dict[str, Any]]:
        """Run JSON (the CLI's `--json` shape) for many runs with a handful of queries (`runjson`)."""
        return runjson.runs_json(self, keys, history)

    def parts_json(self, keys: list[str]) -> list[dict[str, Any]]:
        """Parts as their readers read them, each with the key of its run (`runjson.parts_json`)."""
        return runjson.parts_json(self, keys)

    # -- metric history -----------------------------------------------------------------------------
    def series_by_id(self, series_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.snapshot():
            total = self.conn.execute(
                "SELECT COALESCE(SUM(n), 0) FROM chunks WHERE series_id=?", (series_id,)
            ).fetchone()[0]
            steps, values, stamps = self._series_into_arrays(series_id, total, True)
        assert stamps is not None
        return steps, values, stamps

    def series(self, run_key: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full history of one metric: (steps int64, values float64, timestamps float64 ms), in write order."""
        row = self.conn.execute(
            "SELECT series_id FROM run_metrics WHERE run_key=? AND key=? AND series_id IS NOT NULL",
            (run_key, metric),
        ).fetchone()
        if row is None:
            raise UsageError(f"run {run_key} has no metric {metric!r}")
        return self.series_by_id(row[0])

    # -- vocabulary (for completion, column choosers) ----------------------------------------------
    def param_keys(self) -> list[str]:
        return self._distinct_keys("params", "joined_params")

    def metric_keys(self) -> list[str]:
        return self._distinct_keys("series", "joined_metrics", "finals")

    def _distinct_keys(self, *tables: str) -> list[str]:
        """The distinct `key`s of the runs' rows in per-part `tables[0]` (of parts that are runs on their
        own, as the `run_*` views take them) and whole tables `tables[1:]`, sorted. Keys are listed by
        index seeks (`params_key`, `series_key`, `joined_*_key`: one per distinct key, instead of reading
        every row's: 1M params at 100,000 runs took 0.1 s for 20 keys, now well under a millisecond);
        `finals` (few rows, no key index) is read whole."""
        out: set[str] = set()
        for i, table in enumerate(tables):
            seek = (
                f"WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM {table}"
                f" UNION ALL SELECT (SELECT MIN(t.key) FROM {table} t WHERE t.key > k.key) FROM k"
                " WHERE k.key IS NOT NULL) SELECT key FROM k WHERE key IS NOT NULL"
            )
            if i == 0:  # a part of a joined run holds keys its run may not show: one row of a run on its own
                seek += (
                    f" AND EXISTS (SELECT 1 FROM {table} p WHERE p.key = k.key"
                    " AND NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = p.run_key))"
                )
            elif table == "finals":
                seek = "SELECT DISTINCT f.key FROM finals f WHERE NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = f.run_key)"
            out.update(r[0] for r in self.conn.execute(seek))
        return sorted(out)

    def tag_keys(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT key FROM run_tags ORDER BY key")]

    def roots(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT r.path, r.network, r.added_at, (SELECT COUNT(*) FROM run_rows x WHERE x.root = r.path AND x.gone = 0)"
            " AS runs, (SELECT COUNT(*) FROM runs x WHERE x.root = r.path AND x.error IS NOT NULL AND x.gone = 0)"
            " AS errors FROM roots r ORDER BY r.path"
        ).fetchall()
        return [dict(r) for r in rows]

    def format_counts(self, root: str) -> dict[str, int]:
        """Runs per tool under a root: a job logged by several tools counts once for each of them (the
        lines then say which runs hold each tool's data, not how many folders each reader read)."""
        out: dict[str, int] = {}
        for formats, count in self.conn.execute(
            "SELECT formats, COUNT(*) FROM run_rows WHERE root=? AND gone=0 GROUP BY formats", (root,)
        ):
            for fmt in formats.split("+"):
                out[fmt] = out.get(fmt, 0) + count
        return out

    def watched_folders(self) -> set[str]:
        """Every root the index watches or holds runs from (nothing may be written inside them)."""
        roots = {r[0] for r in self.conn.execute("SELECT path FROM roots")}
        return roots | {r[0] for r in self.conn.execute("SELECT DISTINCT root FROM runs")}

    def error_samples(self, root: str, limit: int = 20) -> list[tuple[str, str]]:
        """(run name or path, error) of up to `limit` runs of `root` still on disk that failed to read."""
        rows = self.conn.execute(
            "SELECT COALESCE(name, path), error FROM runs WHERE root = ? AND error IS NOT NULL AND gone = 0"
            " ORDER BY name LIMIT ?",
            (root, int(limit)),
        )
        return [(r[0], r[1]) for r in rows]

    def runs_of(self, part_keys: Iterable[str]) -> set[str]:
        """The runs these parts belong to (a part on its own is its own run)."""
        keys, out = list(part_keys), set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            sql = f"SELECT run_key FROM part_runs WHERE part_key IN ({','.join('?' * len(chunk))})"
            out |= {r[0] for r in self.conn.execute(sql, chunk)}
        return out

    def part_keys(self, run_key: str) -> list[str]:
        """The parts of a run, head first (a run of one part is its own part)."""
        rows = self.conn.execute("SELECT part_key FROM parts WHERE run_key = ? ORDER BY rank", (run_key,))
        return [r[0] for r in rows] or [run_key]

    def files(self, run_key: str) -> list[dict[str, Any]]:
        """Files a run read or produced, from every part (`run_key` is the run's, whichever part said it)."""
        parts = self.part_keys(run_key)
        rows = self.conn.execute(
            f"SELECT * FROM files WHERE run_key IN ({','.join('?' * len(parts))})", parts
        ).fetchall()
        return [{**dict(r), "run_key": run_key, "digests": json.loads(r["digests"])} for r in rows]

    def links(self, run_key: str) -> list[dict[str, Any]]:
        """Tool-native links of a run's parts to other runs (target keys are runs', not parts'); the records
        that made parts one run (`names.*`) are join evidence, not links."""
        parts = self.part_keys(run_key)
        rows = self.conn.execute(
            "SELECT l.rule, l.target_native_id, l.target_path, COALESCE(m.run_key, l.target_key) AS target_key,"
            f" l.evidence FROM links l LEFT JOIN parts m ON m.part_key = l.target_key"
            f" WHERE l.run_key IN ({','.join('?' * len(parts))}) AND l.rule NOT LIKE 'names.%'",
            parts,
        ).fetchall()
        out = [{**dict(r), "run_key": run_key, "evidence": json.loads(r["evidence"])} for r in rows]
        return [link for link in out if link["target_key"] != run_key]

    # -- several histories at once (compare charts) -------------------------------------------------
    #: how much of the DB file `series_many` reads through a memory map (SQLite caps it at its build's limit)
    SERIES_MMAP_BYTES = 1 << 32

    def series_many(
        self, pairs: Iterable[tuple[str, str]], with_timestamps: bool = False
    ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """Full histories of several `(run_key, metric)` pairs, as `series` returns them, from one snapshot;
        pairs the index does not hold are left out. Timestamps are only assembled when asked for (None
        otherwise): a chart over steps never reads them, and they are a third of the memory.

        Each series is copied once, chunk by chunk as SQLite hands them over, into arrays sized from the
        chunks' point counts: no list of every chunk's blobs and no concatenation (about half the peak
        memory of `series`)."""
        previous_mmap = self.conn.execute("PRAGMA mmap_size").fetchone()[0]
        if not self.mmap_reads:
            previous_mmap = None  # a network filesystem (storage.py): plain reads, the setting untouched
        try:
            # Chunk blobs span ~16 overflow pages each: read them through the memory map, not one pread()
            # per page (a third of the load time, almost all of its system time). Only for this call: the
            # setting is the connection's and other queries keep theirs.
            if previous_mmap is not None:
                self.conn.execute(f"PRAGMA mmap_size={self.SERIES_MMAP_BYTES}")
            out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
            with self.snapshot():
                for run_key, metric in pairs:
                    row = self.conn.execute(
                        "SELECT s.series_id, (SELECT COALESCE(SUM(c.n), 0) FROM chunks c"
                        " WHERE c.series_id = s.series_id) FROM run_metrics s"
                        " WHERE s.run_key=? AND s.key=? AND s.series_id IS NOT NULL",
                        (run_key, metric),
                    ).fetchone()
                    if row is not None:
                        out[(run_key, metric)] = self._series_into_arrays(row[0], row[1], with_timestamps)
            return out
        finally:
            if previous_mmap is not None:
                self.conn.execute(f"PRAGMA mmap_size={int(previous_mmap)}")

    def series_concat(
        self, series: Sequence[tuple[int, int]], with_timestamps: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Full histories of several series back to back in one set of arrays (the Python API's long
        frame): `series` are (series id, point count) pairs, e.g. from `column_queries.series_ids`, read in
        the same read transaction as the counts (`column_queries.snapshot`). Each chunk is decoded straight
        into its slice."""
        total = sum(count for _, count in series)
        steps = np.empty(total, dtype=np.int64)
        values = np.empty(total, dtype=np.float64)
        stamps = np.empty(total, dtype=np.float64) if with_timestamps else None
        pos = 0
        with self._mmapped(), self.snapshot():
            for series_id, count in series:
                end = pos + count
                self._decode_into(
                    series_id, steps[pos:end], values[pos:end], None if stamps is None else stamps[pos:end]
                )
                pos = end
        return steps, values, stamps

    @contextlib.contextmanager
    def _mmapped(self) -> Iterator[None]:
        """Chunk blobs through the memory map for this block (as `series_many` reads them), unless the
        reader is told not to (`mmap_reads`: an index on a network filesystem)."""
        if not self.mmap_reads:
            yield
            return
        previous_mmap = self.conn.execute("PRAGMA mmap_size").fetchone()[0]
        try:
            self.conn.execute(f"PRAGMA mmap_size={self.SERIES_MMAP_BYTES}")
            yield
        finally:
            self.conn.execute(f"PRAGMA mmap_size={int(previous_mmap)}")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction (unless one is open): what is read first stays true for what is read next
        (point counts while chunks load; a first page of runs while the whole list is read)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def _series_into_arrays(
        self, series_id: int, total: int, with_timestamps: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        steps = np.empty(total, dtype=np.int64)
        values = np.empty(total, dtype=np.float64)
        stamps = np.empty(total, dtype=np.float64) if with_timestamps else None
        self._decode_into(series_id, steps, values, stamps)
        return steps, values, stamps

    def _decode_into(
        self, series_id: int, steps: np.ndarray, values: np.ndarray, stamps: np.ndarray | None
    ) -> None:
        """Decode a series' chunks into arrays sized to its point count (the one chunk-decoding path)."""
        total = len(steps)
        pos = 0
        # each chunk is decoded straight into its slice; timestamps are not even selected unless wanted
        columns = "n, steps, vals, ts" if stamps is not None else "n, steps, vals, NULL"
        for n, step_blob, val_blob, ts_blob in self.conn.execute(
            f"SELECT {columns} FROM chunks WHERE series_id=? ORDER BY seq", (series_id,)
        ):
            s = decode_steps(step_blob, n)
            end = pos + len(s)
            if end > total:
                pos = end
                break  # reported below
            steps[pos:end] = s
            values[pos:end] = np.frombuffer(val_blob, dtype="<f8")
            if stamps is not None:
                stamps[pos:end] = decode_ts(ts_blob, n)
            pos = end
        if pos != total:
            decoded = f"at least {pos}" if pos > total else str(pos)
            raise ExpdeskError(f"series {series_id}: its chunks count {total} points but decode to {decoded}")


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
