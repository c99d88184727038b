"""What a `/system` operation is made of: its declaration (`Operation`, listed once in
`gateway.management.routes`), the parts its endpoint works with (`System`), and what
endpoints share: the bounded JSON body and the typed answers (`gateway.api_types`).

An endpoint is a plain function `(request, system) -> Response` that raises a
`GatewayError` for any answer other than its own; the app's exception handlers
(`gateway.http_errors.exception_handlers`) write it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api_types.answers import Accepted, Answer
from gateway.asgi import MAX_API_BODY_BYTES, read_bounded_body
from gateway.config import GatewayConfig
from gateway.deployments import validate_function_name
from gateway.errors import BadRequest, Disabled
from gateway.management.ignored import warning_header
from gateway.metrics import GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import FunctionProvider

if TYPE_CHECKING:
    from gateway.async_calls.broker import Broker
    from gateway.management.stats import StatsHistory
    from gateway.versions.controller import VersionController

Handler = Callable[[Request], Awaitable[Response]]
Endpoint = Callable[[Request, "System"], Awaitable[Response]]


@dataclass(frozen=True)
class Guard:
    """A surface of `/system`: its operations pass basic auth, then the same-origin
    check, each naming the surface in its errors (`auth`, `origin`). With a `mount`
    (a path prefix, "" for all the rest) they are one router behind one guard, so a
    path or method it lacks is answered after the guard; without, each route has its own."""

    auth: str
    origin: str
    mount: str | None


ALERT = Guard("alert webhook", "alert webhook", mount=None)
ASYNC = Guard("async API", "management API", mount="/async")
MANAGEMENT = Guard("management API", "management API", mount="")
GUARDS = (ALERT, ASYNC, MANAGEMENT)
"""In the order their routes are matched: the management API takes what is left."""


@dataclass(frozen=True)
class Operation:
    """One operation: its route, its endpoint and what the OpenAPI document says of it.

    `path` is under `/system`. `request` and `response` are types (their JSON Schema is
    generated) or a JSON Schema as is; `errors` are its error statuses, each with what
    it means here (401 and 503 are every operation's).
    """

    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    status: int
    response: Any
    answered: str
    errors: Mapping[int, str] = field(default_factory=dict)
    request: Any = None
    query: tuple[dict[str, Any], ...] = ()
    description: str = ""
    media_type: str = "application/json"
    guard: Guard = MANAGEMENT


@dataclass(frozen=True)
class System:
    """The parts the endpoints work with, built once by `create_system_app`."""

    config: GatewayConfig
    provider: FunctionProvider
    metrics: GatewayMetrics
    namespaces: Namespaces
    stats: StatsHistory
    alert: Handler
    load: Handler
    broker: Broker | None
    versions: VersionController
    document: Mapping[str, Any]

    def function_name(
        self, request: Request, name: object, field_name: str = "name", namespace: str | None = None
    ) -> str:
        """A named function's key (`gateway.namespaces`): `name` in `namespace` (a body
        field) or the `?namespace=` parameter, both checked."""
        namespace = self.namespace_asked(request, namespace)
        if isinstance(name, str) and not namespace:
            if self.provider.lookup(name) is None:
                # A name as it is first, as on the request path (a static function may
                # have a dot in its name); only then its `.<namespace>` suffix.
                name = self.namespaces.function_name(name)
        elif isinstance(name, str):
            name = self.namespaces.function_name(name, namespace)
        return validate_function_name(name, field_name)

    def namespace_asked(self, request: Request, field: str | None) -> str | None:
        """The namespace a request names: its body's `field`, else `?namespace=`;
        `BadRequest` when the two name different ones."""
        asked = request.query_params.get("namespace")
        if field and asked and self.namespaces.other(field) != self.namespaces.other(asked):
            raise BadRequest(f"namespace: {field!r} in the body, {asked!r} in the query")
        return field or asked

    async def catch_up(
        self, request: Request, namespace: object = None, name: object = None
    ) -> None:
        """Refresh the provider's view when a namespace the request names (`?namespace=`,
        a body field `namespace`, the `<name>.<namespace>` suffix of `name`) is not in it
        yet: one created a moment ago by another process or gateway."""
        suffix = name.rpartition(".")[2] if isinstance(name, str) and "." in name else None
        for value in (request.query_params.get("namespace"), namespace, suffix):
            if isinstance(value, str) and value and not self.namespaces.known(value):
                await self.provider.refresh()
                return

    def async_broker(self) -> Broker:
        """The broker of async calls; `Disabled` when they are switched off."""
        if self.broker is None:
            raise Disabled("async calls are switched off: GATEWAY_NATS_URL is not set")
        return self.broker


async def read_json(request: Request) -> object:
    """The request's JSON body: `PayloadTooLarge` (413) as soon as it is declared or read
    past `MAX_API_BODY_BYTES`, `BadRequest` if it is empty or not JSON."""
    raw = await read_bounded_body(request.scope["headers"], request.receive, MAX_API_BODY_BYTES)
    if not raw.strip():
        raise BadRequest("body: required, a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"body: invalid JSON ({error})") from None


def answer(value: Answer | Sequence[Answer], status_code: int = 200) -> Response:
    """`value` as JSON (`Answer.sent`)."""
    sent = value.sent() if isinstance(value, Answer) else [item.sent() for item in value]
    return JSONResponse(sent, status_code=status_code)


def accepted(
    message: str, name: str, replicas: int | None = None, warnings: Sequence[str] = ()
) -> Response:
    """202: a change the orchestrator has taken on; `warnings` name what it ignored, in
    the body and in a `Warning` header."""
    taken = Accepted(message=message, name=name)
    if replicas is not None:
        taken.replicas = replicas
    if not warnings:
        return answer(taken, 202)
    taken.warnings = list(warnings)
    response = answer(taken, 202)
    response.headers["Warning"] = warning_header(warnings)
    return response
