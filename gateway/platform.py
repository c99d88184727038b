"""The gateway's own endpoints, the "platform": a Starlette app and the lifespan it runs.

`GET /healthz` (the status only), `GET /metrics`, `/system` (the management API, async
calls' status and dead letters, the alert webhook) and `/ui/` (the web console).
Function calls never reach it (`gateway.app.Gateway`). Its lifespan starts and stops
every part of the gateway in order (`running`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from gateway.assembly import Autoscaling, CallPath
from gateway.async_calls.broker import Broker
from gateway.config import GatewayConfig
from gateway.console import PREFIX as CONSOLE_PREFIX
from gateway.console import create_console_app
from gateway.drain import DrainMarker
from gateway.http_errors import ErrorFormat
from gateway.management.api import create_system_app, not_found
from gateway.management.browsers import SameOriginOnly
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import FunctionProvider
from gateway.scaling.load import LoadCounter

log = logging.getLogger("gateway")


class Health:
    """`GET /healthz`, unauthenticated: the status only. The detail (the engine's address
    and error) goes to the log, once per change, and to the authenticated /system/healthz.

    503 `draining` once the gateway is stopping (`draining`: none, never), so the front
    stops sending it calls while it still serves them (`gateway.drain`)."""

    def __init__(self, provider: FunctionProvider, draining: DrainMarker | None = None) -> None:
        self._provider = provider
        self._draining = draining
        self._logged_detail = ""

    async def respond(self, request: Request) -> Response:
        """The endpoint (a method: Starlette treats other callables as ASGI apps)."""
        if self._draining is not None and self._draining.is_set():
            return JSONResponse({"status": "draining"}, status_code=503)
        status = self._provider.status()
        if status.ready:
            self._logged_detail = ""
            return JSONResponse({"status": "ok"})
        if status.detail != self._logged_detail:
            self._logged_detail = status.detail
            log.warning("/healthz: unavailable: %s", status.detail)
        return JSONResponse({"status": "unavailable"}, status_code=503)


class MetricsEndpoint:
    """`GET /metrics`: every worker's series, those of removed functions forgotten."""

    def __init__(
        self, provider: FunctionProvider, metrics: GatewayMetrics, load: LoadCounter | None
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._load = load

    async def respond(self, request: Request) -> Response:
        """The endpoint (a method: Starlette treats other callables as ASGI apps)."""
        metrics = self._metrics
        metrics.flush()  # this loop pass's calls too
        provider = self._provider
        if provider.status().ready:  # a provider that lost its view knows no functions
            known = {
                name
                for function in provider.functions()
                for name in (function.name, function.metric_name)
            }
            metrics.forget_removed(known)
            if self._load is not None:
                self._load.forget_removed(known)
        # Rendering thousands of samples takes milliseconds: keep it off the event loop.
        exposition = await asyncio.to_thread(metrics.exposition)
        return Response(exposition, media_type=CONTENT_TYPE)


def running(
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    call_path: CallPath,
    autoscaling: Autoscaling,
    broker: Broker | None,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The lifespan: start the provider, the broker, the call path and the autoscaler, in
    that order, and stop them in the reverse."""
    autoscaler = autoscaling.autoscaler

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metrics.batch_writes(asyncio.get_running_loop())
        await provider.start()
        if broker is not None:
            await broker.start()
        try:
            await call_path.start()
            try:
                if autoscaler is not None:
                    autoscaler.start()
                try:
                    yield
                finally:
                    if autoscaler is not None:
                        await autoscaler.close()
            finally:
                await call_path.close()
        finally:
            metrics.stop_batching()  # the last calls' counts are written, not lost
            if broker is not None:
                await broker.close()
            await provider.close()

    return lifespan


def create_platform_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    namespaces: Namespaces,
    call_path: CallPath,
    autoscaling: Autoscaling,
    broker: Broker | None,
    draining: DrainMarker | None = None,
) -> Starlette:
    """The platform app over the gateway's parts; its lifespan runs them all. `draining`:
    the marker that turns `/healthz` to 503 while the gateway stops."""
    console = SameOriginOnly(
        create_console_app(config.basic_auth),
        what="web console",
        error_format=ErrorFormat.TEXT,
        allow_navigation=True,  # a link to the console from elsewhere opens it
    )
    system = create_system_app(
        config, provider, metrics, namespaces, broker=broker, autoscaler=autoscaling.autoscaler
    )
    exposition = MetricsEndpoint(provider, metrics, autoscaling.load)
    app = Starlette(
        routes=[
            Route("/healthz", Health(provider, draining).respond, methods=["GET"]),
            Route("/metrics", exposition.respond, methods=["GET"]),
            Mount("/system", system),
            Mount(CONSOLE_PREFIX, console),
        ],
        lifespan=running(provider, metrics, call_path, autoscaling, broker),
    )
    # Only /system/ paths reach this router unmatched (e.g. with a newline, which the
    # Mount's pattern does not match): answer them as the management API would. (`/ui`
    # alone is redirected to `/ui/` before this.)
    app.router.default = not_found
    app.state.metrics = metrics
    app.state.autoscaler = autoscaling.autoscaler
    app.state.cold_start = call_path.cold_start
    app.state.broker = broker
    return app
