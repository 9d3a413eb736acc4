"""Checks on a received zip's central directory, done before a single byte is extracted or trusted.

Every name must be a plain relative POSIX path below one top folder (no `..`, no absolute or drive paths,
no backslashes, no control characters, no `%`, no `:`, no trailing dot/space), entries must be regular
files or folders (no symlink, FIFO or device modes), names must not collide (exactly, by case or by Unicode
normalisation), and sizes must stay under caps: total, per-entry ratio, entry count. Encrypted entries and
compression methods other than STORED/DEFLATED are refused. Overlapping entries (quoted-overlap bombs) are
refused by checking that each entry's compressed data ends before the next local header.
"""

from __future__ import annotations

import itertools
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from expdesk.core.errors import ExpdeskError

_FORBIDDEN = set('\\%:*?"<>|')


class UnsafeArchive(ExpdeskError):
    """The archive is refused; nothing was written."""


@dataclass(frozen=True)
class Limits:
    max_entries: int = 100_000
    max_total_bytes: int = 64 * 1024**3
    max_ratio: float = 200.0  # uncompressed / compressed, for entries over `ratio_floor` bytes
    ratio_floor: int = 1 << 20
    max_name_bytes: int = 4096
    max_part_bytes: int = 255


def check_name(name: str, limits: Limits) -> str | None:
    """Why `name` is unsafe, or None."""
    if not name:
        return "empty name"
    if len(name.encode("utf-8", "surrogatepass")) > limits.max_name_bytes:
        return "name too long"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "control character in name"
    if any(c in _FORBIDDEN for c in name):
        return "backslash, '%', ':' or a reserved character in name"
    if name.startswith("/") or name.startswith("~"):
        return "absolute or home-relative path"
    if unicodedata.normalize("NFC", name) != name:
        return "name is not NFC-normalised"
    parts = name.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return "empty, '.' or '..' path component"
        if part != part.rstrip(" ."):
            return "path component ends with a dot or space"
        if len(part.encode("utf-8", "surrogatepass")) > limits.max_part_bytes:
            return "path component too long"
    return None


def checked_entries(archive: zipfile.ZipFile, limits: Limits) -> tuple[str, list[zipfile.ZipInfo]]:
    """(top folder, file entries) after every check; raises `UnsafeArchive` naming the entry and the reason."""
    infos = archive.infolist()
    if not infos:
        raise UnsafeArchive("the archive is empty")
    if len(infos) > limits.max_entries:
        raise UnsafeArchive(f"{len(infos)} entries, over the {limits.max_entries} limit")
    seen: dict[str, str] = {}
    tops: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = info.filename
        # zipfile cuts names at a NUL byte; the original (central directory) name is what other tools see
        reason = "NUL byte in name" if info.orig_filename != name else check_name(name, limits)
        if reason is not None:
            raise UnsafeArchive(f"entry {name!r}: {reason}")
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchive(f"entry {name!r}: not a regular file (mode {stat.filemode(mode)})")
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"entry {name!r}: encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsafeArchive(f"entry {name!r}: unsupported compression method {info.compress_type}")
        folded = unicodedata.normalize("NFC", name.rstrip("/")).casefold()
        if folded in seen:
            raise UnsafeArchive(
                f"entry {name!r} collides with {seen[folded]!r} (duplicate, case or normalisation)"
            )
        seen[folded] = name
        tops.add(name.split("/", 1)[0])
        if info.is_dir():
            continue
        if "/" not in name:
            raise UnsafeArchive(f"entry {name!r} lies outside the single top folder")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnsafeArchive(f"entry {name!r}: compression ratio over {limits.max_ratio:g} (zip bomb?)")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeArchive(f"uncompressed size over the {limits.max_total_bytes}-byte limit (zip bomb?)")
        files.append(info)
    if len(tops) != 1:
        raise UnsafeArchive(f"expected one top folder, found {len(tops)}: {', '.join(sorted(tops)[:5])}")
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, nxt in itertools.pairwise(ordered):
        # a local header is >= 30 bytes + name; compressed data must end before the next header starts
        if (
            current.header_offset + 30 + len(current.filename.encode()) + current.compress_size
            > nxt.header_offset
        ):
            raise UnsafeArchive(f"entries {current.filename!r} and {nxt.filename!r} overlap (zip bomb?)")
    if any(n.split("/", 1)[1:] == ["fetch.txt"] for n in seen):
        raise UnsafeArchive("the bag has a fetch.txt: expdesk never fetches files from URLs")
    return tops.pop(), files


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeArchive(f"{path}: not a readable zip archive ({exc})") from None
