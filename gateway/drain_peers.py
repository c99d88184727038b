"""During a drain, wait until another gateway replica is ready (docs/scaling.md, "Stopping").

Swarm does not wait for a new gateway replica to pass its health check before it stops
the old one (measured on Docker 20.10: under load the old one got SIGTERM up to 18 s
before its successor answered). A gateway that stopped at once would leave the front with
no gateway for that long. So, when `GATEWAY_DRAIN_PEERS` names the replicas' DNS name
(the stack: `tasks.gateway`), the first phase of a drain also lasts until one of those
addresses answers `GET /healthz` with 200 — a sibling at once, a successor once it is
ready — or `GATEWAY_DRAIN_PEER_WAIT` passes; then the gateway serves on for
`GATEWAY_DRAIN_DELAY` more, so the front's health checks see the peer before this one
closes. Its own address answers 503 (draining), so it never counts as its own peer.

It runs in a thread of the process that got the signal (the supervisor, or the one
process serving alone): plain sockets, no event loop.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable

from gateway.drain import DrainDelay

log = logging.getLogger("gateway.drain")

# One peer's /healthz: a ready gateway answers in milliseconds.
PROBE_TIMEOUT = 0.5
# Between two rounds of resolving and probing.
POLL_INTERVAL = 0.25

Resolve = Callable[[str], list[str]]
Ready = Callable[[str, int, float], bool]


def resolve_ipv4(name: str) -> list[str]:
    """The IPv4 addresses `name` resolves to now (none if it does not resolve)."""
    try:
        found = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(entry[4][0]) for entry in found})


def answers_ready(address: str, port: int, timeout: float) -> bool:
    """Whether the gateway at `address:port` answers `GET /healthz` with 200."""
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class PeerWait:
    """Waits for another replica under `name` to answer ready, for `timeout` at most."""

    def __init__(
        self,
        name: str,
        port: int,
        timeout: float,
        resolve: Resolve = resolve_ipv4,
        ready: Ready = answers_ready,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.port = port
        self.timeout = timeout
        self._resolve = resolve
        self._ready = ready
        self._clock = clock

    def wait(self, cut_short: threading.Event) -> str | None:
        """The first address found ready, or None once `timeout` passes or `cut_short`
        is set (a second SIGTERM)."""
        deadline = self._clock() + self.timeout
        while not cut_short.is_set():
            for address in self._resolve(self.name):
                if self._ready(address, self.port, PROBE_TIMEOUT):
                    return address
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            cut_short.wait(min(POLL_INTERVAL, remaining))
        return None


def start_drain(
    delay: DrainDelay, peers: PeerWait | None, stop: Callable[[], None]
) -> threading.Thread:
    """The drain's first phase in a daemon thread: wait for a peer (when `peers` is
    given), serve on for the delay, then call `stop` (stop accepting, finish the rest)."""

    def run() -> None:
        if peers is not None:
            delay.waiting_for_peer = True
            try:
                found = peers.wait(delay.cut_short)
            finally:
                delay.waiting_for_peer = False
            if found is not None:
                log.info("drain: gateway %s answers ready; serving on for %.1fs", found,
                         delay.seconds)  # fmt: skip
                delay.extend()
            elif not delay.cut_short.is_set():
                log.warning("drain: no other gateway under %s answered ready within %.0fs; "
                            "stopping anyway", peers.name, peers.timeout)  # fmt: skip
        delay.cut_short.wait(delay.remaining())
        stop()

    thread = threading.Thread(target=run, name="gateway-drain", daemon=True)
    thread.start()
    return thread
