"""Bounds on what a client may make the gateway hold before a request even starts.

uvicorn's httptools protocol accepts a request head of any size, with any number of
headers, for as long as the client cares to trickle it, over as many connections as the
process has descriptors: one client could take the gateway down (docs/security.md).
`bounded_http_protocol` returns that protocol with four bounds added, each answered the
way the watchdog answers it:

- a head (request line and headers) over `max_head_bytes`: 431, connection closed;
- more than `max_headers` header fields: 431, connection closed;
- a head not complete `head_timeout` seconds after its first byte (or after the
  connection opened): 408 and closed (a connection that sent nothing is just closed);
- more than `max_connections` open connections: the newest is answered 503 and closed.

Bytes are counted before the parser sees them, so an oversized head never reaches
httptools, whose header-value concatenation is quadratic in the number of pieces.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.config import HeadLimits

log = logging.getLogger("gateway.http")


class _TooManyHeaders(Exception):
    """Raised from the parser's header callback to stop parsing at once."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `HeadLimits` enforced (see the module docstring)."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("refused a connection: %d are open already", len(self.connections) - 1)
            self._refuse(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
            return
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:
            super().data_received(data)
            return
        self._head_started = True
        room = self.limits.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            # A head that came whole needs no deadline (no timer per request); one still
            # incomplete has `head_timeout` from its first byte, which is now.
            incomplete = self._reading_head and self._head_started
            if incomplete and self._head_deadline is None and not self.transport.is_closing():
                self._arm_head_deadline()
            return
        if self._head_deadline is None:
            self._arm_head_deadline()
        # Feed only what fits; if the head did not end within it, it is too large.
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._reading_head:
            self._refuse(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"request head larger than {self.limits.max_head_bytes} bytes\n",
            )
            return
        super().data_received(data[room:])

    def on_message_begin(self) -> None:
        self._header_count = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"more than {self.limits.max_headers} header fields\n",
            )
            raise _TooManyHeaders
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What follows on this connection is the next request's head; its deadline starts
        # with its first byte (uvicorn's keep-alive timeout covers the idle time before).
        self._reading_head = True
        self._head_bytes = 0
        self._head_started = False

    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():
            return  # already refused (e.g. too many headers stopped the parser)
        super().send_400_response(msg)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if not self._head_started:
            self.transport.close()  # never sent a byte: nothing to answer
            return
        self._refuse(
            http.HTTPStatus.REQUEST_TIMEOUT,
            f"request head not complete within {self.limits.head_timeout:g}s\n",
        )

    def _refuse(self, status: http.HTTPStatus, message: str) -> None:
        """Answer `status` with `message` and close, unless a response is under way."""
        self._cancel_head_deadline()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            body = message.encode()
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                "content-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()


def bounded_http_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` setting, bound to `limits`."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})
