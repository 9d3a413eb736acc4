"""One writer at a time across processes: lock files next to the index (expdesk's own data folder).

Several expdesk processes may share one index (two windows, the GUI and `expdesk watch`, a CLI `index`
while the GUI runs). SQLite serialises their transactions itself, but only by sleeping and retrying until
a timeout, and then fails with "database is locked"; the lock here makes the handoff explicit instead:
each process's writer thread takes it around one batch (one transaction), so writers alternate batch by
batch, a waiting process can say who it waits for, and a process that exits or dies hands over at once.

Two files sit beside `index.sqlite` (never in a watched folder):
- `index.sqlite.lock`: held during a batch; its text names the holder (pid, host, program) for messages.
  A holder that exits cleanly empties it; text left behind means the holder died mid-batch.
- `index.sqlite.lock-queue`: a turnstile. A writer takes it before the main lock and lets go once it holds
  the main lock, so a process that releases the main lock and wants it again queues behind one that is
  already waiting (without it, the busy writer would win the race every time and starve the other).

Locks are `flock` (per open file, released by the kernel when the process dies, even on SIGKILL). Where
the filesystem refuses locks (ENOLCK: NFS without lockd), an `O_EXCL` file holding pid and host stands in;
a lock whose owner is gone (same host, pid not running) is taken over, and said so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: first pause between two tries of a held lock; doubles up to POLL_MAX
POLL_MIN = 0.002
POLL_MAX = 0.05

if sys.platform == "win32":  # pragma: no cover - Windows: byte-range locks through msvcrt
    import msvcrt

    def _try_flock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _unflock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_flock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _unflock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the writer lock, as written into the lock file."""

    pid: int
    host: str
    program: str

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.program} (pid {self.pid}{where})"

    def gone(self) -> bool:
        """True when the holder certainly no longer runs (same host, no such pid). Unknown counts as alive."""
        if self.host != socket.gethostname():
            return False
        return not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover
        return True  # no cheap probe without extra modules: never take over a live writer's lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    return True


def _parse_holder(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), str(data.get("program") or "expdesk"))
    except (ValueError, KeyError, TypeError):
        return None


def this_program() -> str:
    """What the lock file says about this process: `expdesk <command>` or the script's name."""
    argv = [a for a in sys.argv[:2] if a]
    name = os.path.basename(argv[0]) if argv else "python"
    if name in ("__main__.py", "-m", "-c", "expdesk"):
        name = "expdesk"
    if len(argv) > 1 and not argv[1].startswith("-"):
        name = f"{name} {argv[1]}"
    return name[:80]


class LockUnavailable(OSError):
    """The lock files cannot even be created (read-only folder or filesystem)."""


