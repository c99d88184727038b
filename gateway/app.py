"""The gateway's ASGI app, built by `create_app` from explicit parts (no globals).

Routes, first match wins:
- `GET /healthz`: the gateway's own health (the provider's readiness), status only: the
  detail is in the log and at `GET /system/healthz`, behind the management API's auth.
- `GET /metrics`: Prometheus exposition.
- `/system/...`: the management API, async calls' status and dead-letter queue, and
  Alertmanager's webhook for the autoscaler, behind basic auth (`gateway.management.api`).
- `/async-function/...`: an async call, queued on JetStream (`gateway.async_calls.enqueue`).
- `GET /ui/...`: the web console's static files (`gateway.console`); its data comes from
  `/system`. Both refuse requests made by other sites (`gateway.management.browsers`).
- anything else: a function call, to `gateway.proxy.handler.FunctionProxy` (see
  `gateway.routing` for how a request names its function).

The gateway's own endpoints are served on its own host names only: a request whose `Host`
names a function (a custom domain, or a name under `GATEWAY_FUNCTIONS_DOMAIN`) is that
function's whatever its path, `/system/...` and `/ui/` included (`routing.HostRoutes`). So
a function's pages never share an origin with the console or the API, and `Host:
system.<domain>` reaches a function called `system` (or a 404), never the API. Only that
check is added, and only for the gateway's own paths: calls to `/function/` never read
the `Host` here.

All but the function and async calls are a Starlette app, the "platform"
(`gateway.platform`, which also runs the lifespan). Function calls bypass it: `Gateway`
hands them to the proxy (and async calls to the queue) directly, because Starlette's
exception and routing layers cost a measurable share of the gateway's CPU per proxied
call (docs/benchmarks.md).
`create_app` only assembles: the parts a call goes through and the autoscaler come from
`gateway.assembly`. docs/architecture.md draws the parts and what each may import.
"""

from __future__ import annotations

import functools

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import routing
from gateway.assembly import build_autoscaling, build_call_path
from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import AsyncEnqueue, is_async_call
from gateway.async_calls.queue_load import queued_calls
from gateway.config import GatewayConfig
from gateway.console import is_console_path
from gateway.drain import DrainMarker
from gateway.http_errors import ErrorFormat
from gateway.management.auth import (
    RequireBasicAuth,
    without_authorization,
    without_credentials,
)
from gateway.metrics import GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.platform import create_platform_app
from gateway.providers.base import FunctionProvider, LeaderLease
from gateway.proxy.handler import FunctionProxy, HeaderFilter
from gateway.proxy.replicas import ReplicaResolver
from gateway.shared import SharedDir

_READ_ONLY_PATHS = frozenset({"/healthz", "/metrics"})


class Gateway:
    """The ASGI app uvicorn serves: function calls straight to `function_calls`, the rest
    to `platform_app`.

    `platform_app` (the Starlette app of the gateway's own endpoints) also gets every
    non-HTTP scope, so it runs the lifespan.
    """

    def __init__(
        self,
        platform_app: Starlette,
        function_calls: ASGIApp,
        async_calls: ASGIApp | None = None,
        hosts: routing.HostRoutes | None = None,
    ) -> None:
        self.platform_app = platform_app
        self._function_calls = function_calls
        self._async_calls = async_calls
        self._hosts = hosts

    @property
    def state(self) -> State:
        """The Starlette app's state (`metrics`, `autoscaler`, `cold_start`)."""
        return self.platform_app.state

    def direct_app(self, method: str, path: str) -> ASGIApp | None:
        """The app a request goes to when its method and path alone decide it: the function
        calls' (past the dispatch below), or None when `__call__` must decide (the
        gateway's own endpoints, which a function's host name may claim; async calls).
        `gateway.http_calls.CallProtocol` serves the first kind on its lean path."""
        if is_platform_call(method, path):
            return None
        if self._async_calls is not None and is_async_call(path):
            return None
        return self._function_calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_platform_call(scope["method"], scope["path"]):
            if self._async_calls is not None and is_async_call(scope["path"]):
                await self._async_calls(scope, receive, send)
                return
            await self._function_calls(scope, receive, send)
        elif (
            self._hosts is not None
            and scope["type"] == "http"
            and self._hosts.claims(scope["headers"])
        ):
            await self._function_calls(scope, receive, send)
        else:
            await self.platform_app(scope, receive, send)


