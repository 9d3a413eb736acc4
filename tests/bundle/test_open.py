"""`expdesk open` refuses hostile archives before writing anything, and never writes outside its temp dir."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from expdesk.bundle.archive import Limits, UnsafeArchive
from expdesk.bundle.extract import extract_bundle
from expdesk.cli import main
from expdesk.index.service import Index
from tests.bundle.conftest import MODEL_RUN, key_of
from tests.bundle.helpers import export

SLIP_NAMES = [
    "../x", "b/a/../../x", "b/./../x", "/etc/passwd", "b/\\..\\x", "b/a\\..\\..\\x", "C:\\x", "C:x", "\\\\?\\C:\\x",
    "\\\\srv\\share\\x", "~/x", "~root/x", "b/%2e%2e%2fx", "b/%252e%252e%252fx", "b/..%2fx", "b/x\x00.txt",
    "b/file:///etc/x", "b/trailing. ", "b/CON:", "b//x", "b/new\nline",
]  # fmt: skip


def make_zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def assert_refused(path: Path, parent: Path, match: str, limits: Limits | None = None) -> None:
    with pytest.raises(UnsafeArchive, match=match):
        extract_bundle(path, parent, limits)
    assert list(parent.iterdir()) == [], "something was written"


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    folder = tmp_path / "extract-here"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("name", SLIP_NAMES)
def test_zip_slip_names_are_refused(name: str, tmp_path: Path, parent: Path) -> None:
    # zipfile itself cuts names at NUL when writing: write a placeholder byte and patch it into the headers
    path = make_zip(
        tmp_path / "slip.zip", [("b/bagit.txt", b"x", None), (name.replace("\x00", "\x01"), b"evil", None)]
    )
    if "\x00" in name:
        path.write_bytes(path.read_bytes().replace(b"x\x01.txt", b"x\x00.txt"))
    assert_refused(path, parent, "entry")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "mode", [stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o644, stat.S_IFBLK | 0o644]
)
def test_links_and_devices_are_refused(mode: int, tmp_path: Path, parent: Path) -> None:
    path = make_zip(
        tmp_path / "link.zip", [("b/bagit.txt", b"x", None), ("b/data/evil", b"/etc/passwd", mode)]
    )
    assert_refused(path, parent, "not a regular file")


@pytest.mark.parametrize(
    "names",
    [
        ["b/a.txt", "b/a.txt"],
        ["b/A.txt", "b/a.txt"],
        ["b/caf\u00e9", "b/cafe\u0301"],
        ["b/a", "c/b"],
        ["top.txt", "b/x"],
    ],
)
def test_collisions_and_stray_entries_are_refused(names: list[str], tmp_path: Path, parent: Path) -> None:
    with pytest.warns(UserWarning) if names[0] == names[1] else _nothing():
        path = make_zip(tmp_path / "dup.zip", [(n, b"x", None) for n in names])
    assert_refused(path, parent, "collides|top folder|NFC|outside")


def test_ratio_bomb_is_refused(tmp_path: Path, parent: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("b/bagit.txt", b"x")
        archive.writestr("b/data/zeros", bytes(20 * 1024 * 1024))
    assert_refused(path, parent, "ratio")


def test_total_size_cap(tmp_path: Path, parent: Path) -> None:
    path = make_zip(tmp_path / "big.zip", [("b/bagit.txt", b"x", None), ("b/data/a", b"y" * 5000, None)])
    assert_refused(path, parent, "over the", Limits(max_total_bytes=4000))


def test_declared_size_smaller_than_actual(tmp_path: Path, parent: Path) -> None:
    path = make_zip(tmp_path / "lie.zip", [("b/data/a", b"z" * 4096, None)])
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (16).to_bytes(4, "little")  # declared uncompressed size: 16 bytes
    path.write_bytes(bytes(raw))
    assert_refused(path, parent, "declared|cannot be extracted|Bad")


def test_fetch_txt_is_refused(tmp_path: Path, parent: Path) -> None:
    path = make_zip(
        tmp_path / "fetch.zip", [("b/bagit.txt", b"x", None), ("b/fetch.txt", b"http://x 1 data/x\n", None)]
    )
    assert_refused(path, parent, "fetch.txt")


def test_encrypted_and_truncated_archives(tmp_path: Path, parent: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", [("b/bagit.txt", b"x", None)])
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 8] |= 0x1
    path.write_bytes(bytes(raw))
    assert_refused(path, parent, "encrypted")
    truncated = tmp_path / "trunc.zip"
    truncated.write_bytes(raw[: len(raw) // 2])
    assert_refused(truncated, parent, "not a readable zip")


def test_bundle_that_does_not_verify_is_removed(tmp_path: Path, parent: Path) -> None:
    path = make_zip(
        tmp_path / "notabag.zip", [("b/bagit.txt", b"BagIt-Version: 1.0\n", None), ("b/data/x", b"1", None)]
    )
    assert_refused(path, parent, "does not verify")


def test_a_real_bundle_opens_read_only(
    mlflow_contract_index: Index, tmp_path: Path, parent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, path = export(mlflow_contract_index, key_of(mlflow_contract_index, MODEL_RUN), tmp_path / "out")
    opened = extract_bundle(path, parent)
    assert opened.report.ok and opened.report.fingerprint == plan.fingerprint
    assert opened.bag.parent.parent == parent and (opened.bag / "data" / "model" / "MLmodel").is_file()
    opened.cleanup()
    assert list(parent.iterdir()) == []
    assert main(["open", str(path), "--into", str(parent)]) == 0
    assert "verified" in capsys.readouterr().out
    assert list(parent.iterdir()) == []


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
