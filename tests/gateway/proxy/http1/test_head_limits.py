"""A function's response head is bounded like a request head: size, header fields, time to
complete it, and interim (1xx) answers. Through the gateway, against a real loopback
replica that misbehaves on purpose (docs/security.md, "a function's response heads")."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from multidict import CIMultiDict

from gateway.config import HeadLimits
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from gateway.proxy.http1 import Http1Client, ResponseHeadLimits
from gateway.proxy.upstream import ResponseHeadRefused
from tests.gateway.harness import GatewayThread
from tests.support import wait_for

OK = b"HTTP/1.1 200 OK\r\nX-Fine: yes\r\nContent-Length: 2\r\n\r\nok"
LEAK = b"X-Leak: yes\r\n"
"""A header every bad answer starts with: the caller must never see it."""

Script = Callable[[socket.socket], None]
"""Writes one answer on the connection (an `OSError` once the gateway closed it)."""


def oversized(conn: socket.socket) -> None:
    """A head of about 100 KiB in 50 fields (the bound: 64 KiB)."""
    fields = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"p" * 2048) for n in range(50))
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + LEAK + fields + b"Content-Length: 2\r\n\r\nok")


def many_fields(conn: socket.socket) -> None:
    """150 small header fields (the bound: 100), a head of about 2 KiB."""
    fields = b"".join(b"X-Field-%d: v\r\n" % n for n in range(150))
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + LEAK + fields + b"Content-Length: 2\r\n\r\nok")


HUGE_VALUE = 16 * 1024 * 1024
PIECE = 64 * 1024


def huge_value(conn: socket.socket) -> None:
    """One 16 MiB header value, in 64 KiB writes: the one that cost quadratic time."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + LEAK + b"X-Big: ")
    piece = b"b" * PIECE
    for _ in range(HUGE_VALUE // PIECE):
        conn.sendall(piece)
    conn.sendall(b"\r\nContent-Length: 2\r\n\r\nok")


def endless_continue(conn: socket.socket) -> None:
    """`100 Continue` after `100 Continue` (a final answer never comes)."""
    interim = b"HTTP/1.1 100 Continue\r\n" + LEAK + b"\r\n"
    for _ in range(100_000):
        conn.sendall(interim)


def trickle(conn: socket.socket) -> None:
    """A head one byte every 50 ms, never complete within the test's 0.5 s bound."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + LEAK + b"X-Slow: ")
    stop = threading.Event()
    for _ in range(400):
        if stop.wait(0.05):
            return
        conn.sendall(b"s")


def good(conn: socket.socket) -> None:
    conn.sendall(OK)


class Replica:
    """A loopback replica, a thread per connection: each request is answered by the script
    its path names. Records every connection's paths in order, which connections the
    gateway closed, and which scripts could not send all they meant to."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.connections: list[list[str]] = []
        self.closed: list[int] = []
        self.cut: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append([])
                number = len(self.connections) - 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            buffered = b""
            while True:
                try:
                    path, buffered = _read_request(conn, buffered)
                except OSError:
                    path = None
                if path is None:  # the gateway closed the connection
                    with self._lock:
                        self.closed.append(number)
                    return
                with self._lock:
                    self.connections[number].append(path)
                try:
                    self.scripts[path](conn)
                except OSError:
                    with self._lock:
                        self.cut.append(path)
                        self.closed.append(number)
                    return


def _read_request(conn: socket.socket, buffered: bytes) -> tuple[str | None, bytes]:
    """The next request's path (its body read and dropped); None at the end."""
    while b"\r\n\r\n" not in buffered:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffered += data
    head, _, rest = buffered.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None, b""
        rest += data
    path = head.split(b" ")[1].decode()
    return path, rest[length:]


SCRIPTS: dict[str, Script] = {
    "/oversized": oversized,
    "/fields": many_fields,
    "/huge": huge_value,
    "/continue": endless_continue,
    "/trickle": trickle,
    "/ok": good,
}


@pytest.fixture
def replica() -> Iterator[Replica]:
    server = Replica(SCRIPTS)
    yield server
    server.close()


@pytest.fixture
def gateway(replica: Replica) -> Iterator[GatewayThread]:
    """`heads` on `replica`; heads get 0.5 s (not 10 s), whole calls 5 s (not 60 s)."""
    provider = StaticProvider([Function("heads", "x", 1, "127.0.0.1", replica.port)])
    with GatewayThread(
        provider, head_limits=HeadLimits(head_timeout=0.5), upstream_timeout=5.0
    ) as running:
        yield running


def refused(gateway: GatewayThread, path: str) -> httpx.Response:
    """A call whose answer crosses a bound: 502, none of the function's head, call id kept."""
    with gateway.client() as client:
        response = client.get(f"/function/heads{path}")
    assert response.status_code == 502, response.text
    assert "x-leak" not in response.headers
    assert response.headers["content-type"].startswith("text/plain")
    return response


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/oversized", "function 'heads' answered with a response head over 64 KiB\n"),
        ("/fields", "function 'heads' answered with more than 100 header fields\n"),
        ("/huge", "function 'heads' answered with a response head over 64 KiB\n"),
        ("/continue", "function 'heads' answered with more than 10 interim (1xx) responses\n"),
        (
            "/trickle",
            "function 'heads' answered with a response head not complete within 0.5s "
            "of its first byte\n",
        ),
    ],
)
def test_a_head_over_a_bound_is_502_saying_which_and_its_connection_is_closed(
    gateway: GatewayThread, replica: Replica, path: str, message: str
) -> None:
    assert refused(gateway, path).text == message
    wait_for(lambda: 0 in replica.closed, "the gateway to close the replica's connection")
    with gateway.client() as client:
        after = client.get("/function/heads/ok")
    assert (after.status_code, after.text, after.headers["x-fine"]) == (200, "ok", "yes")
    assert replica.connections == [[path], ["/ok"]]  # a fresh connection, never the old one


