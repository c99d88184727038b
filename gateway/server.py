"""How the gateway is served: the uvicorn settings measured best here (docs/benchmarks.md)."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from gateway.config import GatewayConfig
from gateway.http_limits import bounded_http_protocol


def server_config(app: ASGIApp, config: GatewayConfig) -> uvicorn.Config:
    """The uvicorn config for `app`.

    uvloop + httptools: with the stdlib loop, small requests paid ~40 ms of Nagle delay.
    One worker: several would each keep their own metrics, and /metrics would show
    whichever worker answered the scrape (prometheus-client's multiprocess mode would be
    needed); one worker is also what the proxy benchmarks measured.
    """
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        # httptools, with bounds on request heads and connections (docs/security.md).
        http=bounded_http_protocol(config.head_limits),
        lifespan="on",
        access_log=config.access_log,
        log_level=config.log_level,
        # Replies carry the function's own Server header, not uvicorn's.
        server_header=False,
        # The peer address stays the real one: the proxy appends it to X-Forwarded-For
        # itself instead of uvicorn replacing it with a client-supplied value.
        proxy_headers=False,
        workers=1,
    )
