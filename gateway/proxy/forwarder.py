"""The forwarder: relay one call to a replica of a function and its answer back.

It chooses buffering, retries a failed connect on another replica, streams, and notices
disconnects; it does not route, count or scale (`gateway.proxy.handler` hands it a call
already routed to a function with a replica).

Bodies: a body whose Content-Length is known and at most `buffer_limit` is read whole and
sent in one write (streaming small bodies through generators costs more: the figures are
in docs/benchmarks.md); anything larger or chunked is streamed, so memory stays bounded
whatever the size. Responses follow the same rule on their own Content-Length.

Waiting for a ready replica is reached from here alone, through the `waker` (the
cold-start path, `gateway.scaling.cold_start.ColdStart`), whichever door the call came
in by: a function at 0 replicas, or being scaled to 0, is woken first (`wake`, when its
policy allows; otherwise 503). When no replica of a function that should have some
resolves, or none accepts a connection, the waker's `hold` waits for a ready one and the
call is tried once more there, before any byte was sent upstream; without a waker, or
when it cannot wait (a provider that cannot list replicas), the call fails as before.

The HTTP client is a part (`gateway.proxy.upstream.UpstreamClient`, by default
`gateway.proxy.http1.Http1Client`); its errors become the gateway's here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from gateway.asgi import ClientDisconnected, content_length, header, read_body
from gateway.config import GatewayConfig
from gateway.errors import GatewayError, NoReplicas, UpstreamTimeout, UpstreamUnavailable
from gateway.labels import PAUSED_LABEL
from gateway.providers.base import Function
from gateway.proxy.bodies import (
    CLIENT_CLOSED_REQUEST,
    StreamedBody,
    close_unless_cancelled,
    wait_for_disconnect,
)
from gateway.proxy.headers import downstream_response_headers
from gateway.proxy.http1 import Http1Client, ResponseHeadLimits
from gateway.proxy.notifier import Waker
from gateway.proxy.replicas import ReplicaResolver
from gateway.proxy.upstream import (
    ConnectFailed,
    ConnectTimedOut,
    PeerUnresponsive,
    RequestHeaders,
    ResponseHeadRefused,
    UpstreamClient,
    UpstreamError,
    UpstreamResponse,
)

log = logging.getLogger("gateway.proxy")

# Why a call to a function at zero is not woken (`Waker.can_wake` said no).
SWITCHED_OFF = f"it is switched off ({PAUSED_LABEL}=true), so calls do not wake it"

# How many times one call may be held for a ready replica before it gets its 502/503.
HOLD_ATTEMPTS = 3


@dataclass(frozen=True)
class CallResult:
    """A whole answer of a replica, as `Forwarder.call` returns it (no caller to stream to).

    `body` holds at most the `keep` bytes asked for; `length` is the whole body's size.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    length: int


class _Unreachable(Exception):
    """No replica could be reached before anything was sent: `error` is the answer, unless
    a hold finds a ready replica."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def upstream_client(config: GatewayConfig) -> UpstreamClient:
    """The pooled HTTP/1.1 client to replicas, set up from `config`: a function's response
    head has the bounds a client's request head has."""
    heads = config.head_limits
    return Http1Client(
        max_connections=config.max_connections,
        keepalive=config.upstream_keepalive,
        connect_timeout=config.connect_timeout,
        timeout=config.upstream_timeout,
        head_limits=ResponseHeadLimits(
            max_bytes=heads.max_head_bytes,
            max_fields=heads.max_headers,
            timeout=heads.head_timeout,
        ),
    )


