"""Routing rule 3, by host name: the parser and the spellings, then through a real gateway
(`MemoryProvider`, real `cat` and `env` watchdogs) for the order of the rules and what a
function host may reach."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.errors import BadRequest, NoRoute
from gateway.labels import DOMAIN_LABEL, MAX_HOST_NAME_LENGTH
from gateway.providers.base import Function
from gateway.routing.hosts import HostRoutes, parse_request_host
from tests.gateway.harness import ADMIN, BackgroundProcess, GatewayThread, management_gateway
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.gateway.proxy.test_proxy import seen_by_function

DOMAIN = "faas.local"
CUSTOM = {"api.example.com": "func_env"}


@pytest.mark.parametrize(
    ("value", "host"),
    [
        (b"env.faas.local", "env.faas.local"),
        (b"ENV.Faas.Local:8080", "env.faas.local"),
        (b"env.faas.local.", "env.faas.local"),
        (b"127.0.0.1:31112", "127.0.0.1"),
        (b"func_gateway:8080", "func_gateway"),
        (b"[::1]:8080", None),
        (b"[::1]", None),
    ],
)
def test_request_host_is_lower_case_without_port(value: bytes, host: str | None) -> None:
    assert parse_request_host(value) == host


@pytest.mark.parametrize(
    "value",
    [
        b"a" * (MAX_HOST_NAME_LENGTH + 1),
        b"bad host",
        b"evil.com/path",
        b"a..b",
        b"",
        b"x" * 64 + b".faas.local",
        b"caf\xe9.faas.local",
        b"host:port",
    ],
)
def test_a_host_that_is_no_name_is_a_400(value: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_request_host(value)


def routes(domain: str | None = DOMAIN) -> HostRoutes:
    return HostRoutes(domain, CUSTOM.get, "openfaas-fn")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("env.faas.local", "env"),
        ("v2.env.faas.local", "env@v2"),
        ("env.openfaas-fn.faas.local", "env.openfaas-fn"),
        ("v2.env.openfaas-fn.faas.local", "env.openfaas-fn@v2"),
        ("api.example.com", "func_env"),
        ("faas.local", None),
        ("gateway", None),
        ("xfaas.local", None),
        ("env.faas.local.example.com", None),
    ],
)
def test_host_names_a_function_as_calls_spell_it(host: str, name: str | None) -> None:
    assert routes().function_name(host) == name


def test_without_a_functions_domain_only_custom_domains_route() -> None:
    assert routes(None).function_name("env.faas.local") is None
    assert routes(None).function_name("api.example.com") == "func_env"


def test_too_many_labels_under_the_domain_name_no_function() -> None:
    with pytest.raises(NoRoute, match="names no function"):
        routes().function_name("a.b.c.d.faas.local")


# Through a gateway ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(
    cat_watchdog: BackgroundProcess, env_watchdog: BackgroundProcess
) -> Iterator[GatewayThread]:
    """`func_env` (short name `env`, custom domain api.example.com) with a version `v2`
    (the `cat` watchdog, weight 0), `cat`, and the management API (`ADMIN`)."""
    env, cat = env_watchdog.port, cat_watchdog.port
    provider = MemoryProvider(
        [
            Function(
                "func_env",
                "faas/env",
                1,
                "127.0.0.1",
                env,
                "func",
                labels={DOMAIN_LABEL: "api.example.com,WWW.example.com"},
            ),
            Function(
                "func_env-v2",
                "faas/cat",
                1,
                "127.0.0.1",
                cat,
                "func",
                labels={
                    "com.faas.function.name": "func_env",
                    "com.faas.function.version": "v2",
                },
            ),
            Function("cat", "faas/cat", 1, "127.0.0.1", cat),
        ]
    )
    with management_gateway(provider, functions_domain=DOMAIN) as running:
        yield running


@pytest.fixture
def client(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with gateway.client() as http:
        yield http


def test_a_function_host_gets_the_whole_path_and_query(client: httpx.Client) -> None:
    response = client.post("/any/path?x=1", content=b"hi", headers={"Host": "env.faas.local"})
    seen = seen_by_function(response)
    assert (seen["Http_Path"], seen["Http_Query"]) == ("/any/path", "x=1")
    assert seen["Http_X_Forwarded_Host"] == "env.faas.local"


@pytest.mark.parametrize("host", ["api.example.com", "www.example.com:443", "ENV.FAAS.LOCAL"])
def test_custom_domains_and_any_case_reach_the_function(client: httpx.Client, host: str) -> None:
    assert seen_by_function(client.get("/a", headers={"Host": host}))["Http_Path"] == "/a"


def test_a_version_host_reaches_that_version(client: httpx.Client) -> None:
    response = client.post("/", content=b"from v2", headers={"Host": "v2.env.faas.local"})
    assert (response.status_code, response.text) == (200, "from v2")


def test_the_namespace_spelling_reaches_the_function_and_others_are_404(
    client: httpx.Client,
) -> None:
    ours = client.get("/", headers={"Host": "env.openfaas-fn.faas.local"})
    assert seen_by_function(ours)["Http_Path"] == "/"
    other = client.get("/", headers={"Host": "v1.env.other-ns.faas.local"})
    assert other.status_code == 404
    assert "other-ns" in other.text


def test_an_unknown_function_host_is_a_404(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "nothing.faas.local"})
    assert response.status_code == 404
    assert "'nothing' not found" in response.text


@pytest.mark.parametrize("path", ["/system/functions", "/system/info", "/healthz", "/ui/"])
def test_a_function_host_never_reaches_the_gateways_own_endpoints(
    client: httpx.Client, path: str
) -> None:
    api = client.get(path, headers={"Host": "system.faas.local"}, auth=ADMIN)
    assert api.status_code == 404
    assert "'system' not found" in api.text
    function = client.get(path, headers={"Host": "env.faas.local"}, auth=ADMIN)
    assert seen_by_function(function)["Http_Path"] == path


@pytest.mark.parametrize("host", ["faas.local", "gateway:8080", "127.0.0.1", "[::1]:8080"])
def test_the_gateways_own_hosts_serve_its_endpoints(client: httpx.Client, host: str) -> None:
    response = client.get("/system/functions", headers={"Host": host}, auth=ADMIN)
    assert response.status_code == 200
    assert "func_env" in response.text


def test_the_path_and_header_rules_come_before_the_host(client: httpx.Client) -> None:
    by_path = client.post("/function/cat", content=b"cat", headers={"Host": "env.faas.local"})
    assert (by_path.status_code, by_path.text) == (200, "cat")
    headers = {"Host": "env.faas.local", "X-Function": "cat"}
    by_header = client.post("/x", content=b"cat too", headers=headers)
    assert (by_header.status_code, by_header.text) == (200, "cat too")


@pytest.mark.parametrize("path", ["/any", "/system/functions", "/healthz"])
def test_an_invalid_host_is_a_400(client: httpx.Client, path: str) -> None:
    response = client.get(path, headers={"Host": "bad..host"})
    assert response.status_code == 400
    assert "not a valid host name" in response.text


def test_metrics_name_the_function_not_the_host(client: httpx.Client) -> None:
    client.get("/", headers={"Host": "api.example.com"})
    metrics = client.get("/metrics").text
    assert 'function_name="func_env"' in metrics
    assert "example.com" not in metrics


def test_without_a_functions_domain_a_function_host_is_the_gateways(
    env_watchdog: BackgroundProcess,
) -> None:
    provider = MemoryProvider([Function("env", "faas/env", 1, "127.0.0.1", env_watchdog.port)])
    with GatewayThread(provider) as running, running.client() as http:
        response = http.get("/x", headers={"Host": "env.faas.local"})
    assert response.status_code == 404
    assert "no function named by" in response.text


def test_the_path_route_never_reads_the_host(client: httpx.Client) -> None:
    response = client.post("/function/cat", content=b"still", headers={"Host": "bad..host"})
    assert (response.status_code, response.text) == (200, "still")
