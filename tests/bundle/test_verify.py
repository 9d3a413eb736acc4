"""`expdesk verify` names each kind of tampering, on the extracted folder and on a re-zipped bundle."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from expdesk.bundle.verify import verify
from expdesk.cli import main
from expdesk.index.service import Index
from tests.bundle.conftest import MODEL_RUN, key_of
from tests.bundle.helpers import export, unzip


@pytest.fixture
def bundle(mlflow_contract_index: Index, tmp_path: Path) -> tuple[Path, Path, str]:
    plan, path = export(mlflow_contract_index, key_of(mlflow_contract_index, MODEL_RUN), tmp_path / "out")
    return path, unzip(path, tmp_path / "x"), plan.fingerprint


def rezip(bag: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for p in sorted(bag.rglob("*")):
            if p.is_file():
                archive.write(p, f"{bag.name}/{p.relative_to(bag).as_posix()}")
    return target


def test_intact_bundle_verifies_with_its_fingerprint(
    bundle: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, bag, fingerprint = bundle
    assert verify(bag).ok and verify(path).fingerprint == fingerprint
    assert path.name.endswith(f"-{fingerprint[:12]}.zip")
    assert main(["verify", str(path)]) == 0
    assert fingerprint in capsys.readouterr().out


def test_flipped_byte(
    bundle: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _path, bag, _fp = bundle
    target = bag / "data" / "model" / "model.skops"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    problems = verify(bag).problems
    assert "data/model/model.skops: sha256 mismatch" in " ".join(problems)
    assert "data/model/model.skops: sha512 mismatch" in " ".join(problems)
    zipped = rezip(bag, tmp_path / "flipped.zip")
    assert main(["verify", str(zipped)]) == 1
    assert "FAIL data/model/model.skops: sha256 mismatch" in capsys.readouterr().out


def test_removed_file(bundle: tuple[Path, Path, str], tmp_path: Path) -> None:
    _path, bag, _fp = bundle
    (bag / "data" / "model" / "conda.yaml").unlink()
    problems = verify(bag).problems
    assert "data/model/conda.yaml: listed in manifest-sha256.txt but missing" in problems
    assert "data/model/conda.yaml: listed in data/ro-crate-metadata.json but missing" in problems
    assert any(p.startswith("bag-info.txt: Payload-Oxum says") for p in problems)
    assert not verify(rezip(bag, tmp_path / "removed.zip")).ok


def test_added_file(bundle: tuple[Path, Path, str]) -> None:
    _path, bag, _fp = bundle
    (bag / "data" / "model" / "extra.txt").write_text("sneaked in")
    problems = verify(bag).problems
    assert "data/model/extra.txt: present but not listed in manifest-sha256.txt" in problems
    assert "data/model/extra.txt: in the payload but not described in data/ro-crate-metadata.json" in problems


def test_tag_file_tampering_and_fetch(bundle: tuple[Path, Path, str]) -> None:
    _path, bag, _fp = bundle
    info = bag / "bag-info.txt"
    info.write_text(info.read_text().replace("expdesk 0.1.0", "someone else"))
    (bag / "fetch.txt").write_text("http://example.org/x 10 data/x\n")
    problems = verify(bag).problems
    assert "bag-info.txt: sha256 mismatch (listed in tagmanifest-sha256.txt)" in problems
    assert any(p.startswith("fetch.txt: present") for p in problems)


def test_manifest_path_escape_is_named(bundle: tuple[Path, Path, str]) -> None:
    _path, bag, _fp = bundle
    manifest = bag / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  ../../etc/passwd\n")
    assert "manifest-sha256.txt: '../../etc/passwd' is not a safe path under data/" in verify(bag).problems


def test_verify_a_folder_holding_the_bag(bundle: tuple[Path, Path, str], tmp_path: Path) -> None:
    _path, bag, _fp = bundle
    holder = tmp_path / "holder"
    shutil.copytree(bag, holder / bag.name)
    assert verify(holder).ok
