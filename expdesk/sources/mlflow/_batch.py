"""The parts of an MLflow file-store read that work across the runs of a batch: a run's walk grouped by
its top-level folders, and the parse of every metric file of the batch in one call."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from expdesk.core.entities import Artifact, RunUpdate, Series
from expdesk.sources.common.tail import Tail
from expdesk.sources.mlflow._common import parse_many, parse_metric_lines


@dataclass
class Job:
    """A run read but for its metric lines: the update, its errors so far, the new lines of each file."""

    update: RunUpdate
    errors: list[str]
    tails: list[tuple[str, Tail, int, int]] = field(default_factory=list)  # (name, tail, first line, lines)
    previous: dict[str, Any] = field(default_factory=dict)


class Top:
    """A run folder's walk grouped by its top-level names (params, tags, metrics, artifacts, ...)."""

    def __init__(self) -> None:
        self.links: set[str] = set()
        self.tops: set[str] = set()
        self.files: dict[str, os.stat_result] = {}
        self._below: dict[str, list[tuple[str, os.stat_result]]] = {}

    def is_link(self, name: str) -> bool:
        return name in self.links

    def has(self, name: str) -> bool:
        return name in self.tops

    def stat(self, name: str) -> os.stat_result | None:
        """The walk's lstat of a top-level file (None: not there as a file, e.g. a directory)."""
        return self.files.get(name)

    def below(self, name: str) -> list[tuple[str, os.stat_result]]:
        """(path relative to the folder `name`, lstat) of every file below it."""
        return self._below.get(name, [])

    def artifacts(self, name: str) -> list[Artifact]:
        """`list_artifacts(run_dir / name)` from the walk: regular files only, sorted by path."""
        found = [
            Artifact(rel, st.st_size, st.st_mtime_ns)
            for rel, st in self._below.get(name, ())
            if stat.S_ISREG(st.st_mode)
        ]
        found.sort(key=lambda a: a.path)
        return found


def by_top(entries: list[tuple[str, os.stat_result]]) -> Top:
    top = Top()
    for rel, st in entries:
        head, sep, rest = rel.partition("/")
        top.tops.add(head)
        if not sep:
            top.files[head] = st
            if stat.S_ISLNK(st.st_mode):
                top.links.add(head)
            continue
        top._below.setdefault(head, []).append((rest, st))
    return top


def parse_metrics(jobs: list[Job]) -> None:
    """Parse the metric lines of every job, in one pandas call when they are all plain three-field lines
    (per-call overhead, not parsing, dominates small files: most runs log many short series), else run by
    run and file by file as before. Then each job's series and error are set."""
    chunks = [t.data for job in jobs for _, t, _, _ in job.tails]
    counts = [n for job in jobs for *_, n in job.tails]
    together = parse_many(chunks, counts) if len(jobs) > 1 else None
    at = 0
    for job in jobs:
        mine = together[at : at + len(job.tails)] if together is not None else None
        at += len(job.tails)
        if mine is None:
            mine = parse_many([t.data for _, t, _, _ in job.tails], [n for *_, n in job.tails])
        for i, (rel, tail, first_line, _) in enumerate(job.tails):
            if mine is not None:
                steps, values, stamps, errs = mine[i]
            else:
                steps, values, stamps, errs = parse_metric_lines(tail.data, f"metrics/{rel}", first_line)
            job.errors += errs
            if len(steps) or tail.reset:
                job.update.metrics.append(
                    Series(rel, steps, values, stamps, replace=tail.reset and rel in job.previous)
                )
        job.tails = []  # the text is parsed: do not hold it while the batch waits for the writer
        job.update.error = "; ".join(job.errors[:5]) or None
