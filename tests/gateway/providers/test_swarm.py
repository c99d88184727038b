"""SwarmProvider against a fake engine: sync, filtering, events, resync and engine outages."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import docker
import pytest

from gateway.errors import FunctionNotFound
from gateway.providers.base import Function, FunctionSettings, Resources
from gateway.providers.swarm.discovery import SwarmProvider
from gateway.providers.swarm.services import function_from_service
from tests.gateway.providers.swarm_fixtures import (
    ENGINE_NODE,
    ENGINE_URL,
    FUNCTIONS_NETWORK_ID,
    OTHER_NETWORK_ID,
    FakeDockerClient,
    service_attrs,
    task_attrs,
)
from tests.support import wait_for

StartProvider = Callable[..., SwarmProvider]


@pytest.fixture
def start_provider(engine: FakeDockerClient) -> Iterator[StartProvider]:
    """Start providers on the fake engine; close them (and check they stopped) afterwards."""
    providers: list[SwarmProvider] = []

    def start(**kwargs: Any) -> SwarmProvider:
        provider = SwarmProvider(client=cast(docker.DockerClient, engine), **kwargs)
        asyncio.run(provider.start())
        providers.append(provider)
        return provider

    yield start
    for provider in providers:
        asyncio.run(asyncio.wait_for(provider.close(), timeout=10))
        assert not any(thread.is_alive() for thread in provider._sync._threads)
    assert all(stream.closed for stream in engine.streams)


def to_function(attrs: dict[str, Any]) -> Function | None:
    return function_from_service(attrs, "functions", {FUNCTIONS_NETWORK_ID})


# Reading one service.


def test_plain_docker_service_create_is_a_function() -> None:
    attrs = service_attrs("catservice", env=("PATH=/usr/bin", "fprocess=cat"))
    assert to_function(attrs) == Function(
        name="catservice",
        image="local/python:3.11-bookworm",
        replicas=1,
        upstream_host="tasks.catservice",
        upstream_port=8080,
        stack=None,
        labels={},
        env_process="cat",
        settings=FunctionSettings(env_vars={"PATH": "/usr/bin"}),
        created_at="2026-11-25T09:21:44.754024676Z",
    )


def test_the_rest_of_the_definition_is_read_back() -> None:
    attrs = service_attrs("hello", env=("GREETING=hi", "fprocess=cat", "EMPTY="))
    template = attrs["Spec"]["TaskTemplate"]
    template["ContainerSpec"] |= {
        "ReadOnly": True,
        "Secrets": [
            {"File": {"Name": "/var/openfaas/secrets/api-key"}, "SecretName": "api-key-v2"},
            {"File": {"Name": "api-key"}, "SecretName": "api-key-v2"},
        ],
    }
    template["Placement"] = {"Constraints": ["node.role == manager"]}
    template["Resources"] = {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 134_217_728},
        "Reservations": {"MemoryBytes": 67_108_864},
    }
    function = to_function(attrs)
    assert function is not None
    assert function.settings == FunctionSettings(
        env_vars={"GREETING": "hi", "EMPTY": ""},
        constraints=("node.role == manager",),
        secrets=("api-key",),
        limits=Resources(cpus=0.5, memory=134_217_728),
        requests=Resources(memory=67_108_864),
        read_only_root_filesystem=True,
    )


def test_stack_service_has_a_namespace_and_a_short_name() -> None:
    image = "registry.local:5000/echo:1.0@sha256:" + "ab" * 32
    function = to_function(
        service_attrs(
            "func_catservice",
            stack="func",
            image=image,
            mode={"Replicated": {"Replicas": 3}},
            labels={"com.faas.port": "8081"},
        )
    )
    assert function is not None
    assert function.stack == "func"
    assert function.short_name == "catservice"
    assert function.image == "registry.local:5000/echo:1.0"
    assert function.replicas == 3
    assert function.upstream_host == "tasks.func_catservice"
    assert function.upstream_port == 8081
    assert function.labels["com.docker.stack.namespace"] == "func"
    assert function.env_process is None


@pytest.mark.parametrize(
    "attrs",
    [
        service_attrs("elsewhere", networks=(OTHER_NETWORK_ID,)),
        service_attrs("detached", networks=()),
        service_attrs("gateway", labels={"com.faas.function": "false"}),
        service_attrs("prometheus", labels={"com.faas.function": "False"}, stack="func"),
        service_attrs("migrate", mode={"ReplicatedJob": {"MaxConcurrent": 1}}),
    ],
    ids=["other-network", "no-network", "opted-out", "opted-out-stack", "job"],
)
def test_services_that_are_not_functions(attrs: dict[str, Any]) -> None:
    assert to_function(attrs) is None


def test_network_matched_by_name_and_global_service_counts_one() -> None:
    function = to_function(service_attrs("nodeinfo", networks=("functions",), mode={"Global": {}}))
    assert function is not None
    assert function.replicas == 1


@pytest.mark.parametrize("value", ["http", "0", "70000", "", "-1", "²", "٣", "8" * 5000])
def test_invalid_port_label_falls_back_to_8080(value: str) -> None:
    function = to_function(service_attrs("f", labels={"com.faas.port": value}))
    assert function is not None
    assert function.upstream_port == 8080


# The provider.


def test_initial_sync_keeps_only_functions(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    engine.create_service(service_attrs("catservice"), emit=False)
    engine.create_service(service_attrs("func_echo", stack="func"), emit=False)
    engine.create_service(service_attrs("func_catservice", stack="func"), emit=False)
    engine.create_service(
        service_attrs("func_gateway", stack="func", labels={"com.faas.function": "false"}),
        emit=False,
    )
    engine.create_service(service_attrs("db", networks=(OTHER_NETWORK_ID,)), emit=False)

    provider = start_provider()

    assert provider.status().ready
    assert [f.name for f in provider.functions()] == ["catservice", "func_catservice", "func_echo"]
    assert provider.lookup("echo") == provider.lookup("func_echo") is not None
    # Full names win over short ones, so `catservice` stays the plain service.
    catservice = provider.lookup("catservice")
    assert catservice is not None
    assert catservice.stack is None
    assert provider.lookup("func_gateway") is None
    assert provider.lookup("db") is None


def test_ambiguous_short_name_is_not_found(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    engine.create_service(service_attrs("a_echo", stack="a"), emit=False)
    engine.create_service(service_attrs("b_echo", stack="b"), emit=False)
    provider = start_provider()
    assert provider.lookup("echo") is None
    assert provider.lookup("a_echo") is not None


def test_invalid_port_label_is_logged_once(
    engine: FakeDockerClient, start_provider: StartProvider, caplog: pytest.LogCaptureFixture
) -> None:
    engine.create_service(service_attrs("f", labels={"com.faas.port": "http"}), emit=False)
    caplog.set_level(logging.WARNING, logger="gateway.swarm")
    provider = start_provider(resync_interval=0.01)
    wait_for(lambda: engine.list_calls >= 3)
    function = provider.lookup("f")
    assert function is not None
    assert function.upstream_port == 8080
    assert len([r for r in caplog.records if "com.faas.port" in r.getMessage()]) == 1


def test_a_bad_port_label_does_not_stop_discovery(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    # Issue 15, item 6: `"²".isdigit()` is true and `int("²")` raised during the first sync.
    engine.create_service(service_attrs("a", labels={"com.faas.port": "²"}), emit=False)
    engine.create_service(service_attrs("b", labels={"com.faas.port": "8081"}), emit=False)
    provider = start_provider()
    assert provider.status().ready
    ports = {function.name: function.upstream_port for function in provider.functions()}
    assert ports == {"a": 8080, "b": 8081}


def test_events_create_update_remove(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    provider = start_provider()
    assert provider.functions() == []

    service_id = engine.create_service(service_attrs("func_echo", stack="func"))
    wait_for(lambda: provider.lookup("echo") is not None)

    engine.update_service(service_id, {"Mode": {"Replicated": {"Replicas": 3}}})
    wait_for(lambda: getattr(provider.lookup("echo"), "replicas", None) == 3)

    engine.update_service(service_id, {"Labels": {"com.faas.function": "false"}})
    wait_for(lambda: provider.lookup("echo") is None)

    engine.update_service(service_id, {"Labels": {}})
    wait_for(lambda: provider.lookup("func_echo") is not None)
    engine.remove_service(service_id)
    wait_for(lambda: provider.lookup("func_echo") is None)
    assert engine.list_calls == 1  # events alone, no resync


def test_resync_heals_missed_events(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    provider = start_provider(resync_interval=0.05)
    service_id = engine.create_service(service_attrs("catservice"), emit=False)
    wait_for(lambda: provider.lookup("catservice") is not None)
    engine.remove_service(service_id, emit=False)
    wait_for(lambda: provider.lookup("catservice") is None)


def test_a_refresh_shows_what_no_event_told_yet(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    """Read-your-writes: a management read refreshes first, so a service created (or
    removed) by another process shows at once, before its event or the next resync."""
    provider = start_provider(resync_interval=3600)
    service_id = engine.create_service(service_attrs("catservice"), emit=False)
    assert provider.lookup("catservice") is None
    asyncio.run(provider.refresh())
    assert provider.lookup("catservice") is not None
    engine.remove_service(service_id, emit=False)
    asyncio.run(provider.refresh())
    assert provider.lookup("catservice") is None


def test_a_refresh_without_an_engine_keeps_the_view(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    provider = start_provider(resync_interval=3600)
    engine.create_service(service_attrs("catservice"))
    wait_for(lambda: provider.lookup("catservice") is not None)
    engine.go_down()
    asyncio.run(provider.refresh())  # no error: the view stays as it was
    assert provider.lookup("catservice") is not None


def job_service(function: str, call_id: str) -> dict[str, Any]:
    """A job service as the queue worker creates it (`SwarmJobs`), of `function`."""
    labels = {"com.faas.function": "false", "com.faas.job": "true",
              "com.faas.job.call": call_id, "com.faas.job.function": function,
              "com.faas.job.worker": "worker-1"}  # fmt: skip
    mode = {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    return service_attrs(f"job-{call_id}-{function}", labels=labels, mode=mode)


def test_job_services_are_counted_by_function_from_the_view(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    engine.create_service(service_attrs("heavy", labels={"com.faas.mode": "job"}), emit=False)
    first = engine.create_service(job_service("heavy", "c1"), emit=False)
    engine.create_service(job_service("heavy", "c2"), emit=False)
    provider = start_provider(resync_interval=3600)
    assert provider.running_jobs() == {"heavy": 2}
    assert provider.lookup("job-c1-heavy") is None  # a job is never a function

    engine.remove_service(first)  # the events keep the count
    wait_for(lambda: provider.running_jobs() == {"heavy": 1})
    engine.create_service(job_service("other", "c3"))
    wait_for(lambda: provider.running_jobs() == {"heavy": 1, "other": 1})

    calls = engine.list_calls
    for _ in range(3):
        provider.running_jobs()  # no engine call: read from the view
    assert engine.list_calls == calls
    engine.create_service(job_service("heavy", "c4"), emit=False)  # missed: a refresh sees it
    asyncio.run(provider.refresh())
    assert provider.running_jobs() == {"heavy": 2, "other": 1}


def test_unreachable_engine_then_recovery(
    engine: FakeDockerClient, start_provider: StartProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.swarm")
    engine.go_down()
    provider = start_provider()  # must not raise

    status = provider.status()
    assert not status.ready
    assert status.detail.startswith(f"cannot reach the Docker engine at {ENGINE_URL}: ")
    assert "Connection refused" in status.detail
    assert provider.lookup("catservice") is None

    wait_for(lambda: engine.failed_calls >= 10)  # it keeps retrying...
    unreachable = [r for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(unreachable) == 1  # ...but says so once

    engine.create_service(service_attrs("catservice"), emit=False)
    engine.come_back()
    wait_for(lambda: provider.status().ready)
    wait_for(lambda: provider.lookup("catservice") is not None)
    wait_for(lambda: len(engine.streams) >= 1 and not engine.streams[-1].closed)
    engine.create_service(service_attrs("echo"))
    wait_for(lambda: provider.lookup("echo") is not None)


def test_engine_restart_reconnects_and_resyncs(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    first = engine.create_service(service_attrs("catservice"))
    provider = start_provider()
    assert provider.lookup("catservice") is not None

    engine.go_down()
    wait_for(lambda: not provider.status().ready)
    engine.remove_service(first, emit=False)  # changes while the stream is gone
    engine.create_service(service_attrs("echo"), emit=False)
    engine.come_back()

    wait_for(lambda: provider.lookup("echo") is not None)
    wait_for(lambda: provider.lookup("catservice") is None)
    wait_for(lambda: provider.status().ready)
    wait_for(lambda: len(engine.streams) == 2)
    engine.create_service(service_attrs("after"))
    wait_for(lambda: provider.lookup("after") is not None)


def test_close_without_start_and_twice(engine: FakeDockerClient) -> None:
    provider = SwarmProvider(client=cast(docker.DockerClient, engine))
    asyncio.run(provider.close())
    asyncio.run(provider.close())
    assert engine.streams == []


def test_scale_sends_the_spec_back_unchanged_but_for_the_count(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    # The SDK's service.scale() would fill in defaults that Swarm reads as a new task
    # template, replacing every running task (a scale-down left no replica for seconds).
    attrs = service_attrs("catservice", labels={"team": "a"})
    original = copy.deepcopy(attrs["Spec"])
    service_id = engine.create_service(attrs)
    provider = start_provider()
    wait_for(lambda: provider.lookup("catservice") is not None)
    asyncio.run(provider.scale("catservice", 3))
    [(updated_id, version, fields)] = engine.api_updates
    assert (updated_id, version) == (service_id, attrs["Version"]["Index"])
    assert fields["mode"] == {"Replicated": {"Replicas": 3}}
    assert fields["task_template"] == original["TaskTemplate"]
    assert fields["labels"] == original["Labels"]
    assert fields["endpoint_spec"] == original.get("EndpointSpec")
    wait_for(lambda: getattr(provider.lookup("catservice"), "replicas", None) == 3)


def test_logs_of_replicas_on_other_nodes_come_from_the_service_stream(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    service_id = engine.create_service(service_attrs("catservice"))
    engine.set_tasks(
        [task_attrs(service_id, "running", node_id="othernode", task_id="zb8k06w2m3mbikb7")]
    )
    engine.service_log_output[service_id] = [
        b"2026-11-25T11:32:24.070043848Z com.docker.swarm.task.id=zb8k06w2m3mbikb7 hello\n",
        b"2026-11-25T11:32:25Z com.docker.swarm.task.id=zb8k06w2m3mbikb7 world\n",
    ]
    provider = start_provider()
    wait_for(lambda: provider.lookup("catservice") is not None)
    lines = asyncio.run(provider.logs("catservice", "1795606344.000000000", 10))
    assert [(line.name, line.instance, line.text) for line in lines] == [
        ("catservice", "zb8k06w2m3mb", "hello"),
        ("catservice", "zb8k06w2m3mb", "world"),
    ]
    assert engine.log_calls == [(f"/services/{service_id}/logs", {
        "details": 1, "stdout": 1, "stderr": 1, "timestamps": 1, "tail": 10,
        "since": "1795606344.000000000",
    })]  # fmt: skip
    with pytest.raises(FunctionNotFound):
        asyncio.run(provider.logs("no-such", None, None))


def test_logs_of_replicas_on_the_engines_node_come_from_their_containers(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    # The service stream can send every line and never end (docker/cli#4678): it is not
    # asked at all when every replica runs where the engine can read its container.
    service_id = engine.create_service(service_attrs("catservice"))
    engine.set_tasks([
        task_attrs(service_id, "running", node_id=ENGINE_NODE, task_id="aaaaaaaaaaaa1111",
                   container_id="c1"),
        task_attrs(service_id, "running", node_id=ENGINE_NODE, task_id="bbbbbbbbbbbb2222",
                   container_id="c2"),
        task_attrs(service_id, "shutdown", node_id=ENGINE_NODE, task_id="cccccccccccc3333",
                   container_id="removed"),
        task_attrs(service_id, "pending", task_id="dddddddddddd4444"),  # not placed yet
    ])  # fmt: skip
    engine.container_log_output["c1"] = [
        b"2026-11-25T11:32:24.5Z one\n",
        b"2026-11-25T11:32:26Z three\n",
    ]
    engine.container_log_output["c2"] = [b"2026-11-25T11:32:24.75Z two\n"]
    provider = start_provider()
    wait_for(lambda: provider.lookup("catservice") is not None)
    lines = asyncio.run(provider.logs("catservice", None, None))
    assert [(line.instance, line.text) for line in lines] == [
        ("aaaaaaaaaaaa", "one"), ("bbbbbbbbbbbb", "two"), ("aaaaaaaaaaaa", "three"),
    ]  # fmt: skip
    assert sorted(path for path, _ in engine.log_calls) == [
        "/containers/c1/logs", "/containers/c2/logs", "/containers/removed/logs",
    ]  # fmt: skip
    assert {query["tail"] for _, query in engine.log_calls} == {"all"}


def test_update_state_is_read_from_the_engine(
    engine: FakeDockerClient, start_provider: StartProvider
) -> None:
    engine.create_service(service_attrs("fresh"))
    updating = service_attrs("rolling")
    updating["UpdateStatus"] = {"State": "updating", "Message": "update in progress"}
    engine.create_service(updating)
    provider = start_provider()
    wait_for(lambda: provider.lookup("rolling") is not None)
    assert asyncio.run(provider.update_state("fresh")) == ""
    assert asyncio.run(provider.update_state("rolling")) == "updating"
    with pytest.raises(FunctionNotFound):
        asyncio.run(provider.update_state("no-such"))
