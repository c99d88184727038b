"""A call the watchdog gives up on (exec_timeout, a client that left) ends at once, even when
a process outside the call's process group (``setsid``) keeps its stdout open."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import wait_for

from .conftest import StartWatchdog, processes_with, raw_request

GET = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture
def marker() -> Iterator[str]:
    """A sleep duration long enough to outlast a hung call; its sleepers are killed after."""
    value = f"25.{uuid.uuid4().int % 10**8:08d}"
    yield value
    for pid in processes_with(value):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def sleepers(marker: str) -> list[int]:
    """The live `sleep <marker>` processes (not the shell whose script names the marker)."""
    found = []
    for pid in processes_with(marker):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0"):
                found.append(pid)
    return found


def test_exec_timeout_with_a_daemon_holding_stdout(
    start_watchdog: StartWatchdog, marker: str
) -> None:
    wd = start_watchdog(
        f"sh -c 'setsid sleep {marker} & echo started'", exec_timeout="1s", max_inflight="1"
    )
    for _ in range(2):  # the second call is not refused with 429: the first one is over
        r = httpx.post(wd.url, content=b"x", timeout=15)  # the daemon sleeps longer
        assert r.status_code == 504
        assert "exec_timeout" in r.text
    assert wd.healthy()


def test_disconnect_with_a_daemon_holding_stdout(
    start_watchdog: StartWatchdog, marker: str
) -> None:
    script = (
        f'if [ "$Http_Path" = /hang ]; then setsid sleep {marker} & sleep {marker}; '
        "else echo ok; fi"
    )
    wd = start_watchdog(f"sh -c '{script}'", exec_timeout="0", max_inflight="1")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(GET % b"hang")
        wait_for(lambda: len(sleepers(marker)) == 2, "both sleepers to start")
    # The client has gone: its call ends, so max_inflight=1 has room again.
    wait_for(
        lambda: raw_request(wd.port, GET % b"ok", 5).status == 200,
        "a call to be served",
        timeout=15,
    )
    wait_for(lambda: not sleepers(marker), "the daemon outside the group to be killed too")