class Forwarder:
    """Relays calls over one pooled upstream client (opened by `start`, closed by `close`)."""

    def __init__(
        self,
        config: GatewayConfig,
        resolver: ReplicaResolver,
        client: UpstreamClient | None = None,
        waker: Waker | None = None,
    ) -> None:
        self._config = config
        self._resolver = resolver
        self._client = client if client is not None else upstream_client(config)
        self._waker = waker

    async def start(self) -> None:
        """Open the shared, pooled upstream client (call from the app's lifespan)."""
        await self._client.start()

    async def close(self) -> None:
        """Close the upstream client and its pooled connections."""
        await self._client.close()

    async def forward(
        self,
        function: Function,
        path: str,
        body: bytes | None,
        headers: RequestHeaders,
        call_id: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        started_ns: int = 0,
    ) -> int:
        """Send the call to a replica and its answer back; return the status sent.

        `started_ns`: when the gateway received the call (`time.time_ns()`), for the answer's
        `X-Start-Time` and `X-Duration-Seconds`.
        `body` is the request body when routing already read it, else None (read here).
        `ClientDisconnected` when the caller leaves mid-body; `GatewayError`s before
        anything was sent to the caller.
        """
        limit = self._config.buffer_limit
        streamed: StreamedBody | None = None
        if body is None:
            request_headers = scope["headers"]
            length = content_length(request_headers)
            if length is not None and length <= limit:
                body = await read_body(receive)
            elif length is not None or header(request_headers, b"transfer-encoding"):
                streamed = StreamedBody(receive)
        response = await self._send_upstream(
            function, scope["method"], path, headers, body, streamed
        )
        # Once the caller's body is all read, the next ASGI message can only be its
        # disconnect: that is what lets a streamed response stop when nobody reads it.
        body_read = streamed is None or streamed.finished
        try:
            return await self._send_downstream(
                function, response, call_id, send, receive if body_read else None, started_ns
            )
        finally:
            response.release()

    async def call(
        self,
        function: Function,
        method: str,
        path: str,
        headers: RequestHeaders,
        body: bytes,
        *,
        keep: int,
    ) -> CallResult:
        """Make a call with nobody waiting on the other end (the queue worker's calls).

        The same path as `forward` (wake, replica choice, retry elsewhere, holds), but the
        answer is read here: its first `keep` bytes are kept, the rest read and dropped.
        Raises the same `GatewayError`s as `forward`.
        """
        response = await self._send_upstream(function, method, path, headers, body, None)
        kept: list[bytes] = []
        size = 0
        try:
            async for chunk in response.chunks():
                if size < keep:
                    kept.append(chunk[: keep - size])
                size += len(chunk)
        except TimeoutError as error:
            response.close()
            raise _timeout(function.name, self._config.upstream_timeout) from error
        except UpstreamError as error:
            response.close()
            raise UpstreamUnavailable(
                f"function {function.name!r} is unavailable: "
                f"the response was cut short ({error.reason})"
            ) from error
        finally:
            response.release()
        return CallResult(response.status, list(response.raw_headers), b"".join(kept), size)

    async def _send_upstream(
        self,
        function: Function,
        method: str,
        path: str,
        headers: RequestHeaders,
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> UpstreamResponse:
        """The replica's response (headers read): woken first at 0 replicas or while
        parked, retrying a failed connect once elsewhere, then holding for a ready replica
        when none could be reached."""
        waker = self._waker
        if function.replicas <= 0 or (waker is not None and waker.must_hold(function.name)):
            # At 0 replicas, or being scaled to 0: wait for a ready replica (bounded).
            if waker is None:
                raise NoReplicas(function.name)
            if not waker.can_wake(function):
                raise NoReplicas(function.name, SWITCHED_OFF)
            function = await waker.wake(function)
        try:
            return await self._to_a_replica(function, method, path, headers, body, streamed)
        except _Unreachable as first:
            unreachable = first
        # The replica a hold found can go away before the call reaches it (a stop-first
        # update stopping the old one): hold again, a bounded number of times.
        for _ in range(HOLD_ATTEMPTS):
            if waker is None or (streamed is not None and streamed.started):
                break
            ready = await waker.hold(function)
            if ready is None:
                break
            try:
                return await self._to_a_replica(ready, method, path, headers, body, streamed)
            except _Unreachable as again:
                unreachable = again
        raise unreachable.error from unreachable.__cause__

    async def _to_a_replica(
        self,
        function: Function,
        method: str,
        path: str,
        headers: RequestHeaders,
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> UpstreamResponse:
        name, host, port = function.name, function.upstream_host, function.upstream_port
        address = await self._resolver.pick(host, port)
        if address is None:
            raise _Unreachable(NoReplicas(name))
        for attempt in (1, 2):
            try:
                return await self._client.request(
                    method, address, port, path, headers, body, streamed
                )
            except ConnectFailed as error:
                # Nothing reached the replica, so trying another one is safe.
                self._resolver.forget(host, port)
                self._resolver.mark_unreachable(address)
                retry, gone = None, False
                if attempt == 1 and (streamed is None or not streamed.started):
                    retry = await self._resolver.pick(host, port, avoid=address)
                    gone = retry is None
                    if retry == address and isinstance(error, ConnectTimedOut):
                        # The only replica, too busy to accept in time (a starved machine:
                        # CI once got a 504 while 100 containers started): once more, as
                        # long as the name still resolves to it.
                        retry = address
                    elif retry == address:
                        retry = None
                if retry is None:
                    failure = _connect_failure(name, address, port, error)
                    if isinstance(error, ConnectTimedOut) and not gone:
                        # A replica too busy to accept in time: not a missing one. One
                        # whose name resolves to nothing now (it stopped, or DNS failed)
                        # is held for, as a missing replica is.
                        raise failure from error
                    raise _Unreachable(failure) from error
                log.info(
                    "function %r: %s:%d unreachable, retrying on %s", name, address, port, retry
                )
                address = retry
            except TimeoutError as error:
                raise _timeout(name, self._config.upstream_timeout) from error
            except UpstreamError as error:
                if streamed is not None and streamed.client_disconnected:
                    raise ClientDisconnected from error
                if isinstance(error, ResponseHeadRefused):
                    message = f"function {name!r} answered with {error.reason}"
                    raise UpstreamUnavailable(message) from error
                if isinstance(error, PeerUnresponsive):  # its node is gone: pass it over
                    self._resolver.forget(host, port)
                    self._resolver.mark_unreachable(address)
                    raise UpstreamUnavailable(
                        f"function {name!r} is unavailable: replica {address}:{port} "
                        f"stopped answering ({error.reason})"
                    ) from error
                raise UpstreamUnavailable(
                    f"function {name!r} is unavailable: replica {address}:{port} "
                    f"dropped the connection ({error.reason})"
                ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_downstream(
        self,
        function: Function,
        response: UpstreamResponse,
        call_id: str,
        send: Send,
        receive: Receive | None,
        started_ns: int = 0,
    ) -> int:
        """Relay status, headers and body to the caller; return the status.

        A streamed response is abandoned (its upstream connection closed, so the function
        stops too) when the caller disconnects, if `receive` is given to notice that.
        """
        start = {
            "type": "http.response.start",
            "status": response.status,
            "headers": downstream_response_headers(response.raw_headers, call_id, started_ns),
        }
        length = response.content_length
        if length is not None and length <= self._config.buffer_limit:
            try:
                data = await response.read()
            except TimeoutError as error:
                raise _timeout(function.name, self._config.upstream_timeout) from error
            except UpstreamError as error:
                raise UpstreamUnavailable(
                    f"function {function.name!r} is unavailable: "
                    f"the response was cut short ({error.reason})"
                ) from error
            await send(start)
            await send({"type": "http.response.body", "body": data})
            return response.status
        await send(start)
        # An empty chunk: a server that holds a head back to send it with the first body
        # bytes (gateway.http_cycle) sends it now, before the stream's first chunk.
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        watcher = None if receive is None else asyncio.ensure_future(wait_for_disconnect(receive))
        if watcher is not None:
            # uvicorn drops what is sent after a disconnect without an error, so without
            # this an endless stream would be read until the upstream timeout.
            watcher.add_done_callback(lambda w: close_unless_cancelled(w, response))
        try:
            async for chunk in response.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (TimeoutError, UpstreamError) as error:
            if watcher is not None and watcher.done():
                return CLIENT_CLOSED_REQUEST
            # Headers are gone already: all we can do is end the response early, which
            # uvicorn does by closing the connection when we return.
            log.warning(
                "function %r: response cut short after the headers: %s",
                function.name,
                error.reason if isinstance(error, UpstreamError) else "timed out",
            )
            return response.status
        finally:
            if watcher is not None:
                watcher.cancel()
        if watcher is not None and watcher.done() and not watcher.cancelled():
            return CLIENT_CLOSED_REQUEST
        await send({"type": "http.response.body", "body": b""})
        return response.status


def _connect_failure(name: str, address: str, port: int, error: ConnectFailed) -> GatewayError:
    if isinstance(error, ConnectTimedOut):
        return UpstreamTimeout(
            f"function {name!r} did not accept a connection in time ({address}:{port})"
        )
    return UpstreamUnavailable(
        f"function {name!r} is unavailable: cannot connect to {address}:{port} ({error.reason})"
    )


def _timeout(name: str, seconds: float) -> UpstreamTimeout:
    return UpstreamTimeout(f"function {name!r} did not answer within {seconds:g}s")
