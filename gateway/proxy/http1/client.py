"""`Http1Client`: keep-alive connections to replicas, pooled per address and port.

The pool hands out the most recently used idle connection (warm, least likely closed by
the replica) and forgets connections idle longer than the keep-alive. At most
`max_connections` calls hold a connection at once; more wait for one to come back.

A call whose pooled connection turns out closed before any answer came (the replica
dropped it while idle) is sent again, once, on a new connection, unless part of a
streamed body has gone already: that body cannot be sent twice. A response head over
its bounds (`head_limits`) is never sent again: the replica had the request.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.asgi import ClientDisconnected
from gateway.proxy.bodies import StreamedBody
from gateway.proxy.http1.connection import Connection, Key, Response
from gateway.proxy.http1.head_limits import ResponseHeadLimits
from gateway.proxy.http1.request import CHUNKED_END, chunk_prefix, request_head
from gateway.proxy.http1.sockets import reason
from gateway.proxy.upstream import (
    ConnectFailed,
    ConnectionDropped,
    ConnectTimedOut,
    PeerUnresponsive,
    RequestHeaders,
)


class Http1Client:
    """A pooled HTTP/1.1 client on asyncio protocols (implements `UpstreamClient`)."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive: float,
        connect_timeout: float,
        timeout: float,
        head_limits: ResponseHeadLimits | None = None,
    ) -> None:
        self._limit = max_connections
        self._head_limits = head_limits or ResponseHeadLimits()
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._idle: dict[Key, list[Connection]] = {}
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._cleanup: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def start(self) -> None:
        """Bind the pool to the running loop."""
        self._loop = asyncio.get_running_loop()
        self._closed = False

    async def close(self) -> None:
        """Close every idle connection; busy ones close when released."""
        self._closed = True
        if self._cleanup is not None:
            self._cleanup.cancel()
            self._cleanup = None
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    @property
    def idle_connections(self) -> int:
        """Connections waiting in the pool (for tests)."""
        return sum(len(connections) for connections in self._idle.values())

    async def request(
        self,
        method: str,
        address: str,
        port: int,
        path: str,
        headers: RequestHeaders,
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> Response:
        """See `gateway.proxy.upstream.UpstreamClient.request`."""
        loop = self._loop
        assert loop is not None, "Http1Client.start() was not called"
        deadline = loop.time() + self._timeout
        head, chunked = request_head(method, path, headers, body, streamed is not None)
        if body:
            head += body
        key = (address, port)
        fresh = False
        while True:
            connection = await self._acquire(key, deadline, fresh)
            response = Response(connection, method, self._release, self._head_limits)
            connection.response = response
            transport = connection.transport
            assert transport is not None
            try:
                transport.write(head)
                if streamed is not None:
                    response.writer = loop.create_task(
                        _write_body(connection, response, streamed, chunked)
                    )
                await response.wait_head(deadline)
                return response
            except ConnectionDropped as error:
                response.release()
                if fresh or not connection.reused or response.answered:
                    raise
                if isinstance(error, PeerUnresponsive):  # not a stale idle connection
                    raise
                if streamed is not None and streamed.started:
                    raise
                fresh = True  # the replica closed it while idle: once more, on a new one
            except BaseException:
                response.release()
                raise

    async def _acquire(self, key: Key, deadline: float, fresh: bool) -> Connection:
        while self._busy >= self._limit:
            await self._wait_for_slot(deadline)
        self._busy += 1
        try:
            idle = None if fresh else self._idle.get(key)
            if idle:
                now = self._loop_time()
                while idle:
                    connection = idle.pop()
                    if not connection.lost and now - connection.idle_since < self._keepalive:
                        connection.reused = True
                        return connection
                    connection.close()
            return await self._connect(key, deadline)
        except BaseException:
            self._busy -= 1
            self._wake_waiter()
            raise

    async def _connect(self, key: Key, deadline: float) -> Connection:
        loop = self._loop
        assert loop is not None
        remaining = deadline - loop.time()
        within = min(self._connect_timeout, remaining)
        address, port = key
        try:
            async with asyncio.timeout(within):
                _, connection = await loop.create_connection(
                    lambda: Connection(key, loop), address, port
                )
        except TimeoutError:
            if remaining <= self._connect_timeout:
                raise  # the whole call's time is up, not the connect's
            raise ConnectTimedOut(f"no connection within {self._connect_timeout:g}s") from None
        except OSError as error:
            raise ConnectFailed(reason(error)) from error
        return connection

    async def _wait_for_slot(self, deadline: float) -> None:
        loop = self._loop
        assert loop is not None
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake_waiter()  # woken, but leaving: pass the free slot on
            raise

    def _wake_waiter(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, connection: Connection, reusable: bool) -> None:
        """A response is done with `connection`: pool it or close it, free its slot."""
        self._busy -= 1
        connection.response = None
        if reusable and not self._closed and not connection.lost:
            connection.allow_slow_reader(False)
            connection.resume_reading()  # to notice the replica closing it while idle
            connection.idle_since = self._loop_time()
            self._idle.setdefault(connection.key, []).append(connection)
            if self._cleanup is None:
                assert self._loop is not None
                self._cleanup = self._loop.call_later(self._keepalive, self._close_expired)
        else:
            connection.close()
        if self._waiters:
            self._wake_waiter()

    def _close_expired(self) -> None:
        """Close the connections idle longer than the keep-alive (a periodic timer)."""
        self._cleanup = None
        now = self._loop_time()
        for key, connections in list(self._idle.items()):
            kept = []
            for connection in connections:
                if connection.lost or now - connection.idle_since >= self._keepalive:
                    connection.close()
                else:
                    kept.append(connection)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle and self._loop is not None:
            self._cleanup = self._loop.call_later(self._keepalive, self._close_expired)

    def _loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()


async def _write_body(
    connection: Connection, response: Response, streamed: StreamedBody, chunked: bool
) -> None:
    """Send a streamed request body, waiting whenever the socket's buffer is full."""
    transport = connection.transport
    assert transport is not None
    connection.allow_slow_reader(True)  # a full window is the replica's right here
    try:
        async for chunk in streamed:
            if connection.lost:
                return  # the response has seen why
            if chunked:
                transport.writelines((chunk_prefix(len(chunk)), chunk, b"\r\n"))
            else:
                transport.write(chunk)
            await connection.drain()
        if chunked and not connection.lost:
            transport.write(CHUNKED_END)
    except ClientDisconnected:
        response.close()
    except ConnectionDropped:
        pass
