"""A function's record (`GET /system/functions`, `GET /system/function/{name}`) read back
from the services SwarmProvider writes on the fake engine: the definition as the client
sent it, limits and requests as written, `createdAt` and `faas_function`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.api_types.bodies import FunctionDeployment
from gateway.deployments import parse_body
from gateway.management.functions import function_status
from gateway.providers.base import Function
from gateway.providers.swarm.discovery import SwarmProvider
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs
from tests.support import wait_for

CREATED_AT = service_attrs("x")["CreatedAt"]


def record(provider: SwarmProvider, name: str = "hello") -> dict[str, Any]:
    # The provider's first sync may still land over a write's re-read (as in test_swarm_writes).
    wait_for(lambda: provider.lookup(name) is not None, f"the view to show {name}", timeout=10)
    function = provider.lookup(name)
    assert isinstance(function, Function)
    return function_status(function, {}, {}, "openfaas-fn").sent()


def limits_shown(provider: SwarmProvider, name: str, limits: dict[str, str]) -> None:
    """Wait until the view has followed a change made behind the API's back."""

    def shown() -> bool:
        function = provider.lookup(name)
        return function is not None and record(provider, name)["limits"] == limits

    wait_for(shown, f"{name}'s limits to show {limits}", timeout=10)


def deployed(provider: SwarmProvider, **fields: Any) -> dict[str, Any]:
    body = {"service": "hello", "image": "faas/hello:1", **fields}
    asyncio.run(provider.deploy(parse_body(FunctionDeployment, body)))
    return record(provider)


@pytest.mark.parametrize(
    ("sent", "engine_gets"),
    [
        ({"cpu": "100m", "memory": "5Mi"}, {"NanoCPUs": 100_000_000, "MemoryBytes": 5 * 2**20}),
        ({"cpu": 0.5, "memory": 134217728}, {"NanoCPUs": 500_000_000, "MemoryBytes": 2**27}),
        ({"cpu": "0.5", "memory": "134217728"}, {"NanoCPUs": 500_000_000, "MemoryBytes": 2**27}),
        ({"memory": "1Gi"}, {"NanoCPUs": 0, "MemoryBytes": 2**30}),
        ({"cpu": "0.3333"}, {"NanoCPUs": 333_300_000, "MemoryBytes": 0}),
    ],
)
def test_limits_and_requests_come_back_as_written(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    sent: dict[str, Any],
    engine_gets: dict[str, int],
) -> None:
    shown = deployed(provider, limits=sent, requests=sent)
    as_written = {key: str(value) for key, value in sent.items()}
    assert (shown["limits"], shown["requests"]) == (as_written, as_written)
    # The engine still gets the numbers; the labels keeping the written forms are hidden.
    resources = engine.service("hello")["Spec"]["TaskTemplate"]["Resources"]
    assert resources == {"Limits": engine_gets, "Reservations": engine_gets}
    assert not [key for key in shown["labels"] if key.startswith("com.faas.")
                and key != "com.faas.managed"]  # fmt: skip


def test_the_whole_record_of_a_deployed_function(provider: SwarmProvider) -> None:
    shown = deployed(
        provider,
        envProcess="cat",
        envVars={"A": "1"},
        labels={"team": "a"},
        annotations={"topic": "t"},
        constraints=["node.role == manager"],
        limits={"memory": "20Mi", "cpu": "100m"},
        readOnlyRootFilesystem=True,
    )
    assert shown == {
        "name": "hello",
        "image": "faas/hello:1",
        "namespace": "openfaas-fn",
        "envProcess": "cat",
        "envVars": {"A": "1"},
        "labels": {"team": "a", "com.faas.managed": "true", "faas_function": "hello"},
        "annotations": {"topic": "t"},
        "constraints": ["node.role == manager"],
        "secrets": [],
        "limits": {"memory": "20Mi", "cpu": "100m"},
        "requests": None,
        "readOnlyRootFilesystem": True,
        "replicas": 1,
        "availableReplicas": 0,
        "invocationCount": 0,
        "createdAt": CREATED_AT,
    }


def test_an_update_writes_the_new_forms_and_drops_the_old(provider: SwarmProvider) -> None:
    deployed(provider, limits={"memory": "20Mi", "cpu": "100m"})
    body = {"service": "hello", "image": "faas/hello:2", "limits": {"memory": "32M"}}
    asyncio.run(provider.update(parse_body(FunctionDeployment, body)))
    limits_shown(provider, "hello", {"memory": "32M"})


def test_services_defined_elsewhere_show_numbers(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    attrs = service_attrs("func_cat", stack="func")
    attrs["Spec"]["TaskTemplate"]["Resources"] = {
        "Limits": {"NanoCPUs": 100_000_000, "MemoryBytes": 5 * 1024 * 1024}
    }
    engine.create_service(attrs)
    limits_shown(provider, "func_cat", {"cpu": "0.1", "memory": "5242880"})
    shown = record(provider, "func_cat")
    assert shown["labels"]["faas_function"] == "func_cat"
    assert shown["labels"]["com.docker.stack.namespace"] == "func"


def test_written_forms_the_engine_no_longer_has_give_way_to_its_numbers(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    deployed(provider, limits={"memory": "20Mi", "cpu": "100m"})
    service = engine.service("hello")
    template = service["Spec"]["TaskTemplate"]
    # `docker service update --limit-cpu 0.2` by hand: the label stays, now stale.
    engine.update_service(
        service["ID"],
        {"TaskTemplate": {**template, "Resources": {"Limits": {"NanoCPUs": 200_000_000,
                                                               "MemoryBytes": 20 * 1024 * 1024}}}},
    )  # fmt: skip
    limits_shown(provider, "hello", {"cpu": "0.2", "memory": "20Mi"})
