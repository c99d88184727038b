"""Find a function's replicas: resolve its upstream host, cache briefly, take turns.

On Swarm a function's `upstream_host` is `tasks.<service>`, which Docker's DNS answers
with every running task's address (dnsrr, no IPVS). Resolving it on every request would
put a DNS round trip on the hot path, so answers are cached for a short TTL (about a
second: long enough to absorb bursts, short enough to notice scaling quickly), and
requests rotate over the cached addresses.

An address that did not take a connection is passed over for a few seconds
(`UNREACHABLE_SECONDS`) while others remain: a node that died keeps its tasks in DNS until
the swarm marks it down (13-15 s measured, docs/benchmarks.md "Multi-node"), and each
pick of one of them would cost a call its connect timeout. With several worker
processes (`shared`), a mark is also written to a `SharedTable` every worker reads, so
one failed connect keeps every worker's calls away from that address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.shared import SharedTable

log = logging.getLogger("gateway.proxy")

UNREACHABLE_SECONDS = 5.0

Resolve = Callable[[str, int], Awaitable[tuple[str, ...]]]
"""Turn (host, port) into addresses; an empty tuple when the name does not resolve."""


async def resolve_with_getaddrinfo(host: str, port: int) -> tuple[str, ...]:
    """Resolve with the event loop's non-blocking getaddrinfo; NXDOMAIN gives ()."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # gaierror (unknown name, resolver down), bad label
        return ()
    # Sorted so the rotation order survives a refresh that returns the same set shuffled.
    return tuple(sorted({str(info[4][0]) for info in infos}))


@dataclass
class _Entry:
    addresses: tuple[str, ...]
    expires_at: float


class ReplicaResolver:
    """Addresses of a host's replicas, cached for `ttl` seconds, handed out round-robin.

    `shared`: the unreachable addresses every worker process marks (none: this process's
    own marks only).
    """

    def __init__(
        self,
        ttl: float,
        resolve: Resolve = resolve_with_getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTable | None = None,
    ) -> None:
        self._ttl = ttl
        self._resolve = resolve
        self._clock = clock
        self._cache: dict[tuple[str, int], _Entry] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[tuple[str, ...]]] = {}
        self._turns: dict[tuple[str, int], int] = {}
        self._unreachable: dict[str, float] = {}  # address -> until when it is passed over
        self._shared = shared

    async def addresses(self, host: str, port: int) -> tuple[str, ...]:
        """Every address `host` resolves to (from cache while fresh); () if none."""
        key = (host, port)
        entry = self._cache.get(key)
        if entry is not None and entry.expires_at > self._clock():
            return entry.addresses
        if _is_ip_address(host):
            self._cache[key] = _Entry((host,), float("inf"))
            return (host,)
        pending = self._pending.get(key)
        if pending is None:
            # One lookup per host at a time: a burst after expiry waits on the same answer.
            pending = asyncio.ensure_future(self._refresh(key))
            self._pending[key] = pending
        return await asyncio.shield(pending)

    async def pick(self, host: str, port: int, avoid: str | None = None) -> str | None:
        """The next address in rotation, skipping `avoid` when another one exists."""
        addresses = await self.addresses(host, port)
        if not addresses:
            return None
        # Only after a failure (here or in another worker): nothing more on the usual path.
        if self._unreachable or (self._shared is not None and self._shared.entries()):
            addresses = self._reachable(addresses)
        key = (host, port)
        turn = self._turns.get(key, 0)
        address = addresses[turn % len(addresses)]
        if address == avoid and len(addresses) > 1:
            turn += 1
            address = addresses[turn % len(addresses)]
        self._turns[key] = turn + 1
        return address

    def mark_unreachable(self, address: str, seconds: float = UNREACHABLE_SECONDS) -> None:
        """Pass `address` over for `seconds` while another one is there (it refused or
        did not take a connection)."""
        self._unreachable[address] = self._clock() + seconds
        if self._shared is not None:
            try:
                self._shared.put(address, "", seconds)
            except OSError as error:  # this worker still knows; the others learn alone
                log.warning("cannot share the unreachable address %s: %s", address, error)

    def _reachable(self, addresses: tuple[str, ...]) -> tuple[str, ...]:
        now = self._clock()
        for address, until in list(self._unreachable.items()):
            if until <= now:
                del self._unreachable[address]
        # The shared entries are those in force at the table's last look (0.1 s ago at
        # most): close enough for a mark of seconds.
        shared = self._shared.entries() if self._shared is not None else {}
        kept = tuple(
            address
            for address in addresses
            if address not in self._unreachable and address not in shared
        )
        return kept or addresses

    def forget(self, host: str, port: int) -> None:
        """Drop the cached answer so the next request resolves again (e.g. a replica died)."""
        self._cache.pop((host, port), None)

    async def _refresh(self, key: tuple[str, int]) -> tuple[str, ...]:
        try:
            addresses = await self._resolve(*key)
            self._cache[key] = _Entry(addresses, self._clock() + self._ttl)
            return addresses
        finally:
            del self._pending[key]


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
