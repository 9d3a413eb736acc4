"""`lineage/lineage.json` (expdesk's canonical graph) and `lineage/prov.jsonld` (the W3C PROV-O view of it).

Nodes are runs and blobs (files identified by SHA-256); edges are `used` (run read blob), `generated`
(blob written by run) and `derived` (run -> run, with the rule and evidence that joined them).
"""

from __future__ import annotations

from typing import Any

from expdesk.lineage.graph import LineageGraph
from expdesk.lineage.record import RunRecord

PROV_CONTEXT = {
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "expdesk": "urn:expdesk:",
}


def lineage_document(
    graph: LineageGraph, records: list[RunRecord], model_files: list[dict[str, Any]]
) -> dict[str, Any]:
    doc = graph.as_json()
    blobs: dict[str, dict[str, Any]] = {}
    flows: list[dict[str, Any]] = []
    for record in records:
        for direction, entries in (("used", record.inputs), ("generated", record.outputs)):
            for entry in entries:
                sha = entry.get("sha256")
                if not sha:
                    continue
                blob = blobs.setdefault(sha, {"sha256": sha, "size": entry.get("size"), "paths": []})
                if entry["recorded_path"] not in blob["paths"]:
                    blob["paths"].append(entry["recorded_path"])
                flows.append(
                    {
                        "type": direction,
                        "run": record.run.key,
                        "sha256": sha,
                        "role": entry["role"],
                        "path": entry["recorded_path"],
                    }
                )
    for blob in blobs.values():
        blob["paths"].sort()
    doc["model"] = {"run": graph.focus, "files": model_files}
    doc["blobs"] = [blobs[k] for k in sorted(blobs)]
    doc["flows"] = sorted(flows, key=lambda f: (f["run"], f["type"], f["path"], f["sha256"]))
    doc["derived"] = doc.pop("edges")
    return doc


def _time(value: str | None) -> dict[str, str] | None:
    return {"@value": value, "@type": "xsd:dateTime"} if value else None


def prov_document(
    graph: LineageGraph, records: list[RunRecord], model_files: list[dict[str, Any]]
) -> dict[str, Any]:
    items: dict[str, dict[str, Any]] = {}

    def node(ident: str, kind: str) -> dict[str, Any]:
        return items.setdefault(ident, {"@id": ident, "@type": kind})

    for record in records:
        run = record.run
        activity = node(f"expdesk:run/{run.key}", "prov:Activity")
        activity["rdfs:label"] = f"{run.format} run {run.label}"
        start = record.identity.get("start") or {}
        end = record.identity.get("end") or {}
        if _time(start.get("utc")):
            activity["prov:startedAtTime"] = _time(start.get("utc"))
        if _time(end.get("utc")):
            activity["prov:endedAtTime"] = _time(end.get("utc"))
        user = record.identity.get("user")
        if user:
            agent = node(f"expdesk:agent/{user['value']}", "prov:Agent")
            agent["rdfs:label"] = str(user["value"])
            activity["prov:wasAssociatedWith"] = {"@id": agent["@id"]}
        used = []
        for entry in record.inputs:
            if entry.get("sha256"):
                node(f"urn:sha256:{entry['sha256']}", "prov:Entity").setdefault(
                    "rdfs:label", entry["recorded_path"]
                )
                used.append({"@id": f"urn:sha256:{entry['sha256']}"})
        if used:
            activity["prov:used"] = sorted(used, key=lambda u: u["@id"])
        for entry in record.outputs:
            if entry.get("sha256"):
                blob = node(f"urn:sha256:{entry['sha256']}", "prov:Entity")
                blob.setdefault("rdfs:label", entry["recorded_path"])
                blob["prov:wasGeneratedBy"] = {"@id": activity["@id"]}
    for f in model_files:
        blob = node(f"urn:sha256:{f['sha256']}", "prov:Entity")
        blob["rdfs:label"] = f["path"]
        blob["prov:wasGeneratedBy"] = {"@id": f"expdesk:run/{graph.focus}"}
    for edge in graph.edges:
        down = items.get(f"expdesk:run/{edge.downstream}")
        if down is not None:
            informed = down.setdefault("prov:wasInformedBy", [])
            informed.append({"@id": f"expdesk:run/{edge.upstream}"})
            informed.sort(key=lambda x: x["@id"])
    return {"@context": PROV_CONTEXT, "@graph": [items[k] for k in sorted(items)]}
