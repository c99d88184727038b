"""`ClusterLoad`: what the other gateway containers saw, for the elected autoscaler.

Behind a front that spreads calls over several gateway containers, each sees part of the
load. Every container serves its own (`GET /system/load`, `gateway.scaling.load_report`):
an id unique per start of the container, calls started (a counter) and in flight per
function summed over its workers, and its alert floors. Before each pass, the elected
autoscaler (one worker of one container) asks every other running gateway container of
its service (the provider's `gateway_addresses`: on Swarm, the tasks' addresses on the
functions network) for that report, all at once, each within `PEER_FETCH_SECONDS` and
`MAX_REPORT_BYTES`, with the management API's credentials, and adds it to its own.

- Calls started are counters: the rate comes from each peer's own counter, by its id, as
  a delta from its previous report (never below 0). A peer seen for the first time (a
  new container, or one restarted: a new id) only sets its baseline. The deltas add up
  to one counter for the cluster's other containers, which never goes back, so a peer
  that restarts or vanishes never makes a negative rate, and one that appears no spike.
- A peer that does not answer (or answers garbage, an error or too much) counts with its
  last report for `PEER_GRACE_PASSES` passes, then is dropped; each address that stops
  answering is logged once, and once again when it answers. A peer whose task is no
  longer running is dropped at once.
- The decider finds itself among the addresses by its own id, and skips that address
  from then on.

Only the process that decides calls it; the others do nothing extra. Without a task list
(the static provider, a gateway that is not a Swarm task) the view is the container's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import pydantic

from gateway.api_types.answers import AlertFloor, LoadReport
from gateway.errors import GatewayError

log = logging.getLogger("gateway.scaling")

LOAD_PATH = "/system/load"
PEER_FETCH_SECONDS = 0.5
"""How long one peer may take to answer (connect included) before it counts as silent."""
MAX_REPORT_BYTES = 1024 * 1024
"""The largest answer read from a peer: a longer one counts as no answer."""
PEER_GRACE_PASSES = 3
"""Passes a silent peer's last report still counts before it is dropped."""
MAX_PEERS = 32
"""The most gateway containers asked per pass (the first listed, by address)."""
PEER_LIST_SECONDS = 1.0
"""How long listing the gateway containers may take (an engine call) before the pass goes
on with the reports it has."""

GatewayAddresses = Callable[[], Awaitable["Sequence[str] | None"]]
"""The addresses of the running gateway containers of this one's service (itself
included); None when the provider cannot tell (no Swarm, or not a Swarm task)."""


class PeerUnanswered(Exception):
    """A peer gave no usable report (the message says why)."""


ReportFetch = Callable[[str], Awaitable[LoadReport]]
"""One peer's report at its address; `PeerUnanswered` when it gives none."""


class PeerMetrics(Protocol):
    """Where the peers' figures go (implemented by `gateway.metrics.GatewayMetrics`)."""

    def autoscaler_peers(self, count: int) -> None:
        """Gateway containers heard from on the last pass, this one included (0: not
        deciding)."""

    def peer_fetch_failed(self) -> None:
        """Count one peer that gave no usable report."""


def container_identity(shared_folder: Path | None) -> str:
    """An id unique per start of this gateway container, the same in all its workers:
    the hostname (the container id) and the workers' shared folder, made per start."""
    start = shared_folder.name if shared_folder is not None else f"{os.getpid()}-{uuid.uuid4()}"
    return f"{socket.gethostname()}-{start}"


