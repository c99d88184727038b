"""The gateway's server protocol, in-process: bytes in through a fake transport, bytes out.

Function calls run on the lean cycle (`CallCycle`), everything else on uvicorn's, with the
bounds of `gateway.http_limits` on both (the bounds' own tests run against a real process
in test_http_limits.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.lifespan.off import LifespanOff
from uvicorn.server import ServerState

from gateway.config import HeadLimits
from gateway.http_calls import CallProtocol, call_protocol
from gateway.http_cycle import CallCycle

# Safety limit for waits that must end; never a timing assertion.
WAIT_LIMIT = 10.0


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """The async test, run on a fresh event loop."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return sync


class FakeTransport(asyncio.Transport):
    """Records every write (one entry per write call) and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.read_paused = False
        self.changed = asyncio.Event()

    async def wait_change(self) -> None:
        """Until the next write or close."""
        self.changed.clear()
        await self.changed.wait()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:
            self.writes.append(bytes(data))
            self.changed.set()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        self.read_paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


class FakeGateway:
    """What `CallProtocol` needs of `gateway.app.Gateway`: `direct_app` for /function/ calls,
    the whole app for the rest."""

    def __init__(self, function_calls: ASGIApp) -> None:
        self.function_calls = function_calls
        self.platform_scopes: list[Scope] = []

    def direct_app(self, method: str, path: str) -> ASGIApp | None:
        return self.function_calls if path.startswith("/function/") else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.platform_scopes.append(scope)
        body = b"platform " + scope["path"].encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A function call: echoes the body, says the path in a header."""
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(b"content-length", str(len(body)).encode()), (b"x-path", scope["raw_path"])]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def connect(
    app: ASGIApp = echo, limits: HeadLimits | None = None, **settings: Any
) -> tuple[CallProtocol, FakeTransport, FakeGateway]:
    gateway = FakeGateway(app)
    config = Config(app=gateway, http="httptools", server_header=False, **settings)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 07 Dec 2026 10:00:00 GMT")]
    protocol_class = call_protocol(limits or HeadLimits())
    protocol = protocol_class(config, state, LifespanOff(config).state)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport, gateway


async def settle(transport: FakeTransport, until: bytes = b"", count: int = 1) -> None:
    """Let the tasks run until `until` was written `count` times (or the connection closed)."""
    async with asyncio.timeout(WAIT_LIMIT):
        if until:
            while transport.data.count(until) < count and not transport.closed:
                await transport.wait_change()
        for _ in range(20):
            await asyncio.sleep(0)


def post(path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n%s" % (
        path,
        len(body),
        extra,
        body,
    )


@run
async def test_a_function_call_is_one_write_of_head_and_body() -> None:
    protocol, transport, gateway = connect()
    protocol.data_received(post(b"/function/echo", b"hello"))
    await settle(transport, b"hello")
    assert len(transport.writes) == 1
    answer = transport.writes[0]
    assert answer.startswith(b"HTTP/1.1 200 OK\r\ndate: Mon, 07 Dec 2026 10:00:00 GMT\r\n")
    assert b"x-path: /function/echo\r\n" in answer
    assert answer.endswith(b"\r\n\r\nhello")
    assert isinstance(protocol.cycle, CallCycle)
    assert gateway.platform_scopes == []
    assert not transport.closed


@run
async def test_other_paths_fall_back_to_the_whole_app_through_uvicorn() -> None:
    protocol, transport, gateway = connect()
    protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(transport, b"platform /healthz")
    assert transport.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [scope["path"] for scope in gateway.platform_scopes] == ["/healthz"]
    assert "state" in gateway.platform_scopes[0]
    assert not isinstance(protocol.cycle, CallCycle)


@run
async def test_pipelined_calls_of_both_kinds_are_answered_in_order() -> None:
    protocol, transport, _ = connect()
    protocol.data_received(
        post(b"/function/a", b"one")
        + b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
        + post(b"/function/b?x=1", b"three")
    )
    await settle(transport, b"HTTP/1.1 200", count=3)
    data = transport.data
    first, second, third = data.index(b"one"), data.index(b"platform"), data.index(b"three")
    assert first < second < third
    assert b"x-path: /function/b\r\n" in data


@run
async def test_keep_alive_serves_call_after_call_on_one_connection() -> None:
    protocol, transport, _ = connect()
    for n in range(3):
        protocol.data_received(post(b"/function/echo", b"call%d" % n))
        await settle(transport, b"call%d" % n)
    assert len(transport.writes) == 3
    assert not transport.closed


