"""The /system management API over HTTP, on a gateway with an in-memory provider."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.asgi import MAX_API_BODY_BYTES
from gateway.config import BasicAuthCredentials
from gateway.management.logs import MAX_TAIL
from gateway.management.routes import OPERATIONS
from gateway.providers.base import Function, LogLine
from gateway.providers.static import StaticProvider
from tests.gateway.harness import GatewayThread
from tests.gateway.providers.memory_provider import CREATED_AT, MemoryProvider

AUTH = ("admin", "pw")
HELLO = {"service": "hello", "image": "faas/hello:latest", "envProcess": "cat"}


@pytest.fixture
def provider() -> MemoryProvider:
    return MemoryProvider([Function("func_cat", "faas/cat:1", 2, "127.0.0.1", stack="func")])


@pytest.fixture
def gateway(provider: MemoryProvider) -> Iterator[GatewayThread]:
    with GatewayThread(
        provider,
        basic_auth=BasicAuthCredentials(*AUTH),
        image_allowlist=("faas/", "registry.local/team/"),
    ) as running:
        yield running


@pytest.fixture
def api(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url + "/system", auth=AUTH, timeout=30) as client:
        yield client


@pytest.fixture
def anonymous(gateway: GatewayThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url + "/system", timeout=30) as client:
        yield client


ROUTES = [
    ("GET", "/functions"), ("POST", "/functions"), ("PUT", "/functions"),
    ("DELETE", "/functions"), ("GET", "/function/func_cat"),
    ("POST", "/scale-function/func_cat"), ("GET", "/info"), ("GET", "/openapi.json"),
    ("GET", "/logs?name=func_cat"),
    ("GET", "/no-such-route"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_credentials(anonymous: httpx.Client, method: str, path: str) -> None:
    for auth in (None, ("admin", "wrong"), ("other", "pw")):
        reply = anonymous.request(method, path, json=HELLO, auth=auth)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith('Basic realm="faas"')
        expected = "authentication required" if auth is None else "wrong user name or password"
        assert expected in reply.json()["error"]


def test_without_configured_credentials_the_api_is_closed() -> None:
    with GatewayThread(MemoryProvider()) as gateway, gateway.client() as client:
        for method, path in ROUTES:
            reply = client.request(method, "/system" + path, auth=AUTH)
            assert reply.status_code == 503
            assert "no credentials configured" in reply.json()["error"]
        # Invocation stays open (and answers on its own terms).
        assert client.post("/function/nothing").status_code == 404


def test_invocation_stays_open_unless_configured(gateway: GatewayThread) -> None:
    with gateway.client() as client:
        assert client.post("/function/unknown").status_code == 404
    with (
        GatewayThread(
            MemoryProvider(), basic_auth=BasicAuthCredentials(*AUTH), invoke_auth=True
        ) as guarded,
        guarded.client() as client,
    ):
        assert client.post("/function/unknown").status_code == 401
        assert client.post("/function/unknown", auth=AUTH).status_code == 404
        assert client.get("/healthz").status_code == 200


def test_deploy_list_describe_scale_update_remove(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    reply = api.post("/functions", json={**HELLO, "labels": {"team": "a"},
                                         "annotations": {"topic": "t"}})  # fmt: skip
    assert reply.status_code == 202, reply.text
    assert reply.json()["name"] == "hello"

    listed = {item["name"]: item for item in api.get("/functions").json()}
    assert set(listed) == {"func_cat", "hello"}
    assert listed["hello"] == {
        "name": "hello",
        "image": "faas/hello:latest",
        "namespace": "openfaas-fn",
        "envProcess": "cat",
        "envVars": {},
        "labels": {"team": "a", "com.faas.managed": "true", "faas_function": "hello"},
        "annotations": {"topic": "t"},
        "constraints": [],
        "secrets": [],
        "limits": None,
        "requests": None,
        "readOnlyRootFilesystem": False,
        "replicas": 1,
        "availableReplicas": 1,
        "invocationCount": 0,
        "createdAt": CREATED_AT,
        "urls": {"path": "/function/hello", "hosts": [], "domains": []},
    }
    # The gateway's one namespace: a stack's stays in the name (docs/management.md).
    assert listed["func_cat"]["namespace"] == "openfaas-fn"

    assert api.post("/functions", json=HELLO).status_code == 409
    assert api.post("/scale-function/hello", json={"replicas": 3}).status_code == 202
    assert api.get("/function/hello").json()["replicas"] == 3
    # Short names work wherever a function is named.
    assert api.get("/function/cat").json()["name"] == "func_cat"

    updated = {**HELLO, "envVars": {"GREETING": "bonjour"}}
    assert api.put("/functions", json=updated).status_code == 202
    assert provider.deployments["hello"].env_vars == {"GREETING": "bonjour"}
    assert api.get("/function/hello").json()["replicas"] == 3

    assert api.request("DELETE", "/functions", json={"functionName": "hello"}).status_code == 202
    assert api.get("/function/hello").status_code == 404
    assert api.request("DELETE", "/functions", json={"functionName": "hello"}).status_code == 404


# A definition using every field but the resources, which each test writes its own way.
DEFINITION = {
    **HELLO,
    "envVars": {"GREETING": "bonjour"},
    "labels": {"team": "a"},
    "annotations": {"topic": "t"},
    "constraints": ["node.role == manager"],
    "secrets": ["api-key"],
    "readOnlyRootFilesystem": True,
}
RECORD = ("envProcess", "envVars", "labels", "annotations", "constraints", "secrets",
          "limits", "requests", "readOnlyRootFilesystem")  # fmt: skip


@pytest.mark.parametrize("path", ["/functions", "/function/hello"])
def test_list_and_describe_show_the_whole_record_as_sent(
    api: httpx.Client, provider: MemoryProvider, path: str
) -> None:
    provider.secrets["api-key"] = b"k"
    full = {
        **DEFINITION,
        "limits": {"memory": "5Mi", "cpu": "100m"},
        "requests": {"memory": 134217728, "cpu": 0.5},
    }
    assert api.post("/functions", json=full).status_code == 202
    answer = api.get(path).json()
    records = answer if path == "/functions" else [answer]
    [record] = [item for item in records if item["name"] == "hello"]
    assert {key: record[key] for key in RECORD} == {
        **{key: full[key] for key in RECORD},
        "labels": {"team": "a", "com.faas.managed": "true", "faas_function": "hello"},
        "requests": {"memory": "134217728", "cpu": "0.5"},
    }
    assert record["createdAt"] == CREATED_AT
    assert (record["replicas"], record["availableReplicas"], record["invocationCount"]) == (1, 1, 0)


def test_describe_shows_the_whole_definition_which_put_takes_back(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    provider.secrets["api-key"] = b"k"
    full = {
        **DEFINITION,
        "limits": {"memory": "128Mi", "cpu": "500m"},
        "requests": {"memory": "64Mi"},
    }
    assert api.post("/functions", json=full).status_code == 202
    described = api.get("/function/hello").json()
    before = provider.deployments["hello"]
    # What a client sends back: the record as described, only the image changed.
    again = {**described, "service": "hello", "image": "faas/hello:2"}
    for shown_only in ("name", "replicas", "availableReplicas", "invocationCount", "createdAt",
                       "updateState"):  # fmt: skip
        del again[shown_only]
    assert described["labels"]["faas_function"] == "hello"
    reply = api.put("/functions", json=again)
    assert reply.status_code == 202, reply.text
    # The same deployment (faas_function is shown, never stored; managed is kept as is).
    labels = {"team": "a", "com.faas.managed": "true"}
    assert provider.deployments["hello"] == before.model_copy(
        update={"image": "faas/hello:2", "labels": labels, "namespace": None}
    )
    assert api.get("/function/hello").json()["labels"] == described["labels"]
    assert api.get("/function/hello").json()["limits"] == {"memory": "128Mi", "cpu": "500m"}
    # A function without limits shows null, which a PUT reads as "none".
    plain = api.get("/function/func_cat").json()
    assert plain["limits"] is None
    assert plain["envVars"] == {}
    assert plain["labels"] == {"faas_function": "func_cat"}


@pytest.mark.parametrize(
    ("labels", "status"),
    [
        ({"faas_function": "hello"}, 202),
        ({"faas_function": "other"}, 400),
        ({"com.faas.managed": "true"}, 202),
        ({"com.faas.managed": "false"}, 400),
        ({"com.faas.limits.cpu": "1"}, 400),
    ],
)
def test_the_labels_a_record_shows_are_taken_back(
    api: httpx.Client, labels: dict[str, str], status: int
) -> None:
    reply = api.post("/functions", json={**HELLO, "labels": labels})
    assert reply.status_code == status, reply.text
    if status == 400:
        assert "labels: " in reply.json()["error"]


def test_invocation_count_comes_from_the_gateway_metrics(
    api: httpx.Client, gateway: GatewayThread
) -> None:
    with gateway.client() as client:
        for _ in range(3):
            client.post("/function/cat")  # no replica answers: still counted as started
    assert api.get("/function/func_cat").json()["invocationCount"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/functions", b"{not json", 400, "body"),
        ("POST", "/functions", b"", 400, "body"),
        ("POST", "/functions", b"[1]", 400, "body"),
        ("POST", "/functions", b'{"service": "Bad_Name", "image": "faas/x"}', 400, "service"),
        ("POST", "/functions", b'{"service": "gateway", "image": "faas/x"}', 400, "service"),
        ("PUT", "/functions", b'{"service": "prometheus", "image": "faas/x"}', 400, "service"),
        ("POST", "/functions", b'{"service": "x", "image": "faas/x", "envVars": 1}', 400,
         "envVars"),
        ("PUT", "/functions", b'{"service": "x"}', 400, "image"),
        ("PUT", "/functions", b'{"service": "nope", "image": "faas/x"}', 404, None),
        ("DELETE", "/functions", b"{}", 400, "functionName"),
        ("DELETE", "/functions", b'{"functionName": "nope"}', 404, None),
        ("POST", "/scale-function/func_cat", b'{"replicas": -1}', 400, "replicas"),
        ("POST", "/scale-function/func_cat", b'{"replicas": "2"}', 400, "replicas"),
        ("POST", "/scale-function/func_cat", b'{"replicas": 101}', 400, "replicas"),
        ("POST", "/scale-function/func_cat", b"{}", 400, "replicas"),
        ("DELETE", "/functions", b'{"functionName": "f/../x"}', 400, "functionName"),
        ("POST", "/scale-function/func_cat", b'{"replicas": 1, "serviceName": "x"}', 400,
         "serviceName"),
        ("POST", "/scale-function/nope", b'{"replicas": 1}', 404, None),
        ("GET", "/function/nope", b"", 404, None),
        ("GET", "/function/a%20b", b"", 400, "name"),
    ],
)  # fmt: skip
def test_errors_are_json_and_name_the_field(
    api: httpx.Client, method: str, path: str, body: bytes, status: int, field: str | None
) -> None:
    reply = api.request(method, path, content=body,
                        headers={"content-type": "application/json"})  # fmt: skip
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]
    if field:
        assert message.startswith(f"{field}:")
    else:
        assert "not found" in message


def test_images_off_the_allowlist_are_forbidden(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    for image in ("busybox:latest", "docker.io/faas/hello", "registry.local/other/x"):
        reply = api.post("/functions", json={**HELLO, "image": image})
        assert reply.status_code == 403
        assert image in reply.json()["error"]
        assert "GATEWAY_IMAGE_ALLOWLIST" in reply.json()["error"]
    assert api.post("/functions", json=HELLO).status_code == 202
    assert api.put("/functions", json={**HELLO, "image": "busybox"}).status_code == 403
    assert provider.deployments["hello"].image == "faas/hello:latest"
    assert (
        api.post(
            "/functions", json={**HELLO, "service": "team", "image": "registry.local/team/x:1"}
        ).status_code
        == 202
    )


WITH_BODY = [(op.method, op.path) for op in OPERATIONS if op.request is not None]


def chunks(size: int) -> Iterator[bytes]:
    """`size` bytes of spaces, sent chunked: no Content-Length to refuse them by."""
    for _ in range(size // 65536):
        yield b" " * 65536
    yield b" " * (size % 65536)


@pytest.mark.parametrize(("method", "path"), WITH_BODY)
def test_a_body_over_the_limit_is_413_on_every_path(
    api: httpx.Client, method: str, path: str
) -> None:
    path = path.replace("{name}", "func_cat")
    too_large = MAX_API_BODY_BYTES + 1
    for content in (b" " * too_large, chunks(too_large)):
        reply = api.request(method, path, content=content)
        assert reply.status_code == 413, (method, path, reply.text)
        assert reply.json() == {"error": f"body: larger than {MAX_API_BODY_BYTES} bytes"}


def test_info_and_openapi(api: httpx.Client) -> None:
    info = api.get("/info").json()
    assert info["provider"]["orchestration"] == "memory"
    assert info["provider"]["provider"] == "faas"
    assert info["version"]["release"]
    # Outside an image built by `make images` the commit is not known.
    assert info["version"]["sha"] == info["provider"]["version"]["sha"] == "unknown"
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/system/functions", "/system/function/{name}", "/system/scale-function/{name}",
        "/system/info", "/system/healthz", "/system/alert", "/system/load", "/system/logs",
        "/system/openapi.json", "/system/prometheus/api/v1/{endpoint}", "/system/namespaces",
        "/system/namespace", "/system/namespace/", "/system/namespace/{namespace}",
        "/system/secrets", "/system/stats",
        "/system/functions/{name}/traffic", "/system/functions/{name}/promote",
        "/system/functions/{name}/rollback", "/system/functions/{name}/canary",
        "/system/async/dlq", "/system/async/dlq/redrive", "/system/async/dlq/{call_id}",
        "/system/async/dlq/{call_id}/redrive", "/system/async/{call_id}",
        "/system/triggers", "/system/triggers/{name}/fire",
    }  # fmt: skip


def test_static_provider_lists_but_cannot_change() -> None:
    provider = StaticProvider([Function("cat", "static", 1, "127.0.0.1")])
    with (
        GatewayThread(provider, basic_auth=BasicAuthCredentials(*AUTH)) as gateway,
        httpx.Client(base_url=gateway.url + "/system", auth=AUTH) as api,
    ):
        assert [f["name"] for f in api.get("/functions").json()] == ["cat"]
        reply = api.post("/functions", json=HELLO)
        assert reply.status_code == 501
        assert "not supported by the static provider" in reply.json()["error"]
        reply = api.post("/scale-function/cat", json={"replicas": 2})
        assert reply.status_code == 501
        reply = api.get("/logs", params={"name": "cat"})
        assert reply.status_code == 501
        assert "static provider" in reply.json()["error"]


def log_line(second: int, text: str) -> LogLine:
    return LogLine("func_cat", "task1", f"2026-11-25T11:32:{second:02d}.000000000Z", text)


def test_logs_are_ndjson_by_short_or_full_name(api: httpx.Client, provider: MemoryProvider) -> None:
    provider.log_lines = [log_line(1, "started"), log_line(2, "called")]
    for name in ("func_cat", "cat"):
        params = {"name": name, "tail": "5", "since": "2026-11-25T11:00:00Z"}
        reply = api.get("/logs", params=params)
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/x-ndjson"
        records = [json.loads(line) for line in reply.text.splitlines()]
        assert records == [
            {"name": "func_cat", "namespace": "openfaas-fn", "instance": "task1",
             "timestamp": "2026-11-25T11:32:01.000000000Z", "text": "started"},
            {"name": "func_cat", "namespace": "openfaas-fn", "instance": "task1",
             "timestamp": "2026-11-25T11:32:02.000000000Z", "text": "called"},
        ]  # fmt: skip
    assert provider.log_reads[-1] == ("func_cat", "1795604400.000000000", 5)


def test_logs_follow_streams_new_lines(api: httpx.Client, provider: MemoryProvider) -> None:
    provider.log_lines = [log_line(1, "started")]
    with api.stream("GET", "/logs", params={"name": "cat", "follow": "true"}) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        assert json.loads(next(lines))["text"] == "started"
        # Following goes on from the time of the request: a line written after it.
        later = LogLine("func_cat", "task1", "2099-01-01T00:00:00.000000000Z", "later")
        provider.log_lines = [log_line(1, "started"), later]
        assert json.loads(next(lines))["text"] == "later"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "name: required"),
        ({"name": "no-such"}, 404, "not found"),
        ({"name": "cat", "tail": "0"}, 400, "tail:"),
        ({"name": "cat", "since": "noon"}, 400, "since:"),
        ({"name": "cat", "follow": "perhaps"}, 400, "follow:"),
    ],
)
def test_logs_bad_requests(
    api: httpx.Client, params: dict[str, str], status: int, message: str
) -> None:
    reply = api.get("/logs", params=params)
    assert reply.status_code == status
    assert message in reply.json()["error"]


def test_unknown_paths_get_a_json_404(api: httpx.Client) -> None:
    for path in ("/no-such-route", "/scale-function/bad%0Aname", "/function/a/b"):
        reply = api.post(path, json={"replicas": 1})
        assert reply.status_code == 404
        assert "no such path in the management API: '/system/" in reply.json()["error"]


def test_namespaces_as_faas_cli_sends_them(api: httpx.Client, provider: MemoryProvider) -> None:
    assert api.get("/namespaces").json() == ["openfaas-fn"]
    ours = {"namespace": "openfaas-fn"}
    assert [f["name"] for f in api.get("/functions", params=ours).json()] == ["func_cat"]
    assert api.get("/function/cat", params=ours).json()["name"] == "func_cat"
    assert api.get("/function/cat.openfaas-fn").json()["name"] == "func_cat"
    reply = api.post("/functions", params=ours, json={**HELLO, **ours})
    assert reply.status_code == 202, reply.text
    reply = api.post("/scale-function/hello.openfaas-fn",
                     json={"serviceName": "hello", "replicas": 2, **ours})  # fmt: skip
    assert reply.status_code == 202, reply.text
    assert api.get("/function/hello").json()["replicas"] == 2
    provider.log_lines = [log_line(1, "started")]
    reply = api.get("/logs", params={"name": "cat.openfaas-fn", "tail": "-1", **ours})
    assert json.loads(reply.text)["namespace"] == "openfaas-fn"
    reply = api.request("DELETE", "/functions", params=ours, json={"functionName": "hello"})
    assert reply.status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/functions", {"namespace": "dev"}, None),
        ("GET", "/function/cat.dev", {}, None),
        ("GET", "/function/cat", {"namespace": "dev"}, None),
        ("POST", "/functions", {}, {**HELLO, "namespace": "dev"}),
        ("PUT", "/functions", {"namespace": "dev"}, HELLO),
        ("DELETE", "/functions", {}, {"functionName": "cat", "namespace": "dev"}),
        ("DELETE", "/functions", {}, {"functionName": "cat.dev"}),
        ("POST", "/scale-function/cat", {}, {"replicas": 1, "namespace": "dev"}),
        ("POST", "/scale-function/cat.dev", {}, {"replicas": 1}),
        ("GET", "/logs", {"name": "cat", "namespace": "dev"}, None),
    ],
)
def test_an_unknown_namespace_is_404_naming_ours(
    api: httpx.Client, method: str, path: str, params: dict[str, str], body: object
) -> None:
    reply = api.request(method, path, params=params, json=body)
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error.startswith("namespace 'dev' not found")
    assert error.endswith("this gateway has 'openfaas-fn'")


def test_every_line_means_the_newest_max_tail(api: httpx.Client, provider: MemoryProvider) -> None:
    """faas-cli's default (`tail=-1`, or none) asks for every line: the gateway asks the
    engine for the newest MAX_TAIL, never an unbounded read."""
    provider.log_lines = [log_line(1, "started")]
    for params in ({"name": "cat"}, {"name": "cat", "tail": "-1"}):
        assert api.get("/logs", params=params).status_code == 200
        assert provider.log_reads[-1][2] == MAX_TAIL
    assert api.get("/logs", params={"name": "cat", "tail": str(MAX_TAIL + 1)}).status_code == 400


def test_one_instances_tail_is_taken_from_its_own_lines(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    ours = [LogLine("func_cat", "task1", f"2026-11-25T11:32:0{i}Z", f"ours {i}") for i in (1, 2)]
    theirs = [LogLine("func_cat", "task2", f"2026-11-25T11:32:0{i}Z", "theirs") for i in (3, 4)]
    provider.log_lines = [*ours, *theirs]
    reply = api.get("/logs", params={"name": "cat", "tail": "2", "instance": "task1"})
    assert [json.loads(line)["text"] for line in reply.text.splitlines()] == ["ours 1", "ours 2"]


def test_a_dotted_function_name_is_found_before_a_namespace_is_read(
    api: httpx.Client, provider: MemoryProvider
) -> None:
    """A static function may have a dot in its name: the name as it is comes first."""
    provider.registry.upsert(Function("a.b", "faas/cat:1", 1, "127.0.0.1"))
    assert api.get("/function/a.b").json()["name"] == "a.b"
    assert api.get("/function/a.b.openfaas-fn").json()["name"] == "a.b"
    reply = api.get("/function/a.b.dev")
    assert reply.status_code == 404
    assert "namespace 'dev' not found" in reply.json()["error"]
    reply = api.get("/function/cat.")
    assert reply.status_code == 404
    assert "namespace '' not found" in reply.json()["error"]
