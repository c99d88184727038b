"""`resolve`: the routing rules in order, first match wins.

1. `/function/<name>[/<rest>]` (`rules.target_from_path`).
2. An `X-Function: <name>` header (`rules.target_from_header`).
3. The host name: a custom domain, or `<name>.<functions domain>` (`hosts`). Read only
   when the rules before did not match, so the path route never parses a `Host`.
4. An Alexa skill request (`alexa`): the body is read (only a small JSON POST), and an
   intent names the function; Launch and SessionEnded requests get a `DirectReply`.

Anything else is `NoRoute` (404), saying why a large JSON body was not looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope

from gateway.asgi import Headers, content_length, header, read_body
from gateway.errors import FunctionNotFound, NoRoute
from gateway.routing import alexa
from gateway.routing.hosts import HostRoutes, request_host
from gateway.routing.rules import Target, target_from_header, target_from_path, upstream_path

Lookup = Callable[[str], object]
"""Whether a function name is known: a truthy answer (the function) or None."""


@dataclass(frozen=True)
class DirectReply:
    """A request the gateway answers itself, without calling a function (Alexa's Launch)."""

    status: int
    content_type: bytes
    body: bytes


async def resolve(
    scope: Scope,
    receive: Receive,
    lookup: Lookup,
    buffer_limit: int,
    hosts: HostRoutes | None = None,
) -> Target | DirectReply:
    """The function a request names (with the body, if routing had to read it), or the
    reply the gateway gives itself; `GatewayError`s for requests that name nothing.
    Without `hosts`, no host name routes.

    `ClientDisconnected` if the caller leaves while an Alexa body is read.
    """
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    headers: Headers = scope["headers"]
    target = target_from_path(raw_path, query) or target_from_header(headers, raw_path, query)
    if target is not None:
        return target
    if hosts is not None:
        host = request_host(headers)
        name = hosts.function_name(host) if host is not None else None
        if name is not None:
            return Target(name, upstream_path(raw_path or b"/", query))
    method: str = scope["method"]
    length = content_length(headers)
    content_type = header(headers, b"content-type") or b""
    if alexa.is_candidate(method, content_type, length, buffer_limit):
        body = await read_body(receive)
        request = alexa.parse_alexa_request(body)
        if request is not None:
            if request.intent_name is None:
                return DirectReply(200, b"application/json", alexa.reply_without_function(request))
            names = alexa.candidate_function_names(request.intent_name)
            for name in names:
                if lookup(name) is not None:
                    return Target(name, upstream_path(raw_path, query), body)
            tried = ", ".join(repr(name) for name in names)
            raise FunctionNotFound(request.intent_name, f"Alexa intent; tried {tried}")
    hint = ""
    if length is not None and length > buffer_limit and b"json" in content_type:
        hint = (
            f" (a JSON body of {length} bytes is not read for Alexa routing: "
            f"the limit is GATEWAY_BUFFER_LIMIT, {buffer_limit} bytes)"
        )
    raise NoRoute(
        f"no function named by {method} {scope['path']}: "
        "use /function/<name>, an X-Function header, a function's host name or an Alexa "
        "IntentRequest" + hint
    )


class Router:
    """`resolve` with the host rule's parts given once, called like it (the proxy's
    `Resolve`): no keyword arguments to merge per call."""

    def __init__(self, hosts: HostRoutes | None) -> None:
        self.hosts = hosts

    def __call__(
        self, scope: Scope, receive: Receive, lookup: Lookup, buffer_limit: int
    ) -> Coroutine[Any, Any, Target | DirectReply]:
        return resolve(scope, receive, lookup, buffer_limit, self.hosts)
