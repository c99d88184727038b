"""The gateway as the edge, end to end on loopback: what a caller cannot make a function
see (httpoxy, forged forwarding headers, the gateway's credentials in any spelling), and
calls that loop back to the gateway (issue 15, items 2, 8, 9 and 10)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.gateway_upstreams import HeaderEcho
from tests.gateway.harness import GatewayThread
from tests.gateway.proxy.test_proxy import intent_request
from tests.support import free_port

CREDENTIALS = BasicAuthCredentials("admin", "s3cret!")
HeaderList = list[tuple[str, str]]


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


OURS = basic("admin", "s3cret!")  # padded ("...==")


@pytest.fixture(scope="module")
def echo() -> Iterator[HeaderEcho]:
    with HeaderEcho() as upstream:
        yield upstream


def seen(client: httpx.Client, headers: HeaderList) -> HeaderList:
    """The headers the function received, names lower-cased."""
    response = client.get("/function/echo", headers=headers)
    assert response.status_code == 200, response.text
    return [(name.lower(), value) for name, value in json.loads(response.content)]


def gateway_over(echo: HeaderEcho, **config: Any) -> GatewayThread:
    provider = StaticProvider([Function("echo", "echo", 1, "127.0.0.1", echo.port)])
    return GatewayThread(provider, **config)


@pytest.fixture(scope="module")
def client(echo: HeaderEcho) -> Iterator[httpx.Client]:
    """A gateway with management credentials, invocations open (GATEWAY_INVOKE_AUTH off)."""
    with gateway_over(echo, basic_auth=CREDENTIALS) as gateway, gateway.client() as http:
        yield http


def test_proxy_header_is_dropped(client: httpx.Client) -> None:
    # httpoxy: in a CGI-style environment `Proxy` becomes HTTP_PROXY.
    headers = dict(seen(client, [("Proxy", "http://attacker.example:3128")]))
    assert "proxy" not in headers


def test_caller_cannot_forge_forwarding_headers(client: httpx.Client) -> None:
    forged = [
        ("Host", "api.example.test"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=10.9.9.9;host=evil.example;proto=https"),
        ("X-Real-IP", "10.9.9.9"),
        ("X-Forwarded-For", "10.9.9.9"),
    ]
    got = seen(client, forged)
    values = {name: [v for n, v in got if n == name] for name, _ in got}
    assert values["x-forwarded-host"] == ["api.example.test"]
    assert values["x-forwarded-proto"] == ["http"]
    assert values["x-real-ip"] == ["127.0.0.1"]
    assert "forwarded" not in values
    assert values["x-forwarded-for"] == ["10.9.9.9, 127.0.0.1"]  # the peer last


def test_x_function_is_not_forwarded(client: httpx.Client) -> None:
    response = client.get("/", headers={"X-Function": "echo"})
    assert response.status_code == 200
    assert "x-function" not in {name.lower() for name, _ in json.loads(response.content)}


def test_hop_count_is_forwarded(client: httpx.Client) -> None:
    assert dict(seen(client, []))["x-faas-hops"] == "1"
    assert dict(seen(client, [("X-Faas-Hops", "4")]))["x-faas-hops"] == "5"


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {OURS}",
        f"Basic\t{OURS}",
        f"Basic {OURS} extra",
        f"Basic {basic('bob', 'pw')} {OURS}",
        f"basic {OURS}",
        f"BASIC {OURS}",
        f"Basic   {OURS}",
        f"Basic {OURS.rstrip('=')}",  # padding left out
        f"Basic {OURS}=",
        f"Basic{OURS}",
        f"Basic {basic('admin', 'wrong')}",  # the right user, any password
        f"Basic {basic('admin', '')}",
        f"Basic {basic('someone', 's3cret!')}",  # the gateway's password, any user
        f"Basic {base64.b64encode(b'admin').decode()}",  # no colon
        "Basic !!!not-base64",
        "Basic",
    ],
)
def test_the_gateways_credentials_never_reach_a_function(
    client: httpx.Client, authorization: str
) -> None:
    assert "authorization" not in dict(seen(client, [("Authorization", authorization)]))


@pytest.mark.parametrize(
    "authorization",
    ["Bearer abc", f"Basic {basic('alice', 'pw')}", f"basic\t{basic('alice', 'pw')}"],
)
def test_a_functions_own_credentials_pass(client: httpx.Client, authorization: str) -> None:
    assert dict(seen(client, [("Authorization", authorization)]))["authorization"] == (
        authorization
    )


def test_with_invoke_auth_no_authorization_reaches_a_function(echo: HeaderEcho) -> None:
    with (
        gateway_over(echo, basic_auth=CREDENTIALS, invoke_auth=True) as gateway,
        gateway.client() as client,
    ):
        # The first header opens the door; the others are sent along with it.
        headers = [
            ("Authorization", f"Basic {OURS}"),
            ("Authorization", "Bearer abc"),
            ("Authorization", f"Basic {basic('alice', 'pw')}"),
        ]
        assert "authorization" not in dict(seen(client, headers))


def test_a_call_that_loops_back_to_the_gateway_is_508() -> None:
    # A static function whose upstream is the gateway itself: a real loop, the gateway
    # process calling itself. An Alexa intent routes by the body, which is forwarded
    # unchanged, so only the hop count ends it.
    port = free_port()
    provider = StaticProvider([Function("loop", "loop", 1, "127.0.0.1", port)])
    with (
        GatewayThread(provider, port=port, upstream_timeout=30.0) as gateway,
        gateway.client(timeout=60.0) as client,
    ):
        response = client.post("/", json=intent_request("loop"))
        assert response.status_code == 508, response.text
        assert response.text.startswith("loop detected: the call has passed through")
        assert "X-Faas-Hops" in response.text
        # X-Function routed the first pass only: the second finds no function named.
        by_header = client.get("/", headers={"X-Function": "loop"})
        assert by_header.status_code == 404
        assert by_header.text.startswith("no function named by GET /")
        # Each pass strips one /function/loop: a long enough path is a loop too.
        looped = client.get("/function/loop" * 12)
        assert looped.status_code == 508
