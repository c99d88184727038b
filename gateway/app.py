"""The gateway's ASGI app, built by `create_app` from explicit parts (no globals).

Routes, first match wins:
- `GET /healthz`: the gateway's own health (the provider's readiness).
- `GET /metrics`: Prometheus exposition.
- `POST /system/alert`: Alertmanager webhooks for the autoscaler (`gateway.scaling.alerts`),
  behind the same basic auth.
- `/system/...`: the management API behind basic auth (see `gateway.system_api`).
- anything else: `FunctionProxy` (see `gateway.routing` and `gateway.alexa` for how a
  request names its function).

The first four are a Starlette app. Function calls bypass it: `Gateway` hands them to the
proxy directly, because Starlette's exception and routing layers were 6% of
the gateway's CPU per proxied call (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import RequireBasicAuth
from gateway.config import GatewayConfig
from gateway.functions import FunctionProvider
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.proxy import FunctionProxy
from gateway.replicas import ReplicaResolver
from gateway.scaling.alerts import create_alert_app
from gateway.scaling.autoscaler import Autoscaler
from gateway.system_api import create_system_app, not_found

_READ_ONLY_PATHS = frozenset({"/healthz", "/metrics"})


class Gateway:
    """The ASGI app uvicorn serves: function calls straight to `invoke`, the rest to `platform`.

    `platform` (the Starlette app) also gets every non-HTTP scope, so it runs the lifespan.
    """

    def __init__(self, platform: Starlette, invoke: ASGIApp) -> None:
        self.platform = platform
        self._invoke = invoke

    @property
    def state(self) -> State:
        """The Starlette app's state (`metrics`, `autoscaler`)."""
        return self.platform.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_platform_call(scope["method"], scope["path"]):
            await self._invoke(scope, receive, send)
        else:
            await self.platform(scope, receive, send)


def is_platform_call(method: str, path: str) -> bool:
    """Whether a request is for the gateway's own endpoints rather than for a function.

    Other methods on /healthz and /metrics are function calls (by `X-Function` or Alexa),
    as is anything outside /system/.
    """
    if path.startswith("/system/"):
        return True
    return path in _READ_ONLY_PATHS and method in ("GET", "HEAD")


def create_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    *,
    resolver: ReplicaResolver | None = None,
) -> Gateway:
    """Build the gateway app. Its lifespan starts and closes `provider`, the proxy and
    the autoscaler (unless `config.autoscale` is off).

    `resolver` replaces the DNS-backed replica resolver (tests use a fixed table).
    """
    metrics = GatewayMetrics(provider)
    resolver = resolver or ReplicaResolver(config.dns_ttl)
    autoscaler = None
    if config.autoscale:
        autoscaler = Autoscaler(
            provider,
            provider,
            metrics,
            resolver,
            interval=config.autoscale_interval,
            cold_start_timeout=config.scale_from_zero_timeout,
            connect_timeout=config.connect_timeout,
        )
    cold_start = autoscaler.cold_start if autoscaler else None
    proxy = FunctionProxy(config, provider, resolver, metrics, cold_start)
    alert = RequireBasicAuth(
        create_alert_app(provider, autoscaler), config.basic_auth, what="alert webhook"
    )
    invoke: ASGIApp = proxy
    if config.invoke_auth:
        invoke = RequireBasicAuth(proxy, config.basic_auth, what="function invocation")

    async def healthz(request: Request) -> Response:
        status = provider.status()
        if status.ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "detail": status.detail}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        if provider.status().ready:  # a provider that lost its view knows no functions
            metrics.forget_removed({function.name for function in provider.functions()})
        # Rendering thousands of samples takes milliseconds: keep it off the event loop.
        exposition = await asyncio.to_thread(metrics.exposition)
        return Response(exposition, media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await provider.start()
        try:
            await proxy.start()
            try:
                if autoscaler is not None:
                    autoscaler.start()
                try:
                    yield
                finally:
                    if autoscaler is not None:
                        await autoscaler.close()
            finally:
                await proxy.close()
        finally:
            await provider.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/system/alert", alert, methods=["POST"]),
            Mount("/system", create_system_app(config, provider, metrics)),
        ],
        lifespan=lifespan,
    )
    # Only /system/ paths reach this router unmatched (e.g. with a newline, which the
    # Mount's pattern does not match): answer them as the management API would.
    app.router.default = not_found
    app.state.metrics = metrics
    app.state.autoscaler = autoscaler
    return Gateway(app, invoke)
