"""What a reader hands to the index: a run's identity (`RunRef`) and what was read (`RunUpdate`).

Readers are pure: they never touch the index. The index turns updates into rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np


class Status(StrEnum):
    """The run JSON vocabulary. Readers keep the tool's own word in `native_status`."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"
    QUEUED = "queued"
    INTERRUPTED = "interrupted"
    UNKNOWN = "unknown"


def run_key(fmt: str, path: Path | str, native_id: str | None) -> str:
    """Stable 16-hex id of a run: the same run gets the same key after re-index or a rebuilt DB."""
    ident = f"{fmt}\0{Path(path)}\0{native_id or ''}"
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(frozen=True)
class RunRef:
    """Where a run lives. `path` is the run folder (or the database file for DB-backed stores).

    `store` groups runs that can refer to each other by native id (an `mlruns/` folder, an `mlflow.db`),
    so the index can turn a recorded parent id into a key. `root` is the watched root the run was found
    under: no path the reader follows may leave it.
    """

    format: str
    path: Path
    root: Path
    native_id: str | None = None
    store: Path | None = None
    hint: tuple[tuple[str, str], ...] = ()

    @cached_property
    def key(self) -> str:
        # cached: a sweep asks for the keys of thousands of refs several times per pass (a sha256 each)
        return run_key(self.format, self.path, self.native_id)

    def hint_value(self, name: str) -> str | None:
        return dict(self.hint).get(name)


@dataclass
class Series:
    """New points of one metric. `replace` drops the points already indexed for this key first
    (the file was rewritten or shrank). Timestamps are float64 milliseconds since the epoch (NaN if unknown).
    """

    key: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    timestamps: np.ndarray  # float64 ms
    replace: bool = False

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        if not (len(self.steps) == len(self.values) == len(self.timestamps)):
            raise ValueError(f"series {self.key!r}: steps, values and timestamps differ in length")

    @classmethod
    def from_lists(
        cls,
        key: str,
        steps: list[int],
        values: list[float],
        timestamps: list[float] | None = None,
        replace: bool = False,
    ) -> Series:
        ts = timestamps if timestamps is not None else [float("nan")] * len(steps)
        return cls(
            key,
            np.array(steps, dtype=np.int64),
            np.array(values, dtype=np.float64),
            np.array(ts, dtype=np.float64),
            replace,
        )


@dataclass(frozen=True)
class Artifact:
    """A file of the run, relative to the run's artifact root (POSIX separators)."""

    path: str
    size: int
    mtime_ns: int = 0


@dataclass(frozen=True)
class FileRef:
    """A file a run read (`role` input/config/init-checkpoint) or produced (output/model/checkpoint).

    `path` is as recorded by the tool; `local` is the absolute path it resolves to now inside the root (None when it
    cannot be resolved or would leave the root). Digests are the tool's own (`md5` for DVC, MLflow dataset
    digests) and never recomputed from a different file.
    """

    direction: str  # "input" | "output"
    role: str
    path: str
    local: str | None = None
    size: int | None = None
    digests: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Link:
    """A tool-native link to another run, by that run's native id or its folder path (resolved by the index)."""

    rule: str  # e.g. "mlflow.parentRunId", "hydra.sweep", "trainer.resume"
    target_native_id: str | None = None
    target_path: str | None = None
    evidence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Final:
    """A value the run reported as its result (HF `*_results.json`, a DVC metrics file, a W&B summary): the
    metric's `final`, next to the last logged point. `source` is the file or record it was read from."""

    value: float
    source: str


@dataclass
class RunUpdate:
    """Everything a reader learnt about a run in one read.

    Small state (identity, params, tags, artifacts) is always complete; metric points are incremental
    relative to the cursor the reader was given (`metrics_reset` = the reader started over).
    `error` says what could not be read; what could be read is still returned.
    """

    name: str | None = None
    experiment: str | None = None
    status: Status = Status.UNKNOWN
    native_status: str | None = None
    start_time: float | None = None  # seconds since the epoch, UTC
    end_time: float | None = None
    last_activity: float | None = None  # newest sign of life (heartbeat, file mtime), seconds
    deleted: bool = False
    parent_native_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[Series] = field(default_factory=list)
    metrics_reset: bool = False
    artifacts: list[Artifact] = field(default_factory=list)
    files: list[FileRef] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # host, user, git, command, env... (JSON-able)
    #: media items read in this read: new ones to append, or the run's whole list when `media_complete`
    #: (readers that list media from files on every read) or `metrics_reset` (the reader started over)
    media: list[MediaItem] = field(default_factory=list)
    media_complete: bool = False
    #: files of the run that look like metrics or params but could not be read: (path relative to the run
    #: folder, POSIX separators; reason). Nothing is dropped in silence: what is not read is said here.
    unread: list[tuple[str, str]] = field(default_factory=list)
    #: reported results by metric key (complete on every read, like params); a key may have no series
    finals: dict[str, Final] = field(default_factory=dict)
    error: str | None = None
    cursor: dict[str, Any] = field(default_factory=dict)  # JSON-able; handed back on the next read


class MediaKind(StrEnum):
    """What a logged media item is (the `kind` of `show --json`'s `media` entries)."""

    IMAGE = "image"
    HISTOGRAM = "histogram"
    TEXT = "text"
    AUDIO = "audio"
    TABLE = "table"
    OTHER = "other"


@dataclass(frozen=True)
class MediaItem:
    """One logged media item (an image, histogram, text, ...): where its bytes live, never the bytes.

    The bytes are `length` bytes at `offset` of `file` (an absolute path inside the run's watched root; a
    `length` of -1 means the whole file). `codec` says how those bytes become the item: `raw` (they are the
    item: an encoded PNG inside an event file, an MLflow or W&B media file) or a tool's encoding that
    `expdesk.sources.media` decodes (a TensorBoard `HistogramProto`, a W&B history record, ...). `step` is
    None for a step-less item (a plain image artifact). `error` makes the item a placeholder: it was logged,
    and this is why it cannot be shown.
    """

    key: str
    kind: str
    step: int | None
    file: str
    offset: int = 0
    length: int = -1
    codec: str = "raw"
    wall_time: float | None = None  # seconds since the epoch, as the tool recorded it
    mime: str | None = None
    meta: tuple[tuple[str, str], ...] = ()  # width, height, bucket count... as the tool recorded them
    error: str | None = None
