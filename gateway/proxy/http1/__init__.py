"""A small pooled HTTP/1.1 client for the hop to replicas (asyncio protocols, httptools).

- `client`: `Http1Client`, the pool and the call (retry on a stale connection, timeouts).
- `connection`: `Connection` (the protocol) and `Response` (parser callbacks, body flow).
- `request`: the request's head and the body's framing.

Why not aiohttp's client: docs/benchmarks.md ("The upstream client").
"""

from gateway.proxy.http1.client import Http1Client

__all__ = ["Http1Client"]
