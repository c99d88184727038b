"""The forwarder's waker: a function at zero is woken first; when no replica resolves or
none accepts a connection, the waker's hold finds a ready one and the call is tried once
more there; a replica only slow to accept is tried once more, not held for. A fake
upstream client and a table resolver, in-process."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import pytest
from multidict import CIMultiDict

from gateway.config import GatewayConfig
from gateway.errors import NoReplicas, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.base import Function
from gateway.proxy.bodies import StreamedBody
from gateway.proxy.forwarder import HOLD_ATTEMPTS, Forwarder
from gateway.proxy.upstream import (
    ConnectFailed,
    ConnectTimedOut,
    PeerUnresponsive,
    RequestHeaders,
)
from tests.gateway.harness import TableResolver

FUNCTION = Function("f", "faas/cat", 1, "f.test", 8080)


class Answer:
    def __init__(self) -> None:
        self.status = 200
        self.raw_headers = [(b"content-length", b"2")]
        self.content_length: int | None = 2

    async def read(self) -> bytes:
        return b"ok"

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"ok"

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


class Client:
    """Answers from `ready` addresses; refuses (or times out on) the others. The first
    `slow_first` connections time out wherever they go."""

    def __init__(self, ready: set[str], timing_out: bool = False, slow_first: int = 0) -> None:
        self.ready = ready
        self.timing_out = timing_out
        self.slow_first = slow_first
        self.dead: set[str] = set()  # their node died under a call
        self.tried: list[str] = []
        self.on_timeout: Callable[[], None] = lambda: None  # what a timeout also does

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def request(
        self,
        method: str,
        address: str,
        port: int,
        path: str,
        headers: RequestHeaders,
        body: bytes | None,
        streamed: StreamedBody | None,
    ) -> Answer:
        self.tried.append(address)
        if len(self.tried) <= self.slow_first:
            self.on_timeout()
            raise ConnectTimedOut("timed out")
        if address in self.dead:
            raise PeerUnresponsive("its host went silent: Connection timed out")
        if address in self.ready:
            return Answer()
        if self.timing_out:
            raise ConnectTimedOut("timed out")
        raise ConnectFailed("connection refused")


class Hold:
    """A waker whose `hold` finds `address` ready (None: it cannot wait)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.calls = 0

    def must_hold(self, name: str) -> bool:
        return False

    def can_wake(self, function: Function) -> bool:
        return False

    async def wake(self, function: Function) -> Function:
        raise AssertionError("a function with replicas is never woken")

    async def hold(self, function: Function) -> Function | None:
        self.calls += 1
        if self.address is None:
            return None
        return dataclasses.replace(function, upstream_host=self.address)


class Wakes(Hold):
    """A waker that wakes functions at zero to `address` (if `allowed`)."""

    def __init__(self, address: str, allowed: bool = True) -> None:
        super().__init__(None)
        self.woken = 0
        self.allowed = allowed
        self.woke_to = address

    def can_wake(self, function: Function) -> bool:
        return self.allowed

    async def wake(self, function: Function) -> Function:
        self.woken += 1
        return dataclasses.replace(function, replicas=1, upstream_host=self.woke_to)