def test_a_huge_value_is_not_read_and_other_calls_go_on(
    gateway: GatewayThread, replica: Replica
) -> None:
    def call(path: str) -> int:
        with gateway.client() as client:
            return client.get(f"/function/heads{path}").status_code

    with ThreadPoolExecutor(max_workers=9) as pool:
        huge = pool.submit(call, "/huge")
        others = [pool.submit(call, "/ok") for _ in range(40)]
        assert [other.result() for other in others] == [200] * 40
        assert huge.result() == 502
    # The gateway stopped reading at the bound: the replica could not send its 16 MiB.
    wait_for(lambda: "/huge" in replica.cut, "the replica's writes to fail")


def test_the_upstream_failure_is_counted(gateway: GatewayThread) -> None:
    refused(gateway, "/fields")
    with gateway.client() as client:
        metrics = client.get("/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("gateway_function_invocation_total")
        and 'function_name="heads' in line
        and 'code="502"' in line
    ]
    assert len(counted) == 1, counted
    assert counted[0].endswith(" 1.0"), counted


def test_a_refused_head_on_a_pooled_connection_is_not_sent_again(replica: Replica) -> None:
    """The replica had the request: unlike a pooled connection found closed, this call is
    not tried again on a fresh one."""

    async def scenario() -> None:
        client = Http1Client(
            max_connections=4,
            keepalive=30.0,
            connect_timeout=2.0,
            timeout=5.0,
            head_limits=ResponseHeadLimits(max_fields=20),
        )
        await client.start()
        headers = CIMultiDict([("Host", f"127.0.0.1:{replica.port}")])

        async def call(path: str) -> bytes:
            response = await client.request(
                "GET", "127.0.0.1", replica.port, path, headers, None, None
            )
            try:
                return await response.read()
            finally:
                response.release()

        assert await call("/ok") == b"ok"
        with pytest.raises(ResponseHeadRefused, match=r"^more than 20 header fields$"):
            await call("/fields")
        assert client.idle_connections == 0
        assert await call("/ok") == b"ok"
        await client.close()

    asyncio.run(scenario())
    assert replica.connections == [["/ok", "/fields"], ["/ok"]]
