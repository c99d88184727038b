"""Reaping every child, not only our own: the duty of PID 1, which the watchdog is in its image.

Processes that a function leaves behind (``sleep 1 &``, a daemon started with ``setsid``)
are re-parented to PID 1 when their parent exits. Whoever is PID 1 must wait for them, or
they stay ``<defunct>`` forever. When the watchdog is not PID 1 (a local run, or an image
with an init) it makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so that what
its functions leave behind comes back to it all the same.

Our own children (fprocess per call, the http-mode upstream) are reaped by their owners,
which need their exit status; the reaper never takes it from them. It peeks at the next
child that has exited (``waitid`` with ``WNOWAIT``) and reaps it only if nobody claimed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

from .logs import log

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


def become_subreaper() -> bool:
    """Ask Linux to re-parent our orphaned descendants to us; False where that fails."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (ImportError, OSError, AttributeError):
        return False


def _nothing() -> None:
    pass


class Reaper:
    """Reaps every child that exits and that no owner has claimed."""

    def __init__(self) -> None:
        self.claimed: set[int] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.blocked = False  # the last sweep stopped at a claimed child
        self.reaped = 0
        # Called after a sweep reaped a child nobody claimed: an orphan of a call came
        # back and has exited, and the processes under it may have come back too.
        self.on_stray: Callable[[], None] = _nothing
        # A child is being started and is not claimed yet: it is nobody's stray.
        self.starting = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sweep on every SIGCHLD; become a subreaper unless we are PID 1."""
        if not hasattr(os, "waitid") or not hasattr(os, "WNOWAIT"):
            return  # not Linux: orphans go to the real init
        self.loop = loop
        if os.getpid() != 1 and not become_subreaper():
            log("cannot become a child subreaper; orphans of fprocess go to init")
        loop.add_signal_handler(signal.SIGCHLD, self.sweep)

    def claim(self, pid: int) -> None:
        """`pid` is reaped by its owner, who needs its status."""
        self.claimed.add(pid)

    def release(self, pid: int) -> None:
        """Its owner has reaped `pid`; sweep again if `pid` held the last sweep up."""
        self.claimed.discard(pid)
        if self.blocked and self.loop is not None:
            self.blocked = False
            self.loop.call_soon(self.sweep)

    def sweep(self) -> None:
        """Reap exited children nobody claimed, oldest first, until none is left or the
        next one is claimed (its owner reaps it and then calls release)."""
        reaped = self.reaped
        self._sweep()
        if self.reaped != reaped:
            self.on_stray()

    def _sweep(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            if info.si_pid in self.claimed:
                self.blocked = True
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, os.WNOHANG)
            self.reaped += 1
