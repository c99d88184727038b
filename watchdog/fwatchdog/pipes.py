"""Our ends of fprocess's pipes, non-blocking and driven straight from the event loop."""

from __future__ import annotations

import asyncio
import os
import sys

from .config import CHUNK


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Pipe:
    """Our end of a pipe to fprocess, non-blocking and used straight from the event loop
    (add_reader/add_writer while waiting): no transport, protocol or task per pipe."""

    __slots__ = ("fd", "loop", "waiter", "writing")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        os.set_blocking(fd, False)
        self.loop = loop
        self.fd = fd
        self.waiter: asyncio.Future[None] | None = None
        self.writing = False

    async def _wait(self, writing: bool) -> None:
        self.waiter = waiter = self.loop.create_future()
        self.writing = writing
        if writing:
            self.loop.add_writer(self.fd, _wake, waiter)
        else:
            self.loop.add_reader(self.fd, _wake, waiter)
        try:
            await waiter
        finally:
            if self.waiter is waiter:
                self._unwatch()

    def _unwatch(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            if self.writing:
                self.loop.remove_writer(self.fd)
            else:
                self.loop.remove_reader(self.fd)
            _wake(waiter)

    async def read(self, size: int = CHUNK) -> bytes:
        """Up to `size` bytes as soon as there are some; b"" at the end (or once closed)."""
        while self.fd >= 0:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                await self._wait(False)
        return b""

    async def write(self, data: bytes) -> bool:
        """Write all of `data`; False when the process has closed its end (or we did)."""
        while self.fd >= 0:
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                await self._wait(True)
                continue
            except OSError:  # EPIPE
                return False
            if written == len(data):
                return True
            data = data[written:]
        return False

    def close(self) -> None:
        """Stop watching and close (wakes a pending read or write, which then ends)."""
        if self.fd >= 0:
            self._unwatch()
            os.close(self.fd)
            self.fd = -1


class StderrReader:
    """fprocess's stderr, read by a loop callback (no task): copied to the log line by line,
    and its last `keep` bytes kept for the body of a 500."""

    __slots__ = ("carry", "done", "fd", "keep", "loop", "tail")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, keep: int) -> None:
        os.set_blocking(fd, False)
        self.loop = loop
        self.fd = fd
        self.keep = keep
        self.tail = bytearray()
        self.carry = b""
        self.done: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, self._ready)

    def _ready(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        out = sys.stderr.buffer
        if not data:
            if self.carry:
                out.write(self.carry + b"\n")
                out.flush()
            self.close()
            return
        tail = self.tail
        tail += data
        if len(tail) > self.keep:
            del tail[: len(tail) - self.keep]
        data = self.carry + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > CHUNK:
            cut = len(data)
        if cut:
            out.write(data[:cut])
            out.flush()
        self.carry = data[cut:]

    def close(self) -> None:
        """Stop reading (at the end, or when the request is abandoned)."""
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        _wake(self.done)
