"""Runs grouped by a param, a tag or an attribute, and each group's metric as one curve with a band.

Grouping. Runs whose value of the field is the same are one group; values are compared as the diff table
compares them (`0.01` and `1e-2` are one group, `NaN` and `nan` too, otherwise the text). Runs without the
field form a group of their own, labelled `(no params.seed)`, last. Groups are ordered by value: numerically
when every value is a number, else by text.

Aligning a group's series (the rule the charts, the report and their tests rely on):
- each member is taken as it logged: sorted by step; when a step was logged more than once, the value
  written last counts (the same rule as `series.value_at_step`, e.g. a run re-logging step 0 at its end);
- the group's steps are the union of its members' steps; at each step the statistics are over the members
  that logged a value at exactly that step. Nothing is interpolated or carried forward: a step only some
  members logged has fewer values, and `count` says how many (the legend says when it varies);
- a NaN or ±inf logged by a member is kept out of the statistics and counted in `nonfinite` for that step
  (the chart marks those steps); a step where every value is non-finite has a NaN mean: a gap, as logged;
- the band is min..max of the values, or mean ± the sample standard deviation (ddof=1, so a step with one
  value has no std band: NaN, drawn as a gap);
- with smoothing, each member is smoothed first (the TensorBoard EMA, over its own de-duplicated points),
  then the smoothed values are aggregated: the group's line is the mean of the lines the members draw.
Grouped curves are drawn over steps only: wall-clock times of different runs share no axis values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from expdesk.compare.series import RawSeries
from expdesk.compare.smoothing import ema_smooth
from expdesk.core.numbers import as_float

#: characters of a group's field and value in its label (the whole value stays in `Group.value`)
LABEL_KEY_CHARS = 60
LABEL_VALUE_CHARS = 40


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: run attributes a group-by may name besides `params.KEY` and `tags.KEY`
GROUP_ATTRIBUTES = ("experiment", "status", "format")


class BandKind(StrEnum):
    MINMAX = "minmax"  # min..max of the values at each step
    STD = "std"  # mean ± sample standard deviation
    NONE = "none"  # the mean alone


@dataclass(frozen=True)
class GroupBy:
    """What runs are grouped by: `params.KEY`, `tags.KEY` or an attribute (`experiment`, ...)."""

    section: str  # "params" | "tags" | "attr"
    key: str

    @classmethod
    def parse(cls, text: str) -> GroupBy:
        """`params.seed`, `tags.stage`, `experiment`; ValueError with the reason otherwise."""
        text = text.strip()
        for section in ("params", "tags"):
            if text.startswith(section + "."):
                key = text[len(section) + 1 :]
                if key:
                    return cls(section, key)
        if text in GROUP_ATTRIBUTES:
            return cls("attr", text)
        raise ValueError(
            f"group by {text!r}: expected params.KEY, tags.KEY or one of {', '.join(GROUP_ATTRIBUTES)}"
        )

    @property
    def text(self) -> str:
        return self.key if self.section == "attr" else f"{self.section}.{self.key}"

    def value_of(self, run: Mapping[str, Any]) -> str | None:
        """The run's value of this field as recorded (text), None when it has none."""
        holder = run if self.section == "attr" else (run.get(self.section) or {})
        value = holder.get(self.key)
        return None if value is None else str(value)


@dataclass
class Group:
    """Runs that share one value of the group-by field (`value` None: runs without it)."""

    by: GroupBy
    value: str | None
    run_keys: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """`params.seed=3`, cut short: legends are laid out on every draw (a 1 MB value would stall a chart)."""
        field = _clip(self.by.text, LABEL_KEY_CHARS)
        if self.value is None:
            return f"(no {field})"
        return f"{field}={_clip(self.value, LABEL_VALUE_CHARS)}"

    @property
    def id(self) -> str:
        """The value's text, or `∅` for the runs without one: names the group's artists (`mean:<id>`)."""
        return "∅" if self.value is None else self.value


def value_identity(value: str) -> tuple[str, float | str]:
    """What makes two values one group: their number when they parse as one, else their text."""
    number = as_float(value)
    if number is None:
        return ("text", value)
    if math.isnan(number):
        return ("number", "nan")
    return ("number", number + 0.0)  # -0.0 and 0.0 are one value


