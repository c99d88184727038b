"""Several gateway processes on one port: a supervisor and `GATEWAY_WORKERS` workers.

`serve` runs the gateway the way `GATEWAY_WORKERS` asks. With 1 it is one process (no
supervisor). With more, this process becomes a supervisor (uvicorn's `Multiprocess`): it
binds the listening socket once, starts the workers (spawned, each with its own event
loop, provider view and upstream pool) that all accept on that socket, restarts a worker
that dies or stops answering its health pings, and stops them all on SIGTERM/SIGINT.
Either way SIGTERM drains first (`gateway.drain`): `/healthz` at 503 for
`GATEWAY_DRAIN_DELAY` while everything is still served, then no new connections and the
calls in flight finish (at most `GATEWAY_DRAIN_TIMEOUT`). SIGINT skips the first phase.

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
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.app import create_app
from gateway.assembly import build_provider, configure_logging
from gateway.config import GatewayConfig
from gateway.drain import DrainDelay, DrainMarker, log_sigterm
from gateway.drain_peers import PeerWait, start_drain
from gateway.http_calls import call_protocol
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
            server = OneProcessServer(server_config(app, config), shared, config.drain_delay)
            server.peers = drain_peers(config)
            server.run()
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


def drain_peers(config: GatewayConfig) -> PeerWait | None:
    """What a drain waits for besides its delay: another replica under
    `GATEWAY_DRAIN_PEERS` answering ready (none when that is empty)."""
    if not config.drain_peers or config.drain_delay == 0:  # 0: no first phase at all
        return None
    return PeerWait(config.drain_peers, config.port, config.drain_peer_wait)


class OneProcessServer(uvicorn.Server):
    """uvicorn's server for a gateway serving alone, which drains on SIGTERM
    (`gateway.drain`) and removes the shared folder before uvicorn raises again a signal
    that stopped it (SIGINT: that ends the process at once; a drained SIGTERM is not
    raised again: the gateway exits 0)."""

    def __init__(self, config: uvicorn.Config, shared: SharedDir, drain_delay: float) -> None:
        super().__init__(config)
        self._shared = shared
        self._drain = DrainDelay(drain_delay, DrainMarker(shared.draining))
        self.peers: PeerWait | None = None
        self._drain_thread: threading.Thread | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                shutil.rmtree(self._shared.path, ignore_errors=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            self._drain.marker.mark()
            super().handle_exit(sig, frame)
            return
        self._drain.begin()
        log_sigterm(self._drain.remaining())
        if self._drain_thread is None:
            self._drain_thread = start_drain(self._drain, self.peers, self._stop_accepting)

    def _stop_accepting(self) -> None:
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._drain.over():
            self.should_exit = True
        return await super().on_tick(counter)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, which drains on SIGTERM (`gateway.drain`) and retires a dead
    worker's in-flight gauges, so the shared `/metrics` and the autoscaler do not count its
    calls as still running.

    The drain: the signal handler writes the marker at once (every worker's `/healthz`
    turns 503) and the workers serve on for the delay; then the supervisor closes its copy
    of the listening socket and sends each worker SIGTERM, which runs uvicorn's graceful
    shutdown in it (`GATEWAY_DRAIN_TIMEOUT`).
    """

    def __init__(self, config: WorkerConfig, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        self._shared = config.shared
        self._drain = DrainDelay(config.gateway.drain_delay, DrainMarker(config.shared.draining))
        self._peers = drain_peers(config.gateway)
        self._drain_thread: threading.Thread | None = None
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, sig: int, frame: FrameType | None) -> None:
        # Only the marker and the clock here; the loop decides in `handle_term` (an
        # Event set from a signal handler could deadlock the loop waiting on it).
        self._drain.begin()
        self.signal_queue.append(sig)

    def handle_term(self) -> None:
        # Decided by the phase, not by the clock: this runs up to 0.5 s after the signal,
        # when a short delay may have passed already while the wait for a peer has not.
        if self._drain.cut_short.is_set() or self._drain.seconds == 0:
            log_sigterm(0.0)
            self.should_exit.set()
        elif self._drain_thread is None:
            log_sigterm(self._drain.remaining())
            self._drain_thread = start_drain(self._drain, self._peers, self.should_exit.set)

    def handle_int(self) -> None:
        self._drain.marker.mark()
        super().handle_int()

    def terminate_all(self) -> None:
        # The workers close theirs when told to stop: with this one closed too, nothing
        # listens any more and new connections are refused, not left in the backlog.
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                log.warning("gateway worker %d died; a new one replaces it", pid)
                mark_process_dead(pid, self._shared.metrics)  # type: ignore[no-untyped-call]


WORKER_HEALTHCHECK_TIMEOUT = 30
"""Seconds a worker may take to answer its supervisor's ping before it is killed and
replaced (uvicorn's default is 5). A spawned worker answers only once its imports are done;
with 100 function containers starting at once on 2 cores that took over 5 s, and the
supervisor killed every new worker in turn, with the calls it held (docs/scaling.md)."""


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
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT,
            **server_settings(config),
        )
        self.gateway = config
        self.shared = shared

    def load(self) -> None:
        if not self.loaded:
            configure_logging(self.gateway)
            self.http = call_protocol(self.gateway.head_limits)
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
