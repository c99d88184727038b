"""The gateway's ASGI app, built by `create_app` from explicit parts (no globals).

Routes, first match wins:
- `GET /healthz`: the gateway's own health (the provider's readiness), status only: the
  detail is in the log and at `GET /system/healthz`, behind the management API's auth.
- `GET /metrics`: Prometheus exposition.
- `POST /system/alert`: Alertmanager webhooks for the autoscaler (`gateway.scaling.alerts`),
  behind the same basic auth.
- `/system/async/...`: async calls' status and dead-letter queue (`gateway.async_calls.api`).
- `/async-function/...`: an async call, queued on JetStream (`gateway.async_calls.enqueue`).
- `/system/...`: the management API behind basic auth (`gateway.management.api`).
- `GET /ui/...`: the web console's static files (`gateway.console`); its data comes from
  `/system`. Both refuse requests made by other sites (`gateway.management.browsers`).
- anything else: a function call, to `gateway.proxy.handler.FunctionProxy` (see
  `gateway.routing` for how a request names its function).

The first five are a Starlette app, the "platform". Function calls bypass it: `Gateway`
hands them to the proxy directly, because Starlette's exception and routing layers cost
a measurable share of the gateway's CPU per proxied call (docs/benchmarks.md).
docs/architecture.md draws the parts and what each may import.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import routing
from gateway.async_calls.api import create_async_api
from gateway.async_calls.broker import Broker
from gateway.async_calls.enqueue import AsyncEnqueue, is_async_call
from gateway.async_calls.queue_load import queued_load
from gateway.config import GatewayConfig
from gateway.console import PREFIX as CONSOLE_PREFIX
from gateway.console import create_console_app, is_console_path
from gateway.http_errors import ErrorFormat
from gateway.management.api import create_system_app, not_found
from gateway.management.auth import (
    RequireBasicAuth,
    without_authorization,
    without_credentials,
)
from gateway.management.browsers import SameOriginOnly
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import FunctionProvider, LeaderLease
from gateway.proxy.forwarder import Forwarder
from gateway.proxy.handler import FunctionProxy, HeaderFilter
from gateway.proxy.notifier import InvocationNotifier, Notifiers
from gateway.proxy.replicas import ReplicaResolver
from gateway.scaling.alerts import create_alert_app
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.canary import CanaryController
from gateway.scaling.cold_start import (
    TASK_PROBE_TIMEOUT,
    ColdStart,
    SharedParking,
    health_probe,
    tcp_probe,
)
from gateway.scaling.cpu import CpuMeter
from gateway.scaling.load import LoadCounter, LoadView
from gateway.scaling.scaler import Scaler
from gateway.shared import FileLock, SharedDir, SharedTable

log = logging.getLogger("gateway")

_READ_ONLY_PATHS = frozenset({"/healthz", "/metrics"})


class Gateway:
    """The ASGI app uvicorn serves: function calls straight to `function_calls`, the rest
    to `platform_app`.

    `platform_app` (the Starlette app of the gateway's own endpoints) also gets every
    non-HTTP scope, so it runs the lifespan.
    """

    def __init__(
        self, platform_app: Starlette, function_calls: ASGIApp, async_calls: ASGIApp | None = None
    ) -> None:
        self.platform_app = platform_app
        self._function_calls = function_calls
        self._async_calls = async_calls

    @property
    def state(self) -> State:
        """The Starlette app's state (`metrics`, `autoscaler`, `cold_start`)."""
        return self.platform_app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_platform_call(scope["method"], scope["path"]):
            if self._async_calls is not None and is_async_call(scope["path"]):
                await self._async_calls(scope, receive, send)
                return
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


def _queued_calls(
    broker: Broker, provider: FunctionProvider, consumer_concurrency: int
) -> Callable[[], Awaitable[dict[str, int]]]:
    """What the autoscaler reads of the async queue: per deployed function, its queued
    calls up to what the running queue consumers take of them at once (`queued_load`)."""

    async def queued() -> dict[str, int]:
        counts = await broker.queue.queued_by_function()
        if not counts:
            return {}
        consumers = await broker.presence.running()
        return queued_load(counts, provider.functions(), consumer_concurrency, consumers)

    return queued


def create_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    *,
    resolver: ReplicaResolver | None = None,
    shared: SharedDir | None = None,
    lease: LeaderLease | None = None,
) -> Gateway:
    """Build the gateway app. Its lifespan starts and closes `provider`, the proxy, the
    cold-start path and the autoscaler (unless `config.autoscale` is off).

    Scale from zero works either way: the cold-start path is its own part, handed to the
    proxy as its waker. `resolver` replaces the DNS-backed replica resolver (tests use a
    fixed table). `shared`: this app is one of several worker processes
    (`gateway.workers`): metrics, load, the autoscaler's election, parks, unreachable
    addresses and replica failures go through the files there. `lease`: the
    cluster-wide lease the autoscaler must also hold, so that several gateways decide
    once (none: this gateway decides alone).
    """
    metrics = GatewayMetrics(provider, shared.metrics if shared is not None else None)
    namespaces = Namespaces(config.namespace)
    resolver = resolver or ReplicaResolver(
        config.dns_ttl,
        shared=SharedTable(shared.unreachable) if shared is not None else None,
    )
    scaler = Scaler(provider, metrics)
    cold_start = ColdStart(
        scaler,
        provider,
        resolver,
        timeout=config.scale_from_zero_timeout,
        probe=functools.partial(tcp_probe, within=config.connect_timeout),
        shared=SharedParking(shared.parked, shared.wake_lock) if shared is not None else None,
        tasks=provider.replica_tasks,
        task_probe=functools.partial(
            health_probe, within=min(config.connect_timeout, TASK_PROBE_TIMEOUT)
        ),
        # Read once per hold, not per call: always from the file as it is.
        failures=SharedTable(shared.failures, recheck=0.0) if shared is not None else None,
    )
    notifier: InvocationNotifier = metrics
    broker = Broker(config.async_calls, name="faas-gateway") if config.async_calls.enabled else None
    autoscaler = None
    load: LoadCounter | None = None
    if config.autoscale:
        load_view: LoadView
        if metrics.shared is not None:
            load_view = metrics.shared  # every worker's calls
        else:
            load = load_view = LoadCounter()
            notifier = Notifiers([metrics, load])
        canary = CanaryController(provider, metrics.outcomes, report=metrics.canary_step)
        autoscaler = Autoscaler(
            provider,
            scaler,
            load_view,
            cold_start,
            interval=config.autoscale_interval,
            leadership=FileLock(shared.leader_lock) if shared is not None else None,
            lease=lease,
            report_leader=metrics.autoscaler_leader,
            canary=canary,
            cpu=CpuMeter(provider.replica_tasks),
            queued=(
                _queued_calls(broker, provider, config.async_calls.consumer_concurrency)
                if broker is not None
                else None
            ),
        )
    header_filter: HeaderFilter | None = None
    if config.invoke_auth:
        header_filter = without_authorization
    elif config.basic_auth is not None:
        header_filter = functools.partial(without_credentials, credentials=config.basic_auth)
    proxy = FunctionProxy(
        routing.resolve,
        provider.lookup,
        Forwarder(config, resolver, hold=cold_start.hold),
        notifier,
        buffer_limit=config.buffer_limit,
        waker=cold_start,
        header_filter=header_filter,
        namespaces=namespaces,
    )
    alert = RequireBasicAuth(
        create_alert_app(provider, autoscaler), config.basic_auth, what="alert webhook"
    )
    function_calls: ASGIApp = proxy
    async_calls: ASGIApp = AsyncEnqueue(
        config.async_calls, broker, provider.lookup, header_filter, namespaces
    )
    if config.invoke_auth:
        # Function calls keep challenging browsers: a page may be a function's own UI.
        function_calls = RequireBasicAuth(
            proxy,
            config.basic_auth,
            what="function invocation",
            error_format=ErrorFormat.TEXT,
            challenge_browsers=True,
        )
        async_calls = RequireBasicAuth(
            async_calls,
            config.basic_auth,
            what="function invocation",
            error_format=ErrorFormat.TEXT,
            challenge_browsers=True,
        )

    logged_detail = ""

    async def healthz(request: Request) -> Response:
        # Unauthenticated: the status only. The detail (the engine's address and error)
        # goes to the log, once per change, and to the authenticated /system/healthz.
        nonlocal logged_detail
        status = provider.status()
        if status.ready:
            logged_detail = ""
            return JSONResponse({"status": "ok"})
        if status.detail != logged_detail:
            logged_detail = status.detail
            log.warning("/healthz: unavailable: %s", status.detail)
        return JSONResponse({"status": "unavailable"}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        metrics.flush()  # this loop pass's calls too
        if provider.status().ready:  # a provider that lost its view knows no functions
            known = {
                name
                for function in provider.functions()
                for name in (function.name, function.metric_name)
            }
            metrics.forget_removed(known)
            if load is not None:
                load.forget_removed(known)
        # Rendering thousands of samples takes milliseconds: keep it off the event loop.
        exposition = await asyncio.to_thread(metrics.exposition)
        return Response(exposition, media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metrics.batch_writes(asyncio.get_running_loop())
        await provider.start()
        if broker is not None:
            await broker.start()
        try:
            await proxy.start()
            cold_start.start()
            try:
                if autoscaler is not None:
                    autoscaler.start()
                try:
                    yield
                finally:
                    if autoscaler is not None:
                        await autoscaler.close()
                    await cold_start.close()
            finally:
                await proxy.close()
        finally:
            metrics.stop_batching()  # the last calls' counts are written, not lost
            if broker is not None:
                await broker.close()
            await provider.close()

    def same_origin(app: ASGIApp, what: str = "management API") -> ASGIApp:
        return SameOriginOnly(app, what=what, error_format=ErrorFormat.JSON)

    console = SameOriginOnly(
        create_console_app(config.basic_auth),
        what="web console",
        error_format=ErrorFormat.TEXT,
        allow_navigation=True,  # a link to the console from elsewhere opens it
    )
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/system/alert", same_origin(alert, "alert webhook"), methods=["POST"]),
            Mount("/system/async", same_origin(create_async_api(config, broker))),
            Mount("/system", same_origin(create_system_app(config, provider, metrics, namespaces))),
            Mount(CONSOLE_PREFIX, console),
        ],
        lifespan=lifespan,
    )
    # Only /system/ paths reach this router unmatched (e.g. with a newline, which the
    # Mount's pattern does not match): answer them as the management API would. (`/ui`
    # alone is redirected to `/ui/` before this.)
    app.router.default = not_found
    app.state.metrics = metrics
    app.state.autoscaler = autoscaler
    app.state.cold_start = cold_start
    app.state.broker = broker
    return Gateway(app, function_calls, async_calls)
