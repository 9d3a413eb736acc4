"""`data/README.md`: a Hugging Face style model card generated only from what the runs recorded.

The front matter is YAML written by hand with JSON-quoted scalars (JSON strings are valid YAML), so a run
name cannot inject keys. The bundle fingerprint cannot appear here: this file is covered by the manifests
the fingerprint is computed from; the card says how to compute it instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

from expdesk.bundle.loading import load_instructions
from expdesk.lineage.graph import LineageGraph
from expdesk.lineage.record import RunRecord

FORMAT_LIBRARIES = {"transformers": "transformers", "lightning": "pytorch", "keras": "keras"}
SNIFF_LIBRARIES = {"pytorch-zip (pickle inside)": "pytorch", "pytorch-legacy": "pytorch", "safetensors": "safetensors",
                   "onnx (by extension)": "onnx", "keras": "keras", "skops": "sklearn", "gguf": "gguf"}  # fmt: skip


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _line(text: Any) -> str:
    """User text on one line, inline-code safe."""
    return " ".join(str(text).split()).replace("`", "'")


def library_name(model_info: dict[str, Any], fmt: str) -> str | None:
    flavors = ((model_info.get("mlflow") or {}).get("flavors")) or {}
    if isinstance(flavors, dict):
        named = [f for f in sorted(flavors) if f != "python_function"]
        if named:
            return str(named[0])
    for f in model_info.get("files", []):
        if f["format"] in SNIFF_LIBRARIES:
            return SNIFF_LIBRARIES[f["format"]]
    return FORMAT_LIBRARIES.get(fmt)


def front_matter(
    name: str,
    focus: RunRecord,
    model_info: dict[str, Any],
    summary: dict[str, Any],
    datasets: list[str],
    license_id: str | None,
) -> str:
    lines = ["---", f"license: {_q(license_id or 'unknown')}"]
    library = library_name(model_info, focus.run.format)
    if library:
        lines.append(f"library_name: {_q(library)}")
    lines += ["tags:", "- expdesk", f"- {_q(focus.run.format)}"]
    if datasets:
        lines.append("datasets:")
        lines += [f"- {_q(d)}" for d in datasets]
    base = focus.run.info.get("base_model")
    if isinstance(base, str) and base:
        lines.append(f"base_model: {_q(base)}")
    # model-index values are numbers: a NaN or infinite last value stays in the card's table, not here
    metrics = {k: v for k, v in summary.get("metrics", {}).items() if _finite(v.get("last"))}
    if metrics:
        lines.append("metrics:")
        lines += [f"- {_q(k)}" for k in sorted(metrics)]
        lines += ["model-index:", f"- name: {_q(name)}", "  results:", "  - task:", "      type: other",
                  "    dataset:", f"      name: {_q(datasets[0] if datasets else 'not recorded')}", "      type: other",
                  "    metrics:"]  # fmt: skip
        for key in sorted(metrics):
            value = float(metrics[key]["last"])
            lines += [
                f"    - type: {_q(key)}",
                f"      value: {_q(value)}",
                f"      name: {_q(key + ' (last logged)')}",
            ]
    lines.append("---")
    return "\n".join(lines) + "\n"


def _finite(text: Any) -> bool:
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def _shown(text: str | None) -> str:
    """A repr'd metric value for the table ("nan" is written NaN)."""
    if text is None:
        return "—"
    return {"nan": "NaN", "inf": "inf", "-inf": "-inf"}.get(text, text)


def metrics_table(metrics: dict[str, Any]) -> str:
    """last/min/max per metric; an all-NaN metric says so, a value the run does not hold is never "None"."""
    rows = ["| metric | last (step) | min | max | points |\n|---|---|---|---|---|\n"]
    for key in sorted(metrics):
        m = metrics[key]
        last = f"{_shown(m.get('last'))} ({m['last_step']})" if "last" in m else "—"
        if m.get("all_nan"):
            low = high = f"all {m['count']} points NaN"
        else:
            low, high = _shown(m.get("min")), _shown(m.get("max"))
        nan = f", {m['nan_count']} NaN" if m.get("nan_count") and not m.get("all_nan") else ""
        rows.append(f"| `{_line(key)}` | {last} | {low} | {high} | {m['count']}{nan} |\n")
    return "".join(rows)


