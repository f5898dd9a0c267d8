"""One run per checkpoint and per output: an exclusive lock held for the whole run.

The lock is ``fcntl.flock`` on a sidecar file (``sweep.db.lock``, ``users.ndjson.lock``)
holding the holder's pid and host. The kernel releases it when its holder dies, however
it dies (``kill -9`` included), so a stale lock never blocks a rerun; a second run while
the first is alive is refused at once, naming the holder. The sidecar is removed on
release; a run that finds the sidecar replaced under it (removed by a releasing holder
while it waited) locks the new one instead, so two runs never both hold it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from truto_stream.cli.common import UsageError

__all__ = ["LockHeld", "RunLock"]

LOCK_SUFFIX = ".lock"


class LockHeld(UsageError):
    """Another live process holds the lock (exit status 2)."""


class RunLock:
    """An exclusive lock on ``path`` (a checkpoint or an output) for this process."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + LOCK_SUFFIX)
        self._what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now, or raise :class:`LockHeld` naming the holder."""
        for _ in range(10):  # each retry follows a holder that released meanwhile
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise UsageError(
                    f"cannot lock {self._what} {str(self.path)!r}: {exc.strerror}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise LockHeld(
                    f"{self._what} {str(self.path)!r} is in use by another truto-stream run"
                    f" ({holder}); wait for it to end, or use another {self._what}"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.lock_path):
                _write_holder(fd)
                self._fd = fd
                return
            os.close(fd)  # the sidecar was removed by its releasing holder: take the new one
        raise LockHeld(f"cannot lock {self._what} {str(self.path)!r}: its lock file keeps changing")

    def release(self) -> None:
        """Remove the sidecar and release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            # Removed while still held: a run that opened the old file sees it replaced.
            if _same_file(fd, self.lock_path):
                self.lock_path.unlink()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _write_holder(fd: int) -> None:
    text = f"pid {os.getpid()} on {socket.gethostname()}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
