"""The sweep a run belongs to: its parent, what was varied, and which sibling it beat on which metric.

Read from what the index holds (no run folder is re-read):
- a Hydra multirun job: its `hydra.sweep` link to the multirun folder (the Hydra reader records it with the
  job's `overrides`); the siblings are the other jobs linked to the same folder, the varied params are the
  override keys whose values differ among them;
- an MLflow child run (`mlflow.parentRunId`, as Optuna's and hyperopt's MLflow integrations and nested
  `start_run` write): the siblings are the parent's other children, the varied params those that differ.

The metric: the one the caller names, else one every sibling logged whose direction the name tells (loss ->
min, accuracy -> max), validation-like names first. Runs are ranked on their last logged value (the index's
final rule); NaN never ranks. The card says which rule picked the metric.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from expdesk.core.direction import Direction, infer_direction
from expdesk.lineage.catalog import Catalog, RunRow

MAX_SIBLINGS = 2000
_VALIDATION = re.compile(r"(^|[^a-z])(val|valid|validation|eval|test|dev)([^a-z]|$)", re.I)


def sweep_of(catalog: Catalog, key: str, metric: str | None = None) -> dict[str, Any] | None:
    run = catalog.run(key)
    if run is None:
        return None
    found = _hydra(catalog, run) or _parent_child(catalog, run)
    if found is None:
        return None
    kind, evidence, parent, members = found
    if len(members) < 2:
        return None
    runs = catalog.reader.runs_json(members[:MAX_SIBLINGS])
    for r in runs:  # the catalog's labels (portable when the caller asked: the bundle does)
        row = catalog.run(r["key"])
        r["name"] = row.label if row is not None else r.get("name")
    by_key = {r["key"]: r for r in runs}
    this = by_key[key]
    out: dict[str, Any] = {"kind": kind, "evidence": evidence, "parent": parent, "size": len(members)}
    out["varied"] = _varied(run, this, runs)
    chosen = _metric(this, runs, metric)
    if chosen is None:
        out["no_metric"] = (
            f"no metric named {metric!r} in this run"
            if metric
            else "no metric with a known direction is logged by all runs"
        )
    else:
        out["metric"] = _rank(this, runs, *chosen)
    out["siblings"] = [
        {"key": r["key"], "name": r.get("name"), "native_id": r.get("native_id"),
         "values": {k: _settings(run, r).get(k) for k in sorted(out["varied"])}}
        for r in sorted(runs, key=lambda r: str(r.get("name") or r["key"]))
        if r["key"] != key
    ]  # fmt: skip
    return out


def _hydra(catalog: Catalog, run: RunRow) -> tuple[str, str, dict[str, Any], list[str]] | None:
    link = next((lk for lk in catalog.links_from(run.key) if lk.get("rule") == "hydra.sweep"), None)
    folder = link.get("target_path") if link else None
    if not isinstance(folder, str) or not folder:
        return None
    members = catalog.linked_to_path("hydra.sweep", folder)
    if run.key not in members:
        members.append(run.key)
    # the multirun folder is named relative to the job (an absolute path would name this machine)
    parent = {"kind": "hydra multirun folder", "name": Path(folder).name, "path": run.relative(folder)}
    return "Hydra multirun", "hydra.sweep: jobs of one multirun folder", parent, sorted(members)


def _parent_child(catalog: Catalog, run: RunRow) -> tuple[str, str, dict[str, Any], list[str]] | None:
    if not run.parent_key:
        return None
    parent_run = catalog.run(run.parent_key)
    members = catalog.children(run.parent_key)
    parent: dict[str, Any] = {"key": run.parent_key, "native_id": run.parent_native_id}
    if parent_run is not None:
        parent["name"] = parent_run.name
    tool = "MLflow" if run.format.startswith("mlflow") else run.format
    return f"{tool} parent-child", "mlflow.parentRunId: children of one parent run", parent, members


def _norm(value: Any) -> str:
    """Compare params as numbers when both parse ("1e-3" == "0.001"), else as text."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "nan" if math.isnan(number) else repr(number)


def _overrides(run: dict[str, Any]) -> dict[str, str] | None:
    """A Hydra job's command-line overrides as key -> value (`optimizer=sgd`, `optimizer.lr=0.01`)."""
    items = (run.get("info") or {}).get("overrides")
    if not isinstance(items, list) or not items:
        return None
    out = {}
    for item in map(str, items):
        key, sep, value = item.partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def _settings(run: RunRow, r: dict[str, Any]) -> dict[str, Any]:
    """What a sweep sets per run: a Hydra job's overrides (the grid as the sweep defined it, group choices
    such as `optimizer=sgd` included), else the run's params."""
    if run.format == "hydra":
        overrides = _overrides(r)
        if overrides is not None:
            return overrides
    return dict(r.get("params") or {})


def _varied(run: RunRow, this: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    values_of = [_settings(run, r) for r in runs]
    own = _settings(run, this)
    out: dict[str, Any] = {}
    for k in sorted({k for v in values_of for k in v}):
        distinct = {_norm(v[k]) if k in v else "\0missing" for v in values_of}
        if len(distinct) > 1 and k in own:
            out[k] = {"this": own[k], "distinct": len(distinct)}
    return out


def _metric(
    this: dict[str, Any], runs: list[dict[str, Any]], wanted: str | None
) -> tuple[str, Direction, str] | None:
    if wanted:
        if wanted not in (this.get("metrics") or {}):
            return None
        direction = infer_direction(wanted)
        return wanted, direction if direction is not Direction.NONE else Direction.MIN, "named by the user"
    shared = set(this.get("metrics") or {})
    for r in runs:
        shared &= set(r.get("metrics") or {})
    ranked = sorted(
        (not _VALIDATION.search(k), k) for k in shared if infer_direction(k) is not Direction.NONE
    )
    if not ranked:
        return None
    name = ranked[0][1]
    why = "validation metric logged by every run" if not ranked[0][0] else "metric logged by every run"
    return name, infer_direction(name), f"{why}, direction from its name"


def _last(run: dict[str, Any], metric: str) -> float | None:
    value = ((run.get("metrics") or {}).get(metric) or {}).get("last")
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        return None
    try:
        number = float(value)  # the index's JSON spells NaN and infinities as strings
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _rank(
    this: dict[str, Any], runs: list[dict[str, Any]], metric: str, direction: Direction, rule: str
) -> dict[str, Any]:
    scored = [(v, str(r.get("name") or r["key"]), r) for r in runs if (v := _last(r, metric)) is not None]
    scored.sort(key=lambda t: (t[0] if direction is Direction.MIN else -t[0], t[1]))
    out: dict[str, Any] = {"key": metric, "direction": str(direction), "rule": rule, "value_rule": "last logged value",
                           "ranked": len(scored), "this": repr(v) if (v := _last(this, metric)) is not None else None}  # fmt: skip
    position = next((i for i, (_v, _n, r) in enumerate(scored) if r["key"] == this["key"]), None)
    if position is None:
        out["rank"] = None  # this run's value is NaN or missing: it ranks nowhere
        return out
    out["rank"] = position + 1
    if position == 0 and len(scored) > 1:
        value, name, other = scored[1]
        out["beat"] = {
            "key": other["key"],
            "name": name,
            "native_id": other.get("native_id"),
            "value": repr(value),
        }
    elif position > 0:
        value, name, other = scored[0]
        out["best"] = {
            "key": other["key"],
            "name": name,
            "native_id": other.get("native_id"),
            "value": repr(value),
        }
    return out
