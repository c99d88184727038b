"""The hot path's ASGI app: one function call from routing to the forwarder and back.

Starlette's Request/Response objects cost measurably on this hop (docs/benchmarks.md), so
this speaks ASGI directly; `gateway.app.Gateway` hands it every function call, past
Starlette. Each concern is a part passed in: routing (`gateway.routing.resolve`), the
function a call goes to (`gateway.calls.Calls`: lookup, namespace, version), notifiers
(metrics, the autoscaler's load), a header filter (the gateway's own credentials), the
`Forwarder` (which also waits for a ready replica). Request headers are
rewritten by `gateway.proxy.headers`, which also stops calls that loop back (`508`).
Errors are answered by `gateway.http_errors` as plain text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from gateway.asgi import ClientDisconnected, Headers, send_response
from gateway.calls import Calls
from gateway.errors import GatewayError, JobNeedsAsync, LoopDetected, status_code
from gateway.http_errors import ErrorFormat, send_error
from gateway.providers.base import Function
from gateway.proxy.bodies import CLIENT_CLOSED_REQUEST
from gateway.proxy.forwarder import Forwarder
from gateway.proxy.headers import forwarded_request_headers
from gateway.proxy.notifier import InvocationNotifier
from gateway.routing import DirectReply, Target

log = logging.getLogger("gateway.proxy")

Resolve = Callable[
    [Scope, Receive, Callable[[str], object], int], Awaitable["Target | DirectReply"]
]
"""`gateway.routing.resolve`'s shape."""
HeaderFilter = Callable[[Headers], Headers]
"""Drops request headers a function must never see."""
_TEXT = ErrorFormat.TEXT


class FunctionProxy:
    """ASGI app: resolve the function a request names, then relay the call to it."""

    def __init__(
        self,
        resolve: Resolve,
        calls: Calls,
        forwarder: Forwarder,
        notifier: InvocationNotifier,
        *,
        buffer_limit: int,
        header_filter: HeaderFilter | None = None,
    ) -> None:
        self._resolve = resolve
        self._calls = calls
        self._lookup = calls.lookup
        self._forwarder = forwarder
        self._notifier = notifier
        self._buffer_limit = buffer_limit
        self._header_filter = header_filter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            routed = await self._resolve(scope, receive, self._lookup, self._buffer_limit)
            if isinstance(routed, DirectReply):
                headers = [(b"content-type", routed.content_type)]
                await send_response(send, routed.status, headers, routed.body)
                return
            function = self._calls.target(routed.name, scope["headers"])
            if function.job:
                raise JobNeedsAsync(routed.name)
        except GatewayError as error:
            await send_error(send, error, _TEXT)
            return
        except ClientDisconnected:
            return  # left while its body was read for Alexa routing: nobody to answer
        await self._call_function(function, routed, scope, receive, send)

    async def _call_function(
        self, function: Function, target: Target, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Relay one routed call to `function`, notifying its start and end however it ends."""
        started_ns = time.time_ns()
        client = scope.get("client")
        request_headers: Headers = scope["headers"]
        if self._header_filter is not None:
            request_headers = self._header_filter(request_headers)
        try:
            upstream_headers, call_id = forwarded_request_headers(
                request_headers,
                upstream_host=f"{function.upstream_host}:{function.upstream_port}",
                client_address=client[0] if client else None,
                scheme=scope.get("scheme", "http"),
            )
        except GatewayError as error:  # a loop (X-Faas-Hops), or a bad hop count
            if isinstance(error, LoopDetected):
                log.warning("function %r: %s", function.name, error.message)
            await send_error(send, error, _TEXT)
            return
        self._notifier.invocation_started(function.metric_name)
        started_at = time.perf_counter()
        code = 500
        try:
            code = await self._forwarder.forward(
                function,
                target.path,
                target.body,
                upstream_headers,
                call_id,
                scope,
                receive,
                send,
                started_ns,
            )
        except ClientDisconnected:
            code = CLIENT_CLOSED_REQUEST
        except GatewayError as error:
            code = status_code(error)
            if code >= 500:
                log.warning("%s (call %s)", error.message, call_id)
            await send_error(send, error, _TEXT, call_id)
        finally:
            self._notifier.invocation_finished(
                function.metric_name, code, time.perf_counter() - started_at
            )