def send(
    forwarder: Forwarder, function: Function = FUNCTION
) -> tuple[int, list[MutableMapping[str, Any]]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def record(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"method": "POST", "headers": [(b"content-length", b"0")]}
    code = asyncio.run(
        forwarder.forward(function, "/", None, CIMultiDict(), "id", scope, receive, record)
    )
    return code, sent


@pytest.mark.parametrize("dns", [(), ("10.0.0.1",)], ids=["none resolves", "none accepts"])
def test_a_call_with_no_reachable_replica_is_held_and_sent_to_the_ready_one(
    dns: tuple[str, ...],
) -> None:
    client, hold = Client({"10.0.1.9"}), Hold("10.0.1.9")
    forwarder = Forwarder(GatewayConfig(), TableResolver({"f.test": dns}), client, hold)
    code, sent = send(forwarder)
    assert code == 200
    assert sent[-1]["body"] == b"ok"
    assert hold.calls == 1
    assert client.tried[-1] == "10.0.1.9"


def test_without_a_replica_to_wait_for_the_call_fails_as_before() -> None:
    forwarder = Forwarder(GatewayConfig(), TableResolver({}), Client(set()), Hold(None))
    with pytest.raises(NoReplicas):
        send(forwarder)
    refused = Forwarder(GatewayConfig(), TableResolver({"f.test": ("10.0.0.1",)}),
                        Client(set()), Hold(None))  # fmt: skip
    with pytest.raises(UpstreamUnavailable, match="connection refused"):
        send(refused)


def test_a_replica_slow_to_accept_is_tried_once_more_then_not_held_for() -> None:
    hold = Hold("10.0.1.9")
    client = Client({"10.0.1.9"}, timing_out=True)
    forwarder = Forwarder(
        GatewayConfig(), TableResolver({"f.test": ("10.0.0.1",)}), client, hold
    )  # fmt: skip
    with pytest.raises(UpstreamTimeout):
        send(forwarder)
    assert client.tried == ["10.0.0.1", "10.0.0.1"]
    assert hold.calls == 0


def test_a_replica_slow_to_accept_once_gets_the_call() -> None:
    client = Client({"10.0.0.1"}, slow_first=1)
    forwarder = Forwarder(GatewayConfig(), TableResolver({"f.test": ("10.0.0.1",)}), client, None)
    code, _ = send(forwarder)
    assert code == 200
    assert client.tried == ["10.0.0.1", "10.0.0.1"]


def test_a_replica_slow_to_accept_that_left_the_name_is_held_for_not_tried_again() -> None:
    client, hold = Client({"10.0.1.9"}, slow_first=1), Hold("10.0.1.9")
    table = {"f.test": ("10.0.0.1",)}
    forwarder = Forwarder(GatewayConfig(), TableResolver(table), client, hold)
    client.on_timeout = table.clear  # its task stopped: the name resolves to nothing now
    assert send(forwarder)[0] == 200
    assert (hold.calls, client.tried) == (1, ["10.0.0.1", "10.0.1.9"])
    client.slow_first, client.tried = 2, []  # no hold: the timeout's 504, at once
    table["f.test"] = ("10.0.0.1",)
    alone = Forwarder(GatewayConfig(), TableResolver(table), client, None)
    with pytest.raises(UpstreamTimeout, match="did not accept a connection in time"):
        send(alone)
    assert client.tried == ["10.0.0.1"]


def test_a_replica_slow_to_accept_is_left_for_another_one() -> None:
    client = Client({"10.0.0.2"}, timing_out=True)
    resolver = TableResolver({"f.test": ("10.0.0.1", "10.0.0.2")})
    forwarder = Forwarder(GatewayConfig(), resolver, client, None)
    code, _ = send(forwarder)
    assert code == 200
    assert client.tried[-1] == "10.0.0.2"
    assert len(client.tried) <= 2


def test_a_held_call_is_held_again_a_bounded_number_of_times() -> None:
    client, hold = Client(set()), Hold("10.0.1.9")  # the "ready" replica refuses too
    forwarder = Forwarder(GatewayConfig(), TableResolver({}), client, hold)
    with pytest.raises(UpstreamUnavailable):
        send(forwarder)
    assert (hold.calls, client.tried) == (HOLD_ATTEMPTS, ["10.0.1.9"] * HOLD_ATTEMPTS)


def test_a_replica_whose_node_died_under_a_call_fails_it_and_is_passed_over() -> None:
    client = Client({"10.0.0.1", "10.0.0.2"})
    client.dead.add("10.0.0.2")
    resolver = TableResolver({"f.test": ("10.0.0.1", "10.0.0.2")})
    forwarder = Forwarder(GatewayConfig(), resolver, client, Hold(None))
    failures = []
    for _ in range(2):  # round robin: one of the two reaches it
        try:
            send(forwarder)
        except UpstreamUnavailable as error:
            failures.append(str(error))
    assert len(failures) == 1
    assert "stopped answering (its host went silent" in failures[0]
    assert client.tried.count("10.0.0.2") == 1  # it may have run there: not sent again
    client.tried.clear()
    for _ in range(4):
        assert send(forwarder)[0] == 200
    assert client.tried == ["10.0.0.1"] * 4


def test_a_function_at_zero_is_woken_before_it_is_sent_if_it_may_be() -> None:
    asleep = dataclasses.replace(FUNCTION, replicas=0)
    client, waker = Client({"10.0.1.9"}), Wakes("10.0.1.9")
    forwarder = Forwarder(GatewayConfig(), TableResolver({}), client, waker)
    assert send(forwarder, asleep)[0] == 200
    assert (waker.woken, client.tried) == (1, ["10.0.1.9"])
    refused = Forwarder(GatewayConfig(), TableResolver({}), client, Wakes("10.0.1.9", False))
    with pytest.raises(NoReplicas):
        send(refused, asleep)
    with pytest.raises(NoReplicas):  # no waker at all
        send(Forwarder(GatewayConfig(), TableResolver({}), client), asleep)
