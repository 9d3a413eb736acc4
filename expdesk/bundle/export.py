"""Export: plan a bundle (every byte decided and hashed, nothing written), then write the deterministic zip.

Planning is what the Export dialog previews (tree + fingerprint); writing streams the planned entries into
`<slug>-<fp12>.zip`, re-reading copied files and refusing to finish if one changed since it was planned.
Runs as a plain function with `progress` and `cancelled` callbacks (a worker thread in the GUI).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from expdesk import __version__
from expdesk.bundle import bagit
from expdesk.bundle.bagit import Digest, digest_bytes
from expdesk.bundle.card import render_card
from expdesk.bundle.crate import build_crate
from expdesk.bundle.model import UNSAFE_FORMATS, flavor_unsafe, mlflow_model_meta, sniff
from expdesk.bundle.names import canonical_json, is_safe_relpath, safe_relpath, slug
from expdesk.bundle.parts_model import choose_run_model
from expdesk.bundle.prov import lineage_document, prov_document
from expdesk.bundle.runfiles import build_run_folder, folder_name
from expdesk.bundle.zipdet import ZipEntry, bytes_chunks, write_zip
from expdesk.core.errors import ExpdeskError, UsageError
from expdesk.core.paths import is_within
from expdesk.core.safefile import open_regular
from expdesk.index.reader import IndexReader
from expdesk.lineage.build import LineageBuilder, Options
from expdesk.lineage.catalog import Catalog, RunRow
from expdesk.lineage.files import HashCache, digest_file, iter_fd
from expdesk.lineage.record import RunRecord, build_record
from expdesk.lineage.sweep import sweep_of

Progress = Callable[[int, int, str], None]
BUNDLE_NAMESPACE = uuid.UUID("5d1c7d3e-2f0a-5b8e-9a44-6b7e0c1d2e3f")
SCHEMA_ID = "expdesk bundle schema 1"


@dataclass
class ExportOptions:
    artifact: str | None = None
    with_training_state: bool = False  # also pack optimizer/scheduler/RNG/scaler state and training_args.bin
    sweep_metric: str | None = (
        None  # rank a sweep's runs on this metric (default: inferred, see lineage.sweep)
    )
    license: str | None = None
    redact: bool = False  # drop host and user names
    observe_git: bool = True
    lineage: Options = field(default_factory=Options)


@dataclass
class PlannedFile:
    name: str  # path inside the bag, "data/..."
    digest: Digest
    data: bytes | None = None
    source: Path | None = None  # copied byte for byte from here

    @property
    def copied(self) -> bool:
        return self.source is not None


@dataclass
class BundlePlan:
    key: str
    title: str
    slug: str
    files: dict[str, PlannedFile]
    tags: dict[str, bytes]
    fingerprint: str
    gaps: list[str]
    runs: list[str]
    model: str = ""  # which files were chosen, by which rule (one line for the CLI and the dialog)

    @property
    def base(self) -> str:
        return f"{self.slug}-{self.fingerprint[:12]}"

    @property
    def zip_name(self) -> str:
        return f"{self.base}.zip"

    def tree(self) -> list[tuple[str, int]]:
        """(path inside the bag, size) for every file, tag files first: the dialog's preview."""
        out = [(name, len(data)) for name, data in sorted(self.tags.items())]
        return out + [(n, self.files[n].digest.size) for n in sorted(self.files, key=lambda n: n.encode())]

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.tree())


def _bundle_date(records: list[RunRecord]) -> float:
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw and raw.isdigit():
        return float(raw)
    run = records[0].run
    return run.end_time or run.start_time or 315532800.0  # 1980-01-01: nothing recorded, nothing invented


def _dataset_name(entry: dict[str, Any]) -> str:
    text = entry["recorded_path"]
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict):
        for key in ("url", "uri", "path", "name"):
            if isinstance(doc.get(key), str):
                return doc[key]
    return text


DATASET_ROLES = ("dataset", "training", "train", "validation", "val", "evaluation", "eval", "test")


def _is_dataset(entry: dict[str, Any]) -> bool:
    """MLflow dataset inputs carry their context ("training", ...) as role and an `mlflow_digest`."""
    return entry["role"] in DATASET_ROLES or "mlflow_digest" in entry["tool_digests"]


def _portable_logged_model(model: dict[str, Any] | None, run: RunRow) -> dict[str, Any] | None:
    """The logged-model record with its local folder made relative (an absolute path names this machine)."""
    if model is None:
        return None
    out = dict(model)
    if isinstance(out.get("local_dir"), str):
        out["local_dir"] = run.relative(out["local_dir"])
    return out


def _redact(record: RunRecord) -> None:
    for name in ("host", "user"):
        if name in record.identity:
            record.identity[name] = {"value": None, "evidence": "redacted at export"}