def which_files(model_info: dict[str, Any]) -> str:
    choice = model_info.get("choice") or {}
    where = model_info.get("original_relative_path")
    out = [
        "\n## Which files\n\n",
        f"`model/` holds {len(model_info['files'])} file(s) from `{_line(where)}` "
        f"(relative to the run's {model_info.get('relative_to', 'folder')}), chosen by rule "
        f"`{_line(choice.get('rule', 'user'))}`: {_line(choice.get('why', model_info['chosen_as']))}.\n",
    ]
    for note in choice.get("fallbacks") or []:
        out.append(f"\n- fallback: {_line(note)}")
    if choice.get("fallbacks"):
        out.append("\n")
    left = choice.get("left_out") or []
    if left:
        out.append("\nLeft out (listed with their SHA-256 in `model-info.json`; the run's `outputs.json` has every "
                   "file):\n\n")  # fmt: skip
        for entry in left[:50]:
            digest = f", sha256 {entry['sha256'][:16]}…" if entry.get("sha256") else ""
            size = f"{entry['size']:,} bytes" if isinstance(entry.get("size"), int) else "folder"
            out.append(f"- `{_line(entry['path'])}` ({size}{digest}): {_line(entry['reason'])}\n")
        if len(left) > 50:
            out.append(f"- … {len(left) - 50} more in `model-info.json`\n")
    if choice.get("training_state_included"):
        out.append(
            "\nTraining state (optimizer, scheduler, RNG, scaler, training_args.bin) is included on request.\n"
        )
    return "".join(out)


def sweep_section(sweep: dict[str, Any] | None) -> str:
    if not sweep:
        return ""
    out = ["\n## Sweep\n\n", f"This run is one of {sweep['size']} runs of a sweep ({_line(sweep['kind'])})"]
    parent = sweep.get("parent")
    if parent:
        out.append(
            f" under parent run `{_line(parent.get('name') or parent.get('native_id') or parent['key'])}`"
        )
    out.append(f" ({_line(sweep.get('evidence', ''))}).\n")
    varied = sweep.get("varied") or {}
    if varied:
        out.append("\nVaried: " + ", ".join(f"`{_line(k)}`" for k in sorted(varied)) + "; this run: "
                   + ", ".join(f"`{_line(k)}={_line(v['this'])}`" for k, v in sorted(varied.items())) + ".\n")  # fmt: skip
    chosen = sweep.get("metric")
    if chosen:
        out.append(f"\nOn `{_line(chosen['key'])}` ({chosen['direction']}, {_line(chosen['rule'])}) this run scored "
                   f"{_shown(chosen.get('this'))}")  # fmt: skip
        if chosen.get("rank") is not None:
            out.append(f", rank {chosen['rank']} of {chosen['ranked']}")
        beat = chosen.get("beat")
        if beat:
            out.append(f"; it beat `{_line(beat['name'])}` ({_shown(beat['value'])}), the runner-up")
        elif chosen.get("rank") not in (None, 1):
            best = chosen.get("best") or {}
            out.append(f"; the sweep's best was `{_line(best.get('name'))}` ({_shown(best.get('value'))})")
        out.append(".\n")
    else:
        out.append(
            f"\nNo metric ranks the runs: {_line(sweep.get('no_metric', 'none is shared by the runs'))}.\n"
        )
    return "".join(out)


def load_section(model_info: dict[str, Any], sources: dict[str, Any]) -> str:
    out = ["\n## Load\n\n"]
    steps = load_instructions(model_info, sources)
    if model_info["kind"] == "mlflow-model":
        out.append("An MLflow model folder, unchanged. In a fresh virtual environment with the Python from "
                   "`model/python_env.yaml`, `pip install -r data/model/requirements.txt`, then:\n")  # fmt: skip
    for title, code, warning in steps:
        out.append(f"\n{_line(title)}:\n\n```python\n{code}\n```\n")
        if warning:
            out.append(f"\n> {warning}\n")
    if not steps:
        formats = sorted({f["format"] for f in model_info["files"]})
        out.append(f"Files in `model/`, formats sniffed from their bytes: {', '.join(formats)}. See `model-info.json`; "
                   "expdesk knows no two-line loader for them.\n")  # fmt: skip
    return "".join(out)


