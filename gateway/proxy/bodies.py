"""Request and response bodies on the hot path: streaming the caller's body upstream, and
noticing when the caller has gone while a response streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.types import Receive

from gateway.asgi import ClientDisconnected

CLIENT_CLOSED_REQUEST = 499  # nginx's code, for metrics only: nobody is left to answer


class Closable(Protocol):
    """An upstream call that can be dropped (`gateway.proxy.upstream.UpstreamResponse`)."""

    def close(self) -> None:
        """Close the call's connection."""
        ...


class StreamedBody:
    """The caller's body, read from ASGI chunk by chunk as the client sends it upstream."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.started = False
        self.finished = False
        self.client_disconnected = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        more_body = True
        while more_body:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.client_disconnected = True
                raise ClientDisconnected
            more_body = message.get("more_body", False)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
        self.finished = True


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the caller has gone (call only once its whole body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def close_unless_cancelled(watcher: asyncio.Future[None], response: Closable) -> None:
    """Done-callback of a disconnect watcher: the caller left, so drop the upstream call."""
    if not watcher.cancelled():
        response.close()
