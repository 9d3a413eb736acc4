"""Where the index file lives: a network filesystem (NFS, SMB, sshfs, 9p...) or a read-only mount.

SQLite's WAL needs shared memory that every process sees (the `-shm` file is memory-mapped), and
memory-mapped reads assume the page cache is coherent with other writers: neither holds on a network
filesystem, where both corrupt or read garbage silently. There the index uses a rollback journal and plain
reads (slower, safe). The probe is injectable so tests can pretend any filesystem.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: filesystem types (as /proc/self/mountinfo names them) on which WAL and mmap are unsafe
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",  # WSL's /mnt/c, VM shared folders
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.gcsfuse",
        "fuse.davfs",
        "fuse.smbnetfs",
        "vboxsf",
        "prl_fs",
    }
)


@dataclass(frozen=True)
class FsInfo:
    """What the probe found about the filesystem holding a path."""

    fs_type: str | None  # None: could not tell (treated as a local disk)
    read_only: bool = False


#: probe(folder) -> FsInfo; `folder` exists
FsProbe = Callable[[Path], FsInfo]


@dataclass(frozen=True)
class Storage:
    """The index file's filesystem, and what expdesk does about it."""

    db_path: Path
    fs_type: str | None
    network: bool
    read_only: bool

    @property
    def journal_mode(self) -> str:
        return "DELETE" if self.network else "WAL"

    @property
    def mmap_reads(self) -> bool:
        return not self.network

    def notice(self) -> str | None:
        """The one line the user is told about this storage (None when there is nothing to say)."""
        if self.read_only:
            return (
                f"the index at {self.db_path} is on a read-only filesystem: showing what it holds,"
                " indexing and edits are off"
            )
        if self.network:
            return (
                f"the index at {self.db_path} is on a network filesystem ({self.fs_type}): using a"
                " rollback journal and no memory-mapped reads there (safe, a little slower);"
                " set EXPDESK_DB or --db to a local disk for full speed"
            )
        return None


def _existing_folder(path: Path) -> Path:
    """The index file's folder, or its nearest existing ancestor (the folder may not be created yet)."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _unescape_mount(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo octal
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 4 <= len(text) and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def mount_fs_type(folder: Path, mountinfo: str) -> str | None:
    """The fs type of the mount holding `folder` (longest mount point that contains it), from the text of
    /proc/self/mountinfo: `id parent major:minor root mountpoint options ... - fstype source superopts`."""
    target = os.path.realpath(folder)
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < 5 or sep + 1 >= len(fields):
            continue
        mount_point = _unescape_mount(fields[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        # the later of two equal mount points wins: it is stacked on top of the earlier one
        if inside and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), fields[sep + 1])
    return None if best is None else best[1]


def probe_filesystem(folder: Path) -> FsInfo:
    """The real probe: /proc/self/mountinfo on Linux, UNC paths on Windows; `statvfs` for read-only."""
    read_only = False
    if hasattr(os, "statvfs"):
        with contextlib.suppress(OSError):
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    fs_type: str | None = None
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
                fs_type = mount_fs_type(folder, fh.read())
        except OSError:
            fs_type = None
    elif sys.platform == "win32":  # pragma: no cover - a UNC path (\\server\share) is SMB
        if str(folder.absolute()).startswith("\\\\"):
            fs_type = "smb"
    return FsInfo(fs_type, read_only)


def describe(db_path: Path, probe: FsProbe = probe_filesystem) -> Storage:
    info = probe(_existing_folder(db_path))
    fs_type = info.fs_type.lower() if info.fs_type else None
    network = fs_type is not None and (fs_type in NETWORK_FS_TYPES or fs_type == "smb")
    return Storage(Path(db_path), fs_type, network, info.read_only)
