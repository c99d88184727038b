"""One client connection: its streams, its read deadline and its short answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Callable, SupportsIndex

from .config import CHUNK, Config
from .http1.parser import Request
from .http1.writer import duration_header, simple_response
from .state import ServerState


class CountingReader(asyncio.StreamReader):
    """A StreamReader that counts the bytes fed to it and reports when the client goes."""

    fed = 0
    on_eof: Callable[[], None] | None = None

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        self.fed += len(data)  # type: ignore[arg-type]
        super().feed_data(data)

    def feed_eof(self) -> None:
        super().feed_eof()
        self._gone()

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        self._gone()

    def _gone(self) -> None:
        callback, self.on_eof = self.on_eof, None
        if callback is not None:
            callback()


class Connection:
    """One client connection: its streams, its read deadline and the answers that do not
    reach the function (errors, health, limits)."""

    __slots__ = (
        "cfg",
        "loop",
        "mark",
        "reader",
        "state",
        "timed_out",
        "timer",
        "transport",
        "writer",
    )

    def __init__(
        self,
        reader: CountingReader,
        writer: asyncio.StreamWriter,
        cfg: Config,
        state: ServerState,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.cfg = cfg
        self.state = state
        self.timer: asyncio.TimerHandle | None = None
        self.mark = -1
        self.timed_out = False

    # -- the read deadline -----------------------------------------------------------

    def arm(self, timeout: float, idle: bool = False, quiet: bool = False) -> None:
        """Start the read deadline: on expiry answer 408 (unless nothing was received
        since an idle arm, or quiet) and close. A timer, not wait_for: no task per read."""
        self.mark = 1 << 62 if quiet else self.reader.fed if idle else -1
        if timeout > 0:
            self.timer = self.loop.call_later(timeout, self._expire)

    def disarm(self) -> None:
        """Stop the read deadline."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        self.timed_out = True
        if self.reader.fed > self.mark and not self.transport.is_closing():
            body = b"request timed out (read_timeout)\n"
            self.transport.write(simple_response(408, body, (), False))
        self.transport.close()

    # -- writing -----------------------------------------------------------------------

    async def send(self, data: bytes, limit: float) -> None:
        """Write; wait (at most `limit` s, 0 = no limit) only when the client is behind."""
        if self.transport.is_closing():
            raise ConnectionResetError("client connection closed")
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > 4 * CHUNK:
            await asyncio.wait_for(self.writer.drain(), limit or None)

    def keep(self, req: Request, body_read: bool) -> bool:
        """Whether the connection stays open after this request's response."""
        return req.keep_alive and body_read and not self.state.draining

    async def answer(
        self, req: Request, t0: float, status: int, text: str, drain: bool = True
    ) -> bool:
        """Answer with a short text before reading the body: read a small body to keep
        the connection, else close it (after lingering so the client sees the answer)."""
        keep = self.keep(req, True)
        if req.has_body:
            small = not req.chunked and (req.content_length or 0) <= self.cfg.buffer_bytes
            keep = keep and drain and small and not req.expect_continue
            if keep:
                self.arm(self.cfg.read_timeout)
                try:
                    await self.reader.readexactly(req.content_length or 0)
                finally:
                    self.disarm()
        body = b"" if req.method == "HEAD" else text.encode() + b"\n"
        self.transport.write(simple_response(status, body, [duration_header(t0)], keep))
        return keep

    def error(self, req: Request, t0: float, status: int, text: str, body_read: bool) -> bool:
        """Answer with an error once the body has been (maybe partly) read."""
        keep = self.keep(req, body_read)
        body = b"" if req.method == "HEAD" else text.encode() + b"\n"
        self.transport.write(simple_response(status, body, [duration_header(t0)], keep))
        return keep

    # -- reading -----------------------------------------------------------------------

    async def read_body(self, req: Request) -> bytes | None:
        """Send 100 Continue if asked; read a small body whole (None: it is to be streamed)."""
        if req.expect_continue and req.has_body:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if req.chunked or (req.content_length or 0) > self.cfg.buffer_bytes:
            return None
        if not req.content_length:
            return b""
        self.arm(self.cfg.read_timeout)
        try:
            return await self.reader.readexactly(req.content_length)
        finally:
            self.disarm()

    async def linger(self) -> None:
        """Before closing, half-close and drop what the client still sends (up to a
        limit), so that it reads our last answer instead of a connection reset."""
        if not self.transport.can_write_eof() or self.transport.is_closing():
            return
        self.transport.write_eof()
        self.arm(min(self.cfg.read_timeout or 2.0, 2.0), quiet=True)
        try:
            left = 16 * 1024 * 1024
            while left > 0:
                data = await self.reader.read(CHUNK)
                if not data:
                    break
                left -= len(data)
        finally:
            self.disarm()
