"""Reading log streams from a real HTTP server shaped like the engine: a stream that
stalls after its lines (docker/cli#4678), one that never stops, one cut mid-line."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import docker
import pytest

from gateway.providers.base import engine_time
from gateway.providers.swarm import logs
from gateway.providers.swarm.logs import parse_container_logs, read_log_stream

FAST_IDLE = 0.3
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def frame(line: bytes) -> bytes:
    return struct.pack(">BxxxL", 1, len(line)) + line


class StallingEngine:
    """Answers any request with `body` (chunked, as the engine streams logs), then sends
    nothing more while keeping the connection open until the test ends."""

    def __init__(self, body: bytes, endless: bool = False) -> None:
        self.body, self.endless = body, endless
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(HEAD)
            connection.sendall(b"%x\r\n%s\r\n" % (len(self.body), self.body))
            while self.endless and not self.done.is_set():
                chunk = frame(b"2026-11-25T11:32:24Z more\n")
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(0.01)
            self.done.wait(10)

    def close(self) -> None:
        self.done.set()
        self.listener.close()


@pytest.fixture
def fast_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "LOG_IDLE_SECONDS", FAST_IDLE)


@pytest.fixture
def serve() -> Iterator[list[StallingEngine]]:
    engines: list[StallingEngine] = []
    yield engines
    for engine in engines:
        engine.close()


def read(engine: StallingEngine, deadline: float = 10.0) -> logs.LogRead:
    api = docker.APIClient(base_url=engine.url, version="1.41")
    try:
        return read_log_stream(api, "/services/{0}/logs", "fn", {"tail": "all"}, False,
                               time.monotonic() + deadline)  # fmt: skip
    finally:
        api.close()


@pytest.mark.usefixtures("fast_bounds")
def test_a_stream_that_stalls_after_its_lines_ends_with_them(serve: list[StallingEngine]) -> None:
    body = frame(b"2026-11-25T11:32:24Z one\n") + frame(b"2026-11-25T11:32:25Z two\n")
    serve.append(engine := StallingEngine(body))
    result = read(engine)
    assert result.data == b"2026-11-25T11:32:24Z one\n2026-11-25T11:32:25Z two\n"
    assert result.cut == f"silent for {FAST_IDLE:g} s"


@pytest.mark.usefixtures("fast_bounds")
def test_a_line_cut_by_a_stall_is_dropped(serve: list[StallingEngine]) -> None:
    # The frame promises 40 bytes and sends 23: the read waits, then keeps whole lines.
    body = (
        frame(b"2026-11-25T11:32:24Z one\n")
        + struct.pack(">BxxxL", 1, 40)
        + b"2026-11-25T11:32:25Z tw"
    )
    serve.append(engine := StallingEngine(body))
    result = read(engine)
    assert result.data == b"2026-11-25T11:32:24Z one\n"
    assert result.cut


@pytest.mark.usefixtures("fast_bounds")
def test_a_stream_that_never_stops_is_cut_at_the_deadline(serve: list[StallingEngine]) -> None:
    serve.append(engine := StallingEngine(frame(b"2026-11-25T11:32:24Z first\n"), endless=True))
    result = read(engine, deadline=0.5)
    assert result.cut == f"still sending after {logs.LOG_READ_SECONDS:g} s"
    assert result.data.startswith(b"2026-11-25T11:32:24Z first\n")
    assert result.data.endswith(b" more\n")


@pytest.mark.usefixtures("fast_bounds")
def test_a_stream_beyond_the_size_bound_is_cut(
    serve: list[StallingEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "LOG_READ_BYTES", 1000)
    serve.append(engine := StallingEngine(frame(b"x" * 99 + b"\n") * 20))
    result = read(engine)
    assert result.cut == "more than 0 MiB"
    assert 1000 < len(result.data) <= 1100


def test_container_lines_keep_their_text_whole() -> None:
    raw = b"2026-11-25T11:32:24.5Z a b  c\r\n\n2026-11-25T11:32:25Z \xff\n"
    lines = parse_container_logs(raw, "fn", "task")
    assert [(line.timestamp, line.text) for line in lines] == [
        ("2026-11-25T11:32:24.5Z", "a b  c\r"), ("2026-11-25T11:32:25Z", "\ufffd"),
    ]  # fmt: skip


def test_times_sort_although_the_engine_drops_trailing_zeros() -> None:
    times = ["2026-11-25T11:32:24.5Z", "2026-11-25T11:32:24.0493Z", "2026-11-25T11:32:24Z",
             "2026-11-25T11:32:23.999999999Z"]  # fmt: skip
    assert sorted(times, key=lambda time: engine_time(time) or (0, 0)) == [
        times[3],
        times[2],
        times[1],
        times[0],
    ]
