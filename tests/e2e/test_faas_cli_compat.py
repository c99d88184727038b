"""OpenFaaS's own faas-cli (0.18) drives the gateway on the real swarm, as a user moving
over from OpenFaaS would: login, list, namespace list, deploy by flags and by an OpenFaaS
stack file, invoke, describe, logs, remove; secrets and a function reading its secret.

The binary: env `FAAS_CLI`, else `../shared/refs/faas-cli` beside the checkout; without
either every test here skips, saying so. The secret tests need `GET /system/secrets`
(issue 18's secrets API): on a gateway without it they skip, naming the missing route.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import FaasCli, Platform, credentials, docker, logged_in_faas_cli, wait_for

IMAGE = "localhost/faas/catservice:latest"

pytestmark = pytest.mark.swarm


@pytest.fixture(scope="module")
def cli(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> FaasCli:
    """Run faas-cli from an empty folder (it reads ./stack.yml by default), logged in."""
    return logged_in_faas_cli(platform.gateway_url, tmp_path_factory.mktemp("faas-cli"))


@pytest.fixture
def name() -> Iterator[str]:
    """A function name owned by the test, its service removed afterwards."""
    owned = f"e2e-cli-{uuid.uuid4().hex[:6]}"
    yield owned
    docker("service", "rm", owned, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


def invoked(cli: FaasCli, function: str, body: str) -> Callable[[], bool]:
    def answered() -> bool:
        done = cli("invoke", function, stdin=body)
        return done.returncode == 0 and done.stdout == body

    return answered


def test_list_and_namespace_list(cli: FaasCli, platform: Platform) -> None:
    assert platform.service_name("catservice") in ok(cli("list"))
    assert "openfaas-fn" in ok(cli("namespace", "list"))


def test_deploy_with_flags_invoke_describe_logs_remove(cli: FaasCli, name: str) -> None:
    ok(cli("deploy", "--image", IMAGE, "--name", name, "--env", "GREETING=hi",
           "--label", "team=e2e", "--annotation", "topic=compat"))  # fmt: skip
    wait_for(invoked(cli, name, "hello"), f"faas-cli invoke {name}", timeout=120)
    ok(cli("invoke", name, "--namespace", "openfaas-fn", stdin="again"))
    described = ok(cli("describe", name))
    assert name in described
    assert IMAGE in described
    assert name in ok(cli("list"))

    def logged() -> bool:
        done = cli("logs", name, "--tail=false", "--since", "10m")
        return done.returncode == 0 and "listening on port" in done.stdout

    wait_for(logged, f"faas-cli logs {name} to show the watchdog's start", timeout=60)
    ok(cli("remove", name))
    wait_for(lambda: cli("invoke", name, stdin="x").returncode != 0, f"{name} to be gone")


def test_deploy_an_openfaas_stack_file(
    cli: FaasCli, platform: Platform, name: str, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(
        f"version: 1.0\nprovider:\n  name: openfaas\n  gateway: {platform.gateway_url}\n"
        f"functions:\n  {name}:\n    lang: dockerfile\n    image: {IMAGE}\n"
        "    environment:\n      GREETING: hi\n    labels:\n      team: e2e\n"
        "    limits:\n      memory: 64Mi\n    requests:\n      cpu: 100m\n"
    )
    ok(cli("deploy", "-f", str(stack)))
    wait_for(invoked(cli, name, "from a stack file"), f"{name} to answer", timeout=120)
    assert "team: e2e" in ok(cli("describe", name))
    ok(cli("remove", "-f", str(stack)))


@pytest.fixture
def secrets_api(platform: Platform) -> None:
    """Skip unless the gateway serves /system/secrets (issue 18's secrets API)."""
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=10) as http:
        if http.get("/system/secrets").status_code == 404:
            pytest.skip("the gateway has no /system/secrets yet (issue 18, secrets API)")


@pytest.mark.usefixtures("secrets_api")
def test_secret_create_list_remove_and_a_function_reads_it(cli: FaasCli, name: str) -> None:
    secret, value = f"e2e-cli-secret-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    try:
        ok(cli("secret", "create", secret, "--from-literal", value))
        assert secret in ok(cli("secret", "list"))
        # Where OpenFaaS mounts a function's secrets, so its functions read them unchanged.
        ok(cli("deploy", "--image", IMAGE, "--name", name, "--secret", secret,
               "--fprocess", f"cat /var/openfaas/secrets/{secret}"))  # fmt: skip
        wait_for(invoked(cli, name, value), f"{name} to answer its secret", timeout=120)
        ok(cli("remove", name))
        wait_for(lambda: cli("invoke", name, stdin="x").returncode != 0, f"{name} to be gone")
        # A secret in use cannot be removed: wait until the service's tasks are gone.
        wait_for(lambda: cli("secret", "remove", secret).returncode == 0,
                 f"faas-cli secret remove {secret}", timeout=60)  # fmt: skip
        assert secret not in ok(cli("secret", "list"))
    finally:
        docker("service", "rm", name, check=False)
        docker("secret", "rm", secret, check=False)
