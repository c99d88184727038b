"""How the gateway is served: the uvicorn settings measured best here (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.types import ASGIApp

from gateway.config import GatewayConfig
from gateway.http_calls import call_protocol


def server_settings(config: GatewayConfig) -> dict[str, Any]:
    """The uvicorn settings every gateway process uses (one, or each worker).

    uvloop: with the stdlib loop, small requests paid a Nagle delay (docs/benchmarks.md).
    """
    return {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": config.access_log,
        "log_level": config.log_level,
        # Replies carry the function's own Server header, not uvicorn's.
        "server_header": False,
        # The peer address stays the real one: the proxy appends it to X-Forwarded-For
        # itself instead of uvicorn replacing it with a client-supplied value.
        "proxy_headers": False,
        # The drain's second phase: calls in flight when the gateway stops accepting
        # have this long, then are cut (gateway/drain.py).
        "timeout_graceful_shutdown": config.drain_timeout,
        # Longer than a front keeps an idle connection to the gateway: otherwise the
        # gateway may close one just as the front sends a call on it, which is lost.
        "timeout_keep_alive": config.keepalive_timeout,
    }


def server_config(app: ASGIApp, config: GatewayConfig) -> uvicorn.Config:
    """The uvicorn config for `app` served by this one process.

    httptools, with bounds on request heads and connections (docs/security.md). Several
    worker processes are `gateway.workers`' job.
    """
    return uvicorn.Config(
        app, http=call_protocol(config.head_limits), workers=1, **server_settings(config)
    )
