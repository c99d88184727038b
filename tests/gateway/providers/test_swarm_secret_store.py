"""SwarmProvider's secrets (list, create, rotate, remove) and the deploy-time allow-list,
against the fake engine (every `APIClient` call checked against the SDK's signature)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from gateway.api_types.bodies import MAX_SECRET_NAME_LENGTH, FunctionDeployment
from gateway.errors import BadRequest, Conflict, ProviderUnavailable, SecretNotFound
from gateway.namespaces import NamespaceRecord
from gateway.providers.swarm.discovery import SwarmProvider
from gateway.providers.swarm.secret_store import namespace_secret_names
from tests.gateway.providers.swarm_fixtures import FakeDockerClient, service_attrs
from tests.support import wait_for

OPENFAAS_PATH = "/var/openfaas/secrets/api-key"


def run(operation: Any) -> Any:
    return asyncio.run(operation)


def mounts(engine: FakeDockerClient, service: str) -> list[tuple[str, str]]:
    """(Docker secret name, file) of every secret the service mounts."""
    container = engine.service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    return [(ref["SecretName"], ref["File"]["Name"]) for ref in container.get("Secrets") or []]


def deploy(provider: SwarmProvider, name: str = "hello", *secrets: str) -> None:
    run(provider.deploy(FunctionDeployment(service=name, image="faas/hello:1", secrets=secrets)))


def test_create_labels_the_docker_secret_as_the_apis_and_lists_only_those(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    engine.create_secret("faas-basic-auth-password")  # the stack's own: never listed
    engine.create_secret("someone-elses", {"com.faas.secret.name": "x"})  # not the owner label
    run(provider.create_secret("api-key", b"s3cret"))
    created = engine.secret("api-key")
    assert created["Spec"]["Labels"] == {
        "com.faas.secret": "true",
        "com.faas.secret.name": "api-key",
        "com.faas.secret.version": "1",
    }
    assert engine.secret_data[created["ID"]] == b"s3cret"
    run(provider.create_secret("db-password", b"\x00\xffbinary"))
    assert run(provider.secret_names()) == ["api-key", "db-password"]


def test_create_of_an_existing_name_is_a_conflict(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    with pytest.raises(Conflict, match="already exists"):
        run(provider.create_secret("api-key", b"two"))
    engine.create_secret("theirs")  # made with `docker secret create`
    with pytest.raises(Conflict, match="did not create"):
        run(provider.create_secret("theirs", b"two"))
    assert engine.secret_names() == ["api-key", "theirs"]


def test_deploy_mounts_an_api_secret_where_openfaas_and_docker_do(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    deploy(provider, "hello", "api-key")
    assert mounts(engine, "hello") == [("api-key", OPENFAAS_PATH), ("api-key", "api-key")]


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, "no secret named 'api-key': create it first"),
        ({}, "'api-key' is a Docker secret the management API did not create"),
        # A label alone names nothing: the owner label is what counts.
        ({"com.faas.secret.name": "api-key", "com.faas.secret.version": "1"}, "did not create"),
    ],
)
def test_deploy_refuses_a_secret_the_api_does_not_own(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    existing: dict[str, str] | None,
    expected: str,
) -> None:
    if existing is not None:
        engine.create_secret("api-key", existing)
    with pytest.raises(BadRequest, match=f"^secrets: .*{expected}"):
        deploy(provider, "hello", "api-key")
    assert engine.api_creates == []


def test_update_rotates_onto_a_new_version_and_rolls_the_functions_that_mount_it(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    run(provider.create_secret("other", b"x"))
    deploy(provider, "hello", "api-key", "other")
    deploy(provider, "world", "api-key")
    deploy(provider, "plain")
    before = {name: engine.service(name) for name in ("hello", "world", "plain")}

    rolled = run(provider.update_secret("api-key", b"two"))

    assert rolled == ["hello", "world"]
    second = engine.secret("api-key_2")
    assert second["Spec"]["Labels"]["com.faas.secret.version"] == "2"
    assert engine.secret_data[second["ID"]] == b"two"
    assert mounts(engine, "hello") == [
        ("api-key_2", OPENFAAS_PATH), ("api-key_2", "api-key"),
        ("other", "/var/openfaas/secrets/other"), ("other", "other"),
    ]  # fmt: skip
    assert mounts(engine, "world") == [("api-key_2", OPENFAAS_PATH), ("api-key_2", "api-key")]
    # Only the secrets changed: the rest of each spec goes back as it was read.
    for name in ("hello", "world"):
        after = engine.service(name)
        assert after["Version"]["Index"] == before[name]["Version"]["Index"] + 1
        for spec in (after["Spec"], before[name]["Spec"]):
            spec["TaskTemplate"]["ContainerSpec"].pop("Secrets")
        assert after["Spec"] == before[name]["Spec"]
        assert after["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert engine.service("plain") == before["plain"]
    # The version replaced stays (draining replicas, a rollback); the list shows one name.
    assert engine.secret_names() == ["api-key", "api-key_2", "other"]
    assert run(provider.secret_names()) == ["api-key", "other"]

    run(provider.update_secret("api-key", b"three"))
    assert engine.secret_names() == ["api-key_2", "api-key_3", "other"]
    assert mounts(engine, "world")[0] == ("api-key_3", OPENFAAS_PATH)
    # A new deployment mounts the newest version.
    deploy(provider, "late", "api-key")
    assert mounts(engine, "late")[0] == ("api-key_3", OPENFAAS_PATH)


def test_update_retries_a_service_that_changed_in_between(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    deploy(provider, "hello", "api-key")
    engine.refuse("update_service", 500, "rpc error: code = Unknown desc = update out of sequence")
    assert run(provider.update_secret("api-key", b"two")) == ["hello"]
    assert mounts(engine, "hello")[0] == ("api-key_2", OPENFAAS_PATH)


def test_update_also_rolls_a_function_deployed_while_it_rolled(
    engine: FakeDockerClient, provider: SwarmProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review 1, finding 10: a deploy that read the versions before the new one existed
    # and created its service after the roll had listed the services kept the old value.
    run(provider.create_secret("api-key", b"one"))
    deploy(provider, "hello", "api-key")
    version_1 = engine.secret("api-key")["ID"]
    listed: Callable[..., Any] = engine.api.services
    late: list[str] = []

    def services(*args: Any, **kwargs: Any) -> Any:
        found = listed(*args, **kwargs)
        if not late and "api-key_2" in engine.secret_names():
            attrs = service_attrs("late")
            attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"] = [
                {"SecretID": version_1, "SecretName": "api-key", "File": {"Name": name}}
                for name in (OPENFAAS_PATH, "api-key")
            ]
            late.append(engine.create_service(attrs))
        return found

    monkeypatch.setattr(engine.api, "services", services)
    assert run(provider.update_secret("api-key", b"two")) == ["hello", "late"]
    assert late
    assert mounts(engine, "late") == [("api-key_2", OPENFAAS_PATH), ("api-key_2", "api-key")]


def test_update_leaves_services_that_are_not_functions_alone(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    [secret_id] = [engine.secret("api-key")["ID"]]
    attrs = service_attrs("db", networks=())
    attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"] = [
        {"SecretID": secret_id, "SecretName": "api-key", "File": {"Name": "api-key"}}
    ]
    engine.create_service(attrs)
    assert run(provider.update_secret("api-key", b"two")) == []
    assert mounts(engine, "db") == [("api-key", "api-key")]
    run(provider.update_secret("api-key", b"three"))  # version 1 is still in use: kept
    assert engine.secret_names() == ["api-key", "api-key_2", "api-key_3"]


def test_update_and_remove_of_an_unknown_secret_are_not_found(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    with pytest.raises(SecretNotFound, match=r"secret 'nope' not found$"):
        run(provider.update_secret("nope", b"x"))
    engine.create_secret("theirs")
    with pytest.raises(SecretNotFound, match="not the API's"):
        run(provider.remove_secret("theirs"))
    assert engine.secret_names() == ["theirs"]


def test_remove_deletes_every_version_once_no_function_mounts_it(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    deploy(provider, "hello", "api-key")
    run(provider.update_secret("api-key", b"two"))
    with pytest.raises(Conflict, match="mounted by 'hello'"):
        run(provider.remove_secret("api-key"))
    assert engine.secret_names() == ["api-key", "api-key_2"]
    run(provider.remove("hello"))
    run(provider.remove_secret("api-key"))
    assert engine.secret_names() == []
    assert run(provider.secret_names()) == []


def test_an_unreachable_engine_is_unavailable(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    wait_for(lambda: provider.status().ready, "the first sync")
    engine.go_down()
    with pytest.raises(ProviderUnavailable, match="cannot reach the Docker engine"):
        run(provider.secret_names())


# Namespaces (docs/_ns_secrets.md): `<ns>_<name>`, labelled `com.faas.namespace=<ns>`.

DEV_LABELS = {
    "com.faas.secret": "true",
    "com.faas.secret.name": "api-key",
    "com.faas.secret.version": "1",
    "com.faas.namespace": "dev",
}


def deploy_in(provider: SwarmProvider, namespace: str | None, name: str, *secrets: str) -> None:
    """Deploy into `namespace` (its network made first): the service `<namespace>_<name>`."""
    if namespace and namespace not in provider.namespace_names():
        run(provider.create_namespace(NamespaceRecord(namespace)))
    deployment = FunctionDeployment(
        service=name, image="faas/hello:1", namespace=namespace, secrets=secrets
    )
    run(provider.deploy(deployment))


def test_a_namespaced_secret_is_prefixed_labelled_and_listed_only_in_its_namespace(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"default"))
    run(provider.create_secret("api-key", b"dev", "dev"))  # the same name: independent
    run(provider.create_secret("only-dev", b"x", namespace="dev"))
    run(provider.create_secret("api-key", b"prod", "prod"))
    # The default namespace's secrets keep their names and labels exactly.
    assert engine.secret("api-key")["Spec"]["Labels"] == {
        key: value for key, value in DEV_LABELS.items() if key != "com.faas.namespace"
    }
    dev = engine.secret("dev_api-key")
    assert dev["Spec"]["Labels"] == DEV_LABELS
    assert engine.secret_data[dev["ID"]] == b"dev"
    assert engine.secret_data[engine.secret("api-key")["ID"]] == b"default"
    assert run(provider.secret_names()) == ["api-key"]
    assert run(provider.secret_names("dev")) == ["api-key", "only-dev"]
    assert run(provider.secret_names("prod")) == ["api-key"]
    assert run(provider.secret_names("empty")) == []
    assert namespace_secret_names(engine, "dev") == ["api-key", "only-dev"]
    assert namespace_secret_names(engine, "empty") == []


def test_create_in_a_namespace_conflicts_only_there(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one", "dev"))
    with pytest.raises(Conflict, match="'api-key' already exists in namespace 'dev'"):
        run(provider.create_secret("api-key", b"two", "dev"))
    engine.create_secret("dev_theirs")  # made with `docker secret create`
    with pytest.raises(Conflict, match="'dev_theirs' exists that the management API did not"):
        run(provider.create_secret("theirs", b"two", "dev"))
    run(provider.create_secret("theirs", b"two"))  # in the default namespace: another name
    assert engine.secret_names() == ["dev_api-key", "dev_theirs", "theirs"]


def test_a_name_too_long_for_its_namespace_is_refused_before_the_engine(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    namespace = "n" * 30
    longest = "a" * (MAX_SECRET_NAME_LENGTH - len(namespace) - 1)
    with pytest.raises(BadRequest, match=f"at most {len(longest)} characters in namespace"):
        run(provider.create_secret(longest + "a", b"x", namespace))
    assert engine.secret_names() == []
    run(provider.create_secret(longest, b"x", namespace))
    # Its versions' names still fit in Docker's 64 characters.
    for _ in range(3):
        run(provider.update_secret(longest, b"y", namespace))
    assert run(provider.secret_names(namespace)) == [longest]


def test_a_namespaced_function_mounts_its_namespaces_secret_at_the_usual_files(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"default"))
    run(provider.create_secret("api-key", b"dev", "dev"))
    deploy(provider, "hello", "api-key")
    deploy_in(provider, "dev", "hello", "api-key")
    assert mounts(engine, "hello") == [("api-key", OPENFAAS_PATH), ("api-key", "api-key")]
    assert mounts(engine, "dev_hello") == [
        ("dev_api-key", OPENFAAS_PATH), ("dev_api-key", "api-key")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("holder", "function_namespace", "expected"),
    [
        (None, "dev", "is not in namespace 'dev' (only in the default namespace)"),
        ("prod", "dev", "is not in namespace 'dev' (only in namespace 'prod')"),
        ("dev", None, "is not in the default namespace (only in namespace 'dev')"),
        ("other", "other-2", "is not in namespace 'other-2' (only in namespace 'other')"),
    ],
)
def test_a_function_cannot_mount_another_namespaces_secret(
    engine: FakeDockerClient,
    provider: SwarmProvider,
    holder: str | None,
    function_namespace: str | None,
    expected: str,
) -> None:
    run(provider.create_secret("api-key", b"theirs", holder))
    with pytest.raises(BadRequest, match="^" + re.escape(f"secrets: secret 'api-key' {expected}")):
        deploy_in(provider, function_namespace, "hello", "api-key")
    assert engine.api_creates == []


def test_a_namespaced_function_asking_for_a_missing_secret_is_told_where_to_make_it(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    with pytest.raises(BadRequest, match=r"^secrets: no secret named 'api-key' in namespace 'dev'"):
        deploy_in(provider, "dev", "hello", "api-key")
    engine.create_secret("dev_api-key")  # `docker secret create`: not the API's
    with pytest.raises(BadRequest, match="'dev_api-key' is a Docker secret the management"):
        deploy_in(provider, "dev", "hello", "api-key")


def test_rotation_in_a_namespace_rolls_only_that_namespaces_functions(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    run(provider.create_secret("api-key", b"one", "dev"))
    deploy(provider, "hello", "api-key")
    deploy_in(provider, "dev", "hello", "api-key")
    default_before = engine.service("hello")

    assert run(provider.update_secret("api-key", b"two", "dev")) == ["dev_hello"]
    second = engine.secret("dev_api-key_2")
    assert second["Spec"]["Labels"] == {**DEV_LABELS, "com.faas.secret.version": "2"}
    assert engine.secret_data[second["ID"]] == b"two"
    assert mounts(engine, "dev_hello") == [
        ("dev_api-key_2", OPENFAAS_PATH), ("dev_api-key_2", "api-key")
    ]  # fmt: skip
    assert engine.service("hello") == default_before
    assert run(provider.secret_names("dev")) == ["api-key"]

    assert run(provider.update_secret("api-key", b"three")) == ["hello"]
    assert mounts(engine, "dev_hello")[0] == ("dev_api-key_2", OPENFAAS_PATH)
    run(provider.update_secret("api-key", b"three", "dev"))
    assert engine.secret_names() == ["api-key", "api-key_2", "dev_api-key_2", "dev_api-key_3"]


def test_update_and_remove_in_a_namespace_find_only_its_secrets(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    run(provider.create_secret("api-key", b"one"))
    for operation in (provider.update_secret("api-key", b"x", "dev"),
                      provider.remove_secret("api-key", "dev")):  # fmt: skip
        with pytest.raises(SecretNotFound, match=r"'api-key' not found \(in namespace 'dev'\)$"):
            run(operation)
    run(provider.create_secret("api-key", b"one", "dev"))
    deploy_in(provider, "dev", "hello", "api-key")
    with pytest.raises(Conflict, match="mounted by 'dev_hello'"):
        run(provider.remove_secret("api-key", "dev"))
    run(provider.remove_secret("api-key"))  # the default's: no function mounts that one
    assert engine.secret_names() == ["dev_api-key"]
    run(provider.remove("hello.dev"))
    run(provider.remove_secret("api-key", "dev"))
    assert engine.secret_names() == []


def test_a_new_version_skips_a_docker_name_another_namespaces_secret_holds(
    engine: FakeDockerClient, provider: SwarmProvider
) -> None:
    # `dev_2` is both version 2 of the default namespace's `dev` and namespace dev's `2`.
    run(provider.create_secret("dev", b"one"))
    run(provider.create_secret("2", b"theirs", "dev"))
    run(provider.create_secret("5", b"theirs too", "dev"))
    run(provider.update_secret("dev", b"two"))
    third = engine.secret("dev_3")
    assert third["Spec"]["Labels"]["com.faas.secret.version"] == "3"
    assert engine.secret_data[third["ID"]] == b"two"
    assert engine.secret_data[engine.secret("dev_2")["ID"]] == b"theirs"
    assert run(provider.secret_names()) == ["dev"]
    assert run(provider.secret_names("dev")) == ["2", "5"]
    with pytest.raises(Conflict, match="'dev_3' of secret '3' in namespace 'dev' is a version"):
        run(provider.create_secret("3", b"x", "dev"))
    run(provider.update_secret("dev", b"four"))  # version 1 goes; the oldest is now dev_3
    run(provider.update_secret("dev", b"six"))
    assert engine.secret_names() == ["dev_2", "dev_4", "dev_5", "dev_6"]
    assert engine.secret_data[engine.secret("dev_5")["ID"]] == b"theirs too"
    deploy(provider, "hello", "dev")
    assert mounts(engine, "hello")[0] == ("dev_6", "/var/openfaas/secrets/dev")
