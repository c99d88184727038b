"""The hot path: a raw ASGI app that routes a request to a function and relays the call.

Starlette's Request/Response objects cost 15-20% on this hop (measured: docs/benchmarks.md), so this
speaks ASGI directly; `gateway.app.Gateway` hands it every function call, past Starlette.

Bodies: a body whose Content-Length is known and at most `buffer_limit` is read whole and
sent in one write (streaming small bodies through generators costs 1.5-4x); anything
larger or chunked is streamed, so memory stays bounded whatever the size. Responses
follow the same rule on their own Content-Length.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
from multidict import CIMultiDict
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway import alexa
from gateway.auth import BasicAuthCredentials, credentials_match
from gateway.config import GatewayConfig
from gateway.errors import (
    BadRequest,
    FunctionNotFound,
    GatewayError,
    NoReplicas,
    NoRoute,
    UpstreamTimeout,
    UpstreamUnavailable,
    status_code,
)
from gateway.functions import Function, FunctionProvider
from gateway.headers import downstream_response_headers, upstream_request_headers
from gateway.metrics import GatewayMetrics
from gateway.replicas import ReplicaResolver
from gateway.routing import Target, target_from_header, target_from_path, upstream_path
from gateway.scaling.cold_start import ColdStart

log = logging.getLogger("gateway.proxy")

# aiohttp would otherwise add headers the caller never sent (User-Agent, Accept,
# Accept-Encoding, and Content-Type: application/octet-stream on bodies).
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
_CLIENT_CLOSED_REQUEST = 499  # nginx's code, for metrics only: nobody is left to answer


class _ClientDisconnected(Exception):
    """The caller went away while its body was being read."""


class _StreamedBody:
    """The caller's body, read from ASGI chunk by chunk as aiohttp sends it upstream."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.started = False
        self.finished = False
        self.client_disconnected = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        more_body = True
        while more_body:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.client_disconnected = True
                raise _ClientDisconnected
            more_body = message.get("more_body", False)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
        self.finished = True


