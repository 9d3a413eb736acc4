"""What readers share about a job's own folder: its display name, and the plain metric files a job
writes for itself (`metrics.jsonl`, `metrics.csv`), which Hydra jobs and hand-written folders both hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expdesk.core.entities import Series
from expdesk.sources.common.tables import read_csv_table, read_jsonl

#: metric files in order of preference: the first present is the run's metric history
METRIC_FILES = ("metrics.jsonl", "metrics.csv")


def read_metric_file(
    folder: Path,
    name: str,
    state: dict[str, Any] | None,
) -> tuple[list[Series], bool, dict[str, Any], list[str]]:
    path = folder / name
    if name.endswith(".jsonl"):
        return read_jsonl(path, state)
    return read_csv_table(path, state)


def run_name(path: Path, root: Path) -> str:
    """The folder's path below the watched root (what a researcher recognises), or its own name."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.name
    return rel.as_posix() if rel.parts else path.name
