"""Several gateway processes on one port: a supervisor and `GATEWAY_WORKERS` workers.

`serve` runs the gateway the way `GATEWAY_WORKERS` asks. With 1 it is one process (no
supervisor). With more, this process becomes a supervisor (uvicorn's `Multiprocess`): it
binds the listening socket once, starts the workers (spawned, each with its own event
loop, provider view and upstream pool) that all accept on that socket, restarts a worker
that dies or stops answering its health pings, and stops them all on SIGTERM/SIGINT.

What the workers share lives in a fresh private folder made per start (`SharedDir`; one
process alone uses one too, so it serves the same fast `/metrics`):
prometheus-client's multiprocess files (one consistent `/metrics`, and the load every
worker sees), the lock that elects the one worker that runs the autoscaler, the list of
functions being scaled to zero, and one lock per function being woken from zero.
docs/architecture.md describes the processes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.app import create_app
from gateway.assembly import build_provider, configure_logging
from gateway.config import GatewayConfig
from gateway.http_limits import bounded_http_protocol
from gateway.metrics import multiprocess_values
from gateway.providers.base import FunctionProvider, LeaderLease, NoLease
from gateway.server import server_config, server_settings
from gateway.shared import SharedDir

log = logging.getLogger("gateway.workers")

# The autoscaler's lease lasts this many passes: a leader that stops renewing (killed,
# cut off from the engine) is replaced after at most that long (docs/scaling.md).
LEASE_PASSES = 3


def build_lease(config: GatewayConfig, provider: FunctionProvider) -> LeaderLease:
    """The autoscaler's cluster-wide lease: in the engine for Swarm (held for
    `LEASE_PASSES` autoscaler passes at a time), none for the static provider."""
    if config.provider != "swarm":
        return NoLease()
    from gateway.providers.swarm import SwarmProvider

    if isinstance(provider, SwarmProvider):
        return provider.lease(LEASE_PASSES * config.autoscale_interval, config.lease_service)
    return NoLease()


def serve(config: GatewayConfig) -> None:
    """Serve the gateway until SIGTERM/SIGINT: one process, or a supervisor and workers.

    Either way on a fresh shared folder: one process serving alone renders `/metrics`
    from its files as the workers do (`SharedView`), the fast renderer (docs/benchmarks.md).
    """
    shared = SharedDir(Path(tempfile.mkdtemp(prefix="faas-gateway-")))
    multiprocess_values(shared.metrics)  # the spawned workers inherit the variable
    try:
        if config.workers <= 1:
            provider = build_provider(config)
            app = create_app(config, provider, shared=shared, lease=build_lease(config, provider))
            OneProcessServer(server_config(app, config), shared).run()
            return
        worker_config = WorkerConfig(config, shared)
        socket = worker_config.bind_socket()
        try:
            log.info(
                "gateway: %d worker processes on %s:%d", config.workers, config.host, config.port
            )
            Supervisor(worker_config, sockets=[socket]).run()
        finally:
            socket.close()
    finally:
        shutil.rmtree(shared.path, ignore_errors=True)


class OneProcessServer(uvicorn.Server):
    """uvicorn's server for a gateway serving alone, which removes the shared folder before
    uvicorn raises again the signal that stopped it (that ends the process at once)."""

    def __init__(self, config: uvicorn.Config, shared: SharedDir) -> None:
        super().__init__(config)
        self._shared = shared

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                shutil.rmtree(self._shared.path, ignore_errors=True)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, which also retires a dead worker's in-flight gauges, so the
    shared `/metrics` and the autoscaler do not count its calls as still running."""

    def __init__(self, config: WorkerConfig, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        self._shared = config.shared

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                log.warning("gateway worker %d died; a new one replaces it", pid)
                mark_process_dead(pid, self._shared.metrics)  # type: ignore[no-untyped-call]


class WorkerConfig(uvicorn.Config):
    """uvicorn's config for a worker: pickled to each spawned worker, which builds its own
    app (provider, metrics on the shared files, leader election) in `load`.

    The `GatewayConfig` read (and validated) once by the supervisor travels with it, so
    every worker runs the same configuration.
    """

    def __init__(self, config: GatewayConfig, shared: SharedDir) -> None:
        super().__init__(
            _not_loaded,
            # A class made at run time does not pickle: the bounded protocol is made in
            # `load`, in the worker.
            http="httptools",
            workers=config.workers,
            **server_settings(config),
        )
        self.gateway = config
        self.shared = shared

    def load(self) -> None:
        if not self.loaded:
            configure_logging(self.gateway)
            self.http = bounded_http_protocol(self.gateway.head_limits)
            provider = build_provider(self.gateway)
            self.app = create_app(
                self.gateway,
                provider,
                shared=self.shared,
                lease=build_lease(self.gateway, provider),
            )
        super().load()


async def _not_loaded(scope: Any, receive: Any, send: Any) -> None:
    """A placeholder app: each worker replaces it with its own in `WorkerConfig.load`."""
    raise RuntimeError("the worker's app was not built")