class FunctionProxy:
    """ASGI app: route to a function, pick a replica, relay request and response."""

    def __init__(
        self,
        config: GatewayConfig,
        provider: FunctionProvider,
        resolver: ReplicaResolver,
        metrics: GatewayMetrics,
        cold_start: ColdStart | None = None,
    ) -> None:
        self._config = config
        self._provider = provider
        self._resolver = resolver
        self._metrics = metrics
        self._cold_start = cold_start
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the shared, pooled upstream session (call from the app's lifespan)."""
        config = self._config
        connector = aiohttp.TCPConnector(
            limit=config.max_connections,
            limit_per_host=0,
            keepalive_timeout=config.upstream_keepalive,
            use_dns_cache=False,  # we connect to addresses, resolved by ReplicaResolver
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # `total` bounds the whole call, body included; `sock_connect` one connect.
            timeout=aiohttp.ClientTimeout(
                total=config.upstream_timeout, sock_connect=config.connect_timeout
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the upstream session and its pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            routed = await self._route(scope, receive, send)
            if routed is None:
                return
            target, body = routed
            function = self._provider.lookup(target.name)
            if function is None:
                raise FunctionNotFound(target.name)
        except GatewayError as error:
            await _send_error(send, error)
            return
        except _ClientDisconnected:
            return  # left while its body was read for Alexa routing: nobody to answer
        await self._invoke(function, target, body, scope, receive, send)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[Target, bytes | None] | None:
        """The target and any body already read, or None if answered here (Alexa)."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        target = target_from_path(raw_path, query) or target_from_header(headers, raw_path, query)
        if target is not None:
            return target, None
        method: str = scope["method"]
        content_length = _content_length(headers)
        content_type = _header(headers, b"content-type") or b""
        limit = self._config.buffer_limit
        if alexa.is_candidate(method, content_type, content_length, limit):
            body = await _read_body(receive)
            request = alexa.parse_alexa_request(body)
            if request is not None:
                if request.intent_name is None:
                    await _send_alexa_reply(send, alexa.reply_without_function(request))
                    return None
                names = alexa.candidate_function_names(request.intent_name)
                for name in names:
                    if self._provider.lookup(name) is not None:
                        return Target(name, upstream_path(raw_path, query)), body
                tried = ", ".join(repr(name) for name in names)
                raise FunctionNotFound(request.intent_name, f"Alexa intent; tried {tried}")
        hint = ""
        if content_length is not None and content_length > limit and b"json" in content_type:
            hint = (
                f" (a JSON body of {content_length} bytes is not read for Alexa routing: "
                f"the limit is GATEWAY_BUFFER_LIMIT, {limit} bytes)"
            )
        raise NoRoute(
            f"no function named by {method} {scope['path']}: "
            "use /function/<name>, an X-Function header or an Alexa IntentRequest" + hint
        )

    async def _invoke(
        self,
        function: Function,
        target: Target,
        body: bytes | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Relay one call to `function`, recording it in the metrics however it ends."""
        client = scope.get("client")
        request_headers: list[tuple[bytes, bytes]] = scope["headers"]
        if self._config.basic_auth is not None:
            request_headers = _without_credentials(request_headers, self._config.basic_auth)
        upstream_headers, call_id = upstream_request_headers(
            request_headers,
            upstream_host=f"{function.upstream_host}:{function.upstream_port}",
            client_address=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
        )
        self._metrics.invocation_started(function.name)
        started_at = time.perf_counter()
        code = 500
        try:
            code = await self._relay(
                function, target, body, upstream_headers, call_id, scope, receive, send
            )
        except _ClientDisconnected:
            code = _CLIENT_CLOSED_REQUEST
        except GatewayError as error:
            code = status_code(error)
            if code >= 500:
                log.warning("%s (call %s)", error.message, call_id)
            await _send_error(send, error, call_id)
        finally:
            self._metrics.invocation_finished(function.name, code, time.perf_counter() - started_at)

    async def _relay(
        self,
        function: Function,
        target: Target,
        body: bytes | None,
        headers: CIMultiDict[str],
        call_id: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> int:
        """Send the call to a replica and its answer back; return the status sent."""
        cold_start = self._cold_start
        if function.replicas <= 0 or (cold_start and cold_start.must_hold(function.name)):
            # At 0 replicas, or being scaled to 0: wait for a ready replica (bounded).
            if cold_start is None or not cold_start.can_wake(function):
                raise NoReplicas(function.name)
            function = await cold_start.wake(function)
        limit = self._config.buffer_limit
        streamed: _StreamedBody | None = None
        if body is None:
            content_length = _content_length(scope["headers"])
            if content_length is not None and content_length <= limit:
                body = await _read_body(receive)
            elif content_length is not None or _header(scope["headers"], b"transfer-encoding"):
                streamed = _StreamedBody(receive)
        response = await self._send_upstream(
            function, scope["method"], target.path, headers, body, streamed
        )
        # Once the caller's body is all read, the next ASGI message can only be its
        # disconnect: that is what lets a streamed response stop when nobody reads it.
        body_read = streamed is None or streamed.finished
        try:
            return await self._send_downstream(
                function, response, call_id, send, receive if body_read else None
            )
        finally:
            response.release()

    async def _send_upstream(
        self,
        function: Function,
        method: str,
        path: str,
        headers: CIMultiDict[str],
        body: bytes | None,
        streamed: _StreamedBody | None,
    ) -> aiohttp.ClientResponse:
        """The replica's response (headers read), retrying a failed connect once elsewhere."""
        assert self._session is not None, "FunctionProxy.start() was not called"
        name, host, port = function.name, function.upstream_host, function.upstream_port
        address = await self._resolver.pick(host, port)
        if address is None:
            raise NoReplicas(name)
        for attempt in (1, 2):
            url = URL(f"http://{_url_host(address)}:{port}{path}", encoded=True)
            try:
                return await self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=streamed if streamed is not None else body,
                    allow_redirects=False,
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
                # Nothing reached the replica, so trying another one is safe.
                self._resolver.forget(host, port)
                retry = None
                if attempt == 1 and (streamed is None or not streamed.started):
                    retry = await self._resolver.pick(host, port, avoid=address)
                if retry is None or retry == address:
                    raise _connect_failure(name, address, port, error) from error
                log.info(
                    "function %r: %s:%d unreachable, retrying on %s", name, address, port, retry
                )
                address = retry
            except TimeoutError as error:  # aiohttp's timeouts subclass it
                raise _timeout(name, self._config.upstream_timeout) from error
            except aiohttp.ClientError as error:
                if streamed is not None and streamed.client_disconnected:
                    raise _ClientDisconnected from error
                raise UpstreamUnavailable(
                    f"function {name!r} is unavailable: replica {address}:{port} "
                    f"dropped the connection ({_reason(error)})"
                ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_downstream(
        self,
        function: Function,
        response: aiohttp.ClientResponse,
        call_id: str,
        send: Send,
        receive: Receive | None,
    ) -> int:
        """Relay status, headers and body to the caller; return the status.

        A streamed response is abandoned (its upstream connection closed, so the function
        stops too) when the caller disconnects, if `receive` is given to notice that.
        """
        start = {
            "type": "http.response.start",
            "status": response.status,
            "headers": downstream_response_headers(response.raw_headers, call_id),
        }
        length = response.content_length
        if length is not None and length <= self._config.buffer_limit:
            try:
                data = await response.read()
            except TimeoutError as error:
                raise _timeout(function.name, self._config.upstream_timeout) from error
            except aiohttp.ClientError as error:
                raise UpstreamUnavailable(
                    f"function {function.name!r} is unavailable: "
                    f"the response was cut short ({_reason(error)})"
                ) from error
            await send(start)
            await send({"type": "http.response.body", "body": data})
            return response.status
        await send(start)
        watcher = None if receive is None else asyncio.ensure_future(_disconnect(receive))
        if watcher is not None:
            # uvicorn drops what is sent after a disconnect without an error, so without
            # this an endless stream would be read until the upstream timeout.
            watcher.add_done_callback(lambda w: _close_unless_cancelled(w, response))
        try:
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (TimeoutError, aiohttp.ClientError) as error:
            if watcher is not None and watcher.done():
                return _CLIENT_CLOSED_REQUEST
            # Headers are gone already: all we can do is end the response early, which
            # uvicorn does by closing the connection when we return.
            log.warning(
                "function %r: response cut short after the headers: %s",
                function.name,
                _reason(error),
            )
            return response.status
        finally:
            if watcher is not None:
                watcher.cancel()
        if watcher is not None and watcher.done() and not watcher.cancelled():
            return _CLIENT_CLOSED_REQUEST
        await send({"type": "http.response.body", "body": b""})
        return response.status


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for header, value in headers:
        if header == name:
            return value
    return None


def _without_credentials(
    headers: list[tuple[bytes, bytes]], credentials: BasicAuthCredentials
) -> list[tuple[bytes, bytes]]:
    """`headers` less an Authorization header carrying the gateway's own credentials.

    They open /system: a function must never see them (the CLI and callers under
    GATEWAY_INVOKE_AUTH send them with every call). Other Authorization headers are the
    function's business and pass through.
    """
    if _header(headers, b"authorization") is None:
        return headers  # the common case: no copy on the hot path
    return [
        (name, value)
        for name, value in headers
        if name != b"authorization" or not credentials_match(value.decode("latin-1"), credentials)
    ]


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    value = _header(headers, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid Content-Length {value.decode('latin-1')!r}") from None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientDisconnected
        chunks.append(message.get("body", b""))
        more_body = message.get("more_body", False)
    return b"".join(chunks)


async def _disconnect(receive: Receive) -> None:
    """Return when the caller has gone (call only once its whole body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _close_unless_cancelled(
    watcher: asyncio.Future[None], response: aiohttp.ClientResponse
) -> None:
    if not watcher.cancelled():
        response.close()


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _reason(error: BaseException) -> str:
    os_error = getattr(error, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return str(error) or type(error).__name__


def _connect_failure(
    name: str, address: str, port: int, error: aiohttp.ClientError
) -> GatewayError:
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(
            f"function {name!r} did not accept a connection in time ({address}:{port})"
        )
    return UpstreamUnavailable(
        f"function {name!r} is unavailable: cannot connect to {address}:{port} ({_reason(error)})"
    )


def _timeout(name: str, seconds: float) -> UpstreamTimeout:
    return UpstreamTimeout(f"function {name!r} did not answer within {seconds:g}s")


async def _send_error(send: Send, error: GatewayError, call_id: str | None = None) -> None:
    body = f"{error.message}\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if call_id:
        headers.append((b"x-call-id", call_id.encode("latin-1")))
    await send({"type": "http.response.start", "status": status_code(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_alexa_reply(send: Send, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
