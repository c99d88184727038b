"""Bad input over raw sockets: each gets a clear status or a clean close, never a hang."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import wait_for

from .conftest import (
    CHUNKED_POST,
    StartWatchdog,
    Watchdog,
    processes_with,
    raw_request,
    read_response,
    spawn_watchdog,
)


@pytest.fixture(scope="module")
def wd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watchdog]:
    """A `cat` watchdog with a short read_timeout."""
    w = spawn_watchdog(tmp_path_factory.mktemp("bad"), "cat", read_timeout="1s")
    yield w
    w.stop()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (EOF or reset), reading what is left."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"GET nopath HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET / FTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"G\x00T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n Folded: t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    ],
)
def test_malformed_head(wd: Watchdog, request_bytes: bytes, status: int) -> None:
    r = raw_request(wd.port, request_bytes)
    assert r.status == status
    assert r.headers["connection"] == "close"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Transfer-Encoding: xchunked\r\n",
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: +5\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: 5, 6\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
    ],
)
def test_bad_framing_is_rejected(wd: Watchdog, framing: bytes) -> None:
    r = raw_request(wd.port, b"POST / HTTP/1.1\r\nHost: t\r\n" + framing + b"\r\nhello")
    assert r.status == 400
    assert r.headers["connection"] == "close"


def test_chunked_on_http10_is_rejected(wd: Watchdog) -> None:
    r = raw_request(wd.port, b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert r.status == 400


def test_repeated_content_lengths_are_refused_even_equal(wd: Watchdog) -> None:
    # As httptools (the gateway's parser) does: two parsers in one chain must agree
    # (docs/security.md, "Fuzzing the HTTP chain").
    r = raw_request(
        wd.port,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
        b"Connection: close\r\n\r\nhello",
    )
    assert r.status == 400
    assert r.body == b"more than one Content-Length value\n"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
    ],
)
def test_bad_chunks_are_rejected(wd: Watchdog, body: bytes) -> None:
    r = raw_request(
        wd.port, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )
    assert r.status == 400


def test_chunk_extensions_and_trailers_are_accepted(wd: Watchdog) -> None:
    r = raw_request(
        wd.port,
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5;name=value\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
    )
    assert r.status == 200
    assert r.body == b"hello"


def test_smuggled_request_does_not_run(wd: Watchdog) -> None:
    """CL.TE smuggling: the whole connection is refused, the hidden request never runs."""
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n"
            b"\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert read_response(f).status == 400
        assert f.read() == b""


def test_oversized_headers(wd: Watchdog) -> None:
    r = raw_request(wd.port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    assert r.status == 431
    assert wd.healthy()


def test_slow_loris_gets_408(wd: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\n")  # never finishes the head
        f = sock.makefile("rb")
        r = read_response(f)
        assert r.status == 408
        assert f.read() == b""


def test_slow_body_gets_408(wd: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        r = read_response(sock.makefile("rb"))
        assert r.status == 408


def test_idle_keep_alive_connection_is_closed_quietly(wd: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        f = sock.makefile("rb")
        assert read_response(f).status == 200
        assert f.read() == b""  # closed after read_timeout, with no 408


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_disconnect_mid_body_kills_the_process(start_watchdog: StartWatchdog, framing: str) -> None:
    marker = uuid.uuid4().hex
    wd = start_watchdog(f"sh -c 'cat >/dev/null; : {marker}'", exec_timeout="60s")
    if framing == "chunked":
        head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"
    else:
        head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100_000
    sock = socket.create_connection(("127.0.0.1", wd.port), timeout=20)
    sock.sendall(head)
    wait_for(lambda: bool(processes_with(marker)), "the process to start")
    sock.close()
    wait_for(lambda: not processes_with(marker), "the process to be killed")
    assert wd.healthy()


def test_disconnect_while_process_runs_kills_it(start_watchdog: StartWatchdog) -> None:
    marker = f"63.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sleep {marker}", exec_timeout="0")
    sock = socket.create_connection(("127.0.0.1", wd.port), timeout=20)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_for(lambda: bool(processes_with(marker)), "the process to start")
    sock.close()
    wait_for(lambda: not processes_with(marker), "the process to be killed")


def test_keep_alive_and_pipelining(wd: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        f = sock.makefile("rb")
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none")
        assert read_response(f).body == b"one"
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo")
        assert read_response(f).body == b"two"
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthree"
            + CHUNKED_POST
            + b"4\r\nfour\r\n0\r\n\r\n"
            + b"GET /_/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert read_response(f).body == b"three"
        assert read_response(f).body == b"four"
        last = read_response(f)
        assert last.status == 200
        assert last.headers["connection"] == "close"
        assert f.read() == b""


def test_http10_closes_by_default(wd: Watchdog) -> None:
    r = raw_request(wd.port, b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    assert r.status == 200
    assert r.body == b"hi"
    assert r.headers["connection"] == "close"


def test_expect_100_continue(wd: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 100 ")
        assert f.readline() == b"\r\n"
        sock.sendall(b"hello")
        assert read_response(f).body == b"hello"


def test_httpx_client_reuses_connection(wd: Watchdog, tmp_path: Path) -> None:
    with httpx.Client() as client:
        for i in range(5):
            assert client.post(wd.url, content=str(i).encode()).text == str(i)
