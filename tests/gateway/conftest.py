"""Fixtures for the gateway tests (the machinery lives in `harness`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.labels import PAUSED_LABEL
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.harness import (
    BackgroundProcess,
    GatewayThread,
    TableResolver,
    start_watchdog,
)
from tests.support import free_port


@pytest.fixture(scope="session")
def env_watchdog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundProcess]:
    """A watchdog running `env`: shows the request as `Http_*` variables."""
    with start_watchdog("env", tmp_path_factory.mktemp("env")) as process:
        yield process


@pytest.fixture(scope="module")
def gateway(
    cat_watchdog: BackgroundProcess, env_watchdog: BackgroundProcess
) -> Iterator[GatewayThread]:
    """A gateway over a static set of functions, shared by a test module.

    - `cat` and `func_env` (short name `env`): real watchdogs.
    - `pair`: two "replicas" of `cat`, 127.0.0.1 (the watchdog) and 127.0.0.2 (nothing
      listens there: connections are refused).
    - `zero`: scaled to 0 (the static provider cannot wake it); `off`: at 0 and switched
      off (`com.faas.paused=true`); `ghost`: its host resolves to nothing; `refused`: no listener.
    """
    cat = cat_watchdog.port
    provider = StaticProvider(
        [
            Function("cat", "cat:latest", 1, "127.0.0.1", cat),
            Function("func_env", "env:latest", 1, "127.0.0.1", env_watchdog.port, "func"),
            Function("pair", "cat:latest", 2, "replicas.test", cat),
            Function("zero", "cat:latest", 0, "127.0.0.1", cat),
            Function("off", "cat:latest", 0, "127.0.0.1", cat, labels={PAUSED_LABEL: "true"}),
            Function("ghost", "cat:latest", 1, "ghost.test", cat),
            Function("refused", "cat:latest", 1, "127.0.0.1", free_port()),
        ]
    )
    resolver = TableResolver({"replicas.test": ("127.0.0.1", "127.0.0.2")})
    with GatewayThread(provider, resolver) as running:
        yield running


@pytest.fixture
def client(gateway: GatewayThread) -> Iterator[httpx.Client]:
    """An httpx client for the module's gateway."""
    with gateway.client() as http:
        yield http
