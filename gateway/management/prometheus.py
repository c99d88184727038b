"""`GET /system/prometheus/api/v1/<endpoint>`: Prometheus's read-only query API, behind
the management credentials.

The stack does not publish Prometheus: published, it answered anyone on every interface
without credentials, functions included (through the host's bridge). Who needs its data
from outside the swarm (a dashboard, the e2e tests, a script) asks the gateway, which
forwards GET requests of the query endpoints below to `GATEWAY_PROMETHEUS_URL`, with a
bound on time and on the size of the answer. `make up PROMETHEUS_PORT=9090` still
publishes Prometheus itself, for whoever wants it (README, "Metrics").
"""

from __future__ import annotations

import logging

import httpx
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import NoRoute, UpstreamUnavailable
from gateway.management.operations import System

log = logging.getLogger("gateway.system")

# Prometheus's read-only HTTP API (prometheus.io/docs/prometheus/latest/querying/api/).
ENDPOINTS = (
    "query", "query_range", "query_exemplars", "series", "labels", "metadata", "targets",
    "rules", "alerts", "format_query",
)  # fmt: skip
ANSWER_LIMIT = 16 * 1024 * 1024
TIMEOUT_SECONDS = 30.0


async def prometheus_api(request: Request, system: System) -> Response:
    """Forward one query to Prometheus; its answer (status and JSON) as it gave it."""
    endpoint = request.path_params["endpoint"]
    base = system.config.prometheus_url
    if not base:
        raise NoRoute("no Prometheus is configured for this gateway (GATEWAY_PROMETHEUS_URL)")
    if endpoint not in ENDPOINTS:
        raise NoRoute(
            f"no Prometheus query endpoint {endpoint!r} here (these are served: "
            f"{', '.join(ENDPOINTS)})"
        )
    url = f"{base.rstrip('/')}/api/v1/{endpoint}"
    try:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client,
            client.stream("GET", url, params=request.url.query) as answer,
        ):
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > ANSWER_LIMIT:
                    raise UpstreamUnavailable(
                        f"Prometheus answered with more than {ANSWER_LIMIT // (1024 * 1024)} "
                        "MiB: narrow the query"
                    )
    except httpx.HTTPError as error:
        log.warning("Prometheus at %s: %r", base, error)
        raise UpstreamUnavailable(
            f"Prometheus did not answer ({type(error).__name__}); see the gateway's log"
        ) from None
    media_type = answer.headers.get("content-type", "application/json")
    return Response(bytes(body), status_code=answer.status_code, media_type=media_type)
