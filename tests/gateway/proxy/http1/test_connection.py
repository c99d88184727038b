"""`Connection` and `Response` in-process: a replica's bytes in through a fake transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import pytest

from gateway.proxy.http1.connection import HIGH_WATER, Connection, Response
from gateway.proxy.upstream import ConnectionDropped

T = TypeVar("T")


class FakeTransport(asyncio.Transport):
    """Records what is written; reading paused or not; closed or not."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Exchange:
    """One connection on a fake transport, one response on it, and its release."""

    def __init__(self, method: str = "GET") -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = FakeTransport()
        self.connection = Connection(("127.0.0.1", 8080), self.loop)
        self.connection.connection_made(self.transport)
        self.released: list[bool] = []
        self.response = Response(self.connection, method, self._on_release)
        self.connection.response = self.response

    def _on_release(self, connection: Connection, reusable: bool) -> None:
        self.released.append(reusable)

    def feed(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.connection.data_received(piece)

    async def head(self) -> Response:
        await self.response.wait_head(self.loop.time() + 5)
        return self.response

    def reusable(self) -> bool:
        self.response.release()
        return self.released == [True]


def run(test: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(test())


def test_content_length_response_in_one_piece() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Case: Kept\r\n\r\nhello")
        response = await exchange.head()
        assert response.status == 200
        assert response.content_length == 5
        assert response.raw_headers == [(b"Content-Length", b"5"), (b"X-Case", b"Kept")]
        assert await response.read() == b"hello"
        assert exchange.reusable()

    run(scenario)


def test_response_split_into_single_bytes() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        wire = b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc"
        exchange.loop.call_soon(exchange.feed, *(wire[i : i + 1] for i in range(len(wire))))
        response = await exchange.head()
        assert response.status == 201
        assert await response.read() == b"abc"
        assert exchange.reusable()

    run(scenario)


def test_chunked_response_streams_undecoded_bytes() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n")
        response = await exchange.head()
        assert response.content_length is None
        chunks = response.chunks()
        assert await anext(chunks) == b"\x1f\x8b\x08"
        exchange.loop.call_soon(exchange.feed, b"2\r\nok\r\n0\r\n\r\n")
        assert [chunk async for chunk in chunks] == [b"ok"]
        assert exchange.reusable()

    run(scenario)


def test_body_until_close_ends_with_the_connection() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\n\r\nall of ")
        response = await exchange.head()
        exchange.feed(b"it")
        exchange.loop.call_soon(exchange.connection.connection_lost, None)
        assert [chunk async for chunk in response.chunks()] == [b"all of it"]
        assert not exchange.reusable()

    run(scenario)


@pytest.mark.parametrize(
    ("method", "head"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
    ],
)
def test_answers_without_a_body(method: str, head: bytes) -> None:
    async def scenario() -> None:
        exchange = Exchange(method)
        exchange.feed(head)
        response = await exchange.head()
        assert [chunk async for chunk in response.chunks()] == []
        assert exchange.reusable()

    run(scenario)


def test_interim_answer_is_skipped() -> None:
    async def scenario() -> None:
        exchange = Exchange("POST")
        exchange.feed(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        )
        response = await exchange.head()
        assert response.status == 200
        assert response.raw_headers == [(b"Content-Length", b"2")]
        assert await response.read() == b"ok"

    run(scenario)


def test_connection_close_is_not_pooled() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        assert await (await exchange.head()).read() == b""
        assert not exchange.reusable()

    run(scenario)


def test_reading_pauses_while_a_slow_reader_holds_the_body() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        response = await exchange.head()
        piece = b"x" * (64 * 1024)
        for _ in range(HIGH_WATER // len(piece) + 1):
            exchange.feed(b"%x\r\n" % len(piece) + piece + b"\r\n")
        assert not exchange.transport.reading
        chunks = response.chunks()
        assert len(await anext(chunks)) > HIGH_WATER
        assert exchange.transport.reading

    run(scenario)


def test_reset_mid_body_is_a_dropped_connection() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        response = await exchange.head()
        exchange.loop.call_soon(
            exchange.connection.connection_lost,
            ConnectionResetError(104, "Connection reset by peer"),
        )
        with pytest.raises(ConnectionDropped, match="Connection reset by peer"):
            await response.read()
        assert not exchange.reusable()

    run(scenario)


def test_closed_before_the_head_is_a_dropped_connection() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.loop.call_soon(exchange.connection.connection_lost, None)
        with pytest.raises(ConnectionDropped, match="closed by the replica"):
            await exchange.head()
        assert not exchange.response.answered

    run(scenario)


def test_malformed_answer_is_a_dropped_connection() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"SMTP ready\r\n\r\n")
        with pytest.raises(ConnectionDropped, match="malformed"):
            await exchange.head()
        assert exchange.transport.closed

    run(scenario)


def test_no_answer_by_the_deadline_is_a_timeout() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        with pytest.raises(TimeoutError):
            await exchange.response.wait_head(exchange.loop.time() + 0.01)
        assert exchange.transport.closed

    run(scenario)


def test_close_drops_the_call() -> None:
    async def scenario() -> None:
        exchange = Exchange()
        exchange.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        response = await exchange.head()
        response.close()
        assert exchange.transport.closed
        with pytest.raises(ConnectionDropped):
            await response.read()
        assert not exchange.reusable()

    run(scenario)
