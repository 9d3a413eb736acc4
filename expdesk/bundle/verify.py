"""`expdesk verify`: check a bundle (zip or folder) without trusting it, and name every mismatch.

Checks: `bagit.txt` (exact, no BOM), no `fetch.txt`, both payload manifests (every listed file present with
the right digest, every payload file listed), both tag manifests (tag files only), Payload-Oxum, and the
RO-Crate file list (every local File entity exists in the payload with the manifest's SHA-256; every payload
file is described). A zip is read in place after the central-directory checks of `archive`, each entry
capped at its declared size. The fingerprint is the SHA-256 of `tagmanifest-sha256.txt`.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.bundle.archive import Limits, UnsafeArchive, checked_entries, open_zip
from expdesk.bundle.bagit import ALGORITHMS, BAGIT_TXT, parse_bag_info, parse_manifest
from expdesk.bundle.names import is_safe_relpath
from expdesk.core.safefile import walk_stats

MAX_TAG_BYTES = 64 * 1024 * 1024
_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "sha512": re.compile(r"^[0-9a-f]{128}$")}


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    payload_files: int = 0
    payload_bytes: int = 0
    base: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class _Bag:
    """Files of a bag relative to its base folder: sizes and byte streams."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def chunks(self, name: str) -> Iterator[bytes]:
        raise NotImplementedError

    def read_small(self, name: str, cap: int = MAX_TAG_BYTES) -> bytes:
        if self.sizes.get(name, 0) > cap:
            raise ValueError(f"{name} is over {cap} bytes")
        return b"".join(self.chunks(name))


class _DirBag(_Bag):
    def __init__(self, base: Path, report: VerifyReport) -> None:
        super().__init__()
        self.base = base
        for rel, st in walk_stats(base):
            if stat.S_ISREG(st.st_mode):
                self.sizes[rel] = st.st_size
            else:
                report.problems.append(f"{rel}: not a regular file (symlink, FIFO or device)")

    def chunks(self, name: str) -> Iterator[bytes]:
        with open(self.base / name, "rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk


class _ZipBag(_Bag):
    def __init__(self, archive: zipfile.ZipFile, top: str, infos: list[zipfile.ZipInfo]) -> None:
        super().__init__()
        self.archive = archive
        self.infos = {i.filename[len(top) + 1 :]: i for i in infos}
        self.sizes = {name: info.file_size for name, info in self.infos.items()}

    def chunks(self, name: str) -> Iterator[bytes]:
        info = self.infos[name]
        remaining = info.file_size
        with self.archive.open(info) as handle:
            while chunk := handle.read(1 << 20):
                remaining -= len(chunk)
                if remaining < 0:  # more bytes than the directory declared: a bomb or a forgery
                    raise ValueError(f"{name}: more data than its declared {info.file_size} bytes")
                yield chunk


def _digests(bag: _Bag, name: str) -> tuple[dict[str, str], int]:
    hashers = {a: hashlib.new(a) for a in ALGORITHMS}
    size = 0
    for chunk in bag.chunks(name):
        size += len(chunk)
        for h in hashers.values():
            h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}, size


def _strict_json(data: bytes) -> Any:
    def no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate keys")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data.decode("utf-8"), object_pairs_hook=no_dupes, parse_constant=no_constants)


def _check_crate(bag: _Bag, manifest: dict[str, str], report: VerifyReport) -> None:
    name = "data/ro-crate-metadata.json"
    if name not in bag.sizes:
        report.problems.append(f"{name}: missing (not an RO-Crate)")
        return
    try:
        doc = _strict_json(bag.read_small(name))
        graph = doc["@graph"]
        assert isinstance(graph, list)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError, UnicodeDecodeError) as exc:
        report.problems.append(f"{name}: not a valid RO-Crate JSON-LD document ({exc})")
        return
    described: set[str] = set()
    for entity in graph:
        if not isinstance(entity, dict):
            continue
        types = entity.get("@type")
        types = types if isinstance(types, list) else [types]
        ident = entity.get("@id")
        if "File" not in types or not isinstance(ident, str) or ident.startswith("#"):
            continue
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", ident) and not ident.startswith("file:"):
            continue  # a web resource, described not contained
        if not is_safe_relpath(ident):
            report.problems.append(f"{name}: File @id {ident!r} is not a safe relative path")
            continue
        path = f"data/{ident}"
        described.add(path)
        if path not in bag.sizes:
            report.problems.append(f"{path}: listed in {name} but missing")
        elif entity.get("sha256") and entity["sha256"] != manifest.get(path):
            report.problems.append(f"{path}: sha256 in {name} differs from manifest-sha256.txt")
    for path in sorted(bag.sizes):
        if path.startswith("data/") and path != name and path not in described:
            report.problems.append(f"{path}: in the payload but not described in {name}")


