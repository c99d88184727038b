"""Find a function's replicas: resolve its upstream host, cache briefly, take turns.

On Swarm a function's `upstream_host` is `tasks.<service>`, which Docker's DNS answers
with every running task's address (dnsrr, no IPVS). Resolving it on every request would
put a DNS round trip on the hot path, so answers are cached for a short TTL (about a
second: long enough to absorb bursts, short enough to notice scaling quickly), and
requests rotate over the cached addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    """Addresses of a host's replicas, cached for `ttl` seconds, handed out round-robin."""

    def __init__(
        self,
        ttl: float,
        resolve: Resolve = resolve_with_getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._resolve = resolve
        self._clock = clock
        self._cache: dict[tuple[str, int], _Entry] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[tuple[str, ...]]] = {}
        self._turns: dict[tuple[str, int], int] = {}

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
        key = (host, port)
        turn = self._turns.get(key, 0)
        address = addresses[turn % len(addresses)]
        if address == avoid and len(addresses) > 1:
            turn += 1
            address = addresses[turn % len(addresses)]
        self._turns[key] = turn + 1
        return address

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
