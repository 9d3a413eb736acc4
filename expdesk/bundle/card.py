"""`data/README.md`: a Hugging Face style model card generated only from what the runs recorded.

The front matter is YAML written by hand with JSON-quoted scalars (JSON strings are valid YAML), so a run
name cannot inject keys. The bundle fingerprint cannot appear here: this file is covered by the manifests
the fingerprint is computed from; the card says how to compute it instead.
"""

from __future__ import annotations

import json
from typing import Any

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
    metrics = {k: v for k, v in summary.get("metrics", {}).items() if v.get("last") not in (None, "nan")}
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
) -> bytes:
    focus = records[0]
    run = focus.run
    unsafe = [f for f in model_info["files"] if f["unsafe_deserialization"]]
    out = [front_matter(name, focus, model_info, summary, datasets, license_id)]
    out.append(f"\n# {_line(name)}\n\n## What this is\n\n")
    out.append(
        f"Model `{_line(name)}` ({model_info['kind']}) from {run.format} run `{_line(run.label)}` "
        f"(native id `{_line(run.native_id or '-')}`, experiment `{_line(run.experiment or '-')}`, status {run.status}). "
        f"Exported by expdesk from the run folders as they were on disk; `model/` holds the model files byte for byte "
        f"(chosen as: {_line(model_info['chosen_as'])}).\n"
    )
    metrics = summary.get("metrics", {})
    if metrics:
        out.append("\n| metric | last | min | max | points |\n|---|---|---|---|---|\n")
        for key in sorted(metrics):
            m = metrics[key]
            out.append(f"| `{_line(key)}` | {m['last']} | {m['min']} | {m['max']} | {m['count']} |\n")
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
    out.append("\n## Load\n\n")
    if model_info["kind"] == "mlflow-model":
        out.append(
            "An MLflow model folder, unchanged. In a fresh virtual environment with the Python from "
            "`model/python_env.yaml`:\n\n```sh\npip install -r data/model/requirements.txt\n"
            "python -c \"import mlflow; m = mlflow.pyfunc.load_model('data/model')\"\n```\n"
        )
    else:
        formats = sorted({f["format"] for f in model_info["files"]})
        out.append(
            f"Files in `model/`, formats sniffed from their bytes: {', '.join(formats)}. See `model-info.json`.\n"
        )
    if unsafe:
        out.append(
            "\nLoading executes code from the file (see Unsafe formats): only after verifying the fingerprint, in a sandbox.\n"
        )
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
