"""The gateway's Starlette app, built by `create_app` from explicit parts (no globals).

Routes, first match wins:
- `GET /healthz`: the gateway's own health (the provider's readiness).
- `GET /metrics`: Prometheus exposition.
- `/system/...`: the management API behind basic auth (see `gateway.system_api`).
- anything else: `FunctionProxy` (see `gateway.routing` and `gateway.alexa` for how a
  request names its function).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from gateway.auth import RequireBasicAuth
from gateway.config import GatewayConfig
from gateway.functions import FunctionProvider
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.proxy import FunctionProxy
from gateway.replicas import ReplicaResolver
from gateway.system_api import create_system_app


def create_app(
    config: GatewayConfig,
    provider: FunctionProvider,
    *,
    resolver: ReplicaResolver | None = None,
) -> Starlette:
    """Build the gateway app. Its lifespan starts and closes `provider` and the proxy.

    `resolver` replaces the DNS-backed replica resolver (tests use a fixed table).
    """
    metrics = GatewayMetrics(provider)
    resolver = resolver or ReplicaResolver(config.dns_ttl)
    proxy = FunctionProxy(config, provider, resolver, metrics)
    invoke: ASGIApp = proxy
    if config.invoke_auth:
        invoke = RequireBasicAuth(proxy, config.basic_auth, what="function invocation")

    async def healthz(request: Request) -> Response:
        status = provider.status()
        if status.ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "detail": status.detail}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        # Rendering thousands of samples takes milliseconds: keep it off the event loop.
        exposition = await asyncio.to_thread(metrics.exposition)
        return Response(exposition, media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await provider.start()
        try:
            await proxy.start()
            try:
                yield
            finally:
                await proxy.close()
        finally:
            await provider.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Mount("/system", create_system_app(config, provider, metrics)),
            Route("/{path:path}", invoke),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app
