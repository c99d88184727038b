"""The gateway end to end on loopback: routing, errors, headers, bodies, Alexa."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.gateway_upstreams import FaultyUpstream
from tests.gateway.harness import BackgroundProcess, GatewayThread, start_watchdog


def seen_by_function(response: httpx.Response) -> dict[str, str]:
    """What the `env` function saw: its `Http_*` variables (headers, method, path, query)."""
    assert response.status_code == 200, response.text
    seen: dict[str, str] = {}
    for line in response.text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.startswith("Http_"):
            seen[name] = value
    return seen


def alexa_request(request: dict[str, Any]) -> dict[str, Any]:
    """A real-shaped Alexa skill request envelope around `request`."""
    return {
        "version": "1.0",
        "session": {
            "new": True,
            "sessionId": "amzn1.echo-api.session.0000",
            "application": {"applicationId": "amzn1.ask.skill.0000"},
            "user": {"userId": "amzn1.ask.account.0000"},
        },
        "context": {
            "System": {
                "application": {"applicationId": "amzn1.ask.skill.0000"},
                "user": {"userId": "amzn1.ask.account.0000"},
                "device": {"deviceId": "amzn1.ask.device.0000", "supportedInterfaces": {}},
                "apiEndpoint": "https://api.amazonalexa.com",
            }
        },
        "request": {
            "requestId": "amzn1.echo-api.request.0000",
            "timestamp": "2024-01-01T00:00:00Z",
            "locale": "en-US",
            **request,
        },
    }


def intent_request(intent_name: str) -> dict[str, Any]:
    """An Alexa IntentRequest for `intent_name`."""
    return alexa_request(
        {
            "type": "IntentRequest",
            "dialogState": "COMPLETED",
            "intent": {"name": intent_name, "confirmationStatus": "NONE", "slots": {}},
        }
    )


# Routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_function_path_passes_rest_and_query(client: httpx.Client, method: str) -> None:
    seen = seen_by_function(
        client.request(method, "/function/env/a/b%20c?x=1&y=%2F", content=b"hi")
    )
    assert seen["Http_Method"] == method
    assert seen["Http_Path"] == "/a/b%20c"
    assert seen["Http_Query"] == "x=1&y=%2F"


def test_function_path_passes_body(client: httpx.Client) -> None:
    response = client.post("/function/cat/anything", content=b"hi")
    assert response.status_code == 200
    assert response.content == b"hi"


@pytest.mark.parametrize(
    ("path", "query"),
    [("/function/env", ""), ("/function/env/", ""), ("/function/env?q=1", "q=1")],
)
def test_function_path_without_rest_targets_root(
    client: httpx.Client, path: str, query: str
) -> None:
    seen = seen_by_function(client.get(path))
    assert (seen["Http_Path"], seen["Http_Query"]) == ("/", query)


def test_header_route_passes_whole_path(client: httpx.Client) -> None:
    seen = seen_by_function(client.post("/some/path?z=9", headers={"X-Function": "env"}))
    assert (seen["Http_Path"], seen["Http_Query"]) == ("/some/path", "z=9")
    response = client.post("/", headers={"X-Function": "cat"}, content=b"body")
    assert response.content == b"body"


def test_function_path_beats_header(client: httpx.Client) -> None:
    response = client.get("/function/env/x", headers={"X-Function": "no-such-function"})
    assert seen_by_function(response)["Http_Path"] == "/x"


def test_header_beats_alexa_body(client: httpx.Client) -> None:
    response = client.post("/", headers={"X-Function": "cat"}, json=intent_request("nothing"))
    assert response.status_code == 200
    assert response.json()["request"]["intent"]["name"] == "nothing"


def test_gateway_endpoints_are_not_proxied(client: httpx.Client) -> None:
    assert client.get("/healthz", headers={"X-Function": "cat"}).json() == {"status": "ok"}


def test_short_name_resolves_to_full_name(client: httpx.Client) -> None:
    assert client.get("/function/env").status_code == 200
    assert client.get("/function/func_env").status_code == 200
    assert client.get("/", headers={"X-Function": "env"}).status_code == 200


def test_a_namespace_suffix_names_the_same_function(client: httpx.Client) -> None:
    # faas-cli invoke appends the namespace: `/function/<name>.openfaas-fn`.
    assert client.post("/function/cat.openfaas-fn/x?q=1", content=b"hi").content == b"hi"
    for name in ("env.openfaas-fn", "func_env.openfaas-fn"):  # short and full names
        seen = seen_by_function(client.get(f"/function/{name}/x?q=1"))
        assert (seen["Http_Path"], seen["Http_Query"]) == ("/x", "q=1")
    response = client.post("/", headers={"X-Function": "cat.openfaas-fn"}, content=b"hey")
    assert response.content == b"hey"


def test_an_unknown_namespace_is_404_naming_it_and_the_known_one(client: httpx.Client) -> None:
    for response in (
        client.post("/function/cat.dev", content=b"hi"),
        client.post("/", headers={"X-Function": "cat.dev"}, content=b"hi"),
    ):
        assert response.status_code == 404
        assert response.text == (
            "namespace 'dev' not found (function 'cat.dev'): this gateway has 'openfaas-fn'\n"
        )
    response = client.post("/function/nothing.openfaas-fn")
    assert response.status_code == 404
    assert response.text == "function 'nothing.openfaas-fn' not found\n"


def test_unroutable_request_is_404(client: httpx.Client) -> None:
    response = client.get("/elsewhere")
    assert response.status_code == 404
    assert "X-Function" in response.text
    assert response.headers["content-type"].startswith("text/plain")


def test_missing_function_name_is_400(client: httpx.Client) -> None:
    assert client.get("/function/").status_code == 400
    assert client.get("/function").status_code == 400


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/function/nope/x", {}), ("/", {"X-Function": "nope"})],
)
def test_unknown_function_is_404_naming_it(
    client: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    response = client.post(path, headers=headers, content=b"x")
    assert response.status_code == 404
    assert response.text == "function 'nope' not found\n"


def test_routing_never_creates_what_it_names(gateway: GatewayThread, client: httpx.Client) -> None:
    before = list(gateway.provider.functions())
    for _ in range(3):
        assert client.get("/function/brand-new-function").status_code == 404
    assert list(gateway.provider.functions()) == before


# Alexa ----------------------------------------------------------------------------------


@pytest.mark.parametrize("intent", ["cat", "CAT", "Cat"])
def test_alexa_intent_routes_exact_then_lower_case(client: httpx.Client, intent: str) -> None:
    body = intent_request(intent)
    response = client.post("/", json=body)
    assert response.status_code == 200
    assert response.json() == body  # cat: the function got the Alexa request unchanged


def test_alexa_intent_maps_underscores_to_dashes(
    gateway: GatewayThread, client: httpx.Client
) -> None:
    cat = gateway.provider.lookup("cat")
    assert cat is not None
    assert isinstance(gateway.provider, StaticProvider)
    gateway.provider.registry.upsert(
        Function("hello-world", "x", 1, "127.0.0.1", cat.upstream_port)
    )
    try:
        response = client.post("/", json=intent_request("Hello_World"))
        assert response.status_code == 200
    finally:
        gateway.provider.registry.remove("hello-world")


def test_alexa_intent_uses_short_names(client: httpx.Client) -> None:
    seen = seen_by_function(client.post("/", json=intent_request("Env")))
    assert seen["Http_Path"] == "/"


def test_alexa_unknown_intent_is_404_naming_it(client: httpx.Client) -> None:
    response = client.post("/", json=intent_request("AMAZON.HelpIntent"))
    assert response.status_code == 404
    assert "'AMAZON.HelpIntent' not found" in response.text


def test_alexa_launch_gets_alexa_reply(client: httpx.Client) -> None:
    response = client.post("/", json=alexa_request({"type": "LaunchRequest"}))
    assert response.status_code == 200
    reply = response.json()
    assert reply["version"] == "1.0"
    assert reply["response"]["outputSpeech"]["type"] == "PlainText"


def test_alexa_session_ended_gets_empty_reply(client: httpx.Client) -> None:
    body = alexa_request({"type": "SessionEndedRequest", "reason": "USER_INITIATED"})
    response = client.post("/", json=body)
    assert response.status_code == 200
    assert response.json() == {"version": "1.0", "response": {}}


def test_alexa_intent_without_name_is_400(client: httpx.Client) -> None:
    body = alexa_request({"type": "IntentRequest", "intent": {}})
    assert client.post("/", json=body).status_code == 400


def test_alexa_is_not_sniffed_without_json_content_type(client: httpx.Client) -> None:
    content = json.dumps(intent_request("cat")).encode()
    response = client.post("/", content=content, headers={"Content-Type": "text/plain"})
    assert response.status_code == 404
    assert "no function named" in response.text


def test_alexa_body_over_the_buffer_limit_says_why_it_was_not_routed(
    client: httpx.Client,
) -> None:
    request = intent_request("cat")
    request["padding"] = "x" * 70_000
    response = client.post("/", json=request)
    assert response.status_code == 404
    assert "is not read for Alexa routing: the limit is GATEWAY_BUFFER_LIMIT" in response.text


# Errors ---------------------------------------------------------------------------------


def test_zero_replicas_is_503_when_it_cannot_be_woken(client: httpx.Client) -> None:
    # Any function at zero is woken by a call; the static provider cannot scale, and says so.
    response = client.get("/function/zero")
    assert response.status_code == 503
    assert response.text.startswith("function 'zero' has no running replicas: scale is not")
    assert response.headers["x-call-id"]


def test_a_switched_off_function_is_not_woken(client: httpx.Client) -> None:
    response = client.get("/function/off")
    assert response.status_code == 503
    assert response.text == (
        "function 'off' has no running replicas: it is switched off (com.faas.paused=true), "
        "so calls do not wake it\n"
    )


def test_unresolvable_host_is_503(client: httpx.Client) -> None:
    response = client.get("/function/ghost")
    assert response.status_code == 503
    assert "'ghost' has no running replicas" in response.text


def test_connection_refused_is_502_naming_function(client: httpx.Client) -> None:
    response = client.post("/function/refused", content=b"x")
    assert response.status_code == 502
    assert "function 'refused'" in response.text
    assert response.text.count("\n") == 1


def test_connect_failure_retries_another_replica(client: httpx.Client) -> None:
    # `pair` alternates 127.0.0.1 (answers) and 127.0.0.2 (refuses): every call succeeds.
    for index in range(6):
        response = client.post("/function/pair", content=str(index).encode())
        assert response.status_code == 200
        assert response.content == str(index).encode()


def test_connection_reset_is_502() -> None:
    with FaultyUpstream("reset") as faulty:
        provider = StaticProvider([Function("flaky", "x", 1, "127.0.0.1", faulty.port)])
        with GatewayThread(provider) as gateway, gateway.client() as http:
            response = http.post("/function/flaky", content=b"x")
    assert response.status_code == 502
    assert "function 'flaky'" in response.text


def test_upstream_timeout_is_504() -> None:
    with FaultyUpstream("silent") as faulty:
        provider = StaticProvider([Function("sleepy", "x", 1, "127.0.0.1", faulty.port)])
        with GatewayThread(provider, upstream_timeout=0.5) as gateway, gateway.client() as http:
            response = http.post("/function/sleepy", content=b"x")
    assert response.status_code == 504
    assert response.text == "function 'sleepy' did not answer within 0.5s\n"


# Headers --------------------------------------------------------------------------------


def test_forwarded_headers_are_added(gateway: GatewayThread, client: httpx.Client) -> None:
    seen = seen_by_function(client.get("/function/env", headers={"Host": "api.example.test"}))
    assert seen["Http_X_Forwarded_For"] == "127.0.0.1"
    assert seen["Http_X_Forwarded_Host"] == "api.example.test"
    assert seen["Http_X_Forwarded_Proto"] == "http"
    function = gateway.provider.lookup("env")
    assert function is not None
    assert seen["Http_Host"] == f"127.0.0.1:{function.upstream_port}"


def test_forwarded_for_is_appended(client: httpx.Client) -> None:
    response = client.get("/function/env", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen_by_function(response)["Http_X_Forwarded_For"] == "203.0.113.7, 127.0.0.1"


def test_call_id_is_generated_and_returned(client: httpx.Client) -> None:
    response = client.get("/function/env")
    call_id = response.headers["x-call-id"]
    assert len(call_id) == 36
    assert seen_by_function(response)["Http_X_Call_Id"] == call_id
    assert client.get("/function/env").headers["x-call-id"] != call_id


def test_every_answer_has_openfaas_timing_headers(client: httpx.Client) -> None:
    """As the OpenFaaS gateway: when the call arrived (Unix ns) and how long it took."""
    before = time.time_ns()
    response = client.get("/function/env")
    after = time.time_ns()
    assert before <= int(response.headers["x-start-time"]) <= after
    assert 0 <= float(response.headers["x-duration-seconds"]) <= (after - before) / 1e9
    assert "," not in response.headers["x-duration-seconds"]  # the watchdog's gave way


def test_caller_call_id_is_kept(client: httpx.Client) -> None:
    response = client.get("/function/env", headers={"X-Call-Id": "my-call-42"})
    assert response.headers["x-call-id"] == "my-call-42"
    assert seen_by_function(response)["Http_X_Call_Id"] == "my-call-42"


def test_hop_by_hop_headers_are_not_forwarded(client: httpx.Client) -> None:
    response = client.get(
        "/function/env",
        headers={
            "Connection": "keep-alive, X-Private",
            "X-Private": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Custom": "kept",
        },
    )
    seen = seen_by_function(response)
    for name in ("Connection", "X_Private", "Keep_Alive", "Te", "Proxy_Authorization"):
        assert f"Http_{name}" not in seen
    assert seen["Http_X_Custom"] == "kept"


def test_no_headers_added_beyond_forwarding(client: httpx.Client) -> None:
    response = client.post(
        "/function/env", content=b"x", headers={"User-Agent": "probe/1", "Accept": "*/*"}
    )
    seen = seen_by_function(response)
    assert seen["Http_User_Agent"] == "probe/1"
    assert "Http_Content_Type" not in seen
    assert set(seen) <= {
        "Http_Method", "Http_Path", "Http_Query",
        "Http_Host", "Http_User_Agent", "Http_Accept", "Http_Accept_Encoding",
        "Http_Content_Length", "Http_X_Call_Id",
        "Http_X_Forwarded_For", "Http_X_Forwarded_Host", "Http_X_Forwarded_Proto",
        "Http_X_Real_Ip", "Http_X_Faas_Hops",
    }  # fmt: skip


def test_compressed_bytes_pass_through(client: httpx.Client) -> None:
    payload = gzip.compress(b"hello " * 100)
    response = client.post(
        "/function/cat",
        content=payload,
        headers={"Content-Type": "application/gzip", "Accept-Encoding": "identity"},
    )
    assert response.content == payload  # not decompressed by the gateway


# Bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024])
def test_bodies_of_every_size_round_trip(client: httpx.Client, size: int) -> None:
    payload = os.urandom(size)
    response = client.post("/function/cat", content=payload)
    assert response.status_code == 200
    assert response.content == payload


def test_chunked_request_body_is_streamed(client: httpx.Client) -> None:
    parts = [os.urandom(100_000) for _ in range(5)]

    def chunks() -> Iterator[bytes]:
        yield from parts

    response = client.post("/function/cat", content=chunks())
    assert response.status_code == 200
    assert response.content == b"".join(parts)
    seen = seen_by_function(client.post("/function/env", content=chunks()))
    assert seen["Http_Transfer_Encoding"] == "chunked"


def test_healthz_reports_provider_readiness(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_gateway_credentials_never_reach_a_function(env_watchdog: BackgroundProcess) -> None:
    provider = StaticProvider([Function("env", "env:latest", 1, "127.0.0.1", env_watchdog.port)])
    credentials = BasicAuthCredentials("admin", "s3cret")
    for invoke_auth in (False, True):
        with (
            GatewayThread(provider, basic_auth=credentials, invoke_auth=invoke_auth) as gateway,
            gateway.client() as client,
        ):
            seen = seen_by_function(client.post("/function/env", auth=("admin", "s3cret")))
            assert "Http_Authorization" not in seen
    # Any other Authorization header is the function's business.
    with GatewayThread(provider, basic_auth=credentials) as gateway, gateway.client() as client:
        other = client.post("/function/env", headers={"Authorization": "Bearer abc"})
        assert seen_by_function(other)["Http_Authorization"] == "Bearer abc"


def test_client_leaving_mid_body_on_the_alexa_path_is_dropped_quietly(
    gateway: GatewayThread, client: httpx.Client
) -> None:
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 50\r\n\r\n{"ve'
        )
    # The gateway is still serving normally afterwards.
    assert client.post("/function/cat", content=b"still here").content == b"still here"


def _running(command: str, ancestor: int) -> bool:
    """Whether a live process named `command` descends from `ancestor` (read from /proc)."""
    parents: dict[int, tuple[int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="latin-1") as stat:
                    head, _, rest = stat.read().rpartition(")")
            except OSError:
                continue
            fields = rest.split()
            parents[int(entry)] = (int(fields[1]), fields[0], head.partition("(")[2])
    for parent, state, name in parents.values():
        if name != command or state == "Z":
            continue
        while parent > 1:
            if parent == ancestor:
                return True
            parent = parents.get(parent, (0, "", ""))[0]
    return False


def test_caller_leaving_a_streamed_response_stops_the_function(tmp_path: Path) -> None:
    # `yes` streams forever: without noticing the caller has gone, the gateway would keep
    # reading it until its upstream timeout (an hour here), and the process would run on.
    with start_watchdog("yes", tmp_path, {"exec_timeout": "0"}) as replica:
        provider = StaticProvider([Function("yes", "yes", 1, "127.0.0.1", replica.port)])
        with GatewayThread(provider, upstream_timeout=3600.0) as gateway:
            with gateway.client() as client, client.stream("POST", "/function/yes") as response:
                assert response.status_code == 200
                chunks = response.iter_bytes()  # kept: dropping it would close the stream
                assert next(chunks).startswith(b"y\n")
                assert _running("yes", replica.process.pid), "the function is running"
            deadline = time.monotonic() + 20
            while _running("yes", replica.process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _running("yes", replica.process.pid), "the function still runs"
            with gateway.client() as client:
                metrics = client.get("/metrics").text
            assert 'gateway_function_invocation_total{code="499",function_name="yes"} 1.0' in (
                metrics
            )


@pytest.mark.parametrize("closed", [False, True], ids=["unterminated", "closed"])
def test_alexa_body_nested_too_deeply_is_no_route_without_a_traceback(
    client: httpx.Client, caplog: pytest.LogCaptureFixture, closed: bool
) -> None:
    # Issue 15, item 7: this was a 500 and a RecursionError traceback per request.
    depth = 30_000  # under GATEWAY_BUFFER_LIMIT even when closed: the body is read
    nested = "[" * depth + ("]" * depth if closed else "")
    content = '{"request": {"type": "IntentRequest", "intent": {"name": "cat"}}, "x": ' + nested
    content += "}" if closed else ""
    response = client.post("/", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert "no function named by POST /" in response.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
