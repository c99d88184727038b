"""Async calls end to end on loopback: gateway, a real nats-server, the queue consumer and a
scripted upstream (docs/async.md)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import httpx
import pytest

from faas_cli.__main__ import main as cli
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    Received,
    Reply,
    ScriptedUpstream,
    async_config,
    function,
    start_nats,
    worker_process,
)
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import free_port, wait_for

AUTH = (CREDENTIALS.user, CREDENTIALS.password)


def status_of(gateway: GatewayThread, call_id: str) -> dict[str, object]:
    with gateway.client() as client:
        response = client.get(f"/system/async/{call_id}", auth=AUTH)
    assert response.status_code == 200, response.text
    record: dict[str, object] = response.json()
    return record


def wait_for_state(gateway: GatewayThread, call_id: str, state: str) -> dict[str, object]:
    found: dict[str, object] = {}

    def reached() -> bool:
        found.update(status_of(gateway, call_id))
        return found["state"] == state

    wait_for(reached, f"call {call_id} to be {state}", timeout=30)
    return found


def enqueue(
    gateway: GatewayThread, path: str, body: bytes = b"hello", **headers: str
) -> httpx.Response:
    with gateway.client() as client:
        return client.post(path, content=body, headers=headers)


def test_202_once_stored_then_queued_until_a_consumer_runs_it(
    gateway: GatewayThread, upstream: ScriptedUpstream, provider: StaticProvider
) -> None:
    response = enqueue(gateway, "/async-function/echo/some/path?x=1", b"payload")
    assert response.status_code == 202
    call_id = response.headers["X-Call-Id"]
    assert status_of(gateway, call_id)["state"] == "queued"
    assert upstream.received == []
    with ConsumerThread(gateway.config, provider.functions()):
        record = wait_for_state(gateway, call_id, "succeeded")
    assert record["status"] == 200
    assert record["body"] == "payload"
    assert record["attempt"] == 1
    (request,) = upstream.received
    assert (request.method, request.path, request.body) == ("POST", "/some/path?x=1", b"payload")
    assert request.headers["x-call-id"] == call_id
    assert request.headers["x-start-time"].isdigit()


def test_put_and_the_namespace_suffix_faas_cli_sends(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    with gateway.client() as client:
        response = client.put("/async-function/echo.openfaas-fn", content=b"x")
    assert response.status_code == 202
    wait_for_state(gateway, response.headers["X-Call-Id"], "succeeded")
    assert upstream.received[0].method == "PUT"


def test_refused_at_enqueue(gateway: GatewayThread) -> None:
    with gateway.client() as client:
        assert client.post("/async-function/nothing", content=b"x").status_code == 404
        assert client.get("/async-function/echo").status_code == 405
        assert client.post("/async-function/echo", content=b"x" * 1001).status_code == 413
        off_list = client.post(
            "/async-function/echo",
            content=b"x",
            headers={"X-Callback-Url": "http://10.0.0.1:8080/function/echo"},
        )
        assert off_list.status_code == 400
        assert "not allowed" in off_list.text
        assert client.get("/system/async/whatever").status_code == 401


def test_broker_down_is_503_with_the_reason(tmp_path: Path, provider: StaticProvider) -> None:
    config = async_config(free_port())
    with GatewayThread(provider, async_calls=config) as gateway:
        response = enqueue(gateway, "/async-function/echo")
    assert response.status_code == 503
    assert "message broker unavailable" in response.text


def test_broker_stopped_after_start_is_503(
    nats_server: BackgroundProcess, gateway: GatewayThread
) -> None:
    assert enqueue(gateway, "/async-function/echo").status_code == 202
    nats_server.stop()
    response = enqueue(gateway, "/async-function/echo")
    assert response.status_code == 503
    assert "message broker unavailable" in response.text


def test_callback_gets_the_result_with_openfaas_headers(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    response = enqueue(
        gateway,
        "/async-function/echo",
        b"result!",
        **{"X-Callback-Url": f"{upstream.url}/callback/1"},
    )
    call_id = response.headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "succeeded")
    assert record["callbackStatus"] == 200
    (callback,) = upstream.requests_to("/callback")
    assert callback.body == b"result!"
    assert callback.headers["x-call-id"] == call_id
    assert callback.headers["x-function-status"] == "200"
    assert callback.headers["x-function-name"] == "echo"
    assert float(callback.headers["x-duration-seconds"]) >= 0


def fail_times(failures: int, status: int = 503) -> object:
    def script(request: Received, seen: int) -> Reply:
        if request.path.startswith("/callback") or seen >= failures:
            return 200, {}, b"ok"
        return status, {}, b"try again"

    return script


def test_retried_until_it_succeeds(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(2)  # type: ignore[assignment]
    call_id = enqueue(gateway, "/async-function/echo").headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "succeeded")
    assert record["attempt"] == 3
    assert len(upstream.received) == 3


def test_not_retried_on_a_code_outside_the_list(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(5, status=400)  # type: ignore[assignment]
    call_id = enqueue(gateway, "/async-function/echo").headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "failed")
    assert (record["status"], record["attempt"]) == (400, 1)


def test_dead_lettered_after_the_last_attempt_then_redriven(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(1000)  # type: ignore[assignment]
    call_id = enqueue(gateway, "/async-function/flaky", b"again").headers["X-Call-Id"]
    record = wait_for_state(gateway, call_id, "failed")
    assert (record["status"], record["attempt"], record["deadLettered"]) == (503, 3, True)
    assert len(upstream.received) == 3
    with gateway.client() as client:
        listed = client.get("/system/async/dlq", auth=AUTH).json()
        assert listed["total"] == 1
        assert [call["callId"] for call in listed["calls"]] == [call_id]
        shown = client.get(f"/system/async/dlq/{call_id}", auth=AUTH).json()
        assert shown["attempts"] == 3
        assert shown["function"] == "flaky"
        upstream.script = fail_times(0)  # type: ignore[assignment]
        redriven = client.post(f"/system/async/dlq/{call_id}/redrive", auth=AUTH)
        assert redriven.status_code == 202
    record = wait_for_state(gateway, call_id, "succeeded")
    assert record["attempt"] == 1
    assert upstream.received[-1].body == b"again"
    with gateway.client() as client:
        assert client.get("/system/async/dlq", auth=AUTH).json()["total"] == 0
        assert client.get(f"/system/async/dlq/{call_id}", auth=AUTH).status_code == 404


def test_purge_empties_the_dead_letter_queue(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    upstream.script = fail_times(1000)  # type: ignore[assignment]
    ids = [enqueue(gateway, "/async-function/flaky").headers["X-Call-Id"] for _ in range(2)]
    for call_id in ids:
        wait_for_state(gateway, call_id, "failed")
    with gateway.client() as client:
        assert client.delete("/system/async/dlq", auth=AUTH).json() == {"purged": 2}
        assert client.get("/system/async/dlq", auth=AUTH).json()["total"] == 0


def test_an_idempotency_key_runs_the_call_once(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    key = {"X-Idempotency-Key": "order-42"}
    first = enqueue(gateway, "/async-function/echo", b"a", **key)
    second = enqueue(gateway, "/async-function/echo", b"a", **key)
    assert first.status_code == second.status_code == 202
    call_id = first.headers["X-Call-Id"]
    assert second.headers["x-call-id"] == call_id
    wait_for_state(gateway, call_id, "succeeded")
    other = enqueue(gateway, "/async-function/echo", b"b", **{"X-Idempotency-Key": "order-43"})
    wait_for_state(gateway, other.headers["X-Call-Id"], "succeeded")
    assert [request.body for request in upstream.received] == [b"a", b"b"]


def test_a_consumer_killed_mid_call_leaves_it_to_be_delivered_again(
    gateway: GatewayThread, upstream: ScriptedUpstream, nats_server: BackgroundProcess
) -> None:
    entered = threading.Event()

    def hang_first(request: Received, seen: int) -> Reply:
        if seen == 0:
            entered.set()
            upstream.release.wait(30)
        return 200, {}, b"second time"

    upstream.script = hang_first
    call_id = enqueue(gateway, "/async-function/echo").headers["X-Call-Id"]
    functions = {"echo": upstream.port}
    first = worker_process(nats_server.port, functions)
    assert first.stderr is not None
    try:
        assert entered.wait(30), "the first consumer never called the function"
        assert status_of(gateway, call_id)["state"] == "running"
        first.kill()
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    second = worker_process(nats_server.port, functions)
    try:
        record = wait_for_state(gateway, call_id, "succeeded")
    finally:
        second.terminate()
        second.wait(10)
    assert record["attempt"] == 2
    assert record["body"] == "second time"
    assert len(upstream.received) == 2


def test_calls_survive_a_broker_restart(
    tmp_path: Path, provider: StaticProvider, upstream: ScriptedUpstream
) -> None:
    store, port = tmp_path / "js", free_port()
    nats = start_nats(store, port).__enter__()
    config = async_config(port)
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as gateway:
        call_id = enqueue(gateway, "/async-function/echo", b"kept").headers["X-Call-Id"]
        nats.stop()
        with start_nats(store, port), ConsumerThread(gateway.config, provider.functions()):
            wait_for(
                lambda: enqueue(gateway, "/async-function/echo").status_code == 202,
                "the gateway to reconnect",
            )
            wait_for_state(gateway, call_id, "succeeded")
    assert upstream.received[0].body == b"kept"


def test_status_of_an_unknown_call_is_404(gateway: GatewayThread) -> None:
    with gateway.client() as client:
        assert client.get("/system/async/no-such-call", auth=AUTH).status_code == 404
        assert client.get("/system/async/bad%20id", auth=AUTH).status_code == 400


def test_consumer_metrics(
    gateway: GatewayThread, consumer: ConsumerThread, upstream: ScriptedUpstream
) -> None:
    call_id = enqueue(gateway, "/async-function/echo").headers["X-Call-Id"]
    wait_for_state(gateway, call_id, "succeeded")
    text = httpx.get(consumer.metrics_url).text
    assert 'gateway_async_completed_total{code="200",function_name="echo"} 1.0' in text
    assert "gateway_async_latency_seconds_count" in text


def test_max_inflight_bounds_the_calls_running_at_once(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream
) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow(request: Received, seen: int) -> Reply:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        upstream.release.wait(0.2)
        with lock:
            running -= 1
        return 200, {}, b"done"

    upstream.script = slow
    provider = StaticProvider(
        [function("one", upstream.port, {"com.faas.async.max_inflight": "1"})]
    )
    config = async_config(nats_server.port)
    with GatewayThread(provider, async_calls=config, basic_auth=CREDENTIALS) as gateway:
        ids = [enqueue(gateway, "/async-function/one").headers["X-Call-Id"] for _ in range(4)]
        with ConsumerThread(gateway.config, provider.functions()):
            for call_id in ids:
                wait_for_state(gateway, call_id, "succeeded")
    assert most == 1


def test_the_cli_queues_and_reads_the_status(
    gateway: GatewayThread,
    consumer: ConsumerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAAS_USER", CREDENTIALS.user)
    monkeypatch.setenv("FAAS_PASSWORD", CREDENTIALS.password)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"from the cli")))
    assert cli(["invoke", "--gateway", gateway.url, "--async", "echo"]) == 0
    call_id = capsys.readouterr().out.strip()
    wait_for_state(gateway, call_id, "succeeded")
    assert cli(["async", "--gateway", gateway.url, "--json", "status", call_id]) == 0
    assert json.loads(capsys.readouterr().out)["body"] == "from the cli"
    assert cli(["async", "--gateway", gateway.url, "dlq", "list"]) == 0
    assert "CALL ID" in capsys.readouterr().out
