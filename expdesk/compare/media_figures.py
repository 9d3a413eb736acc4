"""Histograms over steps as a matplotlib `Figure` (no pyplot, no Qt): one panel per run, as a heat map
(value across, step down, colour = count) or a ridge plot (one curve per step, later steps lower)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from expdesk.compare.media import HistogramGrid

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MODES = ("heatmap", "ridge")
#: ridge curves drawn per panel at most (more would be a solid block)
MAX_RIDGES = 40


def _escape(text: str) -> str:
    # run names and keys are user data: matplotlib would read $...$ as mathtext
    return text.replace("$", r"\$")


def histogram_figure(
    grids: Sequence[HistogramGrid], mode: str = "heatmap", figure: Figure | None = None
) -> Figure:
    """One panel per run (`grids` in run order); an empty grid says why it has nothing to draw."""
    from matplotlib.figure import Figure

    fig = figure if figure is not None else Figure(figsize=(8, 5), layout="constrained")
    fig.clear()
    if not grids:
        fig.text(0.5, 0.5, "No histograms", ha="center", va="center")
        return fig
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for ax, grid in zip(axes, grids, strict=True):
        title = _escape(grid.label if len(grid.label) <= 40 else grid.label[:39] + "…")
        if len(grid.steps) < grid.total:
            title += f"\n({len(grid.steps)} of {grid.total} steps)"
        ax.set_title(title, fontsize=9, loc="left")
        if not len(grid.steps):
            reason = grid.problems[0] if grid.problems else "no histogram"
            ax.text(0.5, 0.5, _escape(reason), ha="center", va="center", transform=ax.transAxes, wrap=True)
            ax.set_axis_off()
            continue
        if mode == "ridge":
            _ridge(ax, grid)
        else:
            _heatmap(ax, grid, fig)
        ax.set_xlabel("value")
    return fig


def _heatmap(ax: Axes, grid: HistogramGrid, fig: Figure) -> None:
    # rows are steps (possibly uneven): edges between neighbouring steps keep each row at its own step
    steps = grid.steps.astype(np.float64)
    if len(steps) == 1:
        y_edges = np.array([steps[0] - 0.5, steps[0] + 0.5])
    else:
        mids = (steps[1:] + steps[:-1]) / 2
        y_edges = np.concatenate(
            [[steps[0] - (mids[0] - steps[0])], mids, [steps[-1] + (steps[-1] - mids[-1])]]
        )
    mesh = ax.pcolormesh(grid.edges, y_edges, grid.counts, shading="flat", cmap="viridis")
    ax.invert_yaxis()
    ax.set_ylabel("step")
    fig.colorbar(mesh, ax=ax, label="count", shrink=0.8)


def _ridge(ax: Axes, grid: HistogramGrid) -> None:
    centers = (grid.edges[1:] + grid.edges[:-1]) / 2
    picks = np.unique(
        np.linspace(0, len(grid.steps) - 1, min(MAX_RIDGES, len(grid.steps))).round().astype(int)
    )
    peak = float(grid.counts.max()) or 1.0
    spacing = 0.6
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for n, i in enumerate(picks):
        base = -n * spacing
        curve = base + grid.counts[i] / peak
        color = cmap(n / max(1, len(picks) - 1))
        ax.fill_between(centers, base, curve, color=color, alpha=0.35, linewidth=0)
        ax.plot(centers, curve, color=color, linewidth=0.9)
    labels = picks[:: max(1, len(picks) // 8)]
    ax.set_yticks([-list(picks).index(i) * spacing for i in labels])
    ax.set_yticklabels([str(int(grid.steps[i])) for i in labels])
    ax.set_ylabel("step")
