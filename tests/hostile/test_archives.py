"""The Archives rows tests/bundle does not cover yet: hostile `ro-crate-metadata.json` documents and a BOM
in `bagit.txt`. `verify` must name a problem, never raise, and never follow an `@id` out of the bag."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from expdesk.bundle.verify import verify
from expdesk.index.service import Index
from tests.bundle.conftest import MODEL_RUN, index, key_of, mlflow_contract_index
from tests.bundle.helpers import export, unzip

__all__ = ["index", "mlflow_contract_index"]  # fixtures shared with tests/bundle

CRATES = {
    "deep": b"[" * 10_000 + b"]" * 10_000,
    "nan": b'{"@context": "https://w3id.org/ro/crate/1.2/context", "@graph": [], "x": NaN}',
    "bigint": b'{"@context": "x", "@graph": [], "n": ' + b"9" * 5000 + b"}",
    "dupes": b'{"@graph": [], "@graph": []}',
    "escape": b'{"@context": "x", "@graph": [{"@id": "../../etc/passwd", "@type": "File"},'
    b' {"@id": "file:///etc/shadow", "@type": "File"}]}',
    "binary": b"\xff\xfe\x00garbage",
}


@pytest.fixture
def bag(mlflow_contract_index: Index, tmp_path: Path) -> Path:
    _plan, path = export(mlflow_contract_index, key_of(mlflow_contract_index, MODEL_RUN), tmp_path / "out")
    return unzip(path, tmp_path / "x")


def _retag(bag: Path, name: str, content: bytes) -> None:
    """Replace a tag file *and* its tag-manifest line, so only the content itself is hostile."""
    (bag / name).write_bytes(content)
    manifest = bag / "tagmanifest-sha256.txt"
    lines = [ln for ln in manifest.read_text().splitlines() if not ln.endswith(f"  {name}")]
    lines.append(f"{hashlib.sha256(content).hexdigest()}  {name}")
    manifest.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("case", sorted(CRATES))
def test_hostile_crate_metadata_is_a_named_problem(bag: Path, case: str) -> None:
    crate = bag / "data" / "ro-crate-metadata.json"
    content = CRATES[case]
    crate.write_bytes(content)
    manifest = bag / "manifest-sha256.txt"
    lines = [
        ln for ln in manifest.read_text().splitlines() if not ln.endswith("  data/ro-crate-metadata.json")
    ]
    lines.append(f"{hashlib.sha256(content).hexdigest()}  data/ro-crate-metadata.json")
    manifest.write_text("\n".join(lines) + "\n")
    _retag(bag, "manifest-sha256.txt", manifest.read_bytes())
    report = verify(bag)
    assert not report.ok
    assert any("ro-crate" in p for p in report.problems), report.problems


def test_bom_in_bagit_txt_is_named(bag: Path) -> None:
    _retag(bag, "bagit.txt", b"\xef\xbb\xbf" + (bag / "bagit.txt").read_bytes())
    report = verify(bag)
    assert not report.ok and any("bagit.txt" in p for p in report.problems), report.problems
