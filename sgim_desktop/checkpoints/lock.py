"""A per-file lock between processes, so two of them never write the same checkpoint.

It is an OS advisory lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a small lock file.
The OS drops the lock when its holder exits or is killed, so a lock file left behind by a crashed
process is never stale: the next process simply takes it. The file itself is kept (deleting a lock
file that another process has open would let two holders in).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sgim_desktop.errors import Cancelled, CheckpointError

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class LockUnavailable(CheckpointError):
    """The lock file cannot be created (a read-only folder): nobody can write there anyway."""


class FileLock:
    """``with FileLock(path):`` holds the lock; waiting can be cancelled and reported."""

    def __init__(
        self,
        path: Path,
        *,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
        on_wait: Callable[[], None] | None = None,
        poll: float = 0.1,
    ):
        self.path = Path(path)
        self.cancel = cancel
        self.timeout = timeout
        self.on_wait = on_wait
        self.poll = poll
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockUnavailable(f"cannot create the lock file {self.path} ({exc.strerror or exc})") from None
        start = time.monotonic()
        waited = False
        try:
            while not _try_lock(fd):
                if not waited and self.on_wait is not None:
                    self.on_wait()
                waited = True
                if self.timeout is not None and time.monotonic() - start > self.timeout:
                    raise CheckpointError(f"another process is still working on {self.path.stem}; try again later")
                if self.cancel is not None:
                    if self.cancel.wait(self.poll):
                        raise Cancelled(f"stopped waiting for another process working on {self.path.stem}")
                else:
                    time.sleep(self.poll)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_owner(fd)

    @staticmethod
    def _write_owner(fd: int) -> None:
        """Who holds it, for a person looking at the file; never read back by the lock itself."""
        info = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        try:
            os.lseek(fd, 1 if sys.platform == "win32" else 0, os.SEEK_SET)
            os.write(fd, info.encode())
            if sys.platform != "win32":
                os.ftruncate(fd, len(info))
        except OSError:
            pass

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
