"""mode=http: a long-running upstream, proxied over pooled keep-alive connections."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_for

from .conftest import (
    UPSTREAM,
    StartWatchdog,
    Watchdog,
    processes_with,
    raw_request,
    spawn_watchdog,
)


def http_watchdog(start: StartWatchdog, **env: str) -> Watchdog:
    port = free_port()
    return start(
        f"{sys.executable} {UPSTREAM} {port}",
        mode="http",
        upstream_url=f"http://127.0.0.1:{port}",
        **env,
    )


@pytest.fixture(scope="module")
def wd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watchdog]:
    """One http-mode watchdog for the read-only tests."""
    port = free_port()
    w = spawn_watchdog(
        tmp_path_factory.mktemp("http"),
        f"{sys.executable} {UPSTREAM} {port}",
        mode="http",
        upstream_url=f"http://127.0.0.1:{port}",
    )
    yield w
    w.stop()


def test_proxies_requests_and_headers(wd: Watchdog) -> None:
    r = httpx.post(
        wd.url + "/echo?x=1",
        content=b"payload",
        headers={"X-Call-Id": "id-1", "Content-Type": "application/json"},
    )
    assert r.status_code == 200
    assert r.content == b"payload"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-seen-path"] == "/echo?x=1"
    assert r.headers["x-seen-call-id"] == "id-1"
    assert r.headers["x-seen-host"] == f"127.0.0.1:{wd.port}"
    assert float(r.headers["x-duration-seconds"]) >= 0


def test_upstream_status_is_passed_through(wd: Watchdog) -> None:
    r = httpx.get(wd.url + "/status/418")
    assert r.status_code == 418
    assert r.content == b"status body"
    assert httpx.get(wd.url + "/status/204").status_code == 204


def test_keep_alive_connections_are_pooled(wd: Watchdog) -> None:
    with httpx.Client() as client:
        pids = {client.get(wd.url + "/pid").text for _ in range(20)}
    assert len(pids) == 1
    assert wd.log().count("started upstream") == 1


def test_large_bodies_stream_both_ways(wd: Watchdog) -> None:
    data = os.urandom(20 * 1024 * 1024)
    r = httpx.post(wd.url + "/echo", content=data, timeout=60)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
    assert wd.peak_rss_kib() < 60 * 1024


def test_chunked_request_body(wd: Watchdog) -> None:
    parts = [b"a" * 100_000, b"b", b"c" * 10]
    r = httpx.post(wd.url + "/echo", content=iter(parts), timeout=30)
    assert r.content == b"".join(parts)


def test_chunked_and_close_delimited_responses(wd: Watchdog) -> None:
    r = httpx.get(wd.url + "/chunked")
    assert r.content == b"alpha" + b"beta" + b"gamma" * 30_000
    r = httpx.get(wd.url + "/close")
    assert r.content == b"until the end"


def test_bad_request_is_rejected_before_the_upstream(wd: Watchdog) -> None:
    r = raw_request(
        wd.port, b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert r.status == 400


def test_exec_timeout_is_504(start_watchdog: StartWatchdog) -> None:
    wd = http_watchdog(start_watchdog, exec_timeout="1s")
    r = httpx.get(wd.url + "/sleep", timeout=30)
    assert r.status_code == 504
    assert httpx.get(wd.url + "/pid").status_code == 200


def test_crash_is_reported_and_upstream_restarted(start_watchdog: StartWatchdog) -> None:
    wd = http_watchdog(start_watchdog)
    first_pid = httpx.get(wd.url + "/pid").text
    r = httpx.get(wd.url + "/crash", timeout=30)
    assert r.status_code in (502, 503)
    assert "upstream" in r.text

    def down_requests_fail_clearly() -> bool:
        r = httpx.get(wd.url + "/pid")
        if r.status_code == 200:
            return r.text != first_pid
        assert r.status_code in (502, 503)
        assert "upstream" in r.text
        return False

    wait_for(down_requests_fail_clearly, "a new upstream to answer")
    assert wd.healthy()
    assert wd.log().count("started upstream") == 2


def test_health_is_503_while_upstream_is_down(start_watchdog: StartWatchdog) -> None:
    """An upstream that never listens keeps the watchdog unhealthy."""
    marker = f"65.{os.getpid()}{free_port()}"
    wd = start_watchdog(
        f"sleep {marker}", wait=False, mode="http", upstream_url=f"http://127.0.0.1:{free_port()}"
    )
    wait_for(lambda: bool(processes_with(marker)), "the upstream process")
    r = raw_request(wd.port, b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.status == 503
    r = raw_request(wd.port, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    assert r.status == 503
    assert b"upstream" in r.body
    assert not wd.lock_file.exists()
    assert wd.stop() == 0
    wait_for(lambda: not processes_with(marker), "the upstream to be stopped")


def test_sigterm_stops_the_upstream(start_watchdog: StartWatchdog) -> None:
    wd = http_watchdog(start_watchdog)
    pid = int(httpx.get(wd.url + "/pid").text)
    assert wd.stop() == 0
    cmdline = Path(f"/proc/{pid}/cmdline")
    wait_for(lambda: not cmdline.exists() or not cmdline.read_bytes(), "the upstream to exit")
