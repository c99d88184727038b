"""`AiohttpClient`: the `UpstreamClient` interface over one pooled aiohttp session.

Kept to compare with `gateway.proxy.http1` in the same run (docs/benchmarks.md); chosen
with `GATEWAY_UPSTREAM_CLIENT=aiohttp`. aiohttp's errors become `gateway.proxy.upstream`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from gateway.proxy.bodies import StreamedBody
from gateway.proxy.upstream import ConnectFailed, ConnectionDropped, ConnectTimedOut

# aiohttp would otherwise add headers the caller never sent (User-Agent, Accept,
# Accept-Encoding, and Content-Type: application/octet-stream on bodies).
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


class AiohttpResponse:
    """An aiohttp response behind `gateway.proxy.upstream.UpstreamResponse`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.raw_headers = list(response.raw_headers)
        self.content_length = response.content_length

    async def read(self) -> bytes:
        """The whole body."""
        try:
            return await self._response.read()
        except aiohttp.ClientError as error:
            raise ConnectionDropped(_reason(error)) from error

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as error:
            raise ConnectionDropped(_reason(error)) from error

    def close(self) -> None:
        """Close the connection."""
        self._response.close()

    def release(self) -> None:
        """Pool the connection, or close it if the body was not read whole."""
        self._response.release()


class AiohttpClient:
    """One pooled `aiohttp.ClientSession` (implements `UpstreamClient`)."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive: float,
        connect_timeout: float,
        timeout: float,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session."""
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive,
            use_dns_cache=False,  # we connect to addresses, resolved by ReplicaResolver
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # `total` bounds the whole call, body included; `sock_connect` one connect.
            timeout=aiohttp.ClientTimeout(total=self._timeout, sock_connect=self._connect_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        address: str,
        port: int,
        path: str,
        headers: CIMultiDict[str],
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> AiohttpResponse:
        """See `gateway.proxy.upstream.UpstreamClient.request`."""
        assert self._session is not None, "AiohttpClient.start() was not called"
        host = f"[{address}]" if ":" in address else address
        url = URL(f"http://{host}:{port}{path}", encoded=True)
        try:
            response = await self._session.request(
                method,
                url,
                headers=headers,
                data=streamed if streamed is not None else body,
                allow_redirects=False,
            )
        except aiohttp.ConnectionTimeoutError as error:
            raise ConnectTimedOut(_reason(error)) from error
        except aiohttp.ClientConnectorError as error:
            raise ConnectFailed(_reason(error)) from error
        except TimeoutError:  # aiohttp's other timeouts subclass it
            raise
        except aiohttp.ClientError as error:
            raise ConnectionDropped(_reason(error)) from error
        return AiohttpResponse(response)


def _reason(error: BaseException) -> str:
    os_error = getattr(error, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return str(error) or type(error).__name__
