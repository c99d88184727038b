"""Namespaces as objects on the real swarm, driven by the real faas-cli: two created
(a config and an overlay network each), read, updated, listed, one removed with its
network; a namespace limited to one function refuses a second deploy with 403.

The limit needs functions deployed into a namespace to carry it (function scoping)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    FUNCTIONS_NETWORK,
    Platform,
    credentials,
    docker,
    logged_in_faas_cli,
    wait_for,
)

IMAGE = (
    f"{os.environ.get('FUNCTION_IMAGE_PREFIX', 'localhost/faas')}/catservice:"
    f"{os.environ.get('FAAS_TAG', 'latest')}"
)
FaasCli = Callable[..., str]

pytestmark = pytest.mark.swarm


@pytest.fixture
def namespaces(platform: Platform) -> Iterator[tuple[str, str]]:
    """Two fresh namespace names; what is left of them is removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    made = (f"e2e-a-{suffix}", f"e2e-b-{suffix}")
    yield made
    for namespace in made:
        for service in docker("service", "ls", "--filter", f"label=com.faas.namespace={namespace}",
                              "--format", "{{.Name}}").split():  # fmt: skip
            docker("service", "rm", service, check=False)
        docker("config", "rm", f"faas-namespace-{namespace}", check=False)
        docker("network", "rm", f"{FUNCTIONS_NETWORK}-{namespace}", check=False)


@pytest.fixture
def cli(platform: Platform, tmp_path: Path) -> FaasCli:
    faas = logged_in_faas_cli(platform.gateway_url, tmp_path, config=tmp_path)

    def run(*args: str, stdin: str = "", ok: bool = True) -> str:
        done = faas(*args, stdin=stdin)
        if ok:
            assert done.returncode == 0, f"faas-cli {args}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    return run


def test_namespaces_created_read_updated_listed_and_removed_with_faas_cli(
    cli: FaasCli, namespaces: tuple[str, str]
) -> None:
    first, second = namespaces
    cli("namespace", "create", first, "--label", "team=a", "--annotation", "owner=ann")
    cli("namespace", "create", second)
    assert "already exists" in cli("namespace", "create", first, ok=False)

    [config] = json.loads(docker("config", "inspect", f"faas-namespace-{first}"))
    assert config["Spec"]["Labels"]["com.faas.namespace.label.team"] == "a"
    [network] = json.loads(docker("network", "inspect", f"{FUNCTIONS_NETWORK}-{first}"))
    assert (network["Driver"], network["Attachable"]) == ("overlay", True)
    assert network["Labels"]["com.faas.namespace"] == first

    assert " team: a" in cli("namespace", "get", first).splitlines()
    cli("namespace", "update", first, "--label", "team=b")
    assert " team: b" in cli("namespace", "get", first).splitlines()
    listed = cli("namespace", "list").split()
    assert listed.index("openfaas-fn") < listed.index(first)
    assert second in listed

    cli("namespace", "remove", second)
    assert second not in cli("namespace", "list").split()
    assert f"faas-namespace-{second}" not in docker("config", "ls", "--format", "{{.Name}}")
    wait_for(lambda: f"{FUNCTIONS_NETWORK}-{second}" not in
             docker("network", "ls", "--format", "{{.Name}}"),
             f"the network of {second} to be removed", timeout=90)  # fmt: skip


def test_a_namespace_limited_to_one_function_refuses_a_second_deploy(
    platform: Platform, cli: FaasCli, namespaces: tuple[str, str]
) -> None:
    namespace, _ = namespaces
    cli("namespace", "create", namespace, "--label", "com.faas.limit.functions=1")
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=60) as api:
        first = {"service": "one", "image": IMAGE, "namespace": namespace}
        assert api.post("/system/functions", json=first).status_code == 202
        refused = api.post("/system/functions", json={**first, "service": "two"})
        assert refused.status_code == 403, refused.text
        assert "com.faas.limit.functions" in refused.json()["error"]
        assert namespace in refused.json()["error"]
        # A namespace that holds a function is not removed.
        removal = api.request("DELETE", f"/system/namespace/{namespace}",
                              json={"name": namespace})  # fmt: skip
        assert removal.status_code == 409
        assert "one" in removal.json()["error"]