def verify_bag(bag: _Bag, report: VerifyReport) -> VerifyReport:
    problems = report.problems
    if "fetch.txt" in bag.sizes:
        problems.append("fetch.txt: present; a bundle must be complete (expdesk never fetches URLs)")
    bagit_txt = bag.read_small("bagit.txt") if "bagit.txt" in bag.sizes else None
    if bagit_txt is None:
        problems.append("bagit.txt: missing (not a BagIt bag)")
    elif bagit_txt.startswith(b"\xef\xbb\xbf"):
        problems.append("bagit.txt: starts with a byte-order mark")
    elif bagit_txt != BAGIT_TXT:
        problems.append("bagit.txt: not 'BagIt-Version: 1.0' with UTF-8 tag encoding")
    payload = {n: s for n, s in bag.sizes.items() if n.startswith("data/")}
    report.payload_files, report.payload_bytes = len(payload), sum(payload.values())
    actual: dict[str, dict[str, str]] = {}
    for path in sorted(payload):
        actual[path], _ = _digests(bag, path)
    manifests: dict[str, dict[str, str]] = {}
    for algorithm in ALGORITHMS:
        mname = f"manifest-{algorithm}.txt"
        if mname not in bag.sizes:
            problems.append(f"{mname}: missing")
            continue
        entries, bad = parse_manifest(bag.read_small(mname).decode("utf-8", "replace"))
        problems += [f"{mname}: {b}" for b in bad]
        manifests[algorithm] = entries
        for path, expected in sorted(entries.items()):
            if not path.startswith("data/") or not is_safe_relpath(path):
                problems.append(f"{mname}: {path!r} is not a safe path under data/")
            elif not _HEX[algorithm].match(expected):
                problems.append(f"{mname}: {path}: malformed checksum")
            elif path not in actual:
                problems.append(f"{path}: listed in {mname} but missing")
            elif actual[path][algorithm] != expected:
                problems.append(
                    f"{path}: {algorithm} mismatch ({mname} says {expected[:16]}…, file is {actual[path][algorithm][:16]}…)"
                )
        for path in sorted(set(actual) - set(entries)):
            problems.append(f"{path}: present but not listed in {mname}")
    for algorithm in ALGORITHMS:
        tname = f"tagmanifest-{algorithm}.txt"
        if tname not in bag.sizes:
            problems.append(f"{tname}: missing")
            continue
        entries, bad = parse_manifest(bag.read_small(tname).decode("utf-8", "replace"))
        problems += [f"{tname}: {b}" for b in bad]
        for path, expected in sorted(entries.items()):
            if path.startswith("data/") or "/" in path or path not in bag.sizes:
                problems.append(f"{tname}: {path!r} is not a tag file of this bag")
            elif _digests(bag, path)[0][algorithm] != expected:
                problems.append(f"{path}: {algorithm} mismatch (listed in {tname})")
        if algorithm == "sha256":
            report.fingerprint = hashlib.sha256(bag.read_small(tname)).hexdigest()
    extra_tags = sorted(n for n in bag.sizes if not n.startswith("data/") and n not in _KNOWN_TAGS)
    problems += [f"{n}: unexpected file outside data/" for n in extra_tags]
    info = (
        parse_bag_info(bag.read_small("bag-info.txt").decode("utf-8", "replace"))
        if "bag-info.txt" in bag.sizes
        else {}
    )
    oxum_values = info.get("Payload-Oxum") or []
    oxum = oxum_values[0] if oxum_values else None
    real = f"{report.payload_bytes}.{report.payload_files}"
    if oxum is None:
        problems.append("bag-info.txt: no Payload-Oxum")
    elif oxum != real:
        problems.append(f"bag-info.txt: Payload-Oxum says {oxum}, the payload is {real} (bytes.files)")
    _check_crate(bag, manifests.get("sha256", {}), report)
    return report


_KNOWN_TAGS = {"bagit.txt", "bag-info.txt"} | {
    f"{k}-{a}.txt" for k in ("manifest", "tagmanifest") for a in ALGORITHMS
}


def verify(path: Path, limits: Limits | None = None) -> VerifyReport:
    """Verify a bundle zip, a bag folder, or a folder holding exactly one bag folder."""
    report = VerifyReport()
    if path.is_dir():
        base = path
        if not (base / "bagit.txt").exists():
            subdirs = [p for p in base.iterdir() if p.is_dir() and not p.is_symlink()]
            if len(subdirs) == 1 and (subdirs[0] / "bagit.txt").exists():
                base = subdirs[0]
        report.base = base.name
        try:
            return verify_bag(_DirBag(base, report), report)
        except (OSError, ValueError) as exc:
            report.problems.append(f"{base}: cannot be read ({exc})")
            return report
    with open_zip(path) as archive:
        try:
            top, infos = checked_entries(archive, limits or Limits())
        except UnsafeArchive as exc:
            report.problems.append(str(exc))
            return report
        report.base = top
        try:
            return verify_bag(_ZipBag(archive, top, infos), report)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            report.problems.append(f"{path}: cannot be read ({exc})")
            return report
