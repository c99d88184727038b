"""`Connection` and `Response` in-process: a replica's bytes in through a fake transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

import pytest

from gateway.proxy.http1.connection import HIGH_WATER, Connection, Response
from gateway.proxy.http1.head_limits import ResponseHeadLimits
from gateway.proxy.upstream import ConnectionDropped, ResponseHeadRefused

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

    def __init__(self, method: str = "GET", limits: ResponseHeadLimits | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = FakeTransport()
        self.connection = Connection(("127.0.0.1", 8080), self.loop)
        self.connection.connection_made(self.transport)
        self.released: list[bool] = []
        self.response = Response(
            self.connection, method, self._on_release, limits or ResponseHeadLimits()
        )
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


# Response head bounds (gateway.proxy.http1.head_limits) ---------------------------------


class CountingParser:
    """The response's parser, counting the pieces it is fed."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.pieces = 0

    def feed_data(self, data: bytes) -> None:
        self.pieces += 1
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


def head_of(size: int, fields: int = 1) -> bytes:
    """A 200 head of exactly `size` bytes with `fields` fields (one padded to fit)."""
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    others = b"".join(b"X-%d: v\r\n" % n for n in range(fields - 2))
    padding = size - len(start) - len(others) - len(b"X-Pad: \r\n\r\n")
    assert padding >= 0
    return start + others + b"X-Pad: " + b"p" * padding + b"\r\n\r\n"


@pytest.mark.parametrize("pieces", ["whole", "bytes"])
def test_a_head_of_exactly_the_bound_is_read_and_one_byte_more_is_refused(pieces: str) -> None:
    async def attempt(size: int) -> Exchange:
        exchange = Exchange(limits=ResponseHeadLimits(max_bytes=1024))
        wire = head_of(size) + b"ok"
        if pieces == "whole":
            exchange.feed(wire)
        else:
            exchange.feed(*(wire[i : i + 1] for i in range(len(wire))))
        return exchange

    async def scenario() -> None:
        exchange = await attempt(1024)
        response = await exchange.head()
        assert await response.read() == b"ok"
        assert exchange.reusable()
        exchange = await attempt(1025)
        with pytest.raises(ResponseHeadRefused, match=r"^a response head over 1 KiB$"):
            await exchange.head()
        assert exchange.transport.closed
        assert not exchange.reusable()

    run(scenario)


def test_a_head_in_single_bytes_reaches_the_parser_in_a_few_pieces() -> None:
    """httptools joins a header value's pieces with `+=` (quadratic in their number): a
    head that comes in pieces is held until it can end, then parsed at once."""

    async def scenario() -> None:
        exchange = Exchange()
        parser = CountingParser(exchange.response._parser)
        exchange.response._parser = cast(Any, parser)
        wire = head_of(60 * 1024) + b"ok"
        exchange.feed(*(wire[i : i + 1] for i in range(len(wire))))
        response = await exchange.head()
        assert len(dict(response.raw_headers)[b"X-Pad"]) > 59 * 1024
        assert await response.read() == b"ok"
        assert parser.pieces <= 4

    run(scenario)


def test_the_field_bound_counts_fields() -> None:
    async def scenario() -> None:
        for fields, refused in ((100, False), (101, True)):
            exchange = Exchange()
            exchange.feed(head_of(4096, fields) + b"ok")
            if refused:
                with pytest.raises(ResponseHeadRefused, match=r"^more than 100 header fields$"):
                    await exchange.head()
                assert exchange.transport.closed
            else:
                assert len((await exchange.head()).raw_headers) == 100

    run(scenario)


def test_interim_answers_are_bounded_in_number() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"

    async def scenario() -> None:
        for count, refused in ((10, False), (11, True)):
            exchange = Exchange()
            exchange.feed(interim * count + head_of(200) + b"ok")
            if refused:
                with pytest.raises(
                    ResponseHeadRefused, match=r"^more than 10 interim \(1xx\) responses$"
                ):
                    await exchange.head()
                assert exchange.transport.closed
            else:
                response = await exchange.head()
                assert (response.status, await response.read()) == (200, b"ok")

    run(scenario)


def test_a_head_not_complete_in_time_is_refused() -> None:
    async def scenario() -> None:
        exchange = Exchange(limits=ResponseHeadLimits(timeout=0.05))
        exchange.feed(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        with pytest.raises(
            ResponseHeadRefused,
            match=r"^a response head not complete within 0.05s of its first byte$",
        ):
            await exchange.head()
        assert exchange.transport.closed

    run(scenario)


def test_the_time_before_a_head_starts_is_not_the_heads() -> None:
    """The function may work as long as the call may last before it answers, and again
    between an interim answer and the final one: only a head under way has the bound."""

    async def scenario() -> None:
        exchange = Exchange("POST", limits=ResponseHeadLimits(timeout=0.05))
        exchange.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0.2)
        exchange.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
        exchange.feed(b"\r\nok")
        response = await exchange.head()
        assert (response.status, await response.read()) == (200, b"ok")
        assert exchange.reusable()

    run(scenario)
