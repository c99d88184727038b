"""Startup, configuration errors, health, the --healthcheck entry and graceful shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import free_port, wait_for, watchdog_zipapp

from .conftest import (
    CHUNKED_POST,
    StartWatchdog,
    processes_with,
    read_response,
)


def run_watchdog(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the watchdog zipapp to completion (for errors and --healthcheck)."""
    full_env = {k: v for k, v in os.environ.items() if k != "fprocess"}
    full_env.update({"lock_file": str(tmp_path / "lock"), "port": str(free_port()), **env})
    return subprocess.run(
        [sys.executable, str(watchdog_zipapp()), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "fprocess"),
        ({"fprocess": "   "}, "fprocess"),
        ({"fprocess": "/nonexistent/program"}, "fprocess"),
        ({"fprocess": "{tmp}/not-executable"}, "fprocess"),
        ({"fprocess": "cat 'unbalanced"}, "fprocess"),
        ({"fprocess": "cat", "read_timeout": "soon"}, "read_timeout"),
        ({"fprocess": "cat", "exec_timeout": "-1s"}, "exec_timeout"),
        ({"fprocess": "cat", "max_inflight": "many"}, "max_inflight"),
        ({"fprocess": "cat", "port": "99999"}, "port"),
        ({"fprocess": "cat", "combine_output": "perhaps"}, "combine_output"),
        ({"fprocess": "cat", "mode": "magic"}, "mode"),
        ({"fprocess": "cat", "mode": "http"}, "upstream_url"),
        ({"fprocess": "cat", "mode": "http", "upstream_url": "ftp://x"}, "upstream_url"),
    ],
)
def test_configuration_errors_exit_2_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    result = run_watchdog(tmp_path, **env)
    assert result.returncode == 2
    assert named in result.stderr
    assert not (tmp_path / "lock").exists()


def test_lock_file_and_health(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("cat")
    assert wd.lock_file.exists()
    assert wd.stop() == 0
    assert not wd.lock_file.exists()


def test_healthcheck_entry(start_watchdog: StartWatchdog, tmp_path: Path) -> None:
    wd = start_watchdog("cat")
    ok = run_watchdog(tmp_path, "--healthcheck", port=str(wd.port))
    assert ok.returncode == 0
    down = run_watchdog(tmp_path, "--healthcheck", port=str(free_port()))
    assert down.returncode == 1


def test_sigterm_lets_the_inflight_request_finish(start_watchdog: StartWatchdog) -> None:
    marker = uuid.uuid4().hex
    wd = start_watchdog(f"sh -c 'cat; : {marker}'", shutdown_timeout="30s")
    with (
        socket.create_connection(("127.0.0.1", wd.port), timeout=20) as idle,
        socket.create_connection(("127.0.0.1", wd.port), timeout=20) as busy,
    ):
        idle_file = idle.makefile("rb")
        idle.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(idle_file).status == 200
        busy.sendall(CHUNKED_POST + b"3\r\nabc\r\n")
        wait_for(lambda: bool(processes_with(marker)), "the request's process")

        wd.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not wd.lock_file.exists(), "the lock file to be removed")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", wd.port), timeout=20).close()
        idle.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        draining = read_response(idle_file)
        assert draining.status == 503
        assert draining.headers["connection"] == "close"
        assert wd.process.poll() is None

        busy.sendall(b"3\r\ndef\r\n0\r\n\r\n")
        r = read_response(busy.makefile("rb"))
        assert r.status == 200
        assert r.body == b"abcdef"
        assert r.headers["connection"] == "close"
    assert wd.process.wait(timeout=20) == 0
    assert "stopped" in wd.log()


def test_sigterm_grace_period_kills_stragglers(start_watchdog: StartWatchdog) -> None:
    marker = f"64.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sleep {marker}", exec_timeout="0", shutdown_timeout="500ms")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_for(lambda: bool(processes_with(marker)), "the request's process")
        wd.process.send_signal(signal.SIGTERM)
        assert wd.process.wait(timeout=20) == 0
        assert sock.recv(1024) == b""
    wait_for(lambda: not processes_with(marker), "the process to be killed")


def test_suppress_lock(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("cat", suppress_lock="true")
    assert not wd.lock_file.exists()
    assert wd.healthy()
