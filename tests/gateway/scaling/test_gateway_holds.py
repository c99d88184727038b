"""Holding calls through a running gateway when a function has replicas but none ready.

The gateway runs in-process over a provider that lists tasks: DNS (a table) knows none of
them, as while Swarm has not yet added a new task to `tasks.<service>`; the ready task's
address is a real watchdog on loopback, so the health probe really asks `/_/health`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.providers.base import Function, ReplicaTask
from gateway.providers.static import StaticProvider
from tests.gateway.harness import BackgroundProcess, GatewayThread, TableResolver
from tests.gateway.test_drain import refuses_connections
from tests.support import wait_for


class TaskProvider(StaticProvider):
    """A static provider that lists tasks: `tasks[name]` is a script, one list per read
    (the last one repeats)."""

    orchestration = "fake"

    def __init__(self, functions: list[Function]) -> None:
        super().__init__(functions)
        self.tasks: dict[str, list[list[ReplicaTask]]] = {}
        self.reads: list[str] = []

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        self.reads.append(name)
        script = self.tasks.get(name, [[]])
        return script.pop(0) if len(script) > 1 else script[0]


@pytest.fixture
def provider(cat_watchdog: BackgroundProcess) -> TaskProvider:
    port = cat_watchdog.port
    return TaskProvider(
        [
            Function("updating", "faas/cat", 1, "updating.test", port),
            Function("crashing", "faas/cat", 1, "crashing.test", port),
            Function("listed", "faas/cat", 1, "listed.test", port),
        ]
    )


@pytest.fixture
def gateway(provider: TaskProvider) -> Iterator[GatewayThread]:
    # Only `listed` resolves: the others are between replicas, as far as DNS knows.
    resolver = TableResolver({"listed.test": ("127.0.0.1",)})
    with GatewayThread(provider, resolver) as running:
        yield running


def test_calls_are_held_until_a_new_replica_answers_not_failed(
    gateway: GatewayThread, provider: TaskProvider
) -> None:
    provider.tasks["updating"] = [
        [ReplicaTask("old", "shutdown")],
        [ReplicaTask("old", "shutdown"), ReplicaTask("new", "starting")],
        [ReplicaTask("old", "shutdown"), ReplicaTask("new", "running", "127.0.0.1")],
    ]

    def call(i: int) -> httpx.Response:
        with gateway.client() as client:
            return client.post("/function/updating", content=f"call {i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(call, range(8)))
    assert [(r.status_code, r.text) for r in replies] == [(200, f"call {i}") for i in range(8)]


def test_a_replica_that_cannot_start_answers_503_with_its_reason(
    gateway: GatewayThread, provider: TaskProvider
) -> None:
    provider.tasks["crashing"] = [
        [ReplicaTask("t1", "starting")],
        [ReplicaTask("t1", "failed", None, "task: non-zero exit (127)")],
    ]
    with gateway.client() as client:
        reply = client.post("/function/crashing", content="x")
    assert reply.status_code == 503
    assert reply.text == (
        "function 'crashing' has no running replicas: "
        "a replica could not start (failed: task: non-zero exit (127))\n"
    )


def test_steady_state_calls_never_ask_for_tasks(
    gateway: GatewayThread, provider: TaskProvider
) -> None:
    with gateway.client() as client:
        replies = [client.post("/function/listed", content=f"{i}") for i in range(20)]
    assert [(r.status_code, r.text) for r in replies] == [(200, f"{i}") for i in range(20)]
    assert provider.reads == []


def test_a_held_call_is_answered_across_the_gateways_stop(
    gateway: GatewayThread, provider: TaskProvider
) -> None:
    """A held call is a call in flight: the stop (`gateway.drain`, its second phase) waits
    for it instead of cutting it (docs/scaling.md, "Stopping")."""
    provider.tasks["updating"] = [[ReplicaTask("new", "starting")]]
    with ThreadPoolExecutor(max_workers=1) as pool, gateway.client() as client:
        held = pool.submit(client.post, "/function/updating", content=b"held")
        wait_for(lambda: "updating" in provider.reads, "the call to be held")
        gateway.stop()
        wait_for(lambda: refuses_connections(gateway.config.port), "the stop", ignore=())
        # Still held while the gateway stops: it keeps asking for the tasks.
        reads = len(provider.reads)
        wait_for(lambda: len(provider.reads) >= reads + 10, "the hold to go on")
        provider.tasks["updating"] = [[ReplicaTask("new", "running", "127.0.0.1")]]
        reply = held.result(timeout=60)
    assert (reply.status_code, reply.text) == (200, "held")
    assert reply.headers["connection"] == "close"
    wait_for(gateway.stopped, "the gateway to stop once the call was answered")
