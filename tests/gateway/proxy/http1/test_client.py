"""`Http1Client` against a tiny asyncio server in the same loop: pooling, limits, retries."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from multidict import CIMultiDict

from gateway.proxy.bodies import StreamedBody
from gateway.proxy.http1 import Http1Client
from gateway.proxy.http1 import sockets as http1_sockets
from gateway.proxy.http1.connection import Connection
from gateway.proxy.http1.sockets import KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES
from gateway.proxy.upstream import ConnectFailed, ConnectionDropped, PeerUnresponsive
from tests.support import free_port

T = TypeVar("T")
Handler = Callable[[int, bytes], Awaitable[bytes | None]]
"""Answers a request (its connection's number, its raw bytes); None: close unanswered."""


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's bytes: the head, then a Content-Length or chunked body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        return head + await reader.readuntil(b"0\r\n\r\n")
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return head + await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (head.encode(), len(body), body)


class Replica:
    """A loopback server: counts connections, records requests, answers with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Replica:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(request)
                reply = await self.handler(number, request)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
        finally:
            self.open -= 1
            writer.close()


async def echo(number: int, request: bytes) -> bytes:
    return answer(request.partition(b"\r\n\r\n")[2])


def client(**options: Any) -> Http1Client:
    settings: dict[str, Any] = {
        "max_connections": 10,
        "keepalive": 5.0,
        "connect_timeout": 2.0,
        "timeout": 5.0,
    }
    settings.update(options)
    return Http1Client(**settings)


def host(port: int) -> CIMultiDict[str]:
    return CIMultiDict([("Host", f"127.0.0.1:{port}")])


async def call(
    http: Http1Client, replica: Replica, body: bytes | None = b"hi", method: str = "POST"
) -> bytes:
    response = await http.request(
        method, "127.0.0.1", replica.port, "/", host(replica.port), body, None
    )
    try:
        return await response.read()
    finally:
        response.release()


def run(test: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(test())


def test_connection_is_kept_and_reused() -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(echo) as replica:
            assert await call(http, replica, b"one") == b"one"
            assert await call(http, replica, b"two") == b"two"
            assert replica.connections == 1
            assert http.idle_connections == 1
        await http.close()

    run(scenario)


def test_idle_connection_past_the_keepalive_is_not_reused() -> None:
    async def scenario() -> None:
        http = client(keepalive=0.05)
        await http.start()
        async with Replica(echo) as replica:
            await call(http, replica)
            await asyncio.sleep(0.2)
            assert http.idle_connections == 0  # closed by the pool's timer
            await call(http, replica)
            assert replica.connections == 2
        await http.close()

    run(scenario)


def test_connection_closed_by_the_replica_while_idle_is_resent_once() -> None:
    answered: list[int] = []

    async def first_connection_answers_once(number: int, request: bytes) -> bytes | None:
        if number == 1 and answered:
            return None  # as if its idle timeout had just closed it
        answered.append(number)
        return answer(b"ok")

    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(first_connection_answers_once) as replica:
            assert await call(http, replica) == b"ok"
            assert await call(http, replica) == b"ok"
            assert answered == [1, 2]  # the stale one, then a fresh one
        await http.close()

    run(scenario)


def test_unanswered_call_on_a_fresh_connection_is_not_resent() -> None:
    async def never(number: int, request: bytes) -> bytes | None:
        return None

    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(never) as replica:
            with pytest.raises(ConnectionDropped, match="closed by the replica"):
                await call(http, replica)
            assert replica.connections == 1
        await http.close()

    run(scenario)


def test_connections_probe_a_silent_replica_with_tcp_keepalive() -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(echo) as replica:
            await call(http, replica)
            [connection] = [c for pool in http._idle.values() for c in pool]
            assert connection.transport is not None
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            tcp = socket.IPPROTO_TCP
            assert (
                sock.getsockopt(tcp, socket.TCP_KEEPIDLE),
                sock.getsockopt(tcp, socket.TCP_KEEPINTVL),
                sock.getsockopt(tcp, socket.TCP_KEEPCNT),
                sock.getsockopt(tcp, socket.TCP_USER_TIMEOUT),
            ) == (KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES, 11_000)
        await http.close()

    run(scenario)


def test_a_call_to_a_dead_host_fails_at_its_keepalive_and_is_not_resent() -> None:
    connections: list[Connection] = []

    async def dies_on_the_second_call(number: int, request: bytes) -> bytes | None:
        if len(connections) == 0:
            return answer(b"ok")
        # The kernel's verdict when keepalive probes go unanswered (a dead node).
        connections[0].connection_lost(TimeoutError(110, "Connection timed out"))
        await asyncio.sleep(0.05)
        return answer(b"late")

    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(dies_on_the_second_call) as replica:
            assert await call(http, replica) == b"ok"
            connections.extend(c for pool in http._idle.values() for c in pool)
            with pytest.raises(PeerUnresponsive, match="went silent"):
                await call(http, replica)  # on the reused connection
            assert len(replica.requests) == 2  # not sent again on a fresh one
        await http.close()

    run(scenario)


def test_pool_limit_makes_calls_wait() -> None:
    async def slow(number: int, request: bytes) -> bytes:
        await asyncio.sleep(0.02)
        return answer(b"ok")

    async def scenario() -> None:
        http = client(max_connections=2)
        await http.start()
        async with Replica(slow) as replica:
            replies = await asyncio.gather(*(call(http, replica) for _ in range(6)))
            assert replies == [b"ok"] * 6
            assert replica.most_open <= 2
        await http.close()

    run(scenario)


def test_only_the_bodys_framing_is_added() -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        async with Replica(echo) as replica:
            await call(http, replica, None, "GET")
            await call(http, replica, None, "POST")
            get, post = replica.requests
            assert get == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % replica.port
            assert post.endswith(b"Content-Length: 0\r\n\r\n")
        await http.close()

    run(scenario)


def test_streamed_body_goes_chunked() -> None:
    messages = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"defg", "more_body": False},
    ]

    async def scenario() -> None:
        incoming = iter(messages)

        async def receive() -> dict[str, Any]:
            return next(incoming)

        http = client()
        await http.start()
        async with Replica(echo) as replica:
            streamed = StreamedBody(receive)
            response = await http.request(
                "POST", "127.0.0.1", replica.port, "/", host(replica.port), None, streamed
            )
            body = await response.read()
            response.release()
            assert body == b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
            assert b"Transfer-Encoding: chunked\r\n" in replica.requests[0]
            assert streamed.finished
        await http.close()

    run(scenario)


def test_a_replica_may_leave_a_streamed_body_unread_past_the_dead_peer_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dead-peer limit (TCP_USER_TIMEOUT) shortened to 3 s; the replica reads nothing
    # for 4 s while 64 MiB are streamed to it, so its window stays closed that long.
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_IDLE", 1)
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_INTERVAL", 1)
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_PROBES", 2)
    chunk, chunks = b"x" * (1024 * 1024), 64

    async def scenario() -> None:
        sent = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            sent += 1
            return {"type": "http.request", "body": chunk, "more_body": sent < chunks}

        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve() -> None:  # a plain socket: nothing is read before the function does
            connection, _ = listener.accept()
            with connection:
                time.sleep(4.0)  # a function busy before it reads its input
                received = bytearray()
                while not received.endswith(b"0\r\n\r\n"):
                    received += connection.recv(1024 * 1024)
                size = str(len(received)).encode()
                connection.sendall(answer(size))

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        http = client(timeout=60.0)
        await http.start()
        try:
            response = await http.request(
                "POST", "127.0.0.1", port, "/", host(port), None, StreamedBody(receive)
            )
            body = await response.read()
            response.release()
        finally:
            await http.close()
            listener.close()
        assert int(body) > len(chunk) * chunks  # every byte (and the chunk framing) read

    run(scenario)


def test_caller_leaving_mid_body_drops_the_call() -> None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def scenario() -> None:
        incoming = iter(messages)

        async def receive() -> dict[str, Any]:
            return next(incoming)

        http = client()
        await http.start()
        async with Replica(echo) as replica:
            streamed = StreamedBody(receive)
            with pytest.raises(ConnectionDropped):
                await http.request(
                    "POST", "127.0.0.1", replica.port, "/", host(replica.port), None, streamed
                )
            assert streamed.client_disconnected
            assert http.idle_connections == 0
        await http.close()

    run(scenario)


def test_refused_connection_says_so() -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        port = free_port()
        with pytest.raises(ConnectFailed, match="Connection refused"):
            await http.request("GET", "127.0.0.1", port, "/", host(port), None, None)
        await http.close()

    run(scenario)


def test_no_answer_within_the_call_timeout() -> None:
    async def silent(number: int, request: bytes) -> bytes | None:
        await asyncio.sleep(10)
        return None

    async def scenario() -> None:
        http = client(timeout=0.1)
        await http.start()
        async with Replica(silent) as replica:
            with pytest.raises(TimeoutError):
                await call(http, replica)
        await http.close()

    run(scenario)
