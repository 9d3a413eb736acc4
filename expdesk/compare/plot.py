"""What `expdesk plot` and the Python API's `Workspace.plot` share: runs and metrics in, series ready for
`figures.metric_chart` out (loaded in full, labelled by the params that differ, x chosen, smoothed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from expdesk.compare.diff import legend_labels
from expdesk.compare.series import PlotSeries, RawSeries, XMode, load_series, prepare
from expdesk.index.reader import IndexReader

#: full histories fetched from elsewhere (a tracking server), by (run key, metric): they replace the index's
Histories = Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]


def plot_series(
    reader: IndexReader,
    runs: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    x_mode: XMode = XMode.STEP,
    smoothing: float = 0.0,
    histories: Histories | None = None,
) -> tuple[dict[str, list[PlotSeries]], list[str]]:
    """({metric: one series per run that has it, in run order}, metrics no run has). `runs` are run JSON
    objects (`IndexReader.runs_json`): their keys, and their params for the legend."""
    keys = [r["key"] for r in runs]
    # a step axis never reads the timestamps: a third less to load
    raws = load_series(reader, keys, metrics, with_timestamps=x_mode is not XMode.STEP)
    if histories:
        raws = [
            RawSeries(r.run_key, r.metric, *histories[(r.run_key, r.metric)])
            if (r.run_key, r.metric) in histories
            else r
            for r in raws
        ]
    labels = dict(zip(keys, legend_labels(runs), strict=True))
    by_metric: dict[str, list[PlotSeries]] = {m: [] for m in metrics}
    for raw in raws:
        by_metric[raw.metric].append(prepare(raw, labels[raw.run_key], x_mode, smoothing))
    missing = [m for m, series in by_metric.items() if not series]
    return by_metric, missing
