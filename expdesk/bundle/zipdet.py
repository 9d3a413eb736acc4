"""A byte-deterministic ZIP writer (BUNDLE.md "Deterministic ZIP").

`ZipInfo` objects are built by hand: a fixed 1980-01-01 date (or `SOURCE_DATE_EPOCH`, UTC, >= 1980),
`create_system = 3` (Unix), mode 0644, no extra fields, no comment, entries sorted by the UTF-8 bytes of
their NFC name, no directory entries. Copied files (already-compressed weights, configs) are STORED, generated
text is DEFLATED at a pinned level. DEFLATE output can differ between zlib builds (zlib vs zlib-ng): bytes are
identical on one machine/image; STORED entries are identical everywhere.
"""

from __future__ import annotations

import os
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_ATTR = (0o100644 & 0xFFFF) << 16
DEFLATE_LEVEL = 6


def zip_date() -> tuple[int, int, int, int, int, int]:
    """The entry timestamp: SOURCE_DATE_EPOCH in UTC when set (and >= 1980), else 1980-01-01."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw:
        try:
            stamp = time.gmtime(int(raw))
        except (ValueError, OverflowError, OSError):
            return FIXED_DATE
        if stamp.tm_year >= 1980:
            # DOS time has 2-second resolution: round down so the value is representable exactly
            return (
                stamp.tm_year,
                stamp.tm_mon,
                stamp.tm_mday,
                stamp.tm_hour,
                stamp.tm_min,
                stamp.tm_sec - stamp.tm_sec % 2,
            )
    return FIXED_DATE


@dataclass(frozen=True)
class ZipEntry:
    name: str  # POSIX path inside the archive
    chunks: Callable[[], Iterable[bytes]]  # produces the bytes (called once, at write time)
    compress: bool = True


def sort_key(name: str) -> bytes:
    return unicodedata.normalize("NFC", name).encode("utf-8")


def write_zip(
    path: Path,
    entries: list[ZipEntry],
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Write `entries` deterministically to `path` (via a temp file renamed into place on success)."""
    names = [unicodedata.normalize("NFC", e.name) for e in entries]
    if len(set(names)) != len(names) or len({n.casefold() for n in names}) != len(names):
        raise ValueError("duplicate or case-colliding names in the bundle")
    date = zip_date()
    tmp = path.with_name(f".{path.name}.part")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
            for entry in sorted(entries, key=lambda e: sort_key(e.name)):
                if cancelled():
                    raise InterruptedError("export cancelled")
                info = zipfile.ZipInfo(unicodedata.normalize("NFC", entry.name), date_time=date)
                info.create_system = 3
                info.external_attr = FILE_ATTR
                info.compress_type = zipfile.ZIP_DEFLATED if entry.compress else zipfile.ZIP_STORED
                if entry.compress:
                    # pinned level; the attribute is private in 3.11/3.12 and public from 3.13
                    if hasattr(info, "compress_level"):
                        info.compress_level = DEFLATE_LEVEL
                    else:
                        info._compresslevel = DEFLATE_LEVEL  # type: ignore[attr-defined]
                info.extra = b""
                info.comment = b""
                # force_zip64 always: the local header layout then does not depend on the file size
                with archive.open(info, "w", force_zip64=True) as out:
                    for chunk in entry.chunks():
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def bytes_chunks(data: bytes) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        yield data

    return produce
