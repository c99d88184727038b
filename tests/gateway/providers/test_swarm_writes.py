"""SwarmProvider's writes (deploy, update, remove, scale) and engine reads, against the fake.

The fake engine runs the installed docker SDK's own model code and checks every
`APIClient` call against the real signatures (see `swarm_fixtures.like_sdk`), so a keyword
the SDK does not take fails here as it would against a real engine. The assertions read
the service spec the engine would store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.api_types.bodies import FunctionDeployment, ResourceSpec
from gateway.errors import (
    BadRequest,
    Conflict,
    FunctionNotFound,
    GatewayError,
    OrchestratorError,
    ProviderUnavailable,
)
from gateway.providers.swarm.discovery import SwarmProvider
from gateway.providers.swarm.management import SwarmManagement
from tests.gateway.providers.swarm_fixtures import (
    FUNCTIONS_NETWORK_ID,
    OTHER_NETWORK_ID,
    FakeDockerClient,
    service_attrs,
    task_attrs,
)
from tests.support import wait_for

MIB = 1024 * 1024
FULL = FunctionDeployment(
    service="hello",
    image="faas/hello:1.0",
    env_process="python3 handler.py",
    env_vars={"GREETING": "hi"},
    labels={"team": "web"},
    annotations={"topic": "greetings"},
    constraints=("node.role==worker",),
    secrets=("api-key",),
    limits=ResourceSpec(cpus=0.5, memory=64 * MIB),
    requests=ResourceSpec(cpus=0.25, memory=32 * MIB),
    read_only_root_filesystem=True,
)
MINIMAL = FunctionDeployment(service="hello", image="faas/hello:2.0")
# What the management API puts on the secrets it creates (POST /system/secrets).
API_SECRET_LABELS = {
    "com.faas.secret": "true",
    "com.faas.secret.name": "api-key",
    "com.faas.secret.version": "1",
}


@pytest.fixture
def engine() -> FakeDockerClient:
    engine = FakeDockerClient()
    engine.create_secret("api-key", API_SECRET_LABELS)
    return engine


def run(operation: Any) -> Any:
    return asyncio.run(operation)


def spec(engine: FakeDockerClient, name: str = "hello") -> dict[str, Any]:
    attrs: dict[str, Any] = engine.service(name)["Spec"]
    return attrs


# The fake itself: what the SDK refuses, it refuses.


def test_the_fake_refuses_keywords_the_sdk_does_not_take(engine: FakeDockerClient) -> None:
    # Keywords built at run time: mypy would rightly refuse them written out.
    def wrong(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    services: Any = engine.services  # the SDK's collections and models are untyped
    with pytest.raises(TypeError):  # not a ServiceCollection.create keyword at all
        services.create("faas/hello:1.0", name="x", **wrong(replica=2))
    with pytest.raises(TypeError):  # forwarded to ContainerSpec, which does not take it
        services.create("faas/hello:1.0", name="x", **wrong(readonly=True))
    with pytest.raises(TypeError):
        engine.api.update_service("id", 1, **wrong(task_templates={}))
    with pytest.raises(TypeError):
        engine.api.info(**wrong(verbose=True))
    engine.create_service(service_attrs("hello"))
    [service] = services.list(filters={"name": "hello"})
    with pytest.raises(TypeError):
        service.update(**wrong(enviroment=["A=1"]))
    assert engine.api_creates == []
    assert engine.api_updates == []


# Deploy.


def test_deploy_sends_every_field_and_nothing_more(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    [secret] = engine.secrets.list(filters={"name": "api-key"})
    assert spec(engine) == {
        "Name": "hello",
        "Labels": {
            "team": "web",
            "com.faas.annotation.topic": "greetings",
            # As written, for the record (the engine gets the numbers below).
            "com.faas.limits.cpu": "0.5",
            "com.faas.limits.memory": "67108864",
            "com.faas.requests.cpu": "0.25",
            "com.faas.requests.memory": "33554432",
            "com.faas.managed": "true",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {"Parallelism": 1, "Order": "start-first", "FailureAction": "rollback"},
        "EndpointSpec": {"Mode": "dnsrr"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "faas/hello:1.0",
                "Env": ["GREETING=hi", "fprocess=python3 handler.py"],
                "ReadOnly": True,
                "Mounts": [{"Target": "/tmp", "Source": "", "Type": "tmpfs", "ReadOnly": False}],
                # Where OpenFaaS mounts it, and where Docker would.
                "Secrets": [
                    {
                        "SecretID": secret.id,
                        "SecretName": "api-key",
                        "File": {
                            "Name": "/var/openfaas/secrets/api-key",
                            "UID": "0",
                            "GID": "0",
                            "Mode": 0o444,
                        },
                    },
                    {
                        "SecretID": secret.id,
                        "SecretName": "api-key",
                        "File": {"Name": "api-key", "UID": "0", "GID": "0", "Mode": 0o444},
                    },
                ],
            },
            "Resources": {
                "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 * MIB},
                "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 32 * MIB},
            },
            "Placement": {"Constraints": ["node.role==worker"]},
            "Networks": [{"Target": FUNCTIONS_NETWORK_ID}],
        },
    }
    # The registry follows the write without waiting for the engine's event.
    wait_for(lambda: provider.lookup("hello") is not None, "hello in the registry")
    function = provider.lookup("hello")
    assert function is not None
    assert (function.image, function.replicas, function.upstream_host) == (
        "faas/hello:1.0",
        1,
        "tasks.hello",
    )
    assert function.env_process == "python3 handler.py"


def test_deploy_without_options_sends_no_limits_mounts_or_secrets(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    sent = spec(engine)
    assert sent["Labels"] == {"com.faas.managed": "true"}
    assert sent["TaskTemplate"]["ContainerSpec"] == {
        "Image": "faas/hello:2.0",
        "Env": [],
        "ReadOnly": False,
        "Mounts": [],
        "Secrets": [],
    }
    # Zero means "none" to the engine: a later update then clears old limits.
    assert sent["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 0, "MemoryBytes": 0},
        "Reservations": {"NanoCPUs": 0, "MemoryBytes": 0},
    }
    assert sent["TaskTemplate"]["Placement"] == {"Constraints": []}


def test_deploy_of_an_existing_name_is_a_conflict(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_service(service_attrs("hello"))
    with pytest.raises(Conflict, match="already exists"):
        run(provider.deploy(MINIMAL))
    assert engine.api_creates == []


def test_deploy_with_an_unknown_secret_is_a_bad_request(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    deployment = FunctionDeployment(service="hello", image="faas/hello:1.0", secrets=("nope",))
    with pytest.raises(BadRequest, match="no secret named 'nope'"):
        run(provider.deploy(deployment))
    assert engine.api_creates == []


def test_deploy_on_a_missing_network_is_an_orchestrator_error(
    provider: SwarmProvider, engine: FakeDockerClient
) -> None:
    other = SwarmProvider(network="elsewhere", client=engine)
    with pytest.raises(OrchestratorError, match="network elsewhere not found"):
        run(other.deploy(MINIMAL))


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, BadRequest), (409, Conflict), (404, OrchestratorError), (500, OrchestratorError)],
)
def test_engine_refusals_map_to_gateway_errors(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    status: int,
    expected: type[GatewayError],
) -> None:
    engine.refuse("create_service", status, "invalid mount config")
    with pytest.raises(expected, match=r"the Docker engine .*invalid mount config") as caught:
        run(provider.deploy(MINIMAL))
    assert type(caught.value) is expected


def test_unreachable_engine_is_provider_unavailable(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    engine.go_down()
    calls = [
        provider.deploy(FULL),
        provider.update(FULL),
        provider.remove("hello"),
        provider.scale("hello", 2),
        provider.logs("hello", None, None),
        provider.update_state("hello"),
    ]
    for call in calls:
        with pytest.raises(ProviderUnavailable, match="cannot reach the Docker engine"):
            run(call)
    engine.come_back()


# Update.


def test_update_replaces_the_definition_and_rolls_start_first(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    before = engine.service("hello")
    run(provider.update(MINIMAL))
    after = engine.service("hello")
    assert after["Version"]["Index"] == before["Version"]["Index"] + 1
    sent = after["Spec"]
    assert sent["Labels"] == {"com.faas.managed": "true"}
    assert sent["TaskTemplate"]["ContainerSpec"] == {
        "Image": "faas/hello:2.0",
        "Env": [],
        "ReadOnly": False,
        "Mounts": [],
        "Secrets": [],
        # The engine's defaults, from the current spec the SDK fetches for an update.
        "StopGracePeriod": 10_000_000_000,
        "DNSConfig": {},
        "Isolation": "default",
    }
    assert sent["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 0, "MemoryBytes": 0},
        "Reservations": {"NanoCPUs": 0, "MemoryBytes": 0},
    }
    assert sent["TaskTemplate"]["Placement"] == {"Constraints": []}
    assert sent["TaskTemplate"]["Networks"] == [{"Target": FUNCTIONS_NETWORK_ID}]
    # Forced: the tasks roll even when nothing but a `:latest` image changed.
    assert sent["TaskTemplate"]["ForceUpdate"] == 1
    assert sent["UpdateConfig"] == {
        "Parallelism": 1,
        "Order": "start-first",
        "FailureAction": "rollback",
    }
    assert (sent["Mode"], sent["EndpointSpec"]) == (before["Spec"]["Mode"], {"Mode": "dnsrr"})
    run(provider.update(FULL))
    assert spec(engine)["TaskTemplate"]["ForceUpdate"] == 2
    assert spec(engine)["Labels"] == before["Spec"]["Labels"]
    wait_for(
        lambda: getattr(provider.lookup("hello"), "image", None) == "faas/hello:1.0",
        "the registry to show the updated image",
    )


def test_update_keeps_the_replica_count(engine: FakeDockerClient, provider: SwarmProvider) -> None:
    run(provider.deploy(MINIMAL))
    run(provider.scale("hello", 3))
    run(provider.update(FULL))
    assert spec(engine)["Mode"] == {"Replicated": {"Replicas": 3}}


@pytest.mark.parametrize("label", ["com.faas.scale.min", "com.openfaas.scale.min"])
def test_deploy_with_a_min_label_starts_that_many_replicas(
    engine: FakeDockerClient, provider: SwarmProvider, label: str
) -> None:
    run(provider.deploy(FunctionDeployment(service="hello", image="x:1", labels={label: "2"})))
    assert spec(engine)["Mode"] == {"Replicated": {"Replicas": 2}}
    assert getattr(provider.lookup("hello"), "replicas", None) == 2  # read back at once


def test_update_with_a_min_label_raises_the_replicas_only(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    with_min = FunctionDeployment(service="hello", image="x:2", labels={"com.faas.scale.min": "2"})
    run(provider.update(with_min))
    assert spec(engine)["Mode"] == {"Replicated": {"Replicas": 2}}
    run(provider.scale("hello", 4))
    run(provider.update(with_min))
    assert spec(engine)["Mode"] == {"Replicated": {"Replicas": 4}}
    run(provider.scale("hello", 0))  # asleep: its next call wakes it
    run(provider.update(with_min))
    assert spec(engine)["Mode"] == {"Replicated": {"Replicas": 0}}


def test_update_refuses_services_not_deployed_through_the_api(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_service(service_attrs("hello", stack="func"))
    wait_for(lambda: provider.lookup("hello") is not None, "hello in the registry")
    with pytest.raises(Conflict, match="not deployed through the management API"):
        run(provider.update(MINIMAL))
    assert engine.api_updates == []


@pytest.mark.parametrize(
    "attrs",
    [
        service_attrs("hello", labels={"com.faas.function": "false"}),
        service_attrs("hello", networks=(OTHER_NETWORK_ID,)),
    ],
    ids=["opted-out", "other-network"],
)
def test_writes_never_touch_services_that_are_not_functions(
    engine: FakeDockerClient, provider: SwarmProvider, attrs: dict[str, Any]
) -> None:
    attrs["Spec"]["Labels"]["com.faas.managed"] = "true"
    engine.create_service(attrs)
    for call in [
        provider.update(MINIMAL),
        provider.remove("hello"),
        provider.scale("hello", 2),
        provider.logs("hello", None, None),
        provider.update_state("hello"),
    ]:
        with pytest.raises(FunctionNotFound):
            run(call)
    assert (engine.api_updates, engine.api_removes, engine.log_calls) == ([], [], [])


def test_update_of_an_unknown_function_is_not_found(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    with pytest.raises(FunctionNotFound):
        run(provider.update(MINIMAL))
    assert engine.api_updates == []


# Scale.


def test_scale_changes_only_the_count_of_a_deployed_function(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    # Any other change to the task template (even a default filled in) would make Swarm
    # replace every running task; a scale-down then left no replica for seconds.
    run(provider.deploy(FULL))
    before = engine.service("hello")
    run(provider.scale("hello", 0))
    after = engine.service("hello")
    expected = {**before["Spec"], "Mode": {"Replicated": {"Replicas": 0}}}
    assert after["Spec"] == expected
    [(_, version, fields)] = engine.api_updates
    assert version == before["Version"]["Index"]
    assert fields["task_template"] == before["Spec"]["TaskTemplate"]
    wait_for(
        lambda: getattr(provider.lookup("hello"), "replicas", None) == 0,
        "the registry to show 0 replicas",
    )


def test_scale_by_short_name_of_a_stack_service(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    service_id = engine.create_service(service_attrs("func_cat", stack="func"))
    wait_for(lambda: provider.lookup("cat") is not None, "cat in the registry")
    run(provider.scale("cat", 2))
    [(updated_id, _, fields)] = engine.api_updates
    assert updated_id == service_id
    assert fields["mode"] == {"Replicated": {"Replicas": 2}}


def test_writes_find_a_function_by_short_name_past_a_service_that_is_not_one(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    # A non-function named `cat` must not hide `func_cat`, which routing calls `cat`: the
    # API acts on the function a call to `cat` reaches (issue 15, item 12: one rule).
    engine.create_service(service_attrs("cat", labels={"com.faas.function": "false"}))
    service_id = engine.create_service(service_attrs("func_cat", stack="func"))
    wait_for(lambda: provider.lookup("cat") is not None, "func_cat in the registry")
    run(provider.scale("cat", 2))
    run(provider.remove("cat"))
    [(updated_id, _, fields)] = engine.api_updates
    assert (updated_id, fields["mode"]) == (service_id, {"Replicated": {"Replicas": 2}})
    assert engine.api_removes == [service_id]


def test_scale_refuses_global_services_and_unknown_names(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_service(service_attrs("everywhere", mode={"Global": {}}))
    wait_for(lambda: provider.lookup("everywhere") is not None, "everywhere in the registry")
    with pytest.raises(BadRequest, match="global service"):
        run(provider.scale("everywhere", 2))
    with pytest.raises(FunctionNotFound):
        run(provider.scale("nope", 2))
    assert engine.api_updates == []


def test_scale_out_of_sequence_is_an_orchestrator_error(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    engine.refuse("update_service", 500, "update out of sequence")
    with pytest.raises(OrchestratorError, match="update out of sequence"):
        run(provider.scale("hello", 2))


# Remove.


def test_remove_deletes_the_service_and_the_registry_entry(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    service_id = engine.service("hello")["ID"]
    wait_for(lambda: provider.lookup("hello") is not None, "hello in the registry")
    run(provider.remove("hello"))
    assert engine.api_removes == [service_id]
    assert engine.services.list() == []
    wait_for(lambda: provider.lookup("hello") is None, "hello gone from the registry")


def test_remove_of_an_unknown_function_is_not_found(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    with pytest.raises(FunctionNotFound, match="'nope' not found"):
        run(provider.remove("nope"))
    assert engine.api_removes == []


def test_remove_racing_another_remove_is_not_found(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    engine.refuse("remove_service", 404, "service hello not found")
    with pytest.raises(FunctionNotFound, match="'hello' not found"):
        run(provider.remove("hello"))


def test_remove_refused_by_the_engine_is_an_orchestrator_error(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(MINIMAL))
    engine.refuse("remove_service", 500, "raft: not the leader")
    with pytest.raises(OrchestratorError, match="raft: not the leader"):
        run(provider.remove("hello"))
    assert engine.service("hello")["Spec"]["Name"] == "hello"


# Reads through the same lookup: logs and update state.


def test_logs_default_to_the_whole_log(engine: FakeDockerClient, provider: SwarmProvider) -> None:
    run(provider.deploy(MINIMAL))
    service_id = engine.service("hello")["ID"]
    engine.set_tasks([task_attrs(service_id, "running", node_id="othernode")])
    assert run(provider.logs("hello", None, None)) == []
    [(_, options)] = engine.log_calls
    assert options["tail"] == "all"
    assert "since" not in options


@pytest.mark.parametrize(
    ("status", "engine_words"),
    [
        (500, "logs not supported by the journald driver"),
        # What an absurd `since` got back before the API bounded it: the engine's 400 is
        # not the client's to act on once the query has passed the API's own checks.
        (400, "proto: timestamp: seconds:253402351199 after 10000-01-01"),
        (404, "task zb8k06w2m3mb not found"),
    ],
)
def test_logs_refused_by_the_engine_are_a_502_in_our_words(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    caplog: pytest.LogCaptureFixture,
    status: int,
    engine_words: str,
) -> None:
    run(provider.deploy(MINIMAL))
    service_id = engine.service("hello")["ID"]
    engine.set_tasks([task_attrs(service_id, "running", node_id="othernode")])
    engine.refuse("service_logs", status, engine_words)
    with pytest.raises(OrchestratorError) as raised:
        run(provider.logs("hello", None, None))
    assert type(raised.value) is OrchestratorError
    assert raised.value.message == (
        "the Docker engine failed to read the logs of 'hello' (the gateway's log says why)"
    )
    [logged] = [r.getMessage() for r in caplog.records if "logs of 'hello'" in r.getMessage()]
    assert engine_words in logged


def test_logs_from_an_engine_out_of_reach_say_so_in_our_words(
    engine: FakeDockerClient, provider: SwarmProvider, caplog: pytest.LogCaptureFixture
) -> None:
    run(provider.deploy(MINIMAL))
    engine.go_down()
    with pytest.raises(ProviderUnavailable) as raised:
        run(provider.logs("hello", None, None))
    assert raised.value.message == (
        "cannot reach the Docker engine to read the logs of 'hello' (the gateway's log says why)"
    )
    [logged] = [r.getMessage() for r in caplog.records if "logs of 'hello'" in r.getMessage()]
    assert "Connection refused" in logged


def test_update_state_follows_the_update(engine: FakeDockerClient, provider: SwarmProvider) -> None:
    run(provider.deploy(MINIMAL))
    assert run(provider.update_state("hello")) == ""
    service_id = engine.service("hello")["ID"]
    engine.set_update_status(service_id, "rollback_completed")
    assert run(provider.update_state("hello")) == "rollback_completed"


# Versions (docs/versions.md): a version is its own service; the weights are labels of the
# function's own service, written in one compare-and-swap update.

V2 = FunctionDeployment(
    service="hello", image="faas/hello:2.0", env_vars={"COLOR": "green"}, version="v2"
)


def test_deploying_a_version_creates_its_own_service_and_leaves_the_first_alone(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    first = engine.service("hello")
    run(provider.deploy(V2))
    assert [create["name"] for create in engine.api_creates] == ["hello", "hello-v2"]
    v2 = spec(engine, "hello-v2")
    assert v2["Labels"]["com.faas.function.name"] == "hello"
    assert v2["Labels"]["com.faas.function.version"] == "v2"
    assert v2["TaskTemplate"]["ContainerSpec"]["Image"] == "faas/hello:2.0"
    assert v2["TaskTemplate"]["ContainerSpec"]["Env"] == ["COLOR=green"]
    assert v2["TaskTemplate"]["Networks"] == [{"Target": FUNCTIONS_NETWORK_ID}]
    # Weight 0 (the default): no write to the function's own service at all.
    assert engine.api_updates == []
    assert engine.service("hello") == first
    wait_for(lambda: provider.lookup("hello@v2") is not None, "the version in the registry")
    hello = provider.lookup("hello")
    assert hello is not None
    assert hello.traffic is not None
    assert hello.traffic.weights == {"v1": 100, "v2": 0}


def test_deploying_a_version_with_a_weight_writes_the_labels_only(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    before = engine.service("hello")
    run(provider.deploy(V2.model_copy(update={"weight": 10})))
    [(service_id, version, _)] = engine.api_updates
    assert (service_id, version) == (before["ID"], before["Version"]["Index"])
    after = engine.service("hello")
    assert after["Spec"]["Labels"] == {
        **before["Spec"]["Labels"],
        "com.faas.traffic": "v1=90,v2=10",
    }
    # Everything else of the spec is sent back as it was: the tasks keep running.
    assert {k: v for k, v in after["Spec"].items() if k != "Labels"} == {
        k: v for k, v in before["Spec"].items() if k != "Labels"
    }
    assert after["Version"]["Index"] == before["Version"]["Index"] + 1


def test_set_traffic_keeps_the_weights_it_replaces_and_the_canary(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    run(provider.deploy(V2))
    wait_for(lambda: provider.lookup("hello@v2") is not None, "the version in the registry")
    run(provider.set_traffic("hello", {"v1": 90, "v2": 10}, canary='{"to": "v2"}'))
    labels = spec(engine)["Labels"]
    assert labels["com.faas.traffic"] == "v1=90,v2=10"
    assert labels["com.faas.canary"] == '{"to": "v2"}'
    assert "com.faas.traffic.previous" not in labels  # no weights label before
    run(provider.set_traffic("hello", {"v1": 50, "v2": 50}))
    labels = spec(engine)["Labels"]
    assert labels["com.faas.traffic"] == "v1=50,v2=50"
    assert labels["com.faas.traffic.previous"] == "v1=90,v2=10"
    assert "com.faas.canary" not in labels  # None: the canary ends


def test_set_traffic_retries_when_another_writer_changed_the_service_meanwhile(
    engine: FakeDockerClient, provider: SwarmProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(provider.deploy(FULL))
    run(provider.deploy(V2))
    wait_for(lambda: provider.lookup("hello@v2") is not None, "the version in the registry")
    read = SwarmManagement._function_service
    raced: list[int] = []

    def read_then_race(self: SwarmManagement, client: Any, name: str) -> Any:
        service = read(self, client, name)
        if not raced:  # another gateway scales it between our read and our write
            raced.append(service.version)
            services: Any = engine.services  # the SDK's collections and models are untyped
            other = services.get(service.id)
            other.scale(3)
        return service

    monkeypatch.setattr(SwarmManagement, "_function_service", read_then_race)
    run(provider.set_traffic("hello", {"v1": 90, "v2": 10}))
    stale, fresh = [version for _, version, fields in engine.api_updates if "labels" in fields]
    assert stale == raced[0]
    assert fresh == stale + 1  # read again after the engine refused the stale version
    after = spec(engine)
    assert after["Labels"]["com.faas.traffic"] == "v1=90,v2=10"
    assert after["Mode"] == {"Replicated": {"Replicas": 3}}  # the other write is kept


def test_set_traffic_gives_up_after_repeated_conflicts(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.deploy(FULL))
    for _ in range(5):
        engine.refuse(
            "update_service", 500, "rpc error: code = Unknown desc = update out of sequence"
        )
    with pytest.raises(OrchestratorError, match="out of sequence"):
        run(provider.set_traffic("hello", {"v1": 100}))
    assert "com.faas.traffic" not in spec(engine).get("Labels", {})
