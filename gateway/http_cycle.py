"""One function call's request and response on a client connection, without uvicorn's cycle.

`CallCycle` is what `gateway.http_calls.CallProtocol` runs a function call with: the
ASGI `receive` and `send` of one request, speaking HTTP/1.1 straight to the transport. It
keeps the behaviour of uvicorn's `RequestResponseCycle` (the same framing, Content-Length
checks, `Expect: 100-continue`, HEAD, chunked responses, the same answers to a failing
app, `Connection: close`, the access log), and differs where that costs per call:

- the response head is written together with the first body bytes: one `write` (one
  syscall, one segment on the wire) for a whole small answer instead of two;
- the request body is kept as the parser hands it over (no bytearray to copy), and waiting
  for more of it takes a future only when there is nothing yet (no `asyncio.Event` per call);
- the `Date` header is joined once per second (when uvicorn renews it), not per call.

A head is held back only until the app's next `send`: an app that streams writes an empty
body chunk first when it wants its head out at once (`gateway.proxy.forwarder` does).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.server import ServerState

log = logging.getLogger("gateway.http")

_COMBINE_LIMIT = 64 * 1024
"""Bodies up to this size are joined to the head in one buffer; larger ones go beside it
(`writelines`), so a large first chunk is not copied."""


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase)


STATUS_LINES: dict[int, bytes] = {code: _status_line(code) for code in range(100, 600)}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class DefaultHeaders:
    """uvicorn's default response headers (its `Date`), joined once each time uvicorn
    renews them (once a second), shared by every connection of the process."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._source: list[tuple[bytes, bytes]] | None = None
        self._joined = b""
        self.lines = 0
        """How many header lines `joined` holds."""

    def joined(self) -> bytes:
        """The headers as they go on the wire, each ending in CRLF."""
        current = self._state.default_headers
        if current is not self._source:
            self._source = current
            self._joined = b"".join(b"%s: %s\r\n" % (name, value) for name, value in current)
            self.lines = len(current)
        return self._joined


class CallCycle:
    """The ASGI request/response cycle of one function call (see the module docstring).

    The protocol feeds it (`body`, `more_body`, `message_event.set()`, `disconnected`),
    as it feeds uvicorn's cycle, and starts `run_asgi` in a task.
    """

    __slots__ = (
        "_body_read",
        "_chunked",
        "_head",
        "_head_only",
        "_remaining",
        "_waiter",
        "access_log",
        "body",
        "defaults",
        "disconnected",
        "flow",
        "keep_alive",
        "more_body",
        "on_response",
        "response_complete",
        "response_started",
        "scope",
        "transport",
        "waiting_for_100_continue",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        flow: FlowControl,
        defaults: DefaultHeaders,
        *,
        access_log: bool,
        expect_100_continue: bool,
        keep_alive: bool,
        on_response: Callable[[], None],
    ) -> None:
        self.scope = scope
        self.transport = transport
        self.flow = flow
        self.defaults = defaults
        self.access_log = access_log
        self.on_response = on_response
        self.disconnected = False
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.body = b""
        self.more_body = True
        self.response_started = False
        self.response_complete = False
        self._head = b""
        self._chunked = False
        self._remaining = 0
        self._head_only = scope["method"] == "HEAD"
        self._waiter: asyncio.Future[None] | None = None
        self._body_read = False

    @property
    def message_event(self) -> CallCycle:
        """What the protocol `set()`s when body bytes, the body's end or a disconnect came."""
        return self

    def set(self) -> None:
        """Wake a `receive` waiting for the body."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed(self, chunk: bytes) -> None:
        """Body bytes from the parser."""
        self.body = self.body + chunk if self.body else chunk

    async def run_asgi(self, app: ASGIApp) -> None:
        """Run `app` on this call; answer 500 (or close) when it fails, as uvicorn does."""
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException:
            log.exception("Exception in ASGI application")
            if not self.response_started:
                await self._send_500()
            else:
                self.transport.close()
        else:
            if not self.response_started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.transport.close()
        finally:
            self.on_response = _nothing

    async def _send_500(self) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"21"),
                    (b"connection", b"close"),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})

    async def receive(self) -> Message:
        """The request body (all that came so far), or `http.disconnect`."""
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(_CONTINUE)
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            # Once the whole body was received, only the disconnect (or the response's
            # end) is left to wait for.
            while not self.body and (self.more_body or self._body_read):
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                if self.disconnected or self.response_complete:
                    break
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": self.body, "more_body": self.more_body}
        self.body = b""
        self._body_read = not self.more_body
        return message

    async def send(self, message: Message) -> None:
        """Send the response's start or a piece of its body (see the module docstring)."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self._start(message)
            return
        if self.response_complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already "
                "completed."
            )
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        self._write_body(body, more_body)
        if not more_body:
            if self._remaining != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def _start(self, message: Message) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        status: int = message["status"]
        if self.access_log:
            scope = self.scope
            query = scope["query_string"]
            target = scope["path"] + ("?" + query.decode("ascii") if query else "")
            client = scope["client"]
            logging.getLogger("uvicorn.access").info(
                '%s - "%s %s HTTP/%s" %d',
                f"{client[0]}:{client[1]}" if client else "",
                scope["method"],
                target,
                scope["http_version"],
                status,
            )
        parts = [STATUS_LINES.get(status) or _status_line(status), self.defaults.joined()]
        chunked: bool | None = None
        close_said = False
        for name, value in message.get("headers", ()):
            name = name.lower()
            if name == b"content-length" and chunked is None:
                self._remaining = int(value)
                chunked = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self._remaining = 0
                chunked = True
            elif name == b"connection" and b"close" in [
                token.strip().lower() for token in value.split(b",")
            ]:
                self.keep_alive = False
                close_said = True
            parts.append(b"%s: %s\r\n" % (name, value))
        if not self.keep_alive and not close_said:
            parts.append(b"connection: close\r\n")
        if chunked is None and not self._head_only and status not in (204, 304):
            chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        self._chunked = bool(chunked)
        parts.append(b"\r\n")
        head = b"".join(parts)
        # Each part ends in the one CRLF it may hold: a name or value with a line break or
        # NUL of its own (header injection) shows in the counts, checked once per head.
        lines = len(parts) - 1 + self.defaults.lines
        if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
            raise RuntimeError("Invalid HTTP header.")
        self._head = head

    def _write_body(self, body: bytes, more_body: bool) -> None:
        if self._head_only:
            self._remaining = 0
            body = b""
        elif self._chunked:
            if body:
                body = b"%x\r\n%s\r\n" % (len(body), body)
            if not more_body:
                body += b"0\r\n\r\n"
        else:
            if len(body) > self._remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self._remaining -= len(body)
        head = self._head
        if not head:
            if body:
                self.transport.write(body)
            return
        self._head = b""
        if len(body) <= _COMBINE_LIMIT:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))


def _nothing() -> None:
    pass
