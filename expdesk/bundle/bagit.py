"""BagIt 1.0 (RFC 8493) tag files, written by hand (the `bagit` package is only a test dependency).

Manifest lines are `hex␠␠data/path`, sorted by the UTF-8 bytes of the path, which `sha256sum -c` reads
directly. RFC 8493 percent-encodes LF, CR and `%` in manifest paths; export refuses such names so that the
RFC form and coreutils' form never diverge (both encoders are kept here for reading other bags).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ALGORITHMS = ("sha256", "sha512")
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt")


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    sha512: str

    def of(self, algorithm: str) -> str:
        return self.sha256 if algorithm == "sha256" else self.sha512


def digest_bytes(data: bytes) -> Digest:
    return Digest(len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest())


def encode_path(name: str) -> str:
    return name.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def decode_path(name: str) -> str:
    return (
        name.replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%25", "%")
    )


def manifest_text(digests: dict[str, Digest], algorithm: str) -> bytes:
    lines = [
        f"{digests[name].of(algorithm)}  {encode_path(name)}\n"
        for name in sorted(digests, key=lambda n: n.encode("utf-8"))
    ]
    return "".join(lines).encode("utf-8")


def payload_oxum(payload: dict[str, Digest]) -> str:
    return f"{sum(d.size for d in payload.values())}.{len(payload)}"


def bag_info_text(fields: list[tuple[str, str]]) -> bytes:
    lines = []
    for label, value in fields:
        # tag values are single lines: a newline in a run name must not forge another field
        clean = " ".join(str(value).split())
        lines.append(f"{label}: {clean}\n")
    return "".join(lines).encode("utf-8")


def tag_files(payload: dict[str, Digest], info_fields: list[tuple[str, str]]) -> dict[str, bytes]:
    """Every tag file of the bag for this payload; `Payload-Oxum` is computed, not taken from the caller."""
    fields = [(k, v) for k, v in info_fields if k != "Payload-Oxum"]
    fields.insert(2 if len(fields) >= 2 else len(fields), ("Payload-Oxum", payload_oxum(payload)))
    tags = {
        "bagit.txt": BAGIT_TXT,
        "bag-info.txt": bag_info_text(fields),
        "manifest-sha256.txt": manifest_text(payload, "sha256"),
        "manifest-sha512.txt": manifest_text(payload, "sha512"),
    }
    tag_digests = {name: digest_bytes(data) for name, data in tags.items()}
    for algorithm in ALGORITHMS:
        tags[f"tagmanifest-{algorithm}.txt"] = manifest_text(tag_digests, algorithm)
    return tags


def fingerprint(tags: dict[str, bytes]) -> str:
    """The bundle fingerprint: SHA-256 of `tagmanifest-sha256.txt` (covers the manifests, hence the payload)."""
    return hashlib.sha256(tags["tagmanifest-sha256.txt"]).hexdigest()


def parse_manifest(text: str) -> tuple[dict[str, str], list[str]]:
    """{path: hex} and the problems found (bad lines, duplicates)."""
    entries: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(None, 1) if "  " not in line else line.split("  ", 1)
        if len(parts) != 2:
            problems.append(f"line {number}: not 'checksum  path'")
            continue
        checksum, raw_path = parts[0].strip().lower(), parts[1].lstrip("*").strip()
        path = decode_path(raw_path)
        if path in entries:
            problems.append(f"line {number}: {path} listed twice")
        entries[path] = checksum
    return entries, problems


def parse_bag_info(text: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    last: str | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            fields[last][-1] += " " + line.strip()  # RFC 8493 continuation line
            continue
        if ":" in line:
            label, value = line.split(":", 1)
            last = label.strip()
            fields.setdefault(last, []).append(value.strip())
    return fields
