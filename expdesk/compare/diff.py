"""The diff table: attributes, params, tags and metric summaries as rows, runs as columns.

Semantics (documented for the CLI and the GUI alike):
- a key missing in some runs is a difference; a missing cell is shown empty, never as "nan";
- two values are the same when both parse as numbers and are numerically equal ("1e-3" == "0.001",
  "NaN" == "nan"), otherwise when their strings are equal; a number shows the text the run recorded;
- "only differences" hides rows whose cells are all the same; they are summarised in one line instead;
- the best cell of a metric row is the smallest or largest value per the metric's direction, inferred from its
  name (loss/error/... -> min, accuracy/f1/... -> max, otherwise none) unless overridden; NaN is never best.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from expdesk.core.direction import Direction as Direction  # re-exported: the CLI and GUI import it from here
from expdesk.core.direction import infer_direction as infer_direction
from expdesk.core.numbers import as_float

#: metric summaries shown as rows, in this order
METRIC_STATS: tuple[str, ...] = ("last", "min", "max")
#: run attributes shown as rows (the run name is the column header)
ATTRIBUTES: tuple[str, ...] = ("experiment", "status", "format")


#: numbers and numeric strings (incl. "NaN", "Infinity") as float; None for anything else
parse_number = as_float


@dataclass(frozen=True)
class Cell:
    text: str  # what the table shows ("" when missing); metric numbers rounded to 6 significant digits
    number: float | None = None
    present: bool = True
    exact: str | None = None  # metric numbers: the shortest text that round-trips (`repr`); copied, exported

    @property
    def copy_text(self) -> str:
        """What copy and CSV export write: the recorded text, or a metric's exact number."""
        return self.text if self.exact is None else self.exact


MISSING = Cell("", None, False)


def same_cells(cells: Sequence[Cell]) -> bool:
    """All cells equal per the module rules (missing differs from present; NaN equals NaN)."""
    if not cells:
        return True
    first = cells[0]
    return all(_same(first, c) for c in cells[1:])


def _same(a: Cell, b: Cell) -> bool:
    if a.present != b.present:
        return False
    if not a.present:
        return True
    if a.number is not None and b.number is not None:
        if math.isnan(a.number) and math.isnan(b.number):
            return True
        return a.number == b.number
    return a.text == b.text


@dataclass(frozen=True)
class DiffRow:
    section: str  # "attr" | "param" | "tag" | "metric"
    key: str
    stat: str | None  # metric rows: "last", "min", "max", "final" or "@step N"
    cells: tuple[Cell, ...]
    same: bool
    direction: Direction = Direction.NONE
    best: frozenset[int] = frozenset()

    @property
    def label(self) -> str:
        if self.section == "metric":
            return f"{self.key} · {self.stat}"
        if self.section == "attr":
            return self.key
        return f"{self.section}s.{self.key}"


@dataclass
class DiffTable:
    run_keys: list[str]
    run_names: list[str]
    rows: list[DiffRow]
    legend: list[str] = field(default_factory=list)

    def visible_rows(self, only_differences: bool = True) -> list[DiffRow]:
        if not only_differences or len(self.run_keys) < 2:
            return list(self.rows)
        return [r for r in self.rows if not r.same]

    def constant_rows(self) -> list[DiffRow]:
        return [r for r in self.rows if r.same] if len(self.run_keys) >= 2 else []

    def constant_summary(self, limit: int = 12) -> str:
        """One line for the rows hidden by "only differences": `7 identical rows: lr=0.01, epochs=10, …`."""
        rows = self.constant_rows()
        if not rows:
            return ""
        parts = [f"{r.label}={r.cells[0].text if r.cells[0].present else '(missing)'}" for r in rows[:limit]]
        more = ", …" if len(rows) > limit else ""
        noun = "row" if len(rows) == 1 else "rows"
        return f"{len(rows)} identical {noun}: {', '.join(parts)}{more}"

    def as_matrix(
        self, only_differences: bool = True, transpose: bool = False, best_mark: str = "", exact: bool = False
    ) -> list[list[str]]:
        """Header row + body as text; `best_mark` is appended to best cells. `exact`: metric numbers as their
        shortest round-trip text (`repr`: `0.30000000000000004`, `nan`, `inf`, `-inf`): what copy and CSV
        export write. Otherwise as shown (6 significant digits)."""
        rows = self.visible_rows(only_differences)
        matrix = [["", *self.run_names]] + [
            [
                r.label,
                *(
                    (c.copy_text if exact else c.text) + (best_mark if i in r.best else "")
                    for i, c in enumerate(r.cells)
                ),
            ]
            for r in rows
        ]
        if transpose:
            matrix = [list(col) for col in zip(*matrix, strict=True)]
            matrix[0][0] = ""
        return matrix


