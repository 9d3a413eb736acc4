"""The `runs/<run-key>/` folder of a bundle: identity, params, original configs, full metric history, code,
environment, inputs and outputs for one run of the ancestry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.bundle.names import canonical_json, safe_part, safe_relpath
from expdesk.core.errors import UnsafePath
from expdesk.index.reader import IndexReader
from expdesk.lineage.files import contained
from expdesk.lineage.record import RunRecord

FINAL_RULE = "last point in write order at the highest step (the index's summary rule)"


@dataclass
class RunFolder:
    folder: str  # "runs/<tool>-<id>"
    generated: dict[str, bytes] = field(default_factory=dict)  # name relative to `folder` -> bytes
    copies: dict[str, Path] = field(default_factory=dict)  # name relative to `folder` -> contained source
    gaps: list[str] = field(default_factory=list)


def folder_name(record: RunRecord, taken: set[str]) -> str:
    run = record.run
    ident = run.native_id or (run.name or "").replace("/", "-") or run.key
    name = safe_part(f"{run.format}-{ident}")[:80]
    if name.casefold() in taken:
        name = f"{name}-{run.key[:8]}"
    taken.add(name.casefold())
    return f"runs/{name}"


def typed(value: str) -> Any:
    text = value.strip()
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if text in ("None", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return number if math.isfinite(number) else text
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # a deeply nested string stays a string
            return value
    return value


def metrics_csv(reader: IndexReader, key: str) -> tuple[bytes, dict[str, Any]]:
    """Long-format history (every point, duplicates kept, NaN/inf as literals) and the per-key summary."""
    lines = ["key,step,timestamp_ms,value,seq\n"]
    summary: dict[str, Any] = {}
    for name in reader.metric_names(key):
        steps, values, stamps = reader.series(key, name)
        quoted = '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n\r') else name
        for seq, (step, value, stamp) in enumerate(
            zip(steps.tolist(), values.tolist(), stamps.tolist(), strict=True)
        ):
            ts = "" if math.isnan(stamp) else str(int(stamp))
            lines.append(f"{quoted},{step},{ts},{value!r},{seq}\n")
        finite = [v for v in values.tolist() if not math.isnan(v)]
        last_idx = max(range(len(steps)), key=lambda i: (steps[i], i)) if len(steps) else None
        entry: dict[str, Any] = {"count": len(steps), "nan_count": len(steps) - len(finite)}
        if last_idx is not None:
            entry["last"] = repr(values[last_idx].item())
            entry["last_step"] = int(steps[last_idx])
        if finite:
            entry["min"], entry["max"] = repr(min(finite)), repr(max(finite))
        elif steps.size:
            entry["all_nan"] = True  # every point is NaN: no min or max exists (left out, not null)
        summary[name] = entry
    # what the run reported as its results (a metric's `final`), next to the summaries of its points
    for name, final in reader.metric_finals(key).items():
        summary.setdefault(name, {"count": 0, "nan_count": 0})["final"] = repr(final)
    return "".join(lines).encode("utf-8"), {
        "final_rule": FINAL_RULE,
        "values_as": "Python repr strings ('nan', 'inf', '-inf', '-0.0' literal)",
        "metrics": summary,
    }


def params_json(reader: IndexReader, key: str) -> dict[str, Any]:
    return {name: {"value": value, "typed": typed(value)} for name, value in reader.params_of(key).items()}


def tags_json(reader: IndexReader, key: str) -> dict[str, str]:
    return reader.tags_of(key)


def build_run_folder(reader: IndexReader, record: RunRecord, folder: str) -> RunFolder:
    run = record.run
    out = RunFolder(folder, gaps=list(record.gaps))
    identity = dict(record.identity)
    identity["tags"] = tags_json(reader, run.key)
    out.generated["run.json"] = canonical_json(identity)
    params = params_json(reader, run.key)
    out.generated["params.json"] = canonical_json(params)
    if not params:
        out.gaps.append("no params recorded")
    config_map: dict[str, str] = {}
    for rel in run.info.get("config_files") or []:
        if not isinstance(rel, str):
            continue
        try:
            source = contained(run.root, Path(run.path) / rel)
        except UnsafePath as exc:
            out.gaps.append(f"config file {rel} not copied: {exc.reason}")
            continue
        if not source.is_file():
            out.gaps.append(f"config file {rel} no longer exists")
            continue
        name = f"config/{safe_relpath(rel)}"
        out.copies[name] = source
        config_map[name] = rel
    if config_map and any(k != f"config/{v}" for k, v in config_map.items()):
        out.generated["config/NAMES.json"] = canonical_json({"renamed": config_map})
    if not config_map:
        out.gaps.append("no original config files recorded")
    history, summary = metrics_csv(reader, run.key)
    out.generated["metrics.csv"] = history
    out.generated["metrics-summary.json"] = canonical_json(summary)
    if not summary["metrics"]:
        out.gaps.append("no metrics recorded")
    if record.code is not None:
        code = dict(record.code)
        if record.diff is None and "diff_omitted" not in code:
            code.setdefault(
                "diff", "no uncommitted changes" if code.get("dirty") is False else "no diff available"
            )
        out.generated["code/git.json"] = canonical_json(code)
        if record.diff:
            out.generated["code/diff.patch"] = record.diff
    else:
        out.generated["code/git.json"] = canonical_json(
            {"evidence": "none", "reason": [g for g in record.gaps if "git" in g]}
        )
    out.generated["env/system.json"] = canonical_json(record.environment)
    out.generated["inputs.json"] = canonical_json(record.inputs)
    out.generated["outputs.json"] = canonical_json(record.outputs)
    return out
