"""Test harness for the gateway: real upstream processes and a real gateway on loopback.

A gateway runs in-process (uvicorn in a thread, driven with httpx) so tests can hand it a
`StaticProvider` and edit it; `test_gateway_process.py` also runs `python -m gateway`.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.datastructures import State

from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.providers.base import FunctionProvider
from gateway.proxy.replicas import ReplicaResolver
from gateway.server import server_config
from tests.support import free_port, wait_for_port, watchdog_zipapp

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 20.0


class BackgroundProcess:
    """A child process listening on a port, stopped (and reaped) on exit."""

    def __init__(self, args: list[str], port: int, env: Mapping[str, str] | None = None) -> None:
        self.port = port
        self.process = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def __enter__(self) -> BackgroundProcess:
        try:
            wait_for_port(self.port, self.process, STARTUP_SECONDS)
        except (RuntimeError, AssertionError):
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_watchdog(
    fprocess: str, lock_dir: Path, env: Mapping[str, str] | None = None
) -> BackgroundProcess:
    """A real function replica: the watchdog running `fprocess` on a free port."""
    port = free_port()
    settings = {
        "fprocess": fprocess,
        "port": str(port),
        "lock_file": str(lock_dir / f"{port}.lock"),
        **(env or {}),
    }
    return BackgroundProcess([sys.executable, str(watchdog_zipapp())], port, settings)


class GatewayThread:
    """The gateway app served by uvicorn in a background thread on a free port."""

    def __init__(
        self,
        provider: FunctionProvider,
        resolver: ReplicaResolver | None = None,
        **config: Any,
    ) -> None:
        self.provider = provider
        self.config = dataclasses.replace(
            GatewayConfig(host="127.0.0.1", port=free_port(), provider="static"),
            log_level="warning",
            **config,
        )
        self.url = f"http://127.0.0.1:{self.config.port}"
        self.app = create_app(self.config, provider, resolver=resolver)
        self._server = uvicorn.Server(server_config(self.app, self.config))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def app_state(self) -> State:
        """The app's state: `metrics`, `autoscaler`, `cold_start`."""
        return self.app.state

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client aimed at this gateway."""
        return httpx.Client(base_url=self.url, timeout=timeout)


class TableResolver(ReplicaResolver):
    """A replica resolver answering from a fixed table instead of DNS (loopback only)."""

    def __init__(self, table: Mapping[str, tuple[str, ...]]) -> None:
        async def resolve(host: str, port: int) -> tuple[str, ...]:
            return table.get(host, ())

        super().__init__(ttl=60.0, resolve=resolve)
