"""Routing by host name on the real swarm (issue 38's "Done when"): `Host: catservice.<domain>`
reaches catservice with its whole path; a custom domain reaches its function and a second
function claiming it is refused at deploy; a version's host reaches that version; a
function's host name never reaches the management API.

The stack sets `GATEWAY_FUNCTIONS_DOMAIN` (`faas.local` unless the environment names
another); nothing resolves these names: the tests send the `Host` header themselves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import GATEWAY_URL, Platform, credentials, wait_for
from tests.e2e.test_scaling import IMAGE

pytestmark = pytest.mark.swarm

DOMAIN = os.environ.get("GATEWAY_FUNCTIONS_DOMAIN") or "faas.local"


class Api:
    """The management API, removing every function it deployed when closed."""

    def __init__(self) -> None:
        self.http = httpx.Client(base_url=GATEWAY_URL + "/system", auth=credentials(), timeout=60)
        self.deployed: list[str] = []

    def deploy(self, name: str, **fields: object) -> httpx.Response:
        reply = self.http.post("/functions", json={"service": name, "image": IMAGE, **fields})
        if reply.status_code == 202 and name not in self.deployed:
            self.deployed.append(name)
        return reply

    def ready(self, name: str) -> bool:
        reply = self.http.get(f"/function/{name}")
        return reply.status_code == 200 and reply.json()["availableReplicas"] > 0

    def close(self) -> None:
        for name in self.deployed:
            self.http.request("DELETE", "/functions", json={"functionName": name})
        self.http.close()


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    management = Api()
    yield management
    management.close()


def answer_on(client: httpx.Client, host: str, path: str = "/") -> bytes:
    """What a function answers to `x` posted with `Host: host` (b"" on an error status)."""
    reply = client.post(path, content=b"x\n", headers={"Host": host})
    return reply.content if reply.status_code == 200 else b""


def test_a_function_host_gets_the_whole_path(client: httpx.Client) -> None:
    echoed = client.post(
        "/any/path?x=1", content=b"abc", headers={"Host": f"httpecho.{DOMAIN}"}
    ).json()
    assert (echoed["path"], echoed["query"], echoed["body_bytes"]) == ("/any/path", {"x": ["1"]}, 3)
    cat = client.post("/any/path", content=b"meow\n", headers={"Host": f"catservice.{DOMAIN}"})
    assert (cat.status_code, cat.content) == (200, b"meow\n")


def test_a_function_host_never_reaches_the_management_api(client: httpx.Client) -> None:
    as_system = client.get(
        "/system/functions", headers={"Host": f"system.{DOMAIN}"}, auth=credentials()
    )
    assert as_system.status_code == 404
    assert "function 'system' not found" in as_system.text
    as_function = client.get(
        "/system/functions", headers={"Host": f"httpecho.{DOMAIN}"}, auth=credentials()
    )
    assert as_function.json()["path"] == "/system/functions"  # the function's, not the API's
    own = client.get("/system/functions", auth=credentials())
    assert own.status_code == 200
    assert isinstance(own.json(), list)


def test_a_bad_host_is_a_400(client: httpx.Client) -> None:
    assert client.get("/", headers={"Host": "bad..host"}).status_code == 400


def test_a_custom_domain_reaches_its_function_and_is_not_given_twice(
    api: Api, client: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:6]
    domain = f"e2e-{tag}.example.com"
    owner, other = f"e2e-domain-{tag}", f"e2e-domain2-{tag}"
    reply = api.deploy(owner, labels={"com.faas.domain": domain})
    assert reply.status_code == 202, reply.text
    wait_for(lambda: api.ready(owner), f"{owner} ready")
    wait_for(lambda: answer_on(client, domain, "/orders/42") == b"x\n", f"{domain} reaches {owner}")
    assert api.http.get(f"/function/{owner}").json()["urls"]["domains"] == [domain]
    taken = api.deploy(other, labels={"com.faas.domain": f"x.example.com,{domain.upper()}"})
    assert taken.status_code == 409
    assert f"already reaches function {owner!r}" in taken.json()["error"]
    assert api.http.get(f"/function/{other}").status_code == 404


def test_a_version_host_reaches_that_version(api: Api, client: httpx.Client) -> None:
    name = f"e2e-hosts-{uuid.uuid4().hex[:6]}"
    process = "printenv COLOUR"
    first = api.deploy(name, version="v1", envProcess=process, envVars={"COLOUR": "red"})
    assert first.status_code == 202, first.text
    second = api.deploy(
        name, version="v2", weight=0, envProcess=process, envVars={"COLOUR": "blue"}
    )
    assert second.status_code == 202, second.text
    wait_for(lambda: api.ready(f"{name}@v1") and api.ready(f"{name}@v2"), "both versions ready")
    expected = {f"v2.{name}.{DOMAIN}": b"blue\n", f"v1.{name}.{DOMAIN}": b"red\n",
                f"{name}.{DOMAIN}": b"red\n"}  # fmt: skip
    wait_for(
        lambda: all(answer_on(client, host) == colour for host, colour in expected.items()),
        "each version's host answers with its colour",
    )