def render_card(
    *,
    name: str,
    records: list[RunRecord],
    graph: LineageGraph,
    model_info: dict[str, Any],
    summary: dict[str, Any],
    datasets: list[str],
    gaps: list[str],
    license_id: str | None,
    folders: dict[str, str],
    sources: dict[str, Any] | None = None,
    sweep: dict[str, Any] | None = None,
) -> bytes:
    focus = records[0]
    run = focus.run
    unsafe = [f for f in model_info["files"] if f["unsafe_deserialization"]]
    out = [front_matter(name, focus, model_info, summary, datasets, license_id)]
    out.append(f"\n# {_line(name)}\n\n## What this is\n\n")
    ident = f"native id `{_line(run.native_id)}`, " if run.native_id else ""
    experiment = f"experiment `{_line(run.experiment)}`, " if run.experiment else ""
    out.append(
        f"Model `{_line(name)}` ({model_info['kind']}) from {run.format} run `{_line(run.label)}` "
        f"({ident}{experiment}status {run.status}). "
        f"Exported by expdesk from the run folders as they were on disk; `model/` holds the model files byte for byte.\n"
    )
    metrics = summary.get("metrics", {})
    if metrics:
        out.append("\n" + metrics_table(metrics))
    else:
        out.append("\nThe run recorded no metrics.\n")
    out.append(which_files(model_info))
    out.append(sweep_section(sweep))
    out.append(
        "\n## Verify\n\nThis folder is a BagIt 1.0 bag (RFC 8493); `data/` is an RO-Crate 1.2 root.\n\n```sh\n"
        "cd <this bag's top folder>            # the one holding bagit.txt\n"
        "sha256sum -c tagmanifest-sha256.txt  # tag files\n"
        "sha256sum -c manifest-sha256.txt     # every payload file\n"
        "sha256sum tagmanifest-sha256.txt     # the bundle fingerprint: compare with the one the sender gave you\n"
        "# or: expdesk verify BUNDLE.zip   /   bagit.py --validate .\n```\n\n"
        "The zip's name ends with the first 12 hex digits of the fingerprint. Checksums prove integrity, not origin: "
        "get the fingerprint from the sender over another channel.\n"
    )
    out.append(load_section(model_info, sources or {}))
    out.append("\n## Lineage summary\n\n")
    for record in records:
        r = record.run
        depth = graph.depth.get(r.key, 0)
        start = (record.identity.get("start") or {}).get("utc") or "start not recorded"
        out.append(f"- {'this run' if depth == 0 else f'ancestor (depth {-depth})'}: {r.format} `{_line(r.label)}` "
                   f"({start}) — `{folders[r.key]}/`\n")  # fmt: skip
    for edge in sorted(graph.edges, key=lambda e: (e.upstream, e.downstream, e.rule)):
        up, down = graph.nodes[edge.upstream].name, graph.nodes[edge.downstream].name
        hashes = ", ".join(h["sha256"][:12] for h in edge.evidence.get("hashes", []))
        out.append(
            f"- `{_line(up)}` → `{_line(down)}` by {edge.rule}{f' (sha256 {hashes})' if hashes else ''}\n"
        )
    if not graph.edges:
        out.append("- no ancestor runs were found (no native links, no shared file hashes)\n")
    out.append("\nFull graph with evidence: `lineage/lineage.json` (PROV-O: `lineage/prov.jsonld`).\n")
    out.append("\n## Known gaps\n\n")
    out += [f"- {_line(g)}\n" for g in gaps] or ["- none found\n"]
    out.append("\n## Unsafe formats\n\n")
    if unsafe:
        out += [
            f"- `model/{_line(f['path'])}`: {f['format']} — loading it can execute arbitrary code\n"
            for f in unsafe
        ]
        out += [f"- {_line(r)}\n" for r in model_info.get("unsafe_reasons", [])]
    else:
        out.append("- none: no pickle-family files in `model/` (sniffed by magic bytes, never loaded)\n")
    return "".join(out).encode("utf-8")
