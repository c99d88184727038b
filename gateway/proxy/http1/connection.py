"""One connection to a replica (an asyncio protocol) and the response read on it.

Each request gets a fresh `Response`, which is the httptools parser's callback target:
the head is collected until `on_headers_complete`, the body is kept as the chunks that
arrived. Reading is paused while more than `HIGH_WATER` bytes wait for a slow caller,
so a streamed body holds bounded memory; writing a streamed request body waits on
`Connection.drain` for the same reason.

Framing: Content-Length and chunked are the parser's; a response with neither ends when
the replica closes the connection; HEAD answers, 1xx, 204 and 304 have no body.

The head is bounded (`gateway.proxy.http1.head_limits`): its bytes are counted before the
parser sees them, and a head that comes in pieces is held back until it can have ended,
then parsed at once, since httptools joins a field's pieces with `+=`. A head that
crosses a bound fails the call with `ResponseHeadRefused` and closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import httptools

from gateway.proxy.http1.head_limits import ResponseHeadLimits
from gateway.proxy.http1.sockets import dead_peer_ms, reason, set_user_timeout, tune
from gateway.proxy.upstream import ConnectionDropped, PeerUnresponsive, ResponseHeadRefused

HIGH_WATER = 256 * 1024
"""Body bytes held for a slow reader before the connection's reading is paused."""

HEAD_END = b"\r\n\r\n"
HELD_TAIL = len(HEAD_END) - 1

Key = tuple[str, int]
"""A pool's key: the replica's address and port."""


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head that crossed a bound."""


class Connection(asyncio.Protocol):
    """A keep-alive connection to one replica, carrying one `Response` at a time."""

    __slots__ = (
        "_drain",
        "_slow_reader",
        "_writing_paused",
        "idle_since",
        "key",
        "loop",
        "lost",
        "reading_paused",
        "response",
        "reused",
        "transport",
    )

    def __init__(self, key: Key, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.lost = False
        self.reused = False
        self.idle_since = 0.0
        self.reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._slow_reader = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            tune(sock)

    def allow_slow_reader(self, allowed: bool) -> None:
        """Whether the replica may leave what is sent unread for as long as it likes (a
        streamed body) rather than `dead_peer_ms`; set back to False when pooled."""
        if allowed == self._slow_reader or self.transport is None:
            return
        self._slow_reader = allowed
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            set_user_timeout(sock, 0 if allowed else dead_peer_ms())

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: this connection cannot be trusted
            self.close()
            return
        response.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.response is not None:
            self.response.connection_lost(exc)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def drain(self) -> None:
        """Wait while the socket's send buffer is full; `ConnectionDropped` once closed."""
        while self._writing_paused and not self.lost:
            self._drain = self.loop.create_future()
            try:
                await self._drain
            finally:
                self._drain = None
        if self.lost:
            raise ConnectionDropped(reason(None))

    def pause_reading(self) -> None:
        """Stop reading from the socket (a slow caller holds up the body)."""
        if not self.reading_paused and self.transport is not None and not self.lost:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        if self.reading_paused and self.transport is not None and not self.lost:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        """Close the connection (the replica sees the call end)."""
        self.lost = True
        if self.transport is not None:
            self.transport.close()


