"""How a gateway stops without losing calls: the drain (docs/scaling.md, "Stopping").

On SIGTERM the gateway first keeps serving everything but answers `GET /healthz` with 503
for `GATEWAY_DRAIN_DELAY` seconds, so the front in front of it stops sending it new
calls before anything closes. Then uvicorn's own shutdown stops accepting, closes idle
keep-alive connections and lets the calls in flight finish (their answers say
`Connection: close`) for at most `GATEWAY_DRAIN_TIMEOUT` seconds.

`DrainMarker` is how every worker process learns that the gateway is draining: a file in
the shared folder, written by whichever process got the signal (the supervisor, or the
one process serving alone), and looked for by `/healthz` only, never by a call.
`DrainDelay` is the first phase's clock. `gateway.workers` wires both to the signals.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gateway.drain")


class DrainMarker:
    """The file whose presence says this gateway is draining; once seen, remembered."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen = False

    def mark(self) -> None:
        """Say the gateway is draining (to every process sharing the folder)."""
        self._seen = True
        # The folder is gone only once the gateway is exiting already (a late signal).
        with contextlib.suppress(FileNotFoundError):
            self._path.touch()

    def is_set(self) -> bool:
        """Whether the gateway is draining: one `stat` until it is, none after."""
        if not self._seen:
            self._seen = self._path.exists()
        return self._seen


class DrainDelay:
    """The first phase of a stop: `seconds` of serving on with `/healthz` at 503.

    `begin` on the first SIGTERM marks the gateway draining and starts the delay; on a
    second one it ends the delay at once (the calls in flight still get their
    `GATEWAY_DRAIN_TIMEOUT`). With `seconds` 0 the delay ends as it begins.
    """

    def __init__(
        self, seconds: float, marker: DrainMarker, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.marker = marker
        self._clock = clock
        self._ends_at: float | None = None
        # Set by a second SIGTERM: every wait of the first phase ends at once.
        self.cut_short = threading.Event()
        # While the first phase waits for another gateway (gateway.drain_peers).
        self.waiting_for_peer = False

    def begin(self) -> None:
        """A SIGTERM arrived: start the delay, or end it if it runs already."""
        self.marker.mark()
        now = self._clock()
        if self._ends_at is None:
            self._ends_at = now + self.seconds
        else:
            self._ends_at = now
            self.cut_short.set()

    def extend(self) -> None:
        """Serve on for `seconds` from now (another gateway just became ready), unless a
        second SIGTERM cut the phase short."""
        if self._ends_at is not None and not self.cut_short.is_set():
            self._ends_at = max(self._ends_at, self._clock() + self.seconds)

    def remaining(self) -> float:
        """Seconds left before the gateway stops accepting (0: now); `begin` first."""
        if self._ends_at is None:
            raise RuntimeError("the drain has not begun")
        return max(self._ends_at - self._clock(), 0.0)

    def over(self) -> bool:
        """Whether the delay has begun and ended: time to stop accepting."""
        return self._ends_at is not None and not self.waiting_for_peer and self.remaining() == 0.0


def log_sigterm(remaining: float) -> None:
    """Say what a SIGTERM started: the first phase, or the stop itself."""
    if remaining > 0:
        log.info("SIGTERM: draining: /healthz answers 503, calls still served for %.1fs", remaining)
    else:
        log.info("SIGTERM: no new connections; the calls in flight finish")
