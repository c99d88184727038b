"""Start the real watchdog (the built zipapp) as a subprocess on a free port and talk to it
over sockets."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import free_port, wait_for, watchdog_zipapp

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


@dataclass
class Watchdog:
    """A running watchdog process."""

    proc: subprocess.Popen[bytes]
    port: int
    lock_file: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the watchdog wrote to stdout/stderr so far."""
        return self.log_file.read_text(errors="replace")

    def peak_rss_kib(self) -> int:
        """VmHWM of the watchdog process, in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def healthy(self) -> bool:
        """Whether GET /_/health answers 200."""
        try:
            request = b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n"
            return raw_request(self.port, request, 2).status == 200
        except (OSError, ValueError):
            return False

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


StartWatchdog = Callable[..., Watchdog]


def spawn_watchdog(tmp: Path, fprocess: str, wait: bool = True, **env: str) -> Watchdog:
    """Start the watchdog zipapp with the given configuration on a free port."""
    port = free_port()
    lock = tmp / f"lock-{port}"
    log_file = tmp / f"watchdog-{port}.log"
    full_env = {
        **os.environ,
        "fprocess": fprocess,
        "port": str(port),
        "lock_file": str(lock),
        "exec_timeout": "5s",
        "read_timeout": "5s",
        "write_timeout": "5s",
        **env,
    }
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(watchdog_zipapp())],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    wd = Watchdog(proc, port, lock, log_file, full_env)
    if wait:
        try:
            wait_for(lambda: proc.poll() is not None or wd.healthy(), "the watchdog to be healthy")
        except AssertionError:
            wd.stop()
            raise AssertionError(f"watchdog did not become healthy:\n{wd.log()}") from None
        assert proc.poll() is None, f"watchdog exited:\n{wd.log()}"
    return wd


@pytest.fixture(scope="session")
def fwatchdog_pyz() -> Path:
    """The watchdog zipapp every test here runs, built once per session."""
    return watchdog_zipapp()


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


@pytest.fixture(scope="module")
def cat_watchdog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watchdog]:
    """One `cat` watchdog shared by a module's tests."""
    wd = spawn_watchdog(tmp_path_factory.mktemp("cat"), "cat")
    yield wd
    wd.stop()
