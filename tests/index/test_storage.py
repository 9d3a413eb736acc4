"""Where the index lives: network filesystems and read-only mounts are recognised from mount tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from expdesk.index.storage import FsInfo, describe, mount_fs_type, probe_filesystem

MOUNTINFO = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
35 22 0:31 / /home rw,relatime shared:15 - nfs4 filer:/export/home rw,vers=4.2
36 35 0:32 / /home/ana/scratch rw,relatime shared:16 - ext4 /dev/sdb1 rw
37 22 0:33 / /mnt/my\\040share rw,relatime shared:17 - cifs //srv/share rw
38 22 0:34 / /mnt/remote rw,nosuid - fuse.sshfs ana@box:/data rw
39 22 0:35 / /mnt/c rw,noatime - 9p drvfs rw
40 22 0:36 / /mnt/c rw,noatime - ext4 /dev/sdc1 rw
"""


@pytest.mark.parametrize(
    ("folder", "fs_type"),
    [
        ("/home/ana/.local/share/expdesk", "nfs4"),
        ("/home", "nfs4"),
        ("/homework", "ext4"),  # a prefix of the name is not a mount point
        ("/home/ana/scratch/x", "ext4"),  # a local disk mounted inside the network home
        ("/mnt/my share/expdesk", "cifs"),  # mountinfo escapes the space as \040
        ("/mnt/remote/idx", "fuse.sshfs"),
        ("/mnt/c/Users", "ext4"),  # the later of two mounts on one point is the one on top
        ("/var/lib", "ext4"),
    ],
)
def test_mount_table_names_the_filesystem(folder: str, fs_type: str) -> None:
    assert mount_fs_type(Path(folder), MOUNTINFO) == fs_type


@pytest.mark.parametrize("fs_type", ["nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "9p", "NFS4"])
def test_network_filesystems_get_the_safe_mode(tmp_path: Path, fs_type: str) -> None:
    storage = describe(tmp_path / "data" / "index.sqlite", lambda _folder: FsInfo(fs_type))
    assert storage.network and storage.journal_mode == "DELETE" and not storage.mmap_reads
    notice = storage.notice()
    assert notice is not None and fs_type.lower() in notice and "rollback journal" in notice


def test_local_disk_keeps_wal_and_mmap_and_says_nothing(tmp_path: Path) -> None:
    seen: list[Path] = []

    def probe(folder: Path) -> FsInfo:
        seen.append(folder)
        return FsInfo("ext4")

    storage = describe(tmp_path / "not" / "yet" / "index.sqlite", probe)
    assert (storage.network, storage.journal_mode, storage.mmap_reads) == (False, "WAL", True)
    assert storage.notice() is None
    assert seen == [tmp_path]  # the nearest folder that exists is probed


def test_read_only_mount_is_said(tmp_path: Path) -> None:
    storage = describe(tmp_path / "index.sqlite", lambda _folder: FsInfo("ext4", read_only=True))
    assert storage.read_only and "read-only" in (storage.notice() or "")


def test_real_probe_on_this_machine(tmp_path: Path) -> None:
    """The real probe answers for a real folder (whatever the test machine uses) without raising."""
    info = probe_filesystem(tmp_path)
    assert info.read_only is False
    assert info.fs_type is None or isinstance(info.fs_type, str)
