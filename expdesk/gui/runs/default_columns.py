"""Which columns the runs table shows by default, chosen from how keys spread over the listed runs.

What a researcher looks at first (W&B, MLflow and Aim agree): the run's name, status, start and duration,
then the params that *differ* between runs, then the metrics most runs have. A param with one value
everywhere says nothing per row, and a key only a few runs have is a mostly empty column: both stay one
click away in the column chooser, not on screen. Qt-free: the window calls this with `table.key_stats`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from expdesk.gui.runs.query import Column
from expdesk.index.table import KeyStats

#: attribute columns shown by default, in order (format, experiment and labels wait in the chooser)
DEFAULT_ATTRS = ("star", "name", "status", "start", "duration")
#: a key on fewer of the listed runs than this share is "mostly empty"
MIN_COVERAGE = 0.2
#: how many differing params and common metrics the default shows (the rest are one click away)
MAX_PARAMS = 10
MAX_METRICS = 8
#: ordering of the groups; a column joins its own group, wherever the user put the others
GROUP_ORDER = ("attr", "param", "metric", "tag")


@dataclass(frozen=True)
class Workspace:
    """The listed runs' keys with their spread (`table.key_stats`)."""

    runs: int
    stats: Mapping[str, Mapping[str, KeyStats]]

    def covered(self, section: str, key: str) -> float:
        stat = self.stats.get(section, {}).get(key)
        return 0.0 if stat is None or not self.runs else stat.runs / self.runs

    def differs(self, section: str, key: str) -> bool:
        """Two or more values among the runs that have it, or present in some listed runs and not others."""
        stat = self.stats.get(section, {}).get(key)
        return stat is not None and (stat.values > 1 or 0 < stat.runs < self.runs)

    def constant(self, section: str, key: str) -> bool:
        stat = self.stats.get(section, {}).get(key)
        return stat is not None and stat.values <= 1


def _enough(workspace: Workspace, section: str, key: str) -> bool:
    stat = workspace.stats[section][key]
    return workspace.covered(section, key) >= MIN_COVERAGE and stat.runs >= min(2, workspace.runs)


def default_columns(workspace: Workspace) -> list[Column]:
    """Name, status, start, duration; then params with more than one value among the runs that are not
    mostly empty (most widely set first); then the last value of the metrics most runs have."""
    columns = [Column("attr", key) for key in DEFAULT_ATTRS]
    params = workspace.stats.get("params", {})
    differing = [
        k for k in params if (params[k].values > 1 or workspace.runs == 1) and _enough(workspace, "params", k)
    ]
    differing.sort(key=lambda k: (-params[k].runs, k.lower(), k))
    columns += [Column("param", k) for k in differing[:MAX_PARAMS]]
    metrics = workspace.stats.get("metrics", {})
    common = [k for k in metrics if _enough(workspace, "metrics", k)]
    families: dict[str, int] = {}
    for key in common:
        families[_family(key)] = families.get(_family(key), 0) + 1

    def rank(key: str) -> int:
        return _metric_rank(key, families[_family(key)])

    common.sort(key=lambda k: (-metrics[k].runs, rank(k), k.lower(), k))
    chosen = sorted(common[:MAX_METRICS], key=lambda k: (rank(k), k.lower(), k))
    columns += [Column("metric", k, "last") for k in chosen]
    return columns


#: words of the metrics runs are judged by (what a results table shows before any diagnostic)
HEADLINE = ("loss", "acc", "f1", "auc", "score", "error", "bleu", "rouge", "reward", "return", "mse", "mae",
            "r2", "precision", "recall", "perplexity", "ppl", "map", "iou")  # fmt: skip


def _family(key: str) -> str:
    """`grad_norm/layer_07` -> `grad_norm/layer_#`: numbered series of one kind share a family."""
    return "".join("#" if ch.isdigit() else ch for ch in key).replace("##", "#")


def _metric_rank(key: str, family_size: int) -> int:
    """Validation and test results first (what runs are compared on), then headline metrics, then the rest;
    one of many numbered series (per-layer norms, per-class scores) last: diagnostics, one click away."""
    low = key.lower()
    if family_size > 3:
        return 3
    if "val" in low or "test" in low or "eval" in low:
        return 0
    return 1 if any(word in low for word in HEADLINE) else 2


def join_groups(current: list[Column], added: Iterable[Column]) -> list[Column]:
    """`current` with `added` columns each placed after the last column of its own group (a new metric
    lands among the metrics, not at the far right after tags)."""
    out = list(current)
    for column in added:
        if column in out:
            continue
        same = [i for i, c in enumerate(out) if c.kind == column.kind]
        if same:
            out.insert(same[-1] + 1, column)
            continue
        rank = GROUP_ORDER.index(column.kind)
        later = [i for i, c in enumerate(out) if GROUP_ORDER.index(c.kind) > rank]
        out.insert(later[0] if later else len(out), column)
    return out
