"""Secrets per namespace on the real swarm (issue 33): the same secret name in two
namespaces holding two values, one function of the same name in each reading its own
(and following a rotation of its own only); a function asking for another namespace's
secret, or the default namespace's, is refused with a 400 naming it.

Namespaces are created with `POST /system/namespace/` (faas-cli's `namespace create`),
functions deployed into one with the body's `namespace` and called at
`/function/<name>.<namespace>`."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import Platform, docker, wait_for

IMAGE = (
    f"{os.environ.get('FUNCTION_IMAGE_PREFIX', 'localhost/faas')}/catservice:"
    f"{os.environ.get('FAAS_TAG', 'latest')}"
)


@dataclass(frozen=True)
class Names:
    """Fresh names for one test: two namespaces, a secret and a function."""

    first: str
    second: str
    secret: str
    function: str


def service_names() -> list[str]:
    return docker("service", "ls", "--format", "{{.Name}}").split()


def gone(service: str) -> Callable[[], bool]:
    """Whether `service` is gone, for `wait_for`."""
    return lambda: service not in service_names()


def reads(platform: Platform, function: str, namespace: str, expected: str) -> Callable[[], bool]:
    """Whether `function` in `namespace` answers `expected`, for `wait_for`."""
    return lambda: call(platform, function, namespace) == expected


@pytest.fixture
def names(api: httpx.Client, platform: Platform) -> Iterator[Names]:
    """Two new namespaces; whatever the test leaves in them is removed afterwards, then
    the namespaces themselves."""
    suffix = uuid.uuid4().hex[:6]
    made = Names(f"e2e-a-{suffix}", f"e2e-b-{suffix}", f"e2e-s-{suffix}", f"e2e-r-{suffix}")
    for namespace in (made.first, made.second):
        created = api.post("/system/namespace/", json={"name": namespace})
        assert created.status_code in (200, 201, 202), created.text
    yield made
    for namespace in (made.first, made.second):
        api.request("DELETE", "/system/functions",
                    json={"functionName": made.function, "namespace": namespace})  # fmt: skip
        wait_for(gone(f"{namespace}_{made.function}"), f"{made.function} in {namespace} to go")
        api.request("DELETE", "/system/secrets", json={"name": made.secret, "namespace": namespace})
        left = docker("secret", "ls", "--filter", f"label=com.faas.namespace={namespace}",
                      "--format", "{{.ID}}").split()  # fmt: skip
        if left:
            docker("secret", "rm", *left, check=False)
        api.request("DELETE", f"/system/namespace/{namespace}", json={"name": namespace})


def call(platform: Platform, function: str, namespace: str) -> str:
    reply = httpx.post(f"{platform.gateway_url}/function/{function}.{namespace}", timeout=30)
    return reply.text if reply.status_code == 200 else f"{reply.status_code}: {reply.text}"


def deployment(function: str, namespace: str, secret: str) -> dict[str, object]:
    """A function that answers its secret's value twice: where OpenFaaS mounts it, then
    where Docker would (the same files whatever the namespace)."""
    return {
        "service": function,
        "image": IMAGE,
        "namespace": namespace,
        "secrets": [secret],
        "envProcess": f"cat /var/openfaas/secrets/{secret} /run/secrets/{secret}",
    }


def test_the_same_secret_name_in_two_namespaces_each_function_reads_its_own(
    platform: Platform, api: httpx.Client, names: Names
) -> None:
    values = {names.first: f"a-{uuid.uuid4().hex}", names.second: f"b-{uuid.uuid4().hex}"}
    for namespace, value in values.items():
        body = {"name": names.secret, "value": value, "namespace": namespace}
        created = api.post("/system/secrets", json=body)
        assert created.status_code == 201, created.text
    for namespace in values:
        listed = api.get("/system/secrets", params={"namespace": namespace})
        assert listed.json() == [{"name": names.secret}], listed.text
        [inspected] = json.loads(docker("secret", "inspect", f"{namespace}_{names.secret}"))
        assert inspected["Spec"]["Labels"]["com.faas.namespace"] == namespace
        assert inspected["Spec"]["Labels"]["com.faas.secret.name"] == names.secret
    assert {"name": names.secret} not in api.get("/system/secrets").json()

    for namespace in values:
        deployed = api.post("/system/functions",
                            json=deployment(names.function, namespace, names.secret))  # fmt: skip
        assert deployed.status_code == 202, deployed.text
    for namespace, value in values.items():
        wait_for(reads(platform, names.function, namespace, value * 2),
                 f"{names.function}.{namespace} to read its own secret", timeout=180)  # fmt: skip

    # A rotation in the first namespace rolls its function only.
    rotated = f"a2-{uuid.uuid4().hex}"
    body = {"name": names.secret, "value": rotated, "namespace": names.first}
    updated = api.put("/system/secrets", json=body)
    assert updated.status_code == 200, updated.text
    assert len(updated.json()["functions"]) == 1, updated.text
    wait_for(lambda: call(platform, names.function, names.first) == rotated * 2,
             f"{names.function}.{names.first} to read the new value", timeout=180)  # fmt: skip
    assert call(platform, names.function, names.second) == values[names.second] * 2

    # Mounted: not removable until the function goes; then the namespace's versions go.
    busy = api.request("DELETE", "/system/secrets",
                       json={"name": names.secret, "namespace": names.first})  # fmt: skip
    assert busy.status_code == 409, busy.text
    removal = {"functionName": names.function, "namespace": names.first}
    removed = api.request("DELETE", "/system/functions", json=removal)
    assert removed.status_code == 202, removed.text
    wait_for(gone(f"{names.first}_{names.function}"), f"{names.function}.{names.first} to go")
    deleted = api.request("DELETE", "/system/secrets",
                          json={"name": names.secret, "namespace": names.first})  # fmt: skip
    assert deleted.status_code == 200, deleted.text
    assert api.get("/system/secrets", params={"namespace": names.first}).json() == []
    assert api.get("/system/secrets", params={"namespace": names.second}).json() == [
        {"name": names.secret}
    ]  # fmt: skip
    assert not docker("secret", "ls", "--filter", f"label=com.faas.namespace={names.first}",
                      "--format", "{{.Name}}").split()  # fmt: skip


def test_a_function_cannot_mount_another_namespaces_secret(api: httpx.Client, names: Names) -> None:
    body = {"name": names.secret, "value": "theirs", "namespace": names.second}
    assert api.post("/system/secrets", json=body).status_code == 201
    refused = api.post("/system/functions",
                       json=deployment(names.function, names.first, names.secret))  # fmt: skip
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert repr(names.secret) in error
    assert repr(names.first) in error
    assert f"{names.first}_{names.function}" not in service_names()

    # Nor the default namespace's: a namespace's function mounts its own only.
    default = f"{names.secret}-d"
    assert api.post("/system/secrets", json={"name": default, "value": "x"}).status_code == 201
    try:
        refused = api.post("/system/functions",
                           json=deployment(names.function, names.first, default))  # fmt: skip
        assert refused.status_code == 400, refused.text
        assert repr(default) in refused.json()["error"]
        assert repr(names.first) in refused.json()["error"]
    finally:
        api.request("DELETE", "/system/secrets", json={"name": default})
