"""Secrets on the real swarm: create one through /system/secrets, deploy a function that
reads it, call it, rotate the value (the function rolls onto it), then remove both; and
a deployment naming a Docker secret the API did not create is refused."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Platform, docker, wait_for

IMAGE = (
    f"{os.environ.get('FUNCTION_IMAGE_PREFIX', 'localhost/faas')}/catservice:"
    f"{os.environ.get('FAAS_TAG', 'latest')}"
)


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """A fresh secret name and function name; whatever is left is removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    secret, function = f"e2e-secret-{suffix}", f"e2e-reader-{suffix}"
    yield secret, function
    docker("service", "rm", function, check=False)
    wait_for(lambda: function not in docker("service", "ls", "--format", "{{.Name}}"),
             f"{function} to be removed")  # fmt: skip
    leftover = docker("secret", "ls", "--filter", f"label=com.faas.secret.name={secret}",
                      "--format", "{{.ID}}").split()  # fmt: skip
    if leftover:
        docker("secret", "rm", *leftover, check=False)


def call(platform: Platform, function: str) -> str:
    reply = httpx.post(f"{platform.gateway_url}/function/{function}", timeout=30)
    return reply.text if reply.status_code == 200 else f"{reply.status_code}: {reply.text}"


def test_a_function_reads_its_secret_and_follows_a_rotation(
    platform: Platform, api: httpx.Client, names: tuple[str, str]
) -> None:
    secret, function = names
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"

    created = api.post("/system/secrets", json={"name": secret, "value": first})
    assert created.status_code == 201, created.text
    listed = api.get("/system/secrets")
    assert {"name": secret} in listed.json()
    assert first not in listed.text
    [inspected] = json.loads(docker("secret", "inspect", secret))
    assert inspected["Spec"]["Labels"]["com.faas.secret"] == "true"

    deployment = {
        "service": function,
        "image": IMAGE,
        "secrets": [secret],
        # Where OpenFaaS mounts it, then where Docker would: the value twice.
        "envProcess": f"cat /var/openfaas/secrets/{secret} /run/secrets/{secret}",
    }
    deployed = api.post("/system/functions", json=deployment)
    assert deployed.status_code == 202, deployed.text
    wait_for(lambda: call(platform, function) == first * 2, f"{function} to read its secret",
             timeout=180)  # fmt: skip

    busy = api.request("DELETE", "/system/secrets", json={"name": secret})
    assert busy.status_code == 409
    assert function in busy.json()["error"]

    updated = api.put("/system/secrets", json={"name": secret, "value": second})
    assert updated.status_code == 200, updated.text
    assert updated.json()["functions"] == [function]
    wait_for(lambda: call(platform, function) == second * 2, f"{function} to read the new value",
             timeout=180)  # fmt: skip
    versions = docker("secret", "ls", "--filter", f"label=com.faas.secret.name={secret}",
                      "--format", "{{.Name}}").split()  # fmt: skip
    assert sorted(versions) == [secret, f"{secret}_2"]  # the one replaced stays for now
    assert [s["name"] for s in api.get("/system/secrets").json()].count(secret) == 1

    removed = api.request("DELETE", "/system/functions", json={"functionName": function})
    assert removed.status_code == 202
    wait_for(lambda: function not in docker("service", "ls", "--format", "{{.Name}}"),
             f"{function} to be removed")  # fmt: skip
    # As OpenFaaS's Go SDK deletes it: the whole secret, value included (ignored).
    whole = {"name": secret, "namespace": "openfaas-fn", "value": "anything"}
    gone = api.request("DELETE", "/system/secrets", json=whole)
    assert gone.status_code == 200, gone.text
    assert {"name": secret} not in api.get("/system/secrets").json()
    assert not docker("secret", "ls", "--filter", f"label=com.faas.secret.name={secret}",
                      "--format", "{{.Name}}").split()  # fmt: skip
    missing = api.request("DELETE", "/system/secrets", json={"name": secret})
    assert missing.status_code == 404


def test_a_docker_secret_the_api_did_not_create_cannot_be_mounted(
    api: httpx.Client, names: tuple[str, str]
) -> None:
    secret, function = names
    subprocess.run(["docker", "secret", "create", secret, "-"], input=b"plain",
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    try:
        assert {"name": secret} not in api.get("/system/secrets").json()
        deployment = {"service": function, "image": IMAGE, "secrets": [secret]}
        refused = api.post("/system/functions", json=deployment)
        assert refused.status_code == 400
        assert (
            f"{secret!r} is a Docker secret the management API did not create"
            in (refused.json()["error"])
        )
        assert api.post("/system/secrets", json={"name": secret, "value": "x"}).status_code == 409
    finally:
        docker("secret", "rm", secret, check=False)
