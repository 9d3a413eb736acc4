"""`Workspace.plot`: the figure `expdesk plot` draws, returned instead of saved."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

from matplotlib.figure import Figure

from expdesk.api.errors import LookupKeyError
from expdesk.compare.figures import metric_chart
from expdesk.compare.plot import plot_series
from expdesk.compare.series import XMode
from expdesk.index.reader import IndexReader


class NotebookFigure(Figure):
    """A plain matplotlib Figure that shows itself in Jupyter without pyplot: IPython asks any object for
    `_repr_png_`, whereas matplotlib registers its own display hook only once pyplot picks the inline
    backend (when pyplot is in use, that hook wins and draws the same PNG)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def plot_figure(
    reader: IndexReader,
    keys: list[str],
    metrics: Sequence[str],
    x: str,
    smooth: float,
    log_x: bool,
    log_y: bool,
    size: tuple[float, float],
) -> Figure:
    from expdesk.remote.browse import server_histories

    try:
        x_mode = XMode(x)
    except ValueError:
        raise ValueError(f"x={x!r}: use 'step', 'wall' or 'relative'") from None
    if not 0 <= smooth <= 1:
        raise ValueError("smooth= takes a weight between 0 and 1 (0 = no smoothing)")
    if not metrics:
        raise ValueError("plot() needs at least one metric")
    runs = reader.runs_json(keys)
    histories, problems = server_histories(runs, metrics)
    for problem in problems:
        warnings.warn(f"not fetched from the server: {problem}", stacklevel=3)
    by_metric, missing = plot_series(reader, runs, metrics, x_mode, smooth, histories)
    if len(missing) == len(by_metric):
        raise LookupKeyError(f"none of these runs has {', '.join(repr(m) for m in missing)}", [])
    for metric in missing:
        warnings.warn(f"no run has {metric!r}", stacklevel=3)
    width, height = size
    figure = NotebookFigure(figsize=(width, height), dpi=100, layout="constrained")
    return metric_chart(by_metric, keys, x_mode, smooth, log_x, log_y, figure=figure).figure
