"""The replica resolver: TTL cache, one lookup at a time, round-robin, real getaddrinfo."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from gateway.proxy.replicas import ReplicaResolver, resolve_with_getaddrinfo
from gateway.shared import SharedTable


class FakeDns:
    """Answers from a mutable table and counts lookups; `gate` can hold answers back."""

    def __init__(self, table: dict[str, tuple[str, ...]]) -> None:
        self.table = table
        self.lookups = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, host: str, port: int) -> tuple[str, ...]:
        self.lookups += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.table.get(host, ())


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_resolver(table: dict[str, tuple[str, ...]]) -> tuple[ReplicaResolver, FakeDns, FakeClock]:
    dns, clock = FakeDns(table), FakeClock()
    return ReplicaResolver(ttl=1.0, resolve=dns, clock=clock), dns, clock


def test_round_robin_over_addresses() -> None:
    resolver, _, _ = make_resolver({"tasks.fn": ("10.0.0.1", "10.0.0.2", "10.0.0.3")})

    async def picks() -> list[str | None]:
        return [await resolver.pick("tasks.fn", 8080) for _ in range(9)]

    chosen = asyncio.run(picks())
    assert chosen[:3] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert Counter(chosen) == {"10.0.0.1": 3, "10.0.0.2": 3, "10.0.0.3": 3}


def test_answers_are_cached_for_the_ttl() -> None:
    resolver, dns, clock = make_resolver({"tasks.fn": ("10.0.0.1",)})

    async def scenario() -> None:
        for _ in range(50):
            await resolver.pick("tasks.fn", 8080)
        assert dns.lookups == 1
        clock.now += 0.99
        await resolver.pick("tasks.fn", 8080)
        assert dns.lookups == 1
        clock.now += 0.02
        dns.table["tasks.fn"] = ("10.0.0.1", "10.0.0.9")
        assert await resolver.addresses("tasks.fn", 8080) == ("10.0.0.1", "10.0.0.9")
        assert dns.lookups == 2

    asyncio.run(scenario())


def test_rotation_continues_across_refreshes() -> None:
    resolver, _, clock = make_resolver({"tasks.fn": ("10.0.0.1", "10.0.0.2")})

    async def scenario() -> list[str | None]:
        chosen = []
        for _ in range(4):
            chosen.append(await resolver.pick("tasks.fn", 8080))
            clock.now += 5  # every pick sees an expired entry
        return chosen

    assert asyncio.run(scenario()) == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]


def test_concurrent_misses_share_one_lookup() -> None:
    resolver, dns, _ = make_resolver({"tasks.fn": ("10.0.0.1",)})

    async def scenario() -> list[tuple[str, ...]]:
        dns.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(resolver.addresses("tasks.fn", 80)) for _ in range(20)]
        await asyncio.sleep(0)
        dns.gate.set()
        return list(await asyncio.gather(*waiting))

    assert asyncio.run(scenario()) == [("10.0.0.1",)] * 20
    assert dns.lookups == 1


def test_unknown_name_has_no_replicas_and_is_cached() -> None:
    resolver, dns, _ = make_resolver({})

    async def scenario() -> None:
        assert await resolver.pick("tasks.gone", 8080) is None
        assert await resolver.pick("tasks.gone", 8080) is None

    asyncio.run(scenario())
    assert dns.lookups == 1


def test_avoid_skips_a_failed_address_when_there_is_another() -> None:
    resolver, _, _ = make_resolver({"two": ("10.0.0.1", "10.0.0.2"), "one": ("10.0.0.1",)})

    async def scenario() -> None:
        assert await resolver.pick("two", 80, avoid="10.0.0.1") == "10.0.0.2"
        assert await resolver.pick("one", 80, avoid="10.0.0.1") == "10.0.0.1"

    asyncio.run(scenario())


def test_an_unreachable_address_is_passed_over_for_a_while() -> None:
    """A dead node's tasks stay in DNS until the swarm marks it down: after a failed
    connect, picks skip that address while another is there, then try it again."""
    addresses = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    resolver, _, clock = make_resolver({"tasks.fn": addresses, "one": ("10.0.0.1",)})

    async def scenario() -> None:
        resolver.mark_unreachable("10.0.0.2", seconds=5.0)
        chosen = [await resolver.pick("tasks.fn", 8080) for _ in range(6)]
        assert "10.0.0.2" not in chosen
        # The only address left is handed out anyway: better a try than no replica.
        assert await resolver.pick("one", 80) == "10.0.0.1"
        resolver.mark_unreachable("10.0.0.1", seconds=5.0)
        assert await resolver.pick("one", 80) == "10.0.0.1"
        clock.now += 5.0
        chosen = [await resolver.pick("tasks.fn", 8080) for _ in range(3)]
        assert set(chosen) == set(addresses)  # every one again once the time is up

    asyncio.run(scenario())


def test_an_address_one_worker_found_unreachable_is_passed_over_by_the_others(
    tmp_path: Path,
) -> None:
    """Two workers' resolvers on one shared table: one failed connect is enough for both."""
    addresses = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    dns, clock = FakeDns({"tasks.fn": addresses}), FakeClock()
    wall = FakeClock()
    workers = [
        ReplicaResolver(
            ttl=1.0,
            resolve=dns,
            clock=clock,
            shared=SharedTable(tmp_path / "unreachable", recheck=0.0, clock=wall),
        )
        for _ in range(2)
    ]

    async def scenario() -> None:
        workers[0].mark_unreachable("10.0.0.2", seconds=5.0)
        chosen = [await workers[1].pick("tasks.fn", 8080) for _ in range(6)]
        assert "10.0.0.2" not in chosen
        wall.now += 5.0
        chosen = [await workers[1].pick("tasks.fn", 8080) for _ in range(3)]
        assert set(chosen) == set(addresses)

    asyncio.run(scenario())


def test_forget_forces_a_new_lookup() -> None:
    resolver, dns, _ = make_resolver({"tasks.fn": ("10.0.0.1",)})

    async def scenario() -> None:
        await resolver.addresses("tasks.fn", 80)
        resolver.forget("tasks.fn", 80)
        await resolver.addresses("tasks.fn", 80)

    asyncio.run(scenario())
    assert dns.lookups == 2


def test_ip_literals_skip_dns() -> None:
    resolver, dns, _ = make_resolver({})

    async def scenario() -> None:
        assert await resolver.pick("127.0.0.1", 80) == "127.0.0.1"
        assert await resolver.addresses("::1", 80) == ("::1",)

    asyncio.run(scenario())
    assert dns.lookups == 0


def test_getaddrinfo_resolves_localhost() -> None:
    addresses = asyncio.run(resolve_with_getaddrinfo("localhost", 8080))
    assert "127.0.0.1" in addresses or "::1" in addresses
    assert len(addresses) == len(set(addresses))


def test_getaddrinfo_failure_is_empty() -> None:
    # A malformed name fails inside the resolver library, without any network query.
    assert asyncio.run(resolve_with_getaddrinfo("bad..name", 8080)) == ()
