"""`expdesk open`: unpack a received bundle safely, then verify it before anything shows it.

Order: every central-directory entry is checked (`archive.checked_entries`) before the first write; files are
created with O_EXCL|O_NOFOLLOW inside a fresh private temp folder, in folders we created ourselves; each
entry is capped at its declared size and the total at the limit; then the bag is verified. On any failure
the temp folder is removed: nothing is left behind and nothing was ever written outside it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from expdesk.bundle.archive import Limits, UnsafeArchive, checked_entries, open_zip
from expdesk.bundle.verify import VerifyReport, verify
from expdesk.core.paths import is_within


@dataclass
class OpenedBundle:
    folder: Path  # the temp folder we own (delete it when done)
    bag: Path  # the bag's base folder inside it
    report: VerifyReport

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def extract_bundle(zip_path: Path, parent: Path | None = None, limits: Limits | None = None) -> OpenedBundle:
    """Extract into a new temp folder under `parent` (default: the system temp dir) and verify.

    Raises `UnsafeArchive` (nothing written) or returns the verified bundle; a bundle that extracts but fails
    verification is removed and reported through `UnsafeArchive` with every problem named.
    """
    limits = limits or Limits()
    with open_zip(zip_path) as archive:
        top, infos = checked_entries(archive, limits)  # raises before anything is written
        folder = Path(tempfile.mkdtemp(prefix="expdesk-open-", dir=parent))
        try:
            base = folder.resolve()
            total = 0
            for info in infos:
                target = base / info.filename
                if not is_within(target.resolve(), base):  # belt and braces: names were already checked
                    raise UnsafeArchive(f"entry {info.filename!r} would leave the extraction folder")
                _make_dirs(base, target.parent)
                fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
                )
                written = 0
                try:
                    with archive.open(info) as source:
                        while chunk := source.read(1 << 20):
                            written += len(chunk)
                            total += len(chunk)
                            if written > info.file_size:
                                raise UnsafeArchive(
                                    f"entry {info.filename!r} holds more than its declared {info.file_size} bytes"
                                )
                            if total > limits.max_total_bytes:
                                raise UnsafeArchive("uncompressed size over the limit (zip bomb?)")
                            os.write(fd, chunk)
                finally:
                    os.close(fd)
            bag = base / top
            report = verify(bag, limits)
            if not report.ok:
                raise UnsafeArchive("the bundle does not verify:\n  " + "\n  ".join(report.problems))
            return OpenedBundle(folder, bag, report)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, (OSError, EOFError)) or type(exc).__name__ == "BadZipFile":
                raise UnsafeArchive(f"{zip_path}: cannot be extracted ({exc})") from None
            raise


def _make_dirs(base: Path, folder: Path) -> None:
    """Create `folder` below `base` one level at a time, refusing anything that is not our plain folder."""
    current = base
    for part in folder.relative_to(base).parts:
        current = current / part
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise UnsafeArchive(f"{current.relative_to(base)} is not a folder") from None