class HttpReportFetch:
    """Asks a peer for its report over HTTP, on a pool of its own (`close` it); with the
    management API's `credentials` (user, password). `transport`: another (tests)."""

    def __init__(
        self,
        port: int,
        credentials: tuple[str, str],
        *,
        within: float = PEER_FETCH_SECONDS,
        limit: int = MAX_REPORT_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._port = port
        self._within = within
        self._limit = limit
        self._client = httpx.AsyncClient(
            auth=credentials,
            timeout=within,
            trust_env=False,  # never through a proxy from the environment
            limits=httpx.Limits(max_connections=MAX_PEERS, max_keepalive_connections=MAX_PEERS),
            transport=transport,
        )

    async def __call__(self, address: str) -> LoadReport:
        """See `ReportFetch`."""
        host = f"[{address}]" if ":" in address else address
        url = f"http://{host}:{self._port}{LOAD_PATH}"
        try:
            async with (
                asyncio.timeout(self._within),
                self._client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise PeerUnanswered(f"answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._limit:
                        raise PeerUnanswered(f"answered more than {self._limit} bytes")
        except (TimeoutError, httpx.TimeoutException):  # TimeoutError is an OSError too
            raise PeerUnanswered(f"no answer within {self._within:g}s") from None
        except (httpx.HTTPError, OSError) as error:
            raise PeerUnanswered(f"{type(error).__name__}: {error}") from None
        return parse_report(bytes(body))

    async def close(self) -> None:
        """Close the pool."""
        await self._client.aclose()


def parse_report(body: bytes) -> LoadReport:
    """A peer's answer as a `LoadReport`; `PeerUnanswered` if it is not one."""
    try:
        return LoadReport.model_validate_json(body)
    except (pydantic.ValidationError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PeerUnanswered(f"not a load report ({first})") from None


@dataclass
class _Peer:
    address: str
    report: LoadReport
    silent: int = 0  # passes in a row without an answer


@dataclass
class PeersSeen:
    """The other containers' part of the load: `started` (one counter over them all,
    never going back), `inflight` per function (by metric name), their alert floors,
    and how many answered on this pass."""

    started: Mapping[str, int] = field(default_factory=dict)
    inflight: Mapping[str, int] = field(default_factory=dict)
    alerts: Sequence[Mapping[str, AlertFloor]] = ()
    answered: int = 0


class ClusterLoad:
    """The other gateway containers' reports, kept per peer between passes (see the
    module docstring). `identity`: this container's id (`container_identity`)."""

    def __init__(
        self,
        identity: str,
        addresses: GatewayAddresses,
        fetch: ReportFetch,
        *,
        metrics: PeerMetrics | None = None,
        grace_passes: int = PEER_GRACE_PASSES,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.identity = identity
        self._addresses = addresses
        self._fetch = fetch
        self._metrics = metrics
        self._grace = grace_passes
        self._close = close
        self._peers: dict[str, _Peer] = {}  # by the peer's id
        self._started: dict[str, int] = {}  # the peers' deltas, added up per function
        self._own_addresses: set[str] = set()
        self._failing: set[str] = set()  # addresses logged as not answering
        self._alone_logged = False

    async def gather(self) -> PeersSeen:
        """Ask every other gateway container for its report; what they saw together."""
        try:
            async with asyncio.timeout(PEER_LIST_SECONDS):
                listed = await self._addresses()
        except (GatewayError, OSError) as error:  # TimeoutError included
            if not self._alone_logged:
                log.warning("cannot list the other gateways (%s): their last reports count", error)
                self._alone_logged = True
            for peer in list(self._peers.values()):
                self._missed(peer)
            return self._seen(0)
        if listed is None:
            if not self._alone_logged:
                log.info("no other gateway container to ask: scaling on this one's calls")
                self._alone_logged = True
            self._peers.clear()
            return self._seen(0)
        self._alone_logged = False
        addresses = sorted(set(listed) - self._own_addresses)[:MAX_PEERS]
        self._drop_vanished(set(addresses))
        outcomes = await asyncio.gather(
            *(self._fetch(address) for address in addresses), return_exceptions=True
        )
        answered = 0
        for address, outcome in zip(addresses, outcomes, strict=True):
            if isinstance(outcome, LoadReport):
                answered += self._answered(address, outcome)
            elif isinstance(outcome, Exception):
                self._unanswered(address, outcome)
            else:
                raise outcome  # cancellation and the like
        return self._seen(answered)

    def stand_by(self) -> None:
        """This process no longer decides: forget the peers (the next lead starts anew)."""
        self._peers.clear()
        self._started.clear()
        if self._metrics is not None:
            self._metrics.autoscaler_peers(0)

    def forget_others(self, names: set[str]) -> None:
        """Drop the counters of functions (by metric name) not in `names`."""
        for name in self._started.keys() - names:
            del self._started[name]

    async def close(self) -> None:
        """Release the fetch's connections."""
        if self._close is not None:
            await self._close()

    def _answered(self, address: str, report: LoadReport) -> int:
        if address in self._failing:
            self._failing.discard(address)
            log.info("gateway at %s answers again", address)
        if report.gateway == self.identity:
            self._own_addresses.add(address)
            return 0
        for other_id, other in list(self._peers.items()):
            if other.address == address and other_id != report.gateway:
                del self._peers[other_id]  # replaced at its address: a new container
        known = self._peers.get(report.gateway)
        if known is not None:
            for name, load in report.functions.items():
                before = known.report.functions.get(name)
                delta = load.started - (before.started if before is not None else 0)
                if delta > 0:
                    self._started[name] = self._started.get(name, 0) + delta
        self._peers[report.gateway] = _Peer(address, report)
        return 1

    def _unanswered(self, address: str, error: Exception) -> None:
        if self._metrics is not None:
            self._metrics.peer_fetch_failed()
        if address not in self._failing:
            self._failing.add(address)
            log.warning(
                "gateway at %s gave no load report (%s): its last one counts for %d passes",
                address,
                error,
                self._grace,
            )
        for peer in [p for p in self._peers.values() if p.address == address]:
            self._missed(peer)

    def _missed(self, peer: _Peer) -> None:
        peer.silent += 1
        if peer.silent > self._grace:
            del self._peers[peer.report.gateway]
            log.info("gateway %s at %s dropped from the scaling view", peer.report.gateway,
                     peer.address)  # fmt: skip

    def _drop_vanished(self, addresses: set[str]) -> None:
        for peer_id, peer in list(self._peers.items()):
            if peer.address not in addresses:
                del self._peers[peer_id]
        self._failing &= addresses

    def _seen(self, answered: int) -> PeersSeen:
        inflight: dict[str, int] = {}
        for peer in self._peers.values():
            for name, load in peer.report.functions.items():
                if load.inflight:
                    inflight[name] = inflight.get(name, 0) + load.inflight
        if self._metrics is not None:
            self._metrics.autoscaler_peers(1 + answered)
        alerts = [peer.report.alerts for peer in self._peers.values()]
        return PeersSeen(dict(self._started), inflight, alerts, answered)
