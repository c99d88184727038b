"""What the forwarder needs from an HTTP client to a replica, and the errors it raises.

`gateway.proxy.http1.Http1Client` implements it (asyncio protocols and httptools; it
replaced aiohttp's client, see docs/benchmarks.md). The forwarder maps these errors to
the gateway's own (`gateway.errors`), so a client never decides what a caller is told.

A client's calls are bounded as a whole by `upstream_timeout` (the response body
included), and each connect by `connect_timeout`: the whole-call bound raises the
builtin `TimeoutError`, from the request or from reading the response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from multidict import CIMultiDict

from gateway.proxy.bodies import StreamedBody

RequestHeaders = CIMultiDict[str] | list[tuple[bytes, bytes]]
"""Headers for a replica as they go (Host included): text in a `CIMultiDict`, or the
bytes themselves (the hot path's, from `gateway.proxy.headers.forwarded_request_headers`)."""


class UpstreamError(Exception):
    """The call to a replica failed; `reason` says how, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectFailed(UpstreamError):
    """No connection could be made: nothing reached the replica, so another may be tried."""


class ConnectTimedOut(ConnectFailed):
    """The replica did not accept a connection within `connect_timeout`."""


class ConnectionDropped(UpstreamError):
    """The connection failed after it was made (reset, closed early, a malformed answer)."""


class PeerUnresponsive(ConnectionDropped):
    """The replica's host went silent (TCP keepalive probes or sent data unanswered): a
    dead node, which never sends a reset. The request may have run there, so it is not
    sent again."""


class ResponseHeadRefused(UpstreamError):
    """The replica's response head crossed a bound (`reason` says which): its connection
    is closed and nothing of the head is kept. The request was sent, so it is not sent
    again."""


class UpstreamResponse(Protocol):
    """A replica's answer, its head read; the body is read by `read` or `chunks`."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]
    content_length: int | None

    async def read(self) -> bytes:
        """The whole body (for a small one, whose length is known)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, reading paused while the caller is slower."""
        ...

    def close(self) -> None:
        """Drop the call: close its connection, so the replica sees the caller leave."""
        ...

    def release(self) -> None:
        """Done with the response: pool its connection if it can be reused, else close it."""
        ...


class UpstreamClient(Protocol):
    """A pooled HTTP/1.1 client, opened by `start` and closed by `close`."""

    async def start(self) -> None:
        """Open the pool (call from the app's lifespan)."""
        ...

    async def close(self) -> None:
        """Close every pooled connection."""
        ...

    async def request(
        self,
        method: str,
        address: str,
        port: int,
        path: str,
        headers: RequestHeaders,
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> UpstreamResponse:
        """Send a call to `address:port` and return the answer once its head is read.

        `headers` go as they are (Host included); the client adds only the body's
        framing: Content-Length for `body` (or a POST-like call without one), chunked
        for `streamed` without a Content-Length. Raises `ConnectFailed` (retry
        elsewhere is safe), `ConnectionDropped`, `ResponseHeadRefused`, or
        `TimeoutError`.
        """
        ...