def is_platform_call(method: str, path: str) -> bool:
    """Whether a request is for the gateway's own endpoints rather than for a function.

    Other methods on /healthz, /metrics and the console's /ui/ are function calls (by
    `X-Function` or Alexa), as is anything outside /system/.
    """
    if path.startswith("/system/"):
        return True
    return (path in _READ_ONLY_PATHS or is_console_path(path)) and method in ("GET", "HEAD")


def invocation_header_filter(config: GatewayConfig) -> HeaderFilter | None:
    """What a function must never see of a call's headers: every `Authorization` with
    `GATEWAY_INVOKE_AUTH` (it was the gateway's), else the gateway's own credentials."""
    if config.invoke_auth:
        return without_authorization
    if config.basic_auth is not None:
        return functools.partial(without_credentials, credentials=config.basic_auth)
    return None


def guard_invocations(app: ASGIApp, config: GatewayConfig) -> ASGIApp:
    """`app` behind the gateway's basic auth when `GATEWAY_INVOKE_AUTH` asks for it."""
    if not config.invoke_auth:
        return app
    # Function calls keep challenging browsers: a page may be a function's own UI.
    return RequireBasicAuth(
        app,
        config.basic_auth,
        what="function invocation",
        error_format=ErrorFormat.TEXT,
        challenge_browsers=True,
    )


def create_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    *,
    resolver: ReplicaResolver | None = None,
    shared: SharedDir | None = None,
    lease: LeaderLease | None = None,
) -> Gateway:
    """Build the gateway app. Its lifespan starts and closes `provider`, the call path
    (forwarder and cold start) and the autoscaler (unless `config.autoscale` is off).

    Scale from zero works either way: the cold-start path is its own part, handed to the
    forwarder as its waker. `resolver` replaces the DNS-backed replica resolver (tests use
    a fixed table). `shared`: this app is one of several worker processes
    (`gateway.workers`): metrics, load, the autoscaler's election, parks, unreachable
    addresses, replica failures and the drain marker (`/healthz`) go through the files
    there. `lease`: the cluster-wide lease the autoscaler must also hold, so that several
    gateways decide once (none: this gateway decides alone).
    """
    metrics = GatewayMetrics(provider, shared.metrics if shared is not None else None)
    call_path = build_call_path(config, provider, metrics, resolver=resolver, shared=shared)
    async_config = config.async_calls
    broker = Broker(async_config, name="faas-gateway") if async_config.enabled else None
    queued = (
        queued_calls(broker, provider, async_config.consumer_concurrency)
        if broker is not None
        else None
    )
    autoscaling = build_autoscaling(
        config, provider, metrics, call_path, shared=shared, lease=lease, queued=queued
    )
    header_filter = invocation_header_filter(config)
    hosts = host_routes(config, provider)
    proxy = FunctionProxy(
        routing.Router(hosts),
        call_path.calls,
        call_path.forwarder,
        autoscaling.notifier,
        buffer_limit=config.buffer_limit,
        header_filter=header_filter,
    )
    enqueue = AsyncEnqueue(async_config, broker, call_path.calls, header_filter)
    platform = create_platform_app(
        config,
        provider,
        metrics,
        call_path.calls.namespaces,
        call_path,
        autoscaling,
        broker,
        draining=DrainMarker(shared.draining) if shared is not None else None,
    )
    return Gateway(
        platform,
        guard_invocations(proxy, config),
        guard_invocations(enqueue, config),
        hosts,
    )


def host_routes(config: GatewayConfig, provider: FunctionProvider) -> routing.HostRoutes:
    """The host rule's parts: the functions domain and the provider's custom domains."""

    def by_domain(host: str) -> str | None:
        function = provider.by_domain(host)
        return None if function is None else function.name

    namespaces = Namespaces(config.namespace, provider.namespace_names)
    return routing.HostRoutes(
        config.functions_domain, by_domain, config.namespace, namespaces.known
    )
