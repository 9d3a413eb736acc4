"""A tracking server as a read-only source: its runs listed into the index, next to local folders.

`index_server(index, "mlflow+http://host:5000")` pages through `experiments/search` + `runs/search` and
hands each run to the index writer as a `RunUpdate` (format `mlflow-remote`, path = the server URL, native id
= the server's run id). Only the latest value of each metric comes with a search page, so that is what the
index holds; full histories are fetched lazily with `fetch_history` when a chart asks. Runs that vanished
from the server are marked gone, like deleted folders. `ServerRefresher` repeats this on a timer.
The URL stored as root and path never carries credentials.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import Link, RunRef, RunUpdate, Series, Status
from expdesk.index import store
from expdesk.index.indexer import IndexReport, Progress
from expdesk.index.service import Index
from expdesk.remote.http import MlflowRest, RemoteError, source_url
from expdesk.remote.mlflow_api import FROM_MLFLOW, ServerApi

FORMAT = "mlflow-remote"


def _seconds(ms: Any) -> float | None:
    return ms / 1000.0 if isinstance(ms, int | float) and ms else None


def _number(value: Any) -> float:
    if isinstance(value, str):  # protobuf JSON spells non-finite values as strings
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, math.nan)
    return float(value)


def to_update(run: dict[str, Any], experiments: dict[str, str], url: str) -> RunUpdate:
    info, data = run.get("info", {}), run.get("data", {})
    tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
    status = info.get("status", "")
    update = RunUpdate(
        name=info.get("run_name") or tags.get("mlflow.runName"),
        experiment=experiments.get(str(info.get("experiment_id")), str(info.get("experiment_id"))),
        status=Status(FROM_MLFLOW.get(status, "unknown")),
        native_status=status or None,
        start_time=_seconds(info.get("start_time")),
        end_time=_seconds(info.get("end_time")),
        deleted=info.get("lifecycle_stage") == "deleted",
        parent_native_id=tags.get("mlflow.parentRunId"),
        params={p["key"]: p.get("value", "") for p in data.get("params", [])},
        tags=tags,
        metrics=[
            # the latest point only; `replace` so each refresh swaps it rather than appending a duplicate
            Series.from_lists(
                m["key"],
                [int(m.get("step", 0))],
                [_number(m.get("value"))],
                [float(m.get("timestamp", math.nan))],
                replace=True,
            )
            for m in data.get("metrics", [])
        ],
        info={
            "server": url,
            "run_id": info.get("run_id"),
            "artifact_uri": info.get("artifact_uri"),
            "metrics": "latest values only; history fetched on demand",
        },
    )
    if update.parent_native_id:
        update.links.append(Link("mlflow.parentRunId", target_native_id=update.parent_native_id))
    return update


def index_server(
    index: Index,
    url: str,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    client: MlflowRest | None = None,
) -> IndexReport:
    """List every run of the server into `index` (read-only on the server). Raises `RemoteError`."""
    started = time.perf_counter()
    root = source_url(url)
    client = client or MlflowRest(url)
    api = ServerApi(client)
    report = IndexReport()
    experiments = api.experiments()
    known = index.indexer.known()
    index.add_root(root)
    seen: set[str] = set()
    for run in api.search_runs(sorted(experiments)):
        if cancelled():
            report.cancelled = True
            break
        run_id = run.get("info", {}).get("run_id", "")
        ref = RunRef(FORMAT, Path(root), Path(root), native_id=run_id, store=Path(root))
        report.found += 1
        seen.add(ref.key)
        report.keys.append(ref.key)
        fingerprint = hashlib.sha1(json.dumps(run, sort_keys=True).encode()).hexdigest()
        if known.get(ref.key, (None, {}))[0] == fingerprint:
            report.unchanged += 1
        else:
            update = to_update(run, experiments, root)

            def task(conn: Any, ref: RunRef = ref, update: RunUpdate = update, fp: str = fingerprint) -> None:
                store.apply_update(conn, ref, update, fp)
                store.set_server_location(conn, ref.key, root)

            index.writer.call(task, {ref.key})
            report.read += 1
        if progress is not None:
            progress(report.found, report.found, root)
    if not report.cancelled:
        report.gone += index.writer.call(lambda c: store.mark_gone(c, root, seen))
    index.writer.call(store.resolve_links, set(report.keys))
    report.seconds = time.perf_counter() - started
    return report


def fetch_history(
    url: str, run_id: str, metric: str, client: MlflowRest | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full history of one metric of a server run: (steps int64, values float64, timestamps float64 ms),
    in step order (the server does not keep write order)."""
    api = ServerApi(client or MlflowRest(url))
    points = sorted(
        (
            (int(m.get("step", 0)), int(m.get("timestamp", 0)), _number(m.get("value")))
            for m in api.history(run_id, metric)
        ),
    )
    return (
        np.array([p[0] for p in points], dtype=np.int64),
        np.array([p[2] for p in points], dtype=np.float64),
        np.array([p[1] for p in points], dtype=np.float64),
    )


def fetch_histories(
    run: Mapping[str, Any], metrics: Sequence[str], problems: list[str]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Full histories of several metrics of a server run (as `runs_json` describes it), metric -> arrays as
    `fetch_history` gives them; metrics the run does not have are left out. A server that cannot answer costs
    this run its histories, not the caller's work: the reason goes to `problems`."""
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for metric in metrics:
        if metric not in run.get("metrics", {}):
            continue
        try:
            out[metric] = fetch_history(run["path"], run["native_id"], metric)
        except RemoteError as exc:
            problems.append(f"{run.get('name') or run['key']}: {exc}")
            break  # the next metric would meet the same server
    return out


def server_histories(
    runs: Sequence[Mapping[str, Any]], metrics: Sequence[str]
) -> tuple[dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """Full histories of `metrics` for the runs among `runs` (run JSON) that were browsed on a tracking
    server, whose index rows hold only the latest values: ({(run key, metric): arrays}, problems). Local
    runs are skipped; a server that cannot answer leaves its runs out and says why in `problems`."""
    problems: list[str] = []
    found: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for run in runs:
        if run.get("format") == FORMAT:
            for metric, arrays in fetch_histories(run, metrics, problems).items():
                found[(run["key"], metric)] = arrays
    return found, problems


class ServerRefresher:
    """Re-lists a server into the index every `interval` seconds on its own thread; `stop()` returns promptly.

    Errors do not stop it (a server that is down now may be back next time); the last one is kept in `error`.
    """

    def __init__(self, index: Index, url: str, interval: float = 60.0) -> None:
        self.index, self.url, self.interval = index, url, interval
        self.error: str | None = None
        self.refreshed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="expdesk-server-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                index_server(self.index, self.url, cancelled=self._stop.is_set)
                self.error = None
            except RemoteError as exc:
                self.error = str(exc)
            self.refreshed += 1
            self._stop.wait(self.interval)  # waits on the event, so stop() never waits a whole interval


def index_servers(
    index: Index, urls: list[str], report: IndexReport, progress: Progress | None = None
) -> IndexReport:
    """`expdesk index` with server roots: each is listed and its counts added to `report`.

    A server that cannot be reached becomes an error line of the report, like an unreadable folder."""
    from expdesk.remote.http import RemoteError

    for url in urls:
        try:
            part = index_server(index, url, progress)
        except RemoteError as exc:
            report.errors.append((source_url(url), str(exc)))
            continue
        report.found += part.found
        report.read += part.read
        report.unchanged += part.unchanged
        report.gone += part.gone
        report.keys += part.keys
        report.seconds += part.seconds
    return report