class Response:
    """The answer to one request on a `Connection`: head first, then the body's chunks."""

    __slots__ = (
        "_chunks",
        "_complete",
        "_connection",
        "_error",
        "_head_bytes",
        "_head_only",
        "_head_ready",
        "_head_timer",
        "_headers_done",
        "_held",
        "_interim",
        "_interims",
        "_keep_alive",
        "_limits",
        "_on_release",
        "_parser",
        "_released",
        "_size",
        "_timer",
        "_until_close",
        "_waiter",
        "answered",
        "content_length",
        "raw_headers",
        "status",
        "writer",
    )

    def __init__(
        self,
        connection: Connection,
        method: str,
        on_release: Callable[[Connection, bool], None],
        limits: ResponseHeadLimits,
    ) -> None:
        self._connection = connection
        self._on_release = on_release
        self._limits = limits
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = method == "HEAD"
        self._head_ready: asyncio.Future[None] = connection.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._interim = False
        self._interims = 0
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._held: bytearray | None = None
        self._until_close = False
        self._headers_done = False
        self._complete = False
        self._keep_alive = False
        self._error: BaseException | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._released = False
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.answered = False
        """Whether any byte of the answer arrived (a request not answered may be resent)."""
        self.writer: asyncio.Task[None] | None = None
        """The task writing a streamed request body, if any."""

    # Reading, for the forwarder -------------------------------------------------------

    async def wait_head(self, deadline: float) -> None:
        """Wait for the status line and headers (`TimeoutError` at `deadline`)."""
        self._timer = self._connection.loop.call_at(deadline, self._on_timeout)
        if not self._head_ready.done():
            await self._head_ready
        if not self._headers_done:
            assert self._error is not None
            raise self._error

    async def read(self) -> bytes:
        """The whole body."""
        while not self._complete:
            if self._error is not None:
                raise self._error
            self._connection.resume_reading()
            await self._wait()
        chunks = self._chunks
        self._chunks = []
        self._size = 0
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: all that is buffered at each step."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunks = self._chunks
                self._chunks = []
                self._size = 0
                self._connection.resume_reading()
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            elif self._complete:
                return
            elif self._error is not None:
                raise self._error
            else:
                await self._wait()

    def close(self) -> None:
        """Drop the call: close the connection."""
        self._fail(ConnectionDropped("the call was dropped"))
        self._connection.close()

    def release(self) -> None:
        """Hand the connection back: pooled if the answer was whole and may be followed."""
        if self._released:
            return
        self._released = True
        if self._timer is not None:
            self._timer.cancel()
        if self._head_timer is not None:
            self._stop_head_timer()
        writer = self.writer
        writing = writer is not None and not writer.done()
        if writing:
            assert writer is not None
            writer.cancel()
        reusable = (
            self._complete
            and self._keep_alive
            and not writing
            and self._error is None
            and not self._connection.lost
        )
        self._on_release(self._connection, reusable)

    async def _wait(self) -> None:
        self._waiter = self._connection.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = error
        if self._head_timer is not None:
            self._stop_head_timer()
        if not self._head_ready.done():
            self._head_ready.set_result(None)
        self._wake()

    def _on_timeout(self) -> None:
        self._timer = None
        if not self._complete:
            self._fail(TimeoutError())
            self._connection.close()

    # The head's bounds ---------------------------------------------------------------------

    def _feed_head(self, data: bytes | bytearray) -> None:
        """Parse bytes of the head: counted against `max_bytes`, and held back while a head
        under way cannot have ended (the module docstring says why)."""
        limits = self._limits
        held = self._held
        if held is not None:
            start = len(held) - HELD_TAIL
            held += data
            size = self._head_bytes + len(held) - HELD_TAIL
            if held.find(HEAD_END, start) < 0 and size <= limits.max_bytes:
                return
            self._held = None
            data = held[HELD_TAIL:]
        room = limits.max_bytes - self._head_bytes
        fits = len(data) <= room  # else parse what fits: the head must end within it
        self._head_bytes += len(data) if fits else room
        self._parser.feed_data(data if fits else memoryview(data)[:room])
        if self._headers_done:
            if not fits:
                self._parser.feed_data(memoryview(data)[room:])
        elif self._error is None and not fits:
            self._refuse(limits.too_large())
        elif self._error is None and not data.endswith(HEAD_END):
            # A head under way (bytes ending at a head's end ended an interim answer: the
            # next head's time starts with its first byte). What follows is held after the
            # last bytes parsed, so that an end across the pieces is found.
            self._held = bytearray(data[-HELD_TAIL:].rjust(HELD_TAIL, b"\0"))
            if self._head_timer is None:
                loop = self._connection.loop
                self._head_timer = loop.call_later(limits.timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._headers_done:
            self._refuse(self._limits.too_slow())

    def _stop_head_timer(self) -> None:
        assert self._head_timer is not None
        self._head_timer.cancel()
        self._head_timer = None

    def _refuse(self, reason: str) -> None:
        """The head crossed a bound: fail the call, close the connection (never reused)."""
        self._fail(ResponseHeadRefused(reason))
        self._connection.close()

    # From the connection ----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the replica."""
        self.answered = True
        if self._complete:  # more than the answer held: the connection is not reusable
            self._keep_alive = False
            return
        try:
            if self._headers_done:
                self._parser.feed_data(data)
            else:
                self._feed_head(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionDropped("the replica switched protocols"))
            self._connection.close()
        except httptools.HttpParserError as error:
            self._fail(ConnectionDropped(f"malformed response: {error}"))
            self._connection.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection closed: the end of a body framed by it, or a cut."""
        if self._complete:
            return
        if self._headers_done and self._until_close and exc is None:
            self._complete = True
            self._keep_alive = False
            self._wake()
            return
        if isinstance(exc, TimeoutError):  # ETIMEDOUT: keepalive or the user timeout
            self._fail(PeerUnresponsive(f"its host went silent: {reason(exc)}"))
            return
        self._fail(ConnectionDropped(reason(exc)))

    # httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._stop_head_timer()
        limits = self._limits
        if len(self.raw_headers) > limits.max_fields:
            self._refuse(limits.too_many_fields())
            raise _HeadRefused
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # an interim answer: the real one follows
            self._interims += 1
            if self._interims > limits.max_interim:
                self._refuse(limits.too_many_interim())
                raise _HeadRefused
            self._interim = True
            self.raw_headers = []
            return
        self.status = status
        chunked = False
        for name, value in self.raw_headers:
            lower = name.lower()
            if lower == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        bodyless = self._head_only or status in (204, 304)
        self._until_close = not bodyless and not chunked and self.content_length is None
        self._headers_done = True
        if self._head_only:
            self._complete = True
            self._keep_alive = self._parser.should_keep_alive()
        if not self._head_ready.done():
            self._head_ready.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._size += len(body)
        if self._size > HIGH_WATER:
            self._connection.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._complete:
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()