@run
async def test_http_1_0_and_connection_close_end_the_connection() -> None:
    protocol, transport, _ = connect()
    protocol.data_received(b"POST /function/echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    await settle(transport, b"hi")
    assert transport.closed
    assert b"connection: close\r\n" in transport.data
    protocol, transport, _ = connect()
    protocol.data_received(post(b"/function/echo", b"bye", b"Connection: close\r\n"))
    await settle(transport, b"bye")
    assert transport.closed


@run
async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    protocol, transport, _ = connect(timeout_keep_alive=0.01)
    protocol.data_received(post(b"/function/echo", b"x"))
    await settle(transport, b"\r\n\r\nx")
    async with asyncio.timeout(WAIT_LIMIT):
        while not transport.closed:
            await transport.wait_change()


@run
async def test_a_bad_request_is_answered_400_with_a_message() -> None:
    protocol, transport, _ = connect()
    protocol.data_received(b"POST /function/echo HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    await settle(transport)
    assert transport.data.startswith(b"HTTP/1.1 400 ")
    assert transport.data.endswith(b"Invalid HTTP request received.")
    assert transport.closed


@run
async def test_an_oversized_head_is_refused_431() -> None:
    protocol, transport, _ = connect(limits=HeadLimits(max_head_bytes=1024))
    protocol.data_received(b"POST /function/echo HTTP/1.1\r\nX-Big: " + b"a" * 2000)
    await settle(transport)
    assert transport.data.startswith(b"HTTP/1.1 431 ")
    assert b"request head larger than 1024 bytes" in transport.data
    assert transport.closed


@run
async def test_too_many_header_fields_are_refused_431() -> None:
    protocol, transport, _ = connect(limits=HeadLimits(max_headers=5))
    headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(6))
    protocol.data_received(b"GET /function/echo HTTP/1.1\r\n" + headers + b"\r\n")
    await settle(transport)
    assert transport.data.startswith(b"HTTP/1.1 431 ")
    assert b"more than 5 header fields" in transport.data


@run
async def test_an_oversized_body_refused_by_the_app_is_answered_413() -> None:
    async def bounded(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["more_body"] or len(message["body"]) > 4:
            headers = [(b"content-length", b"14")]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": b"body too large"})

    protocol, transport, _ = connect(bounded)
    protocol.data_received(post(b"/function/echo", b"123456789"))
    await settle(transport, b"too large")
    assert transport.data.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")


@run
async def test_a_client_that_leaves_mid_call_is_seen_by_the_app() -> None:
    seen: list[str] = []

    async def waits(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["type"])
        seen.append((await receive())["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    protocol, transport, _ = connect(waits)
    protocol.data_received(b"POST /function/echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
    await settle(transport)
    protocol.connection_lost(None)
    await settle(transport)
    assert seen == ["http.request", "http.disconnect"]
    assert transport.data == b""


@run
async def test_a_streamed_body_arrives_in_pieces() -> None:
    protocol, transport, _ = connect()
    protocol.data_received(b"POST /function/echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc")
    await settle(transport)
    assert transport.data == b""
    protocol.data_received(b"def")
    await settle(transport, b"abcdef")
    assert transport.data.endswith(b"\r\n\r\nabcdef")


@run
async def test_a_streamed_answer_is_chunked_and_its_head_goes_out_at_once() -> None:
    release = asyncio.Event()

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    protocol, transport, _ = connect(stream)
    protocol.data_received(b"GET /function/s HTTP/1.1\r\n\r\n")
    await settle(transport, b"\r\n\r\n")
    assert b"transfer-encoding: chunked\r\n" in transport.data
    release.set()
    await settle(transport, b"0\r\n\r\n")
    assert transport.data.endswith(b"\r\n\r\n4\r\npart\r\n0\r\n\r\n")


@run
async def test_expect_100_continue_is_answered_before_the_body_is_read() -> None:
    protocol, transport, _ = connect()
    protocol.data_received(post(b"/function/echo", b"hello", b"Expect: 100-continue\r\n")[:-5])
    await settle(transport, b"100 Continue")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.data_received(b"hello")
    await settle(transport, b"\r\n\r\nhello")


@run
async def test_head_gets_no_body() -> None:
    async def sized(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    protocol, transport, _ = connect(sized)
    protocol.data_received(b"HEAD /function/echo HTTP/1.1\r\n\r\n")
    await settle(transport, b"\r\n\r\n")
    assert transport.data.endswith(b"content-length: 5\r\n\r\n")


@pytest.mark.parametrize("started", [False, True])
@run
async def test_a_failing_app_is_answered_500_or_cut(started: bool) -> None:
    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        if started:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": True})
        raise RuntimeError("boom")

    protocol, transport, _ = connect(fails)
    protocol.data_received(b"GET /function/echo HTTP/1.1\r\n\r\n")
    await settle(transport)
    if started:
        assert transport.data.startswith(b"HTTP/1.1 200 OK\r\n")
    else:
        assert transport.data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert transport.closed


@run
async def test_a_header_value_with_a_line_break_is_refused() -> None:
    async def injects(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"x-bad", b"a\r\nx-injected: 1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    protocol, transport, _ = connect(injects)
    protocol.data_received(b"GET /function/echo HTTP/1.1\r\n\r\n")
    await settle(transport)
    assert transport.data == b""
    assert transport.closed


@run
async def test_after_the_whole_body_only_the_disconnect_is_received() -> None:
    seen: list[str] = []

    async def watches(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["type"])
        seen.append((await receive())["type"])

    protocol, transport, _ = connect(watches)
    protocol.data_received(post(b"/function/echo", b"all"))
    await settle(transport)
    assert seen == ["http.request"]
    protocol.connection_lost(None)
    await settle(transport)
    assert seen == ["http.request", "http.disconnect"]