def build_diff(
    runs: Sequence[Mapping[str, Any]],
    directions: Mapping[str, Direction] | None = None,
    stats: Sequence[str] = METRIC_STATS,
    at_step: int | None = None,
    values_at_step: Mapping[str, Mapping[str, float | None]] | None = None,
) -> DiffTable:
    """The diff table for run JSON dicts (`IndexReader.runs_json`), in the given run order.

    `values_at_step[metric][run_key]` (see `series.value_at_step`) adds a row per metric for `at_step`.
    """
    overrides = dict(directions or {})
    keys = [str(r["key"]) for r in runs]
    names = [str(r.get("name") or r["key"]) for r in runs]
    rows: list[DiffRow] = []
    for attr in ATTRIBUTES:
        rows.append(_row("attr", attr, None, [_text_cell(r.get(attr)) for r in runs]))
    for section, field_name in (("param", "params"), ("tag", "tags")):
        for key in _union(r.get(field_name) or {} for r in runs):
            cells = [_value_cell(r.get(field_name) or {}, key) for r in runs]
            rows.append(_row(section, key, None, cells))
    for metric in _union(r.get("metrics") or {} for r in runs):
        direction = overrides.get(metric) or infer_direction(metric)
        summaries = [(r.get("metrics") or {}).get(metric) for r in runs]
        # a reported result is a row next to last/min/max, for the metrics some run reported one for (a
        # result with no series, e.g. `eval_samples`, is that row alone)
        reported = any(s is not None and "final" in s for s in summaries)
        for stat in (*stats, "final") if reported and "final" not in stats else stats:
            cells = [MISSING if s is None else _number_cell(s.get(stat)) for s in summaries]
            if reported and stat != "final" and not any(c.present for c in cells):
                continue
            rows.append(_row("metric", metric, stat, cells, direction))
        if at_step is not None and values_at_step is not None:
            per_run = values_at_step.get(metric, {})
            cells = [_number_cell(per_run.get(k)) for k in keys]
            rows.append(_row("metric", metric, f"@step {at_step}", cells, direction))
    return DiffTable(keys, names, rows, legend_labels(runs))


def _union(mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for m in mappings:
        for k in m:
            seen.setdefault(k, None)
    return sorted(seen)


def _text_cell(value: Any) -> Cell:
    if value is None:
        return MISSING
    return Cell(str(value), parse_number(value))


def _value_cell(mapping: Mapping[str, Any], key: str) -> Cell:
    return _text_cell(mapping[key]) if key in mapping else MISSING


def _number_cell(value: Any) -> Cell:
    number = parse_number(value)
    if number is None:
        return MISSING
    return Cell(format_number(number), number, exact=exact_number(number))


def exact_number(value: float) -> str:
    """The shortest text `float()` reads back to the same double (`repr`); NaN and infinities as Python,
    numpy and pandas spell them: `nan`, `inf`, `-inf`."""
    return repr(float(value))


def json_value(cell: Cell) -> float | str | None:
    """A cell for JSON: metric numbers as JSON numbers (non-finite ones as the strings "NaN", "Infinity",
    "-Infinity", which strict JSON has no number for), other values as the text the run recorded."""
    if not cell.present:
        return None
    if cell.exact is None or cell.number is None:
        return cell.text
    if math.isnan(cell.number):
        return "NaN"
    if math.isinf(cell.number):
        return "Infinity" if cell.number > 0 else "-Infinity"
    return cell.number


def format_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def _row(
    section: str, key: str, stat: str | None, cells: list[Cell], direction: Direction = Direction.NONE
) -> DiffRow:
    return DiffRow(section, key, stat, tuple(cells), same_cells(cells), direction, _best(cells, direction))


def _best(cells: Sequence[Cell], direction: Direction) -> frozenset[int]:
    """Columns holding the best finite-or-infinite number; none when nothing differs or nothing is numeric."""
    if direction is Direction.NONE or len(cells) < 2:
        return frozenset()
    numbers = [
        (i, c.number) for i, c in enumerate(cells) if c.number is not None and not math.isnan(c.number)
    ]
    if not numbers or (len({v for _, v in numbers}) == 1 and len(numbers) == len(cells)):
        return frozenset()
    target = min(v for _, v in numbers) if direction is Direction.MIN else max(v for _, v in numbers)
    return frozenset(i for i, v in numbers if v == target)


#: legend text is laid out by matplotlib on every draw: a 1 MB param value would stall the chart for minutes
LEGEND_VALUE_CHARS = 40
LEGEND_NAME_CHARS = 80


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def legend_labels(runs: Sequence[Mapping[str, Any]], max_params: int = 3) -> list[str]:
    """Names for runs in a legend: the params that differ among them (`lr=0.01, opt=adam`), else the name.

    Up to `max_params` differing params: those present in most runs first, then fewest distinct values (they
    group runs), then by name; a label that would
    be ambiguous or empty falls back to the run name.
    """
    names = [_clip(str(r.get("name") or r["key"]), LEGEND_NAME_CHARS) for r in runs]
    if len(runs) < 2:
        return names
    differing: list[tuple[int, int, str]] = []
    for key in _union(r.get("params") or {} for r in runs):
        cells = [_value_cell(r.get("params") or {}, key) for r in runs]
        if not same_cells(cells):
            missing = sum(not c.present for c in cells)
            distinct = len({c.text for c in cells})
            differing.append((missing, distinct, key))
    chosen = sorted(k for *_, k in sorted(differing)[:max_params])
    labels = []
    for r, name in zip(runs, names, strict=True):
        params = r.get("params") or {}
        parts = [
            f"{_clip(k, LEGEND_VALUE_CHARS)}={_clip(str(params[k]), LEGEND_VALUE_CHARS)}"
            for k in chosen
            if k in params
        ]
        labels.append(", ".join(parts) if parts else name)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [
        label
        if counts[label] == 1
        else (f"{name} ({label})" if label != name else f"{name} [{r['key'][:7]}]")
        for label, name, r in zip(labels, names, runs, strict=True)
    ]
