"""`FunctionProxy` in-process: raw ASGI messages in, what it sent and told out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.calls import Calls
from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.http_errors import ErrorFormat
from gateway.management.auth import RequireBasicAuth
from gateway.providers.base import Function
from gateway.proxy.forwarder import Forwarder
from gateway.proxy.handler import FunctionProxy
from gateway.proxy.replicas import ReplicaResolver
from gateway.routing import resolve

CAT = Function("cat", "cat:latest", 1, "127.0.0.1", 1)


class Recorder:
    """An invocation notifier that remembers what it was told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, ...]] = []

    def invocation_started(self, function_name: str) -> None:
        self.told.append(("started", function_name))

    def invocation_finished(self, function_name: str, code: int, seconds: float) -> None:
        self.told.append(("finished", function_name, str(code)))


def alexa_scope(length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)],
    }


def run(proxy: FunctionProxy, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[Any]:
    sent: list[Any] = []
    incoming = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(proxy(scope, receive, send))
    return sent


def make_proxy(notifier: Recorder, looked_up: list[str]) -> FunctionProxy:
    def lookup(name: str) -> Function | None:
        looked_up.append(name)
        return CAT if name == "cat" else None

    forwarder = Forwarder(GatewayConfig(), ReplicaResolver(1.0))
    return FunctionProxy(resolve, Calls(lookup), forwarder, notifier, buffer_limit=65536)


def test_caller_leaving_while_the_alexa_body_is_read_gets_nothing_and_counts_nothing() -> None:
    notifier, looked_up = Recorder(), list[str]()
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"ve', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent = run(make_proxy(notifier, looked_up), alexa_scope(50), messages)
    assert sent == []  # nobody to answer
    assert notifier.told == []  # no call started: nothing was routed
    assert looked_up == []  # the body was never parsed, so no intent was looked up


def test_alexa_launch_is_answered_by_the_gateway_without_a_function() -> None:
    notifier, looked_up = Recorder(), list[str]()
    body = json.dumps({"version": "1.0", "request": {"type": "LaunchRequest"}}).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = run(make_proxy(notifier, looked_up), alexa_scope(len(body)), messages)
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["response"]["shouldEndSession"] is True
    assert notifier.told == []
    assert looked_up == []


def test_unknown_function_is_plain_text_404_and_not_counted() -> None:
    notifier, looked_up = Recorder(), list[str]()
    scope = {**alexa_scope(0), "path": "/function/nope", "raw_path": b"/function/nope"}
    sent = run(make_proxy(notifier, looked_up), scope, [])
    assert sent[0]["status"] == 404
    assert (b"content-type", b"text/plain; charset=utf-8") in sent[0]["headers"]
    assert sent[1]["body"] == b"function 'nope' not found\n"
    assert notifier.told == []
    assert looked_up == ["nope"]


def test_a_401_on_invoke_is_plain_text_like_every_other_invoke_error() -> None:
    notifier, looked_up = Recorder(), list[str]()
    guarded = RequireBasicAuth(
        make_proxy(notifier, looked_up),
        BasicAuthCredentials("admin", "pw"),
        what="function invocation",
        error_format=ErrorFormat.TEXT,
    )
    scope = {**alexa_scope(0), "path": "/function/cat", "raw_path": b"/function/cat"}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body is never read")

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(guarded(scope, receive, send))
    assert sent[0]["status"] == 401
    assert (b"content-type", b"text/plain; charset=utf-8") in sent[0]["headers"]
    assert sent[1]["body"] == b"function invocation: authentication required (HTTP basic auth)\n"
    assert notifier.told == []


def test_a_name_without_a_dot_is_looked_up_once() -> None:
    notifier, looked_up = Recorder(), list[str]()
    scope = {**alexa_scope(0), "path": "/function/nope", "raw_path": b"/function/nope"}
    run(make_proxy(notifier, looked_up), scope, [])
    assert looked_up == ["nope"]  # no namespace to read: nothing more is done


def test_a_namespace_suffix_is_read_only_when_the_name_misses() -> None:
    notifier, looked_up = Recorder(), list[str]()
    path = b"/function/nope.openfaas-fn"
    scope = {**alexa_scope(0), "path": path.decode(), "raw_path": path}
    sent = run(make_proxy(notifier, looked_up), scope, [])
    assert sent[0]["status"] == 404
    assert looked_up == ["nope.openfaas-fn", "nope"]


def test_a_sync_call_to_a_job_function_is_told_to_use_async() -> None:
    job = Function("heavy", "heavy:latest", 0, "127.0.0.1", 1, labels={"com.faas.mode": "job"})
    notifier = Recorder()
    forwarder = Forwarder(GatewayConfig(), ReplicaResolver(1.0))
    proxy = FunctionProxy(resolve, Calls(lambda name: job), forwarder, notifier, buffer_limit=65536)
    scope = {**alexa_scope(0), "path": "/function/heavy", "raw_path": b"/function/heavy"}
    sent = run(proxy, scope, [{"type": "http.request", "body": b"", "more_body": False}])
    assert sent[0]["status"] == 400
    assert b"POST /async-function/heavy" in sent[1]["body"]
    assert notifier.told == []  # never started, never woken
