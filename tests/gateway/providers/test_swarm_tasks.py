"""SwarmProvider.replica_tasks against the fake engine: what the gateway reads of a
function's tasks while it holds calls (state, error, address on the functions network)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import ProviderUnavailable
from gateway.providers.base import ReplicaTask
from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs, task_attrs
from tests.support import wait_for


def test_tasks_carry_state_error_and_the_functions_network_address(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    cat = engine.create_service(service_attrs("func_cat", stack="func"))
    other = engine.create_service(service_attrs("func_other", stack="func"))
    wait_for(lambda: provider.lookup("func_other") is not None, "both in the registry")
    engine.set_tasks(
        [
            task_attrs(cat, "running", address="10.0.1.5", task_id="t1"),
            task_attrs(cat, "starting", task_id="t2"),
            task_attrs(cat, "rejected", error="No such image: faas/cat:9", task_id="t3"),
            task_attrs(other, "running", address="10.0.1.6", task_id="t4"),
        ]
    )
    tasks = asyncio.run(provider.replica_tasks("cat"))  # by short name, as calls name it
    assert list(tasks) == [
        ReplicaTask("t1", "running", "10.0.1.5"),
        ReplicaTask("t2", "starting"),
        ReplicaTask("t3", "rejected", None, "No such image: faas/cat:9"),
    ]
    # Swarm keeps a task with a HEALTHCHECK in "starting" until healthy: it counts.
    assert (tasks[0].running, tasks[1].running, tasks[2].failed) == (True, True, True)
    # Failed tasks are wanted too: one engine call, filtered by service only.
    assert engine.task_calls == [{"service": cat}]


def test_an_address_on_another_network_is_no_address(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    cat = engine.create_service(service_attrs("cat"))
    wait_for(lambda: provider.lookup("cat") is not None, "cat in the registry")
    engine.set_tasks(
        [task_attrs(cat, "running", address="10.9.0.5", network_id="x", network_name="other")]
    )
    [task] = asyncio.run(provider.replica_tasks("cat"))
    assert task.address is None


def test_an_unknown_function_has_no_tasks_and_a_down_engine_says_so(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    assert list(asyncio.run(provider.replica_tasks("nope"))) == []
    cat = engine.create_service(service_attrs("cat"))
    wait_for(lambda: provider.lookup("cat") is not None, "cat in the registry")
    engine.set_tasks([task_attrs(cat, "running", address="10.0.1.5")])
    engine.go_down()
    with pytest.raises(ProviderUnavailable):
        asyncio.run(provider.replica_tasks("cat"))