def plan_bundle(
    reader: IndexReader,
    key: str,
    options: ExportOptions | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    writer_call: Callable[..., Any] | None = None,
) -> BundlePlan:
    options = options or ExportOptions()
    report = progress or (lambda done, total, message: None)
    catalog = Catalog(reader, portable=True)
    hashes = HashCache.for_index(reader, writer_call)
    focus = catalog.run(key)
    if focus is None:
        raise UsageError(f"no run {key} in the index")
    report(0, 5, "choosing the model files")
    # a joined run's model comes from the part whose tool knows it (see parts_model)
    choice = choose_run_model(catalog, focus, options.artifact, options.with_training_state)
    report(1, 5, "tracing the ancestry")
    graph = LineageBuilder(catalog, hashes, options.lineage).build(key, up=True, down=False)
    order = graph.ancestors()
    graph = graph.restricted(order)
    for run_key, node in list(graph.nodes.items()):
        row = catalog.run(run_key)  # the portable row: relative path, names that do not depend on the root
        if row is not None:
            graph.nodes[run_key] = replace(
                node, path=row.relative(row.path), name=row.label, experiment=row.experiment
            )
    records = []
    for i, run_key in enumerate(order):
        if cancelled():
            raise InterruptedError("export cancelled")
        report(2, 5, f"hashing inputs and outputs of run {i + 1}/{len(order)}")
        record = build_record(catalog, hashes, run_key, fresh=True, observe=options.observe_git)
        if options.redact:
            _redact(record)
        records.append(record)
    files: dict[str, PlannedFile] = {}

    def put(name: str, data: bytes) -> None:
        files[f"data/{name}"] = PlannedFile(f"data/{name}", digest_bytes(data), data=data)

    def copy(name: str, source: Path, root: Path) -> PlannedFile:
        digest = digest_file(root, source, sha512=True, cancelled=cancelled)
        planned = PlannedFile(
            f"data/{name}", Digest(digest.size, digest.sha256, digest.sha512 or ""), source=digest.path
        )
        files[planned.name] = planned
        return planned

    report(3, 5, "copying the model files")
    gaps = [f"model: {s}" for s in choice.skipped]
    model_files: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    for rel, source in choice.files:
        safe = rel if is_safe_relpath(rel) else safe_relpath(rel)
        if safe != rel:
            renamed[safe] = rel
            gaps.append(f"model file {rel!r} renamed to {safe!r} (unsafe characters in a bundle name)")
        planned = copy(f"model/{safe}", source, Path(focus.root))
        fmt = sniff(source)
        model_files.append({"path": safe, "size": planned.digest.size, "sha256": planned.digest.sha256, "format": fmt,
                            "unsafe_deserialization": fmt in UNSAFE_FORMATS})  # fmt: skip
    meta = mlflow_model_meta(choice)
    unsafe_reasons = flavor_unsafe(meta)
    left_out = []
    for rel, path, why in choice.left_out:
        entry: dict[str, Any] = {"path": focus.relative(path), "reason": why}
        if not rel.endswith("/"):
            entry["size"] = hashes.size(focus.root, path)
            entry["sha256"] = hashes.sha256(focus.root, path, fresh=True)
        left_out.append(entry)
    gaps += [f"model: {n}" for n in choice.notes]
    model_info = {
        "schema": "expdesk.model-info/1",
        "name": choice.name,
        "kind": choice.kind,
        "chosen_as": choice.how,
        "choice": {
            "rule": choice.rule,
            "why": choice.how,
            "fallbacks": choice.notes,
            "left_out": left_out,
            "training_state_included": options.with_training_state,
        },
        "source_run": key,
        # relative to the run's store or own folder: the same wherever the run was watched from
        "original_relative_path": focus.relative(choice.base),
        "relative_to": "store" if focus.base != Path(focus.path) else "folder",
        "files": model_files,
        "renamed": renamed,
        "unsafe_deserialization": any(f["unsafe_deserialization"] for f in model_files)
        or bool(unsafe_reasons),
        "unsafe_reasons": unsafe_reasons,
        "mlflow": meta,
        "mlflow_logged_model": _portable_logged_model(choice.mlflow, focus),
        "signature": (meta or {}).get("signature"),
    }
    put("model-info.json", canonical_json(model_info))
    report(4, 5, "writing per-run records")
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for record in records:
        folder = folder_name(record, taken)
        folders[record.run.key] = folder
        content = build_run_folder(reader, record, folder)
        for name, data in content.generated.items():
            put(f"{folder}/{name}", data)
        for name, source in content.copies.items():
            copy(f"{folder}/{name}", source, Path(record.run.root))
        label = "this run" if record.run.key == key else f"ancestor {record.run.label}"
        gaps += [f"{label}: {g}" for g in content.gaps]
    gaps += [f"lineage: {g}" for g in graph.gaps]
    if not options.license:
        gaps.append("license: none recorded; the card says 'unknown'")
    summary = json.loads(files[f"data/{folders[key]}/metrics-summary.json"].data or b"{}")
    datasets = sorted({_dataset_name(e) for r in records for e in r.inputs if _is_dataset(e)})
    lineage = lineage_document(
        graph, records, [{"path": f"model/{f['path']}", "sha256": f["sha256"]} for f in model_files]
    )
    lineage["gaps"] = sorted(set(lineage["gaps"]))
    sweep = sweep_of(catalog, key, options.sweep_metric)
    if sweep is not None:
        lineage["sweep"] = sweep
    put("lineage/lineage.json", canonical_json(lineage))
    put("lineage/prov.jsonld", canonical_json(prov_document(graph, records, model_files)))
    gaps = list(dict.fromkeys(gaps))
    title = f"{choice.name} from {focus.format} run {focus.label}"
    sources = {f["path"]: source for f, (_rel, source) in zip(model_files, choice.files, strict=True)}
    put("README.md", render_card(name=choice.name, records=records, graph=graph, model_info=model_info, summary=summary,
                                 datasets=datasets, gaps=gaps, license_id=options.license, folders=folders,
                                 sources=sources, sweep=sweep))  # fmt: skip
    date = _bundle_date(records)
    payload = {n: f.digest for n, f in files.items()}
    crate = build_crate(
        title=title,
        description=f"Model {choice.name} with the provenance of {len(records)} run(s), exported by expdesk. "
        f"Model files chosen by rule {choice.rule}: {choice.how}"
        + (f" ({'; '.join(choice.notes)})" if choice.notes else "")
        + (
            f"; {len(choice.left_out)} file(s) left out, listed in model-info.json."
            if choice.left_out
            else "."
        ),
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(date)),
        license_id=options.license,
        payload={n[len("data/") :]: d for n, d in payload.items()},
        records=records,
        folders=folders,
        model_files=[f"model/{f['path']}" for f in model_files],
        graph=graph,
        tool_version=__version__,
    )
    put("ro-crate-metadata.json", canonical_json(crate))
    payload = {n: f.digest for n, f in files.items()}
    lineage_hash = hashlib.sha256(files["data/lineage/lineage.json"].data or b"").hexdigest()
    info_fields = [
        ("Bag-Software-Agent", f"expdesk {__version__}"),
        ("Bagging-Date", time.strftime("%Y-%m-%d", time.gmtime(date))),
        ("External-Identifier", f"urn:uuid:{uuid.uuid5(BUNDLE_NAMESPACE, lineage_hash)}"),
        ("External-Description", f"model {choice.name} from run {focus.native_id or focus.label}"),
        ("Internal-Sender-Identifier", SCHEMA_ID),
    ]
    tags = bagit.tag_files(payload, info_fields)
    hashes.flush()
    report(5, 5, "planned")
    model_line = (
        f"{model_info['original_relative_path']} ({len(model_files)} file(s); {choice.rule}: {choice.how})"
    )
    return BundlePlan(key, title, slug(f"{focus.label}-{choice.name}"), files, tags,
                      bagit.fingerprint(tags), gaps, order, model_line)  # fmt: skip


