"""Namespaces on the real swarm (issue 33): two namespaces made with the real faas-cli, the
same function name in both, each reached through the gateway as `<name>.<namespace>` and
listed, described and logged in its own; a replica of one namespace cannot open a
connection to a replica of the other (each is on its namespace's network only), while the
gateway reaches both; creating and removing namespaces while calls run fails none; a
namespace holding a function is not removed.

The binary: env `FAAS_CLI`, else `../shared/refs/faas-cli` beside the checkout.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import FaasCli, Platform, credentials, docker, logged_in_faas_cli, wait_for
from tests.e2e.loops import RequestLoop, echoed, non_empty

IMAGE = "localhost/faas/catservice:latest"
# A call straight to a replica's address: what it answered, or why nothing did. A
# connection alone proves nothing: an address with no route here leaves by the default
# route (docker_gwbridge, then the host's), where something else may accept it.
CALL_PROBE = (
    "import sys, urllib.request\n"
    "try:\n"
    "    answer = urllib.request.urlopen(f'http://{sys.argv[1]}:8080/', b'hi', timeout=3)\n"
    "    print(answer.read().decode(errors='replace').strip())\n"
    "except Exception as error:\n"
    "    print('unreached', type(error).__name__)\n"
)

pytestmark = pytest.mark.swarm


@dataclass
class Tenants:
    """Two namespaces made for the test, and the function name deployed in both."""

    first: str
    second: str
    function: str


@pytest.fixture(scope="module")
def cli(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> FaasCli:
    """Run the real faas-cli from an empty folder, logged in."""
    return logged_in_faas_cli(platform.gateway_url, tmp_path_factory.mktemp("faas-cli-ns"))


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=60) as http:
        yield http


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


def remove_namespace(api: httpx.Client, namespace: str) -> None:
    """Remove its functions, then the namespace itself (whatever a test left)."""
    listed = api.get("/system/functions", params={"namespace": namespace})
    for function in listed.json() if listed.status_code == 200 else []:
        api.request("DELETE", "/system/functions",
                    json={"functionName": function["name"], "namespace": namespace})  # fmt: skip
    wait_for(lambda: not docker("service", "ls", "-q", "--filter",
                                f"label=com.faas.namespace={namespace}").strip(),
             f"the functions of {namespace} to be removed")  # fmt: skip
    wait_for(lambda: api.delete(f"/system/namespace/{namespace}").status_code in (202, 404),
             f"namespace {namespace} to be removed", timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def tenants(cli: FaasCli, api: httpx.Client) -> Iterator[Tenants]:
    """Two namespaces (made with faas-cli), `function` deployed in each and ready."""
    suffix = uuid.uuid4().hex[:6]
    made = Tenants(f"e2e-a-{suffix}", f"e2e-b-{suffix}", f"e2e-ns-{suffix}")
    try:
        for namespace in (made.first, made.second):
            ok(cli("namespace", "create", namespace, "--label", "team=" + namespace))
            ok(cli("deploy", "--image", IMAGE, "--name", made.function,
                   "--namespace", namespace, "--env", f"fprocess=echo {namespace}"))  # fmt: skip
        for namespace in (made.first, made.second):
            wait_for(answers(api, made.function, namespace),
                     f"{made.function}.{namespace} to answer", timeout=180)  # fmt: skip
        yield made
    finally:
        for namespace in (made.first, made.second):
            remove_namespace(api, namespace)


def answers(api: httpx.Client, function: str, namespace: str) -> Callable[[], bool]:
    """Whether `function` in `namespace` answers with its namespace's name."""
    return lambda: call(api, f"{function}.{namespace}") == f"{namespace}\n"


def call(api: httpx.Client, name: str) -> str:
    reply = api.post(f"/function/{name}", content=b"hi")
    return reply.text if reply.status_code == 200 else f"{reply.status_code} {reply.text}"


