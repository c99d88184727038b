"""Test harness for the gateway: a real gateway on loopback, in front of real upstream
processes (`BackgroundProcess` and `start_watchdog`, from tests/support.py).

A gateway runs in-process (uvicorn in a thread, driven with httpx) so tests can hand it a
`StaticProvider` and edit it; `test_process.py` also runs `python -m gateway`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.datastructures import State

from gateway.app import create_app
from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.providers.base import FunctionProvider
from gateway.proxy.replicas import ReplicaResolver
from gateway.server import server_config
from tests.support import ROOT, STARTUP_SECONDS, free_port
from tests.support import BackgroundProcess as BackgroundProcess
from tests.support import start_watchdog as start_watchdog

REPO = ROOT


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
        self.stop()
        self._thread.join(timeout=15)

    def stop(self) -> None:
        """Start uvicorn's graceful shutdown, as a signal does (without waiting for it)."""
        self._server.should_exit = True

    def stopped(self) -> bool:
        """Whether the server has shut down."""
        return not self._thread.is_alive()

    def app_state(self) -> State:
        """The app's state: `metrics`, `autoscaler`, `cold_start`."""
        return self.app.state

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client aimed at this gateway."""
        return httpx.Client(base_url=self.url, timeout=timeout)


ADMIN = ("admin", "pw")
"""The management credentials of `management_gateway`."""


def management_gateway(provider: FunctionProvider, **config: Any) -> GatewayThread:
    """A gateway whose /system API takes `ADMIN` and deploys images under `faas/`."""
    return GatewayThread(
        provider,
        basic_auth=BasicAuthCredentials(*ADMIN),
        image_allowlist=("faas/",),
        **config,
    )


class TableResolver(ReplicaResolver):
    """A replica resolver answering from a fixed table instead of DNS (loopback only)."""

    def __init__(self, table: Mapping[str, tuple[str, ...]]) -> None:
        async def resolve(host: str, port: int) -> tuple[str, ...]:
            return table.get(host, ())

        super().__init__(ttl=60.0, resolve=resolve)