def _source_chunks(planned: PlannedFile) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        assert planned.source is not None
        fd, _ = open_regular(planned.source)
        digest = hashlib.sha256()
        try:
            for chunk in iter_fd(fd):
                digest.update(chunk)
                yield chunk
        finally:
            os.close(fd)
        if digest.hexdigest() != planned.digest.sha256:
            raise ExpdeskError(f"{planned.source} changed while exporting; export again")

    return produce


def refuse_watched(reader: IndexReader, out: Path) -> None:
    """Never write into a watched folder: the bundle goes elsewhere."""
    target = out.resolve()
    for root in reader.watched_folders():
        if is_within(target, Path(root).resolve()):
            raise UsageError(f"{out} is inside the watched folder {root}; expdesk never writes there")


def write_bundle(
    plan: BundlePlan,
    out: Path,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Path:
    """Write the planned bundle. `out` is a .zip path or a folder (then `<slug>-<fp12>.zip` inside it)."""
    target = out / plan.zip_name if out.is_dir() else out
    if not target.parent.is_dir():
        raise UsageError(f"folder {target.parent} does not exist")
    entries = [ZipEntry(f"{plan.base}/{n}", bytes_chunks(d), True) for n, d in plan.tags.items()]
    for planned in plan.files.values():
        chunks = _source_chunks(planned) if planned.copied else bytes_chunks(planned.data or b"")
        entries.append(ZipEntry(f"{plan.base}/{planned.name}", chunks, compress=not planned.copied))
    total, done = plan.total_bytes, 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total, "writing")

    write_zip(target, entries, advance, cancelled)
    return target