class _FileLock:
    """One exclusive lock file: `flock` where the filesystem supports it, else an O_EXCL file."""

    def __init__(self, path: Path, force_exclusive_file: bool = False, record: bool = True) -> None:
        self.path = path
        #: write the holder into the file (the main lock); a pure turnstile needs no record
        self._record = record
        self._fd: int | None = None
        self._held = False
        self._exclusive_file = force_exclusive_file

    def try_acquire(self, holder: Holder) -> tuple[bool, Holder | None]:
        """(acquired, stale holder taken over or None). Never blocks."""
        if self._exclusive_file:
            return self._try_exclusive_file(holder)
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockUnavailable(exc.errno, exc.strerror, str(self.path)) from None
        try:
            if not _try_flock(self._fd):
                return False, None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            # the filesystem keeps no locks (NFS mounted `nolock`, some FUSE): fall back for good
            os.close(self._fd)
            self._fd = None
            self._exclusive_file = True
            return self._try_exclusive_file(holder)
        self._held = True
        if not self._record:
            return True, None
        # the file is one flag byte ("1" held, "0" released) then the last holder's JSON. Only the flag is
        # written per batch (one byte in place: no truncate, no metadata change); the JSON when the
        # holder changes. A "1" found here was left by a holder that died mid-batch (the kernel freed
        # its lock, not its flag).
        text = self._read()
        left = _parse_holder(text[1:]) if text[:1] == "1" else None
        mine = json.dumps({"pid": holder.pid, "host": holder.host, "program": holder.program})
        self._write_at(0, "1" if text[1:] == mine else "1" + mine, truncate=text[1:] != mine)
        return True, left if left is not None and left != holder else None

    def _try_exclusive_file(self, holder: Holder) -> tuple[bool, Holder | None]:
        text = json.dumps({"pid": holder.pid, "host": holder.host, "program": holder.program})
        taken_over: Holder | None = None
        for _attempt in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                current = self.holder()
                if current is None or not current.gone():
                    return False, None
                # the owner is gone (same host, pid not running): a crash left the file; take it over
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
                taken_over = current
                continue
            except OSError as exc:
                raise LockUnavailable(exc.errno, exc.strerror, str(self.path)) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            self._held = True
            return True, taken_over
        return False, None

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._exclusive_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        assert self._fd is not None
        if self._record:
            self._write_at(0, "0")  # a clean release: nothing left to be mistaken for a crashed holder
        _unflock(self._fd)

    def holder(self) -> Holder | None:
        """The holder named in the file: the O_EXCL file's JSON, or the flock file's JSON while its flag
        says held (None when free or unknown)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if self._exclusive_file:
            return _parse_holder(text)
        return _parse_holder(text[1:]) if text[:1] == "1" else None

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read(self) -> str:
        assert self._fd is not None
        if hasattr(os, "pread"):
            return os.pread(self._fd, 4096, 0).decode("utf-8", "replace")
        os.lseek(self._fd, 0, os.SEEK_SET)  # pragma: no cover - Windows has no pread
        return os.read(self._fd, 4096).decode("utf-8", "replace")

    def _write_at(self, offset: int, text: str, truncate: bool = False) -> None:
        assert self._fd is not None
        if truncate:
            os.ftruncate(self._fd, 0)
        if hasattr(os, "pwrite"):
            os.pwrite(self._fd, text.encode(), offset)
        else:  # pragma: no cover - Windows has no pwrite
            os.lseek(self._fd, offset, os.SEEK_SET)
            os.write(self._fd, text.encode())


#: what a waiting writer is told, once per wait: the holder (None when unknown)
OnWait = Callable[[Holder | None], None]


class WriterLock:
    """The inter-process writer lock of one index file. Used by that index's writer thread only."""

    #: a wait longer than this is reported (once per wait) through `on_wait`
    REPORT_AFTER = 2.0

    def __init__(self, db_path: Path, force_exclusive_file: bool = False) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._main = _FileLock(self.path, force_exclusive_file)
        self._queue = _FileLock(
            db_path.with_name(db_path.name + ".lock-queue"), force_exclusive_file, record=force_exclusive_file
        )
        self.me = Holder(os.getpid(), socket.gethostname(), this_program())
        #: the holders that died holding the lock and were taken over (for a one-line notice)
        self.taken_over: list[Holder] = []

    def acquire(
        self, stop: threading.Event | None = None, on_wait: OnWait | None = None, timeout: float | None = None
    ) -> bool:
        """Block until this process holds the lock; False when `stop` is set or `timeout` passes first.
        Waits by polling with a short backoff: flock has no wait that a stop request could interrupt."""
        started = time.monotonic()
        pause = POLL_MIN
        reported = False
        have_queue = False
        try:
            while True:
                if not have_queue:
                    have_queue, stale = self._queue.try_acquire(self.me)
                    self._note(stale)
                if have_queue:
                    got, stale = self._main.try_acquire(self.me)
                    self._note(stale)
                    if got:
                        return True
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    return False
                if on_wait is not None and not reported and waited >= self.REPORT_AFTER:
                    reported = True
                    on_wait(self._main.holder())
                if stop is not None:
                    if stop.wait(pause):
                        return False
                else:
                    threading.Event().wait(pause)
                pause = min(pause * 2, POLL_MAX)
        finally:
            if have_queue:
                self._queue.release()

    def release(self) -> None:
        self._main.release()

    def holder(self) -> Holder | None:
        """Who holds the lock right now, as far as the lock file says (None when free or unknown)."""
        return self._main.holder()

    def busy_message(self) -> str:
        """One line for a wait that gave up: who holds the index."""
        holder = self.holder()
        who = holder.describe() if holder is not None else "another expdesk process"
        return f"{who} is writing it; try again when it is done"

    def close(self) -> None:
        self._main.close()
        self._queue.close()

    def _note(self, stale: Holder | None) -> None:
        if stale is not None and stale.pid != self.me.pid and stale.gone():
            self.taken_over.append(stale)
