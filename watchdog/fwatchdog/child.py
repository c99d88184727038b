"""One started fprocess: waiting for it, how it ended, and killing its process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable

from .reaper import Reaper

_use_pidfd = hasattr(os, "pidfd_open")
# Peek at an exit without reaping it, to end the process group while its id is still ours.
_can_peek = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")


def outcome(task: asyncio.Future[None] | None) -> BaseException | None:
    """The exception a finished task ended with (marking it retrieved), else None."""
    if task is None or not task.done():
        return None
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception()


class Child:
    """One running fprocess: waiting for it, how it ended, and killing its process group.

    Until it is reaped its pid (= its process group id) cannot be reused, so killing the
    group is safe while `finished` is false. When it has exited, the rest of its group
    (background children) is killed before it is reaped: nothing of a call outlives it.
    A wait that is needed goes through a pidfd on the event loop (Linux >= 5.3), else
    through a thread blocked in waitid."""

    __slots__ = (
        "call_over",
        "client_gone",
        "exited",
        "finished",
        "give_up",
        "loop",
        "pid",
        "pidfd",
        "reaper",
        "timed_out",
        "watched",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, reaper: Reaper) -> None:
        self.loop = loop
        self.pid = pid
        self.reaper = reaper
        reaper.claim(pid)
        # Called once we have given up on the call (timeout, disconnect): stop waiting
        # for its output, which a process outside the group may hold open.
        self.give_up: Callable[[], None] | None = None
        self.finished = False
        self.timed_out = False
        self.client_gone = False
        # The call ended before it was reaped: what it left comes back to us only now.
        self.call_over = False
        self.exited: asyncio.Future[int] = loop.create_future()
        self.pidfd = -1
        self.watched = False

    async def wait(self) -> int:
        """Its exit code (negative: killed by that signal). It has usually exited by the
        time its output ends, so try without waiting first: no watcher needed then."""
        if not self.watched:
            self._reap()
        self.watch()
        return await self.exited

    def watch(self) -> None:
        """Reap it when it exits (once), whether or not anyone waits for that."""
        global _use_pidfd
        if self.watched or self.finished:
            return
        self.watched = True
        if _use_pidfd:
            try:
                self.pidfd = os.pidfd_open(self.pid)
            except OSError:  # ENOSYS: a kernel older than 5.3
                _use_pidfd = False
        if self.pidfd >= 0:
            self.loop.add_reader(self.pidfd, self._reap)
        else:
            threading.Thread(target=self._wait_blocking, daemon=True).start()

    def _reap(self) -> None:
        if _can_peek:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                info = None
            if info is not None and info.si_pid == self.pid:
                self._end_group()
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: report 255, as asyncio does
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        if self.pidfd >= 0:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        self._ended(status)

    def _wait_blocking(self) -> None:
        try:
            if _can_peek:
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                self._end_group()
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 255 << 8
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
            self.loop.call_soon_threadsafe(self._ended, status)

    def _end_group(self) -> None:
        """It has exited but is not reaped yet: kill what is left of its group."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)

    def _ended(self, status: int) -> None:
        self.finished = True
        self.reaper.release(self.pid)
        if self.call_over:
            self.reaper.on_stray()
        if not self.exited.done():
            self.exited.set_result(os.waitstatus_to_exitcode(status))

    def kill(self) -> None:
        """SIGKILL the process group unless the process has been reaped."""
        if not self.finished:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def expire(self) -> None:
        """exec_timeout has passed."""
        if not self.finished:
            self.timed_out = True
            self.kill()
            self._give_up()

    def abort(self) -> None:
        """We stop the call (its output is over a limit): kill it, stop reading it."""
        self.kill()
        self._give_up()

    def gone(self) -> None:
        """The client closed its connection."""
        self.client_gone = True
        self.kill()
        self._give_up()

    def _give_up(self) -> None:
        callback, self.give_up = self.give_up, None
        if callback is not None:
            callback()

    def pump_done(self, task: asyncio.Future[None]) -> None:
        """The request body could not be read in full: stop the process."""
        if outcome(task) is not None:
            self.kill()
