"""`/system/prometheus/api/v1/<endpoint>` against a real HTTP server in Prometheus's place."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.config import BasicAuthCredentials, GatewayConfig
from gateway.management import prometheus
from tests.gateway.management.test_api_in_process import AUTH
from tests.gateway.management.test_api_in_process import call as call_api
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import free_port


class _Prometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "success", "path": self.path}).encode()
        status = 400 if "bad" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def prometheus_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(url: str, path: str, auth: Any = AUTH) -> httpx.Response:
    config = GatewayConfig(basic_auth=BasicAuthCredentials(*AUTH), prometheus_url=url)
    return call_api(MemoryProvider(), "GET", path, auth=auth, config=config)


def test_a_query_is_forwarded_with_its_query_string(prometheus_url: str) -> None:
    reply = call(
        prometheus_url, "/prometheus/api/v1/query?query=up%7Bjob%3D%22gateway%22%7D&time=1"
    )
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "success",
        "path": "/api/v1/query?query=up%7Bjob%3D%22gateway%22%7D&time=1",
    }


def test_prometheus_errors_keep_their_status(prometheus_url: str) -> None:
    reply = call(prometheus_url, "/prometheus/api/v1/query?query=bad")
    assert reply.status_code == 400
    assert reply.json()["path"] == "/api/v1/query?query=bad"


def test_only_the_query_endpoints_are_served(prometheus_url: str) -> None:
    for path in ("/prometheus/api/v1/admin", "/prometheus/api/v1/..%2Fadmin", "/prometheus/-/quit"):
        reply = call(prometheus_url, path)
        assert reply.status_code == 404, path
    assert (
        "these are served: query, query_range"
        in call(prometheus_url, "/prometheus/api/v1/admin").json()["error"]
    )


def test_credentials_are_needed(prometheus_url: str) -> None:
    assert call(prometheus_url, "/prometheus/api/v1/query?query=up", auth=None).status_code == 401


def test_without_a_configured_prometheus_it_is_a_404() -> None:
    reply = call("", "/prometheus/api/v1/query?query=up")
    assert reply.status_code == 404
    assert "GATEWAY_PROMETHEUS_URL" in reply.json()["error"]


def test_an_answer_over_the_bound_is_a_502(
    prometheus_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus, "ANSWER_LIMIT", 10)
    reply = call(prometheus_url, "/prometheus/api/v1/query?query=up")
    assert reply.status_code == 502
    assert "narrow the query" in reply.json()["error"]


def test_a_prometheus_that_does_not_answer_is_a_502() -> None:
    reply = call(f"http://127.0.0.1:{free_port()}", "/prometheus/api/v1/query?query=up")
    assert reply.status_code == 502
    assert (
        reply.json()["error"] == "Prometheus did not answer (ConnectError); see the gateway's log"
    )
