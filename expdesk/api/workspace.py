"""`Workspace`: one index file, seen from Python. Every query goes through the index's named queries and the
filter language the GUI and the CLI use; nothing here writes SQL or reads a run folder itself.

A workspace holds one read-only connection (opened on first use). Writing (indexing, refreshing) opens the
index's writer for that call only and closes it after, so a notebook that merely reads never holds the
writer while the app runs on the same index.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expdesk.api.cache import RunsCache
from expdesk.api.errors import LookupKeyError
from expdesk.api.records import IndexSummary, Run, summary_of
from expdesk.api.resolve import resolve_many, resolve_one
from expdesk.api.snapshot import build_run
from expdesk.core.paths import default_db_path, is_server_url
from expdesk.index import column_queries as queries
from expdesk.index.db import ensure_db
from expdesk.index.reader import IndexReader
from expdesk.index.stale import DEFAULT_STALE_AFTER
from expdesk.index.version import IndexState, index_state

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeAlias

    import pandas as pd
    from matplotlib.figure import Figure

    #: runs as `history`, `plot` take them: a key or unique prefix, a `Run`, a frame from `runs()` (its
    #: index of keys), a pandas Index or Series of keys, or an iterable of keys and `Run`s
    RunsLike: TypeAlias = str | Run | pd.DataFrame | pd.Index | pd.Series | Iterable[str | Run]

Progress = Callable[[int, int, str], None]


def open(path: str | os.PathLike[str] | None = None, *, stale_after: float | None = None) -> Workspace:
    """The index at `path` (created if missing; `None` = the app's default index: `$EXPDESK_DB` or the user
    data dir). `stale_after`: seconds without a sign of life after which a running run counts as stale.

    Raises `expdesk.IndexTooNew` for an index written by a newer expdesk and `expdesk.NotAnIndex` for a file
    that is not an expdesk index; both leave the file as it was."""
    db_path = Path(path).expanduser() if path is not None else default_db_path()
    if index_state(db_path) is not IndexState.CURRENT:
        ensure_db(db_path)  # creates a missing index, migrates an older one
    return Workspace(db_path, stale_after=stale_after)


class Workspace:
    """An expdesk index: `index` folders into it, then ask for `runs`, `history`, one `run`, or a `plot`.

    Use one per thread (or share it: calls are serialised). `close()` it, or use it as a context manager."""

    def __init__(self, path: Path, *, stale_after: float | None = None) -> None:
        self.path = Path(path)
        self.stale_after = DEFAULT_STALE_AFTER if stale_after is None else float(stale_after)
        self._reader: IndexReader | None = None
        self._lock = threading.RLock()
        #: every run's columns while the index is unchanged (tied to the read connection)
        self._runs_cache = RunsCache()

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the read connection (the workspace opens a new one if used again)."""
        with self._lock:
            self._runs_cache.clear()  # its data_version belongs to the connection
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<expdesk.Workspace {str(self.path)!r}>"

    def _repr_html_(self) -> str:
        from expdesk.api.html import workspace_html

        with self._lock:
            return workspace_html(self.path, queries.index_overview(self._read()))

    def _read(self) -> IndexReader:
        if self._reader is None:
            self._reader = IndexReader(self.path, stale_after=self.stale_after)
        return self._reader

    # -- writing: indexing and refreshing -----------------------------------------------------------
    def index(
        self,
        *paths: str | os.PathLike[str],
        progress: bool | Progress = False,
        force: bool = False,
    ) -> IndexSummary:
        """Discover and index every run below `paths` (folders, `mlflow.db` files, or tracking servers as
        `mlflow+http://host:5000`), like `expdesk index`; the folders become roots that `refresh` re-reads.

        `progress`: True prints a progress line on stderr, or pass `progress(done, total, path)`. `force`
        re-reads unchanged runs too. Runs that cannot be read are in the summary's `errors`, with the
        reason; every other run is indexed. Nothing is ever written into the folders."""
        if not paths:
            raise TypeError("index() needs at least one folder, e.g. ws.index('~/mlruns')")
        servers = [str(p) for p in paths if is_server_url(str(p))]
        folders = [Path(os.path.expanduser(p)) for p in paths if str(p) not in servers]
        missing = [str(p) for p in folders if not p.exists()]
        if missing:
            raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
        return self._write(folders, servers, progress, force, remember=True)

    def refresh(self, *, progress: bool | Progress = False) -> IndexSummary:
        """Re-read what changed below every root of the index since it was last read, as the watcher's
        periodic reconcile does: unchanged runs cost a stat, a grown metric file is read from where the last
        read stopped (the index's cursors), new runs are added and vanished ones marked gone. Call it in a
        loop to follow a training job."""
        roots = [r["path"] for r in self._query(lambda reader: reader.roots())]
        servers = [r for r in roots if is_server_url(r)]
        folders = [Path(r) for r in roots if r not in servers]
        return self._write(folders, servers, progress, force=False, remember=False)

    def _write(
        self,
        folders: list[Path],
        servers: list[str],
        progress: bool | Progress,
        force: bool,
        remember: bool,
    ) -> IndexSummary:
        from expdesk.index.service import Index

        report_progress = _progress(progress)
        # the read connection closes first (a new one opens on the next query): closed last, the writer
        # checkpoints the WAL and removes the -wal/-shm files, which a read-only connection cannot do
        self.close()
        with self._lock, Index(self.path) as index:
            report = index.index(folders, progress=report_progress, force=force, remember=remember)
            if servers:
                from expdesk.remote.browse import index_servers

                report = index_servers(index, servers, report, report_progress)
        if progress is True:
            print(file=sys.stderr)
        return summary_of(report)

    # -- reading -----------------------------------------------------------------------------------
    def _query(self, work: Callable[[IndexReader], Any]) -> Any:
        with self._lock:
            return work(self._read())

    def runs(
        self,
        where: str | None = None,
        sort: str | Sequence[str] | None = None,
        deleted: bool | None = False,
        hidden: bool | None = False,
    ) -> pd.DataFrame:
        """One row per run, indexed by run key: `name experiment format status stale deleted start_time
        end_time path native_id parent error`, then `params.<name>`, `tags.<name>` and `metrics.<name>` (the
        last value), MLflow's `search_runs` convention. Times are aware UTC timestamps; params are typed
        (bool, int, float, else text: `expdesk.api.values`); what a run lacks is NaN or None.

        `where` and `sort` are the filter and sort language of `expdesk runs --where/--sort` (e.g.
        `where="params.lr < 1e-3 and status != failed"`, `sort="-metrics.val_loss.min"`); a bad one raises
        `expdesk.FilterError` with the CLI's message. Newest first without `sort`. `deleted`: False = runs
        not deleted in their tool, True = only deleted runs, None = both; `hidden` the same for runs hidden
        in the window (Delete), which the runs table and `expdesk runs` leave out too. Every run's columns are kept
        while the index is unchanged, so later calls cost their filter and little else."""
        from expdesk.api import frames
        from expdesk.index.filter import compile_filter, compile_sort

        if where is not None and not isinstance(where, str):
            raise TypeError(f"where= takes a filter expression (str), not {type(where).__name__}")
        sort_text = sort if sort is None or isinstance(sort, str) else ", ".join(sort)
        where_sql, params = compile_filter(where or "", stale_after=self.stale_after)
        order_sql = compile_sort(sort_text, stale_after=self.stale_after) if sort_text else None

        def work(reader: IndexReader) -> pd.DataFrame:
            with queries.snapshot(reader):
                keys = queries.matching_keys(reader, where_sql, params, order_sql, deleted, hidden)
                found = self._runs_cache.columns(reader, keys, self.stale_after)
            return frames.runs_frame(found.runs, found.params, found.tags, found.metrics)

        return self._query(work)

    def history(
        self,
        runs: RunsLike,
        metrics: str | Sequence[str] | None = None,
        *,
        steps: tuple[int | None, int | None] | None = None,
        max_points: int | None = None,
    ) -> pd.DataFrame:
        """Every recorded point of `metrics` (all of each run's when None) of `runs`, as a long frame with the
        columns `run` and `metric` (categorical), `step` (int64), `value` (float64: NaN and ±inf as logged)
        and `time` (UTC, NaT when the run recorded none). One row per logged point, duplicates kept, in the
        order the run wrote them; `h.pivot_table(index="step", columns="run", values="value")` makes it wide.

        `steps=(first, last)`: only points whose step is in that range (both ends included; None = open).
        `max_points`: at most this many rows per run and metric, chosen as the charts do (per step bucket
        the first, last, lowest and highest point, and the first NaN or inf: every spike and gap survives;
        never a random sample), in step order."""
        from expdesk.api import frames

        keys = self._resolve_many(runs)
        wanted = [metrics] if isinstance(metrics, str) else None if metrics is None else list(metrics)
        frames.check_history_args(steps, max_points)

        def work(reader: IndexReader) -> frames.Points:
            with queries.snapshot(reader):
                found = queries.series_ids(reader, keys, wanted)
                arrays = reader.series_concat([(sid, n) for _, _, sid, n in found])
                run_json = reader.runs_json(keys) if _any_server_run(reader, keys) else []
            return frames.Points(found, *arrays, run_json)

        points = self._query(work)
        if points.server_runs:
            points = frames.with_server_histories(points, wanted)
        return frames.history_frame(points, keys, steps, max_points)

    def run(self, key: str) -> Run:
        """One run by its key or a unique prefix of it: params, tags, metric summaries, artifacts, lineage.
        An unknown or ambiguous key raises `KeyError` naming the candidates."""
        return self._query(lambda reader: build_run(self, reader, resolve_one(reader, key)))

    def media_bytes(
        self, run: str | Run, key: str, step: int | None = None, *, index: int = 0, kind: str | None = None
    ) -> bytes:
        """One media item of a run as its file holds it (see `Run.media_bytes`)."""
        from expdesk.core.errors import UsageError
        from expdesk.index.media import item_bytes

        def work(reader: IndexReader) -> bytes:
            run_key = resolve_one(reader, run)
            try:
                return item_bytes(reader, run_key, key, step, index, kind)
            except UsageError as exc:  # not there: the message says what the run has
                raise LookupKeyError(str(exc)) from None

        return self._query(work)

    def _resolve_many(self, runs: RunsLike) -> list[str]:
        return self._query(lambda reader: resolve_many(reader, runs))

    # -- figures -----------------------------------------------------------------------------------
    def plot(
        self,
        runs: RunsLike,
        metrics: str | Sequence[str],
        *,
        x: str = "step",
        smooth: float = 0.6,
        log_y: bool = False,
        log_x: bool = False,
        size: tuple[float, float] = (10.0, 6.0),
    ) -> Figure:
        """A matplotlib Figure of `metrics` across `runs`, made by the code behind `expdesk plot` (full data,
        min/max bands where points are denser than pixels, EMA smoothing `smooth` in 0..1, x = "step",
        "wall" or "relative"). No pyplot: the figure belongs to no window manager and shows inline in
        Jupyter; save it with `fig.savefig("loss.png")`."""
        from expdesk.api.figure import plot_figure

        keys = self._resolve_many(runs)
        wanted = [metrics] if isinstance(metrics, str) else list(metrics)
        return self._query(lambda reader: plot_figure(reader, keys, wanted, x, smooth, log_x, log_y, size))


def _any_server_run(reader: IndexReader, keys: list[str]) -> bool:
    from expdesk.remote.browse import FORMAT

    return any(fmt == FORMAT for _name, fmt in queries.run_labels(reader, keys).values())


def _progress(progress: bool | Progress) -> Progress | None:
    if callable(progress):
        return progress
    if not progress:
        return None

    def show(done: int, total: int, path: str) -> None:
        print(f"\r  indexed {done}/{total} runs", end="", file=sys.stderr, flush=True)

    return show
