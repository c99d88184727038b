"""`FileLock`: a lock the gateway's worker processes take on a file in their shared folder.

`flock` on an open descriptor: non-blocking, held while the descriptor stays open, and
released by the kernel when the holder closes it or dies, so a killed worker never
leaves a lock behind. Used to elect the one worker that runs the autoscaler and the one
that wakes a function from zero (docs/scaling.md).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    """An exclusive, non-blocking lock on `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock (through this object)."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this object holds it now."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let another process take the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
