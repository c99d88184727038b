"""Start the real watchdog (the built zipapp, launched by tests/support.py) as a subprocess on
a free port and talk to it over sockets."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import support
from tests.support import Watchdog as Watchdog

UPSTREAM = Path(__file__).with_name("upstream.py")
CHUNKED_POST = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass
class Response:
    """A response read off a raw socket."""

    status: int
    headers: dict[str, str]
    body: bytes


def read_response(reader: io.BufferedReader, head_only: bool = False) -> Response:
    """Read one HTTP/1.1 response (Content-Length, chunked or until close) from
    sock.makefile("rb"); a 100 Continue is skipped."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return read_response(reader, head_only)
    if head_only:
        return Response(status, headers, b"")
    if "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int(reader.readline().strip(), 16)
            if size == 0:
                reader.readline()
                break
            parts.append(reader.read(size))
            reader.readline()
        body = b"".join(parts)
    else:
        body = reader.read()
    return Response(status, headers, body)


def raw_request(port: int, data: bytes, timeout: float = 20.0) -> Response:
    """Send raw bytes on a new connection and read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock.makefile("rb"))


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


StartWatchdog = Callable[..., Watchdog]

# Shorter than the watchdog's defaults, so a test that hangs fails sooner.
TIMEOUTS = {"exec_timeout": "5s", "read_timeout": "5s", "write_timeout": "5s"}


def spawn_watchdog(tmp: Path, fprocess: str, wait: bool = True, **env: str) -> Watchdog:
    """Start the watchdog zipapp running `fprocess` with these tests' timeouts and `env`."""
    return support.start_watchdog(fprocess, tmp, {**TIMEOUTS, **env}, wait=wait)


@pytest.fixture
def start_watchdog(tmp_path: Path) -> Iterator[StartWatchdog]:
    """Factory: start_watchdog(fprocess, **env) -> a healthy Watchdog, stopped afterwards."""
    started: list[Watchdog] = []

    def start(fprocess: str, wait: bool = True, **env: str) -> Watchdog:
        wd = spawn_watchdog(tmp_path, fprocess, wait, **env)
        started.append(wd)
        return wd

    yield start
    for wd in started:
        wd.stop()
