"""A small pooled HTTP/1.1 client for the hop to replicas (asyncio protocols, httptools).

- `client`: `Http1Client`, the pool and the call (retry on a stale connection, timeouts).
- `connection`: `Connection` (the protocol) and `Response` (parser callbacks, body flow).
- `request`: the request's head and the body's framing.
- `head_limits`: `ResponseHeadLimits`, what a replica's response head may take.
- `sockets`: the socket options (TCP keepalive, the user timeout).

Why not aiohttp's client: docs/benchmarks.md ("The upstream client").
"""

from gateway.proxy.http1.client import Http1Client
from gateway.proxy.http1.head_limits import ResponseHeadLimits

__all__ = ["Http1Client", "ResponseHeadLimits"]
