"""`python -m gateway` as its image runs it: static provider, real watchdog, big bodies."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.harness import REPO, BackgroundProcess, start_watchdog
from tests.support import free_port

BIG = 50 * 1024 * 1024
PIECE = 1024 * 1024
# Far below the body size: a gateway that buffered the body would blow through it.
MEMORY_GROWTH_LIMIT = 20 * 1024 * 1024


def high_water_mark(pid: int) -> int:
    """Peak resident memory of a process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def big_cat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundProcess]:
    """A `cat` watchdog with timeouts roomy enough for 50 MB on a busy machine."""
    timeouts = {"read_timeout": "120s", "write_timeout": "120s", "exec_timeout": "120s"}
    with start_watchdog("cat", tmp_path_factory.mktemp("big"), timeouts) as process:
        yield process


@pytest.fixture(scope="module")
def gateway_process(big_cat: BackgroundProcess) -> Iterator[BackgroundProcess]:
    """The gateway started the way its image starts it."""
    port = free_port()
    env = {
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": f"cat=127.0.0.1:{big_cat.port}",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_UPSTREAM_TIMEOUT": "120",
        "GATEWAY_LOG_LEVEL": "warning",
        # One process: the memory figures below are the serving process's own.
        "GATEWAY_WORKERS": "1",
    }
    with BackgroundProcess([sys.executable, "-m", "gateway"], port, env) as process:
        yield process
        process.process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.process.wait(timeout=15) in (0, -signal.SIGTERM)


def test_serves_health_and_functions(gateway_process: BackgroundProcess) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway_process.port}") as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.post("/function/cat", content=b"hello").content == b"hello"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_50_mb_stream_through_cat_with_bounded_memory(
    gateway_process: BackgroundProcess, framing: str
) -> None:
    piece = os.urandom(PIECE)
    expected = hashlib.sha256(piece * (BIG // PIECE)).hexdigest()
    headers = {"Content-Length": str(BIG)} if framing == "content-length" else {}

    def body() -> Iterator[bytes]:
        for _ in range(BIG // PIECE):
            yield piece

    url = f"http://127.0.0.1:{gateway_process.port}"
    with httpx.Client(base_url=url, timeout=120) as client:
        client.post("/function/cat", content=b"warm-up")
        before = high_water_mark(gateway_process.process.pid)
        digest, received = hashlib.sha256(), 0
        with client.stream("POST", "/function/cat", content=body(), headers=headers) as reply:
            assert reply.status_code == 200
            for chunk in reply.iter_raw():
                digest.update(chunk)
                received += len(chunk)
    growth = high_water_mark(gateway_process.process.pid) - before
    assert received == BIG
    assert digest.hexdigest() == expected
    print(f"gateway peak memory grew by {growth / 2**20:.1f} MiB ({framing})")
    assert growth < MEMORY_GROWTH_LIMIT, f"gateway peak memory grew by {growth / 2**20:.1f} MiB"


def test_configuration_error_exits_2_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env={**os.environ, "GATEWAY_PORT": "eighty"},
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"GATEWAY_PORT" in result.stderr
