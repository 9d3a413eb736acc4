"""Shared steps: export a run, unzip it, run the external checkers."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from expdesk.bundle.export import BundlePlan, ExportOptions, plan_bundle, write_bundle
from expdesk.index.service import Index


def export(index: Index, key: str, out: Path, **options: object) -> tuple[BundlePlan, Path]:
    with index.reader() as reader:
        plan = plan_bundle(reader, key, ExportOptions(**options), writer_call=index.writer.call)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    return plan, write_bundle(plan, out)


def unzip(path: Path, into: Path) -> Path:
    """Extract with the standard library (a trusted bundle we just wrote) and return the bag folder."""
    with zipfile.ZipFile(path) as archive:
        tops = {n.split("/", 1)[0] for n in archive.namelist()}
        assert len(tops) == 1
        archive.extractall(into)
    return into / tops.pop()


def sha256sum_check(bag: Path, manifest: str) -> subprocess.CompletedProcess[str]:
    tool = "sha512sum" if "sha512" in manifest else "sha256sum"
    return subprocess.run(
        [tool, "-c", "--strict", manifest], cwd=bag, capture_output=True, text=True, check=False
    )
