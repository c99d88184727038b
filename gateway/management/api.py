"""The `/system` app: the management API (OpenFaaS-compatible paths and field names),
async calls' status and dead letters, and the alert webhook.

`create_system_app` only assembles: the routes from the one list
(`gateway.management.routes`), each surface behind its guard (basic auth,
`gateway.management.auth`, and the same-origin check, `gateway.management.browsers`),
the error handlers, and the parts the endpoints work with (`System`). Endpoints only
parse, validate and answer; every change goes through the provider's write methods.
Errors are JSON `{"error": "<one line>"}` (`gateway.http_errors`); an unexpected
exception is answered 500 without any detail of its own, and logged by the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.config import GatewayConfig
from gateway.errors import NoRoute
from gateway.http_errors import ErrorFormat, exception_handlers, send_error
from gateway.management.auth import RequireBasicAuth
from gateway.management.browsers import SameOriginOnly
from gateway.management.openapi import openapi_document
from gateway.management.operations import GUARDS, Guard, Handler, Operation, System
from gateway.management.routes import OPERATIONS, PATH_SCHEMAS
from gateway.management.stats import StatsHistory
from gateway.metrics import GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import FunctionProvider
from gateway.scaling.alerts import alert_endpoint
from gateway.scaling.load_report import load_endpoint
from gateway.versions.controller import VersionController

if TYPE_CHECKING:
    from gateway.async_calls.broker import Broker
    from gateway.scaling.autoscaler import Autoscaler


def create_system_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    namespaces: Namespaces | None = None,
    *,
    broker: Broker | None = None,
    autoscaler: Autoscaler | None = None,
) -> ASGIApp:
    """Every `/system` route (paths relative to the mount). `broker`: async calls' (none:
    their operations answer 503); `autoscaler`: the alert webhook's (none: 503).

    Wherever a function is named, `<name>.<namespace>` and a `namespace` query parameter
    (or body field) are read as faas-cli sends them (`gateway.namespaces`).
    """
    system = System(
        config=config,
        provider=provider,
        metrics=metrics,
        namespaces=namespaces or Namespaces(config.namespace, provider.namespace_names),
        stats=StatsHistory(metrics.outcomes),
        alert=alert_endpoint(provider, autoscaler),
        load=load_endpoint(autoscaler),
        broker=broker,
        versions=VersionController(provider, canaries_stepped=config.autoscale),
        document=openapi_document(__version__, OPERATIONS, PATH_SCHEMAS),
    )
    routes: list[BaseRoute] = []
    for guard in GUARDS:
        guarded = [op for op in OPERATIONS if op.guard is guard]
        if guard.mount is None:
            routes += [
                Route(op.path, _behind(guard, config, request_response(_bound(op, system))),
                      methods=[op.method])
                for op in guarded
            ]  # fmt: skip
            continue
        inner = [
            Route(op.path.removeprefix(guard.mount), _bound(op, system), methods=[op.method])
            for op in guarded
        ]
        # The management API's router answers every path no other surface has.
        default = not_found if guard.mount == "" else None
        routes.append(Mount(guard.mount, _behind(guard, config, Router(inner, default=default))))
    return Starlette(routes=routes, exception_handlers=exception_handlers(ErrorFormat.JSON))


def _bound(op: Operation, system: System) -> Handler:
    async def endpoint(request: Request) -> Response:
        return await op.endpoint(request, system)

    return endpoint


def _behind(guard: Guard, config: GatewayConfig, app: ASGIApp) -> ASGIApp:
    authenticated = RequireBasicAuth(app, config.basic_auth, what=guard.auth)
    return SameOriginOnly(authenticated, what=guard.origin, error_format=ErrorFormat.JSON)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Paths under /system that match no route: a JSON error like every other one."""
    path = scope["path"]  # the whole path, also under a Mount
    error = NoRoute(f"no such path in the management API: {path!r}")
    await send_error(send, error, ErrorFormat.JSON)
