"""What the API hands back besides frames: `Run` (one run, frozen: ask the workspace again for fresh
values), its `MetricSummary`s, `Artifact`s and `Lineage`, and the `IndexSummary` of an indexing pass."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from expdesk.api.html import CELL, TABLE, esc, mapping_table, table
from expdesk.api.values import ParamValue

if TYPE_CHECKING:
    import pandas as pd

    from expdesk.index.indexer import IndexReport  # its import loads every reader: only for the type


class HistorySource(Protocol):
    """Where a `Run` loads its points from (the workspace it was read from)."""

    def history(
        self,
        runs: Any,
        metrics: str | Sequence[str] | None = None,
        *,
        steps: tuple[int | None, int | None] | None = None,
        max_points: int | None = None,
    ) -> pd.DataFrame: ...

    def media_bytes(
        self, run: Any, key: str, step: int | None = None, *, index: int = 0, kind: str | None = None
    ) -> bytes: ...


@dataclass(frozen=True)
class MetricSummary:
    """What the index keeps about one metric of a run: `count` points (NaN and duplicates included), the
    step range, `last` (the value at the highest step, the later of equal steps), `min`/`max` over the
    non-NaN values with the step of each, `nan_count`, and the newest point's `last_time` (UTC). A value the
    series does not have (the min of an all-NaN series, a time never recorded) is None."""

    count: int
    first_step: int | None
    last_step: int | None
    last: float | None
    min: float | None
    max: float | None
    argmin_step: int | None
    argmax_step: int | None
    nan_count: int
    last_time: datetime | None
    #: the value the run reported as its result (a Trainer's `*_results.json`, a DVC stage's metrics file, a
    #: W&B summary), which can differ from `last` (e.g. the reloaded best model's evaluation); None when the
    #: run reported none. A reported key with no series has `count` 0 and only a `final`.
    final: float | None = None
    final_source: str | None = None


@dataclass(frozen=True)
class Part:
    """One part of a run (issue 23): what one tool logged of the training job, in one folder. A job logged
    by several tools at once (Hydra's config, Lightning's CSV and TensorBoard loggers, W&B) is one run of
    several parts; a run read by one tool is its own only part (`rule` "alone"). `rule` and `evidence` say
    why the part was joined (docs/joins.md); `label` tags the part's values where parts disagree."""

    key: str
    format: str
    path: str
    native_id: str | None
    label: str
    rule: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Artifact:
    """A file of the run: its path relative to the run's artifact folder, and its size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class MediaSeries:
    """Media a run logged under one key: `kind` ("image", "histogram", "text", "audio", ...) and the steps
    that have items (a step-less series has none). The bytes stay where the run keeps them:
    `Run.media_bytes(key, step)` reads one item."""

    key: str
    kind: str
    steps: tuple[int, ...]


@dataclass(frozen=True)
class LineageLink:
    """A link between this run and `run`: the rule that found it (`mlflow.parentRunId`, `hash`, `dvc.dep`,
    ...), "derived" when data flowed or "informed" when it only gave context, and the evidence."""

    run: str
    name: str
    rule: str
    kind: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Lineage:
    """Direct `upstream` links (runs this one came from) and `downstream` links (runs that came from it),
    every `ancestors`/`descendants` key, breadth-first, and the `gaps` lineage could not decide."""

    upstream: tuple[LineageLink, ...] = ()
    downstream: tuple[LineageLink, ...] = ()
    ancestors: tuple[str, ...] = ()
    descendants: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """One run. `params` are typed by the rule of `expdesk.api.values` (bool, int, float or text), `tags`
    are text, `metrics` maps each metric name to its `MetricSummary`; `history()` loads the points. Times
    are aware UTC datetimes (None when the run did not record them); `error` says what could not be read
    and `unread` which files, with why. `media` lists the media series; `media_bytes()` reads an item."""

    key: str
    name: str | None
    experiment: str | None
    format: str
    status: str
    native_status: str | None
    stale: bool
    deleted: bool
    start_time: datetime | None
    end_time: datetime | None
    path: str
    native_id: str | None
    parent: str | None
    error: str | None
    params: Mapping[str, ParamValue]
    tags: Mapping[str, str]
    metrics: Mapping[str, MetricSummary]
    artifacts: tuple[Artifact, ...]
    lineage: Lineage
    media: tuple[MediaSeries, ...] = ()
    #: (path, reason) of the run's files expdesk could not read
    unread: tuple[tuple[str, str], ...] = ()
    starred: bool = False
    note: str = ""
    labels: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: the parts the run was joined from, head first (its key is the head's); one part for a run of one tool
    parts: tuple[Part, ...] = ()
    _workspace: HistorySource | None = field(default=None, repr=False, compare=False)

    def history(
        self,
        metrics: str | Sequence[str] | None = None,
        *,
        steps: tuple[int | None, int | None] | None = None,
        max_points: int | None = None,
    ) -> pd.DataFrame:
        """`Workspace.history` of this run alone: `run.history("loss")`."""
        if self._workspace is None:
            raise RuntimeError("this Run was not read from a workspace")
        return self._workspace.history([self.key], metrics, steps=steps, max_points=max_points)

    def media_bytes(
        self, key: str, step: int | None = None, *, index: int = 0, kind: str | None = None
    ) -> bytes:
        """One media item as the run's file holds it: an image's encoded bytes (PNG, JPEG...), a histogram
        as CSV, text as UTF-8. `step` None = the step-less item; `index` picks among items of one step.
        A key or step the run does not have raises a KeyError saying what it has."""
        if self._workspace is None:
            raise RuntimeError("this Run was not read from a workspace")
        return self._workspace.media_bytes(self.key, key, step, index=index, kind=kind)

    def _repr_html_(self) -> str:
        return _run_html(self)


@dataclass(frozen=True)
class IndexSummary:
    """Runs found below the folders, read (new or changed), unchanged (not re-read), with `errors`
    ((path, reason) of every run or server that could not be read fully), `gone` (keys of runs whose
    folders vanished); `keys` are the runs found."""

    found: int
    read: int
    unchanged: int
    errors: tuple[tuple[str, str], ...]
    gone: tuple[str, ...]
    seconds: float
    keys: tuple[str, ...]

    def __str__(self) -> str:
        # the line `expdesk index` prints
        text = (
            f"{self.found} runs found, {self.read} read, {self.unchanged} unchanged, "
            f"{len(self.errors)} with errors, {len(self.gone)} gone ({self.seconds:.2f} s)"
        )
        for path, message in self.errors:
            text += f"\n  error: {message}" if path in message else f"\n  error: {path}: {message}"
        return text

    def _repr_html_(self) -> str:
        head = f"<div>{html.escape(str(self).splitlines()[0])}</div>"
        return head + (table(self.errors, ("path", "error"), len(self.errors)) if self.errors else "")


def summary_of(report: IndexReport) -> IndexSummary:
    return IndexSummary(
        found=report.found,
        read=report.read,
        unchanged=report.unchanged,
        errors=tuple((str(p), str(m)) for p, m in report.errors),
        gone=tuple(report.gone),
        seconds=report.seconds,
        keys=tuple(dict.fromkeys(report.keys)),
    )


def _run_html(run: Run) -> str:
    title = esc(run.name or run.native_id or run.key)
    status = esc(run.status) + (" (stale)" if run.stale else "") + (" · deleted" if run.deleted else "")
    facts: list[tuple[str, Any]] = [
        ("key", run.key),
        ("format", run.format),
        ("status", None),  # filled below: already escaped
        ("experiment", run.experiment),
        ("start", run.start_time),
        ("end", run.end_time),
        ("path", run.path),
        ("parent", run.parent),
    ]
    rows = "".join(
        f"<tr><th {CELL}>{esc(label)}</th><td {CELL}>{status if label == 'status' else esc(value)}</td></tr>"
        for label, value in facts
        if label == "status" or value is not None
    )
    parts = [f"<div><strong>{title}</strong>", f"{TABLE}{rows}</table>"]
    if len(run.parts) > 1:
        part_rows = ((p.label, p.path, p.rule) for p in run.parts)
        parts.append(
            f"<details><summary>parts ({len(run.parts)}: one training job)</summary>"
            f"{table(part_rows, ('part', 'folder', 'joined by'), len(run.parts))}</details>"
        )
    if run.error:
        parts.append(f'<div style="color:#b00">could not be read fully: {esc(run.error)}</div>')
    if run.unread:
        parts.append(
            f"<details><summary>not read ({len(run.unread)})</summary>"
            f"{table(run.unread, ('file', 'why'), len(run.unread))}</details>"
        )
    parts.append(mapping_table("params", run.params))
    parts.append(mapping_table("tags", run.tags))
    if run.metrics:
        metric_rows = ((k, m.count, m.last, m.min, m.max, m.final) for k, m in run.metrics.items())
        parts.append(
            f"<details open><summary>metrics ({len(run.metrics)})</summary>"
            f"{table(metric_rows, ('metric', 'points', 'last', 'min', 'max', 'final'), len(run.metrics))}"
            "</details>"
        )
    if run.artifacts:
        artifact_rows = ((a.path, f"{a.size:,} B") for a in run.artifacts)
        parts.append(
            f"<details><summary>artifacts ({len(run.artifacts)})</summary>"
            f"{table(artifact_rows, total=len(run.artifacts))}</details>"
        )
    if run.media:
        media_rows = ((m.key, m.kind, len(m.steps)) for m in run.media)
        parts.append(
            f"<details><summary>media ({len(run.media)})</summary>"
            f"{table(media_rows, ('key', 'kind', 'steps'), len(run.media))}</details>"
        )
    lineage = run.lineage
    if lineage.upstream or lineage.downstream:
        links = [("from", link.run, link.name, link.rule) for link in lineage.upstream]
        links += [("to", link.run, link.name, link.rule) for link in lineage.downstream]
        parts.append(
            f"<details><summary>lineage ({len(lineage.ancestors)} ancestors, {len(lineage.descendants)}"
            f" descendants)</summary>{table(links, ('', 'run', 'name', 'rule'), len(links))}</details>"
        )
    parts.append("</div>")
    return "".join(parts)
