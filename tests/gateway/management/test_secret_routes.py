"""/system/secrets over HTTP, on a gateway with the in-memory provider: statuses, bounds,
and values that never come back out."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from gateway.api_types.bodies import MAX_SECRET_BYTES
from gateway.config import BasicAuthCredentials
from gateway.providers.static import StaticProvider
from tests.gateway.harness import ADMIN, GatewayThread, management_gateway
from tests.gateway.providers.memory_provider import MemoryProvider

AUTH = ADMIN
VALUE = "do-not-echo-me"


@pytest.fixture
def provider() -> MemoryProvider:
    return MemoryProvider()


@pytest.fixture
def gateway(provider: MemoryProvider) -> Iterator[GatewayThread]:
    with management_gateway(provider) as running:
        yield running


@pytest.fixture
def api(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url + "/system", auth=AUTH, timeout=30) as client:
        yield client


def test_every_secrets_route_needs_credentials(gateway: GatewayThread) -> None:
    with httpx.Client(base_url=gateway.url + "/system", timeout=30) as anonymous:
        for method in ("GET", "POST", "PUT", "DELETE"):
            for auth in (None, ("admin", "wrong")):
                reply = anonymous.request(
                    method, "/secrets", json={"name": "api-key", "value": VALUE}, auth=auth
                )
                assert reply.status_code == 401, method
                assert reply.headers["www-authenticate"].startswith("Basic ")


def test_create_list_update_delete(api: httpx.Client, provider: MemoryProvider) -> None:
    assert api.get("/secrets").json() == []
    created = api.post("/secrets", json={"name": "api-key", "value": VALUE})
    assert created.status_code == 201
    assert created.json() == {"message": "created secret 'api-key'", "name": "api-key"}
    raw = base64.b64encode(b"\x00\xff").decode()
    assert api.post("/secrets", json={"name": "blob", "rawValue": raw}).status_code == 201
    assert provider.secrets == {"api-key": VALUE.encode(), "blob": b"\x00\xff"}

    # faas-cli's --from-file sends the file as both: rawValue wins, as in OpenFaaS.
    both = {"name": "file", "value": "ignored", "rawValue": base64.b64encode(b"file").decode()}
    assert api.post("/secrets", json=both).status_code == 201
    assert provider.secrets.pop("file") == b"file"

    listed = api.get("/secrets")
    assert listed.status_code == 200
    assert listed.json() == [{"name": "api-key"}, {"name": "blob"}]

    updated = api.put("/secrets", json={"name": "api-key", "value": "new"})
    assert updated.status_code == 200
    assert updated.json() == {
        "message": "updated secret 'api-key'", "name": "api-key", "functions": []
    }  # fmt: skip
    assert provider.secrets["api-key"] == b"new"

    removed = api.request("DELETE", "/secrets", json={"name": "api-key"})
    # 200, not 204: faas-cli treats anything but 200 and 202 as a failure.
    assert removed.status_code == 200
    assert api.get("/secrets").json() == [{"name": "blob"}]


def test_openfaas_clients_may_send_a_namespace(api: httpx.Client) -> None:
    body = {"name": "api-key", "namespace": "openfaas-fn", "value": VALUE}
    assert api.post("/secrets", json=body).status_code == 201
    assert api.get("/secrets", params={"namespace": "openfaas-fn"}).json() == [{"name": "api-key"}]
    gone = api.request("DELETE", "/secrets", json={"name": "api-key", "namespace": "openfaas-fn"})
    assert gone.status_code == 200


def test_an_unknown_namespace_is_a_404_as_for_functions(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    assert api.post("/secrets", json={"name": "api-key", "value": VALUE}).status_code == 201
    known = "this gateway has 'openfaas-fn'"
    listed = api.get("/secrets", params={"namespace": "dev"})
    assert listed.status_code == 404
    assert listed.json() == {"error": f"namespace 'dev' not found: {known}"}
    # The same words as for a function (GET /system/functions?namespace=dev).
    assert api.get("/functions", params={"namespace": "dev"}).json() == listed.json()
    bodies = {
        "POST": {"name": "other", "value": VALUE},
        "PUT": {"name": "api-key", "value": "new"},
        "DELETE": {"name": "api-key"},
    }
    for method, body in bodies.items():
        for sent in ({"json": {**body, "namespace": "dev"}},
                     {"json": body, "params": {"namespace": "dev"}}):  # fmt: skip
            reply = api.request(method, "/secrets", **sent)  # type: ignore[arg-type]
            assert reply.status_code == 404, (method, sent)
            name = body["name"]
            assert reply.json() == {
                "error": f"namespace 'dev' not found (secret {name!r}): {known}"
            }, (method, sent)
    # Nothing was created, changed or removed.
    assert provider.secrets == {"api-key": VALUE.encode()}
    assert api.get("/secrets", params={"namespace": ""}).status_code == 200


def test_each_namespace_has_its_own_secrets(api: httpx.Client, provider: MemoryProvider) -> None:
    provider.namespaces = {"dev"}
    assert api.post("/secrets", json={"name": "api-key", "value": VALUE}).status_code == 201
    created = api.post("/secrets", json={"name": "api-key", "value": "dev", "namespace": "dev"})
    assert created.status_code == 201, created.text
    assert created.json() == {
        "message": "created secret 'api-key' in namespace 'dev'", "name": "api-key"
    }  # fmt: skip
    only = api.post("/secrets", params={"namespace": "dev"}, json={"name": "only", "value": "x"})
    assert only.status_code == 201, only.text
    assert provider.secrets == {"api-key": VALUE.encode()}
    assert provider.namespaced_secrets["dev"] == {"api-key": b"dev", "only": b"x"}

    assert api.get("/secrets").json() == [{"name": "api-key"}]
    assert api.get("/secrets", params={"namespace": "openfaas-fn"}).json() == [{"name": "api-key"}]
    assert api.get("/secrets", params={"namespace": "dev"}).json() == [
        {"name": "api-key"}, {"name": "only"}
    ]  # fmt: skip

    updated = api.put(
        "/secrets", params={"namespace": "dev"}, json={"name": "api-key", "value": "2"}
    )
    assert updated.json()["message"] == "updated secret 'api-key' in namespace 'dev'"
    assert provider.namespaced_secrets["dev"]["api-key"] == b"2"
    assert provider.secrets == {"api-key": VALUE.encode()}
    missing = api.put("/secrets", json={"name": "only", "value": "2"})  # not the default's
    assert missing.status_code == 404

    removed = api.request("DELETE", "/secrets", json={"name": "api-key", "namespace": "dev"})
    assert removed.json() == {
        "message": "removed secret 'api-key' in namespace 'dev'", "name": "api-key"
    }  # fmt: skip
    assert provider.namespaced_secrets["dev"] == {"only": b"x"}
    assert provider.secrets == {"api-key": VALUE.encode()}


@pytest.mark.parametrize(
    ("field", "parameter"), [("dev", "prod"), ("openfaas-fn", "dev"), ("dev", "openfaas-fn")]
)
def test_a_body_and_a_query_naming_two_namespaces_are_refused(
    api: httpx.Client, provider: MemoryProvider, field: str, parameter: str
) -> None:
    provider.namespaces = {"dev", "prod"}
    body = {"name": "api-key", "value": VALUE, "namespace": field}
    for method in ("POST", "PUT", "DELETE"):
        reply = api.request(method, "/secrets", params={"namespace": parameter}, json=body)
        assert reply.status_code == 400, (method, reply.text)
        assert reply.json() == {
            "error": f"namespace {parameter!r} (query) does not match the body's {field!r} "
            "(secret 'api-key')"
        }
    assert provider.secrets == {}
    assert provider.namespaced_secrets.get(field, {}) == {}


@pytest.mark.parametrize(
    "value",
    [{"value": VALUE}, {"rawValue": base64.b64encode(b"x").decode()}, {"value": 42}],
    ids=["value", "rawValue", "not-even-a-string"],
)
def test_deleting_with_the_whole_secret_as_the_go_sdk_sends_it(
    api: httpx.Client, provider: MemoryProvider, value: dict[str, object]
) -> None:
    """OpenFaaS's Go SDK (faas-cli's `proxy.DeleteSecret`) sends the secret it deletes,
    value and all: the value is ignored."""
    assert api.post("/secrets", json={"name": "api-key", "value": VALUE}).status_code == 201
    body = {"name": "api-key", "namespace": "openfaas-fn", **value}
    removed = api.request("DELETE", "/secrets", json=body)
    assert removed.status_code == 200, removed.text
    assert provider.secrets == {}


def test_an_unknown_field_is_named_as_such(api: httpx.Client) -> None:
    reply = api.post("/secrets", json={"name": "api-key", "value": VALUE, "valeu": "x"})
    assert reply.json() == {"error": "valeu: unknown field"}
    reply = api.request("DELETE", "/secrets", json={"name": "api-key", "nmae": "x"})
    assert reply.json() == {"error": "nmae: unknown field"}


def test_conflict_and_not_found(api: httpx.Client) -> None:
    assert api.post("/secrets", json={"name": "api-key", "value": VALUE}).status_code == 201
    again = api.post("/secrets", json={"name": "api-key", "value": "other"})
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]
    for method in ("PUT", "DELETE"):
        reply = api.request(method, "/secrets", json={"name": "nope", "value": "x"}
                            if method == "PUT" else {"name": "nope"})  # fmt: skip
        assert reply.status_code == 404, method
        assert reply.json() == {"error": "secret 'nope' not found"}


def test_a_secret_mounted_by_a_function_cannot_be_removed(api: httpx.Client) -> None:
    function = {"service": "hello", "image": "faas/hello:1", "secrets": ["api-key"]}
    refused = api.post("/functions", json=function)
    assert refused.status_code == 400
    assert "'api-key'" in refused.json()["error"]
    api.post("/secrets", json={"name": "api-key", "value": VALUE})
    assert api.post("/functions", json=function).status_code == 202
    assert api.put("/secrets", json={"name": "api-key", "value": "2"}).json()["functions"] == [
        "hello"
    ]
    busy = api.request("DELETE", "/secrets", json={"name": "api-key"})
    assert busy.status_code == 409
    assert "hello" in busy.json()["error"]


TOO_LONG = "x" * (MAX_SECRET_BYTES + 1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"value": VALUE}, "name: required"),
        ({"name": "API_KEY", "value": VALUE}, "name: 'API_KEY' is not a valid secret name"),
        ({"name": "a" * 53, "value": VALUE}, "is not a valid secret name"),
        ({"name": "faas-basic-auth-password", "value": VALUE}, "reserved for the gateway"),
        ({"name": "api-key"}, "value: required"),
        ({"name": "api-key", "value": ""}, "value: must not be empty"),
        ({"name": "api-key", "value": TOO_LONG}, "value: longer than 512000 characters"),
        ({"name": "api-key", "value": "é" * (MAX_SECRET_BYTES // 2 + 1)},
         "value: longer than 512000 bytes"),
        ({"name": "api-key", "rawValue": "not base64!"}, "rawValue: not valid base64"),
        ({"name": "api-key", "value": 42}, "value: expected a string"),
        ({"name": "api-key", "value": VALUE, "extra": 1}, "extra: unknown field"),
        ({"name": "api-key", "value": VALUE, "namespace": "Not_A_Label"}, "namespace"),
        # One secret per request, as in OpenFaaS: a list is refused.
        ([{"name": "api-key", "value": VALUE}], "body: expected a JSON object"),
    ],
)  # fmt: skip
def test_bounds_are_refused_without_echoing_the_value(
    api: httpx.Client, provider: MemoryProvider, body: object, expected: str
) -> None:
    for method in ("POST", "PUT"):
        reply = api.request(method, "/secrets", json=body)
        assert reply.status_code == 400, (method, reply.text)
        error = reply.json()["error"]
        assert expected in error
        for echoed in (VALUE, "xxxx", "éé"):
            assert echoed not in error
    assert provider.secrets == {}


def test_a_body_over_the_api_limit_is_refused(api: httpx.Client) -> None:
    reply = api.post("/secrets", content=b'{"name": "a", "value": "' + b"x" * 2**20 + b'"}')
    assert reply.status_code == 413
    assert "larger than" in reply.json()["error"]


def test_the_static_provider_keeps_no_secrets() -> None:
    with (
        GatewayThread(StaticProvider(), basic_auth=BasicAuthCredentials(*AUTH)) as gateway,
        gateway.client() as client,
    ):
        for method in ("GET", "POST", "PUT", "DELETE"):
            body = {"name": "api-key"} if method == "DELETE" else {"name": "api-key", "value": "v"}
            reply = client.request(method, "/system/secrets", auth=AUTH, json=body)
            assert reply.status_code == 501, method
            assert "static provider" in reply.json()["error"]
