"""Request-head and connection bounds, against `python -m gateway` as a real process.

Each test reproduces an attack from the security review (issue 15, item 1): before the
bounds, a huge head was accepted whole, a trickled head stayed open for ever and every
connection was kept.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import ConfigError, HeadLimits, load_config
from tests.gateway.harness import BackgroundProcess, start_watchdog
from tests.support import free_port, wait_for

HEAD_TIMEOUT = 1.0
MAX_CONNECTIONS = 8
# Safety limit for reads that must end; never a timing assertion.
READ_LIMIT = 30.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundProcess]:
    """The gateway as its image runs it, with a short head deadline and few connections."""
    with start_watchdog("cat", tmp_path_factory.mktemp("limits")) as cat:
        port = free_port()
        env = {
            "GATEWAY_PROVIDER": "static",
            "GATEWAY_STATIC_FUNCTIONS": f"cat=127.0.0.1:{cat.port}",
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_LOG_LEVEL": "error",
            "GATEWAY_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
            "GATEWAY_MAX_CLIENT_CONNECTIONS": str(MAX_CONNECTIONS),
            # The connection limit is per worker process: one, to count them here
            # (test_workers.py checks the bounds hold in every worker).
            "GATEWAY_WORKERS": "1",
        }
        with BackgroundProcess([sys.executable, "-m", "gateway"], port, env) as process:
            yield process


def connect(gateway: BackgroundProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=READ_LIMIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def send_ignoring_close(sock: socket.socket, data: bytes) -> None:
    """Send `data`; the gateway may close the connection before it has all of it."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


def call_works(gateway: BackgroundProcess) -> None:
    with httpx.Client(timeout=READ_LIMIT) as client:
        response = client.post(f"http://127.0.0.1:{gateway.port}/function/cat", content=b"ok")
    assert (response.status_code, response.content) == (200, b"ok")


def test_a_huge_header_is_refused_with_431_without_growing_memory(
    gateway: BackgroundProcess,
) -> None:
    before = resident_bytes(gateway.process.pid)
    with connect(gateway) as sock:
        sock.sendall(b"POST /function/cat HTTP/1.1\r\nHost: t\r\nX-Big: ")
        send_ignoring_close(sock, b"a" * (64 * 1024 * 1024))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"request head larger than 65536 bytes" in answer
    assert resident_bytes(gateway.process.pid) - before < 16 * 1024 * 1024
    call_works(gateway)


def test_many_small_headers_over_the_size_limit_are_refused(gateway: BackgroundProcess) -> None:
    headers = b"".join(b"X-%d: %s\r\n" % (i % 50, b"v" * 2000) for i in range(40))
    with connect(gateway) as sock:
        send_ignoring_close(sock, b"GET /function/cat HTTP/1.1\r\nHost: t\r\n" + headers)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_too_many_header_fields_are_refused(gateway: BackgroundProcess) -> None:
    headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(101))
    with connect(gateway) as sock:
        send_ignoring_close(sock, b"GET /function/cat HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"more than 100 header fields" in answer


def test_a_head_just_under_the_limits_is_served(gateway: BackgroundProcess) -> None:
    with httpx.Client(timeout=READ_LIMIT) as client:
        headers = {f"x-h{i}": "1" for i in range(90)} | {"x-big": "a" * 60_000}
        response = client.post(
            f"http://127.0.0.1:{gateway.port}/function/cat", content=b"fits", headers=headers
        )
    assert (response.status_code, response.content) == (200, b"fits")


def test_a_trickled_head_gets_408_and_is_closed(gateway: BackgroundProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /function/cat HTTP/1.1\r\nHost: t\r\n")
        # One more header line now and then, never the end of the head.
        sock.settimeout(HEAD_TIMEOUT / 4)
        answer = b""
        for line in range(int(READ_LIMIT / (HEAD_TIMEOUT / 4))):
            send_ignoring_close(sock, b"X-%d: 1\r\n" % line)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request head not complete within 1s" in answer


def test_a_silent_connection_is_closed(gateway: BackgroundProcess) -> None:
    with connect(gateway) as sock:
        assert read_until_closed(sock) == b""


def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(
    gateway: BackgroundProcess,
) -> None:
    request = b"POST /function/cat HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
    with connect(gateway) as sock:
        sock.sendall(request)
        first = b""
        while not first.endswith(b"\r\n\r\nhi"):  # uvicorn writes head and body apart
            chunk = sock.recv(65536)
            assert chunk, f"closed after {first!r}"
            first += chunk
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /function/cat HTTP/1.1\r\n")  # and nothing more
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_connections_over_the_limit_get_503_and_others_keep_working(
    gateway: BackgroundProcess,
) -> None:
    held = [connect(gateway) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(b"GET /function/cat HTTP/1.1\r\n")  # partial heads, held open
        with connect(gateway) as extra:
            answer = read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"too many connections" in answer
    finally:
        for sock in held:
            sock.close()
    # Once those are gone (the gateway notices each close), calls are served again.
    wait_for(lambda: _call_status(gateway) == 200, "a call to be served again", READ_LIMIT)


def _call_status(gateway: BackgroundProcess) -> int:
    try:
        with httpx.Client(timeout=READ_LIMIT) as client:
            return client.post(f"http://127.0.0.1:{gateway.port}/function/cat").status_code
    except httpx.HTTPError:
        return 0


def test_head_limits_are_read_from_the_environment() -> None:
    config = load_config(
        {
            "GATEWAY_MAX_HEAD_BYTES": "8192",
            "GATEWAY_MAX_HEADERS": "20",
            "GATEWAY_HEAD_TIMEOUT": "3s",
            "GATEWAY_MAX_CLIENT_CONNECTIONS": "50",
        }
    )
    assert config.head_limits == HeadLimits(8192, 20, 3.0, 50)
    assert load_config({}).head_limits == HeadLimits(64 * 1024, 100, 10.0, 4096)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_MAX_HEAD_BYTES", "100"),
        ("GATEWAY_MAX_HEAD_BYTES", "big"),
        ("GATEWAY_MAX_HEADERS", "0"),
        ("GATEWAY_HEAD_TIMEOUT", "-1"),
        ("GATEWAY_MAX_CLIENT_CONNECTIONS", "0"),
    ],
)
def test_bad_head_limits_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})