def group_runs(runs: Sequence[Mapping[str, Any]], by: GroupBy) -> list[Group]:
    """The groups of `runs` (run JSON dicts, `IndexReader.runs_json`), members in the order given."""
    groups: dict[tuple[str, float | str] | None, Group] = {}
    for run in runs:
        value = by.value_of(run)
        ident = None if value is None else value_identity(value)
        group = groups.get(ident)
        if group is None:
            group = groups[ident] = Group(by, value)
        group.run_keys.append(str(run["key"]))
    present = [(ident, g) for ident, g in groups.items() if ident is not None]
    if all(ident[0] == "number" for ident, _ in present):
        # numbers by value, NaN last among them
        present.sort(key=lambda p: (p[0][1] == "nan", p[0][1] if p[0][1] != "nan" else 0.0))
    else:
        present.sort(key=lambda p: p[1].value or "")
    ordered = [g for _, g in present]
    if None in groups:
        ordered.append(groups[None])
    return ordered


@dataclass
class GroupCurve:
    """One group's metric aligned on steps (see the module docstring for the rule). Arrays share a length."""

    group: Group
    metric: str
    members: list[str]  # the group's runs that have this metric
    steps: np.ndarray  # int64, ascending, distinct: the union of the members' steps
    mean: np.ndarray  # float64; NaN where no member has a finite value
    lo: np.ndarray  # band bottom (min, or mean - std); NaN where there is no band
    hi: np.ndarray  # band top
    count: np.ndarray  # int64: members with a finite value at the step
    nonfinite: np.ndarray  # int64: members that logged NaN or ±inf at the step
    band: BandKind = BandKind.MINMAX
    smoothing: float = 0.0
    #: min/max pyramids of mean, lo and hi (`group_figures.pyramids_of`), built off the GUI thread
    pyramids: tuple[Any, Any, Any] | None = None

    @property
    def label(self) -> str:
        """The legend entry: the group and how many runs it draws (and the spread when steps differ)."""
        n = len(self.members)
        text = f"{self.group.label} ({n} run{'s' if n != 1 else ''}"
        logged = self.count + self.nonfinite
        if len(logged) and int(logged.min()) != n:
            text += f", {int(logged.min())}–{int(logged.max())} per step"
        return text + ")"

    def describe(self, index: int) -> str:
        """Hover text for the point at `index`: the mean and what it is made of."""
        step = int(self.steps[index])
        n, bad = int(self.count[index]), int(self.nonfinite[index])
        text = f"{self.group.label}\nstep {step}   {self.metric} mean = {self.mean[index]:.6g}"
        text += f"   ({n} of {len(self.members)} runs"
        if self.band is BandKind.MINMAX and n:
            text += f"; min {self.lo[index]:.6g}, max {self.hi[index]:.6g}"
        elif self.band is BandKind.STD and n > 1:
            text += f"; std {(self.hi[index] - self.mean[index]):.6g}"
        if bad:
            text += f"; {bad} logged NaN/inf"
        return text + ")"