def test_the_same_name_in_two_namespaces_each_answers_as_its_own(
    cli: FaasCli, api: httpx.Client, tenants: Tenants
) -> None:
    first, second, function = tenants.first, tenants.second, tenants.function
    assert call(api, f"{function}.{first}") == f"{first}\n"
    assert call(api, f"{function}.{second}") == f"{second}\n"
    assert call(api, function).startswith("404 ")  # neither is in the default namespace
    listed = ok(cli("namespace", "list"))
    assert first in listed
    assert second in listed
    assert "openfaas-fn" in listed
    assert function in ok(cli("list", "--namespace", first))
    assert function not in ok(cli("list"))
    described = api.get(f"/system/function/{function}", params={"namespace": second}).json()
    assert (described["name"], described["namespace"]) == (function, second)
    assert described["urls"]["path"] == f"/function/{function}.{second}"
    assert ok(cli("describe", function, "--namespace", first)).count(first) >= 1

    def logged() -> bool:
        reply = api.get("/system/logs", params={"name": function, "namespace": first,
                                                "tail": "50", "follow": "false"})  # fmt: skip
        lines = [json.loads(line) for line in reply.text.splitlines() if line.strip()]
        return bool(lines) and all(
            (line["name"], line["namespace"]) == (function, first) for line in lines
        )

    wait_for(logged, f"the logs of {function} in {first}")
    metrics = api.get("/metrics").text
    assert f'function_name="{function}.{first}"' in metrics


def replica(service: str) -> str:
    """The id of a running container of `service` on this node."""
    found = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    return found.split()[0]


def address(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return docker("inspect", container, "--format", template).strip()


def probe(container: str, target: str) -> str:
    """What the replica at `target` answers a call from inside `container`."""
    return docker("exec", container, "python3", "-c", CALL_PROBE, target).strip()


def test_a_replica_cannot_reach_another_namespace_s_but_the_gateway_reaches_both(
    platform: Platform, tenants: Tenants
) -> None:
    first, second, function = tenants.first, tenants.second, tenants.function
    a, b = replica(f"{first}_{function}"), replica(f"{second}_{function}")
    network = platform.network
    a_ip, b_ip = address(a, f"{network}-{first}"), address(b, f"{network}-{second}")
    assert a_ip
    assert b_ip
    gateway = replica(f"{platform.stack_name}_gateway")
    assert probe(gateway, a_ip) == first  # the addresses are right: the gateway reaches both
    assert probe(gateway, b_ip) == second
    from_a, from_b = probe(a, b_ip), probe(b, a_ip)
    assert from_a != second, f"{first}'s replica reached {second}'s"
    assert from_b != first, f"{second}'s replica reached {first}'s"
    print(f"\n[namespaces] {first} -> {second}: {from_a}; {second} -> {first}: {from_b}")
    # Nor by name: another namespace's service is not in a replica's DNS.
    lookup = docker("exec", a, "getent", "hosts", f"tasks.{second}_{function}", check=False)
    assert lookup.strip() == ""


def test_namespaces_come_and_go_while_calls_run_and_none_fails(
    api: httpx.Client, platform: Platform, tenants: Tenants
) -> None:
    """Each namespace gets a function (so the gateway and the queue worker join its
    network), answers through the gateway, then goes (so they leave it)."""
    first, function = tenants.first, tenants.function
    churned = [f"e2e-churn-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    with (
        RequestLoop(platform.service_name("catservice"), 2, echoed) as default_loop,
        RequestLoop(f"{function}.{first}", 2, non_empty) as namespaced_loop,
    ):
        for namespace in churned:
            created = api.post("/system/namespace/", json={"name": namespace})
            assert created.status_code == 201, created.text
            body = {"service": "churn", "image": IMAGE, "namespace": namespace,
                    "envProcess": f"echo {namespace}"}  # fmt: skip
            assert api.post("/system/functions", json=body).status_code == 202
            wait_for(answers(api, "churn", namespace), f"churn.{namespace} to answer", 120)
        for namespace in churned:
            remove_namespace(api, namespace)
    print(f"\n[namespaces] {len(churned)} created, used and removed under "
          f"{default_loop.calls + namespaced_loop.calls} calls")  # fmt: skip
    assert default_loop.calls > 0
    assert namespaced_loop.calls > 0
    assert default_loop.reasons == []
    assert namespaced_loop.reasons == []


def test_a_namespace_with_a_function_is_not_removed(api: httpx.Client, tenants: Tenants) -> None:
    refused = api.delete(f"/system/namespace/{tenants.first}")
    assert refused.status_code == 409
    assert tenants.function in refused.json()["error"]
    assert call(api, f"{tenants.function}.{tenants.first}") == f"{tenants.first}\n"
