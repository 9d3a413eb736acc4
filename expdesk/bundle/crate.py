"""`data/ro-crate-metadata.json`: an RO-Crate 1.2 root following the Process Run Crate 0.5 profile.

One `CreateAction` per run of the ancestry. Files that stay outside the bundle (datasets, checkpoints) are
`#sha256-<hex>` File entities with their recorded path and digest, so the bag stays complete; the same
entity is the `result` of the run that wrote it and the `object` of the run that read it, which is how
the crate links actions (result -> object).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from expdesk.bundle.bagit import Digest
from expdesk.lineage.graph import LineageGraph
from expdesk.lineage.record import RunRecord

CONTEXT = "https://w3id.org/ro/crate/1.2/context"
RO_CRATE = "https://w3id.org/ro/crate/1.2"
PROCESS_RUN = "https://w3id.org/ro/wfrun/process/0.5"
STATUS = {
    "finished": "http://schema.org/CompletedActionStatus",
    "failed": "http://schema.org/FailedActionStatus",
    "killed": "http://schema.org/FailedActionStatus",
    "running": "http://schema.org/ActiveActionStatus",
}
MIME = {".json": "application/json", ".csv": "text/csv", ".md": "text/markdown", ".txt": "text/plain",
        ".yaml": "application/yaml", ".yml": "application/yaml", ".patch": "text/x-diff", ".jsonld": "application/ld+json",
        ".png": "image/png", ".onnx": "application/onnx", ".safetensors": "application/octet-stream"}  # fmt: skip


def mime(name: str) -> str:
    if PurePosixPath(name).name == "MLmodel":
        return "application/yaml"
    return MIME.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def blob_id(sha256: str) -> str:
    return f"#sha256-{sha256}"


def _blob(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@id": blob_id(entry["sha256"]),
        "@type": "File",
        "name": PurePosixPath(entry["recorded_path"]).name or entry["recorded_path"],
        "localPath": entry.get("resolved_path") or entry["recorded_path"],
        "sha256": entry["sha256"],
        "description": "not included in the bundle; identified by its SHA-256",
    }
    if entry.get("size") is not None:
        out["contentSize"] = str(entry["size"])
    return out


def build_crate(
    *,
    title: str,
    description: str,
    date: str,
    license_id: str | None,
    payload: dict[str, Digest],
    records: list[RunRecord],
    folders: dict[str, str],
    model_files: list[str],
    graph: LineageGraph,
    tool_version: str,
) -> dict[str, Any]:
    graph_items: list[dict[str, Any]] = []
    files = sorted(payload)
    entities: dict[str, dict[str, Any]] = {}

    def add(entity: dict[str, Any]) -> dict[str, str]:
        entities.setdefault(entity["@id"], entity)
        return {"@id": entity["@id"]}

    for name in files:
        add({"@id": name, "@type": "File", "contentSize": str(payload[name].size), "encodingFormat": mime(name),
             "sha256": payload[name].sha256})  # fmt: skip
    license_ref = add(
        {"@id": license_id, "@type": "CreativeWork", "name": license_id}
        if license_id
        else {
            "@id": "#license-not-recorded",
            "@type": "CreativeWork",
            "name": "No license recorded",
            "description": "The source runs record no license; ask the sender.",
        }
    )
    add({"@id": PROCESS_RUN, "@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"})
    add({"@id": "#expdesk", "@type": "SoftwareApplication", "name": "expdesk", "version": tool_version})
    actions = []
    for record in records:
        run, ident = record.run, record.identity
        folder = folders[run.key]
        tool = add({"@id": f"#software-{run.format}", "@type": "SoftwareApplication", "name": run.format}
                   | ({"version": str(ident["tool_version"]["value"])} if ident.get("tool_version") else {}))  # fmt: skip
        instruments = [tool]
        if record.code and record.code.get("commit"):
            code = {"@id": f"#code-{run.key}", "@type": "SoftwareSourceCode", "version": record.code["commit"],
                    "name": f"source code of run {run.label}"}  # fmt: skip
            remotes = record.code.get("remotes") or {}
            if remotes:
                code["codeRepository"] = sorted(remotes.values())[0]
            instruments.append(add(code))
        objects = [{"@id": f"{folder}/{n}"} for n in sorted(payload) if n.startswith(f"{folder}/config/")]
        for entry in record.inputs:
            if entry.get("sha256"):
                objects.append(add(_blob(entry)))
        results = [{"@id": f"{folder}/metrics.csv"}]
        if run.key == graph.focus:
            results += [{"@id": n} for n in model_files]
        for entry in record.outputs:
            if entry.get("sha256"):
                results.append(add(_blob(entry)))
        action: dict[str, Any] = {
            "@id": f"#run-{run.key}",
            "@type": "CreateAction",
            "name": f"{run.format} run {run.label}",
            "instrument": instruments,
            "object": objects,
            "result": results,
            "identifier": run.native_id or run.key,
        }
        if ident.get("start"):
            action["startTime"] = ident["start"]["utc"]
        if ident.get("end"):
            action["endTime"] = ident["end"]["utc"]
        if run.status in STATUS:
            action["actionStatus"] = {"@id": STATUS[run.status]}
        if ident.get("user"):
            action["agent"] = add(
                {
                    "@id": f"#person-{ident['user']['value']}",
                    "@type": "Person",
                    "name": str(ident["user"]["value"]),
                }
            )
        if ident.get("command"):
            action["description"] = _command_text(ident["command"]["value"])
        env = [
            {"name": k, "value": str(v)}
            for k, v in sorted(record.environment.get("recorded", {}).items())
            if k != "packages"
        ]
        if ident.get("host"):
            env.append({"name": "host", "value": str(ident["host"]["value"])})
        if env:
            action["environment"] = [
                add({"@id": f"#env-{run.key}-{p['name']}", "@type": "PropertyValue", **p}) for p in env
            ]
        actions.append(action)
    descriptor = {
        "@id": "ro-crate-metadata.json",
        "@type": "CreativeWork",
        "conformsTo": {"@id": RO_CRATE},
        "about": {"@id": "./"},
    }
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": title,
        "description": description,
        "datePublished": date,
        "license": license_ref,
        "conformsTo": [{"@id": PROCESS_RUN}],
        "hasPart": [{"@id": n} for n in files],
        "mentions": [{"@id": a["@id"]} for a in actions],
        "publisher": {"@id": "#expdesk"},
    }
    graph_items = [descriptor, root, *actions, *(entities[k] for k in sorted(entities))]
    return {"@context": CONTEXT, "@graph": graph_items}


def _command_text(command: Any) -> str:
    if isinstance(command, dict):
        parts = []
        for key in sorted(command):
            value = command[key]
            parts.append(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}")
        return "; ".join(parts)
    return str(command)