def dedup_last(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by step, one per step: of repeated steps the value written last."""
    if len(steps) == 0 or bool(np.all(steps[1:] > steps[:-1])):
        return steps.astype(np.int64, copy=False), values.astype(np.float64, copy=False)  # the usual log
    order = np.argsort(steps, kind="stable")  # equal steps keep their write order
    s, v = steps[order], values[order]
    last = np.append(s[1:] != s[:-1], True)  # the last of each run of equal steps
    return s[last].astype(np.int64, copy=False), v[last].astype(np.float64, copy=False)


def _union(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The sorted distinct steps of sorted, distinct step arrays, and where each array's steps sit in it
    (None: at positions 0..len-1). Runs that log on one schedule, some stopping earlier, are prefixes of
    the longest and cost no sort; otherwise a stable sort of the sorted arrays merges them (timsort, several
    times faster than `np.unique` on the concatenation) and each array's positions are searched."""
    longest = max(parts, key=len)
    if all(np.array_equal(longest[: len(p)], p) for p in parts):
        return longest, [None] * len(parts)
    merged = np.sort(np.concatenate(parts), kind="stable")
    keep = np.empty(len(merged), dtype=bool)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    steps = merged[keep]
    return steps, [
        None if p is longest and len(p) == len(steps) else np.searchsorted(steps, p) for p in parts
    ]


def aggregate(
    group: Group,
    metric: str,
    members: Sequence[RawSeries],
    band: BandKind = BandKind.MINMAX,
    smoothing: float = 0.0,
) -> GroupCurve:
    """The group's curve for `metric` from its members' full histories (any order, repeated steps)."""
    parts_s: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    for raw in members:
        s, v = dedup_last(raw.steps, raw.values)
        if smoothing > 0:
            v = ema_smooth(v, smoothing)
        parts_s.append(s)
        parts_v.append(v)
    keys = [r.run_key for r in members]
    if not parts_s or sum(len(s) for s in parts_s) == 0:
        e = np.empty(0)
        ei = np.empty(0, dtype=np.int64)
        return GroupCurve(group, metric, keys, ei, e, e, e, ei, ei, band, smoothing)
    steps, positions = _union(parts_s)
    if all(at is None and len(v) == len(steps) for at, v in zip(positions, parts_v, strict=True)):
        # every member logged every step (the usual sweep): a members x steps matrix, reduced by column
        stats = _matrix_stats(np.vstack(parts_v), band)
    else:
        where = np.concatenate(
            [np.arange(len(s)) if at is None else at for s, at in zip(parts_s, positions, strict=True)]
        )
        stats = _indexed_stats(where, np.concatenate(parts_v), len(steps), band)
    return GroupCurve(group, metric, keys, steps, *stats, band, smoothing)


Stats = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # mean, lo, hi, count, nonfinite


def _matrix_stats(values: np.ndarray, band: BandKind) -> Stats:
    """Per column of a members x steps matrix (the same rule as `_indexed_stats`, several times faster)."""
    finite = np.isfinite(values)
    clean = bool(finite.all())
    count = np.full(values.shape[1], values.shape[0], dtype=np.int64) if clean else finite.sum(axis=0)
    nonfinite = values.shape[0] - count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (values if clean else np.where(finite, values, 0.0)).sum(axis=0) / count
        if band is BandKind.STD:
            dev = values - mean  # one members x steps temporary, squared in place
            if not clean:
                dev[~finite] = 0.0
            np.multiply(dev, dev, out=dev)
            std = np.sqrt(dev.sum(axis=0) / (count - 1))
            std[count < 2] = np.nan
            lo, hi = mean - std, mean + std
        elif band is BandKind.MINMAX:
            lo = (values if clean else np.where(finite, values, np.inf)).min(axis=0)
            hi = (values if clean else np.where(finite, values, -np.inf)).max(axis=0)
        else:
            lo = hi = np.full(values.shape[1], np.nan)
    empty = count == 0
    for a in (mean, lo, hi):
        a[empty] = np.nan
    return mean, lo, hi, count.astype(np.int64), nonfinite.astype(np.int64)


def _indexed_stats(where: np.ndarray, all_v: np.ndarray, n_steps: int, band: BandKind) -> Stats:
    """Per step from (position in the union, value) pairs of every member: sums and extremes by bincount
    and ufunc.at, deviations from the mean in a second pass (no sum-of-squares cancellation)."""
    finite = np.isfinite(all_v)
    if bool(finite.all()):
        at, vals = where, all_v
        nonfinite = np.zeros(n_steps, dtype=np.int64)
    else:
        at, vals = where[finite], all_v[finite]
        nonfinite = np.bincount(where[~finite], minlength=n_steps).astype(np.int64)
    count = np.bincount(at, minlength=n_steps).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(at, weights=vals, minlength=n_steps) / count
        if band is BandKind.STD:
            dev = np.bincount(at, weights=(vals - mean[at]) ** 2, minlength=n_steps)
            std = np.sqrt(dev / (count - 1))
            std[count < 2] = np.nan
            lo, hi = mean - std, mean + std
        elif band is BandKind.MINMAX:
            lo = np.full(n_steps, np.inf)
            hi = np.full(n_steps, -np.inf)
            np.minimum.at(lo, at, vals)
            np.maximum.at(hi, at, vals)
        else:
            lo = np.full(n_steps, np.nan)
            hi = np.full(n_steps, np.nan)
    empty = count == 0
    for a in (mean, lo, hi):
        a[empty] = np.nan
    return mean, lo, hi, count, nonfinite


def group_curves(
    groups: Iterable[Group],
    raws: Iterable[RawSeries],
    metrics: Sequence[str],
    band: BandKind = BandKind.MINMAX,
    smoothing: float = 0.0,
) -> dict[str, list[GroupCurve]]:
    """`{metric: [curve per group that has the metric]}`, groups in their order."""
    by_pair = {(r.run_key, r.metric): r for r in raws}
    out: dict[str, list[GroupCurve]] = {m: [] for m in metrics}
    for group in groups:
        for metric in metrics:
            members = [by_pair[(k, metric)] for k in group.run_keys if (k, metric) in by_pair]
            if members:
                out[metric].append(aggregate(group, metric, members, band, smoothing))
    return out
