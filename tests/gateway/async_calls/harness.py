"""Real parts for async-call tests: a nats-server with JetStream on a free port, a scripted
HTTP upstream that records what it gets (it is also the callback receiver), and the
queue consumer in a background thread or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.async_calls.__main__ import run_consumer
from gateway.async_calls.broker import Broker
from gateway.config import AsyncConfig, GatewayConfig
from gateway.providers.base import Function
from tests.gateway.harness import REPO, BackgroundProcess
from tests.support import free_port, require_tool


def start_nats(store: Path, port: int | None = None) -> BackgroundProcess:
    """`nats-server` with JetStream, file storage in `store`, on 127.0.0.1 only."""
    binary = require_tool("nats-server", "scripts/nats.sh")
    port = port or free_port()
    return BackgroundProcess(
        [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)], port
    )


@dataclass
class Received:
    """One request the upstream got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Script = Callable[[Received, int], Reply]
"""What to answer: given the request and how many the path got before it (0 first)."""


def echo(request: Received, seen: int) -> Reply:
    """200 with the request body."""
    return 200, {"Content-Type": "text/plain"}, request.body


@dataclass
class ScriptedUpstream:
    """An HTTP server on 127.0.0.1 answering by `script`, recording every request."""

    script: Script = echo
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        upstream = self
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Received(self.command, self.path, headers, body)
                with upstream.lock:
                    seen = sum(1 for r in upstream.received if r.path == request.path)
                    upstream.received.append(request)
                status, headers, reply = upstream.script(request, seen)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_PUT = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests_to(self, prefix: str) -> list[Received]:
        """The requests whose path starts with `prefix`."""
        with self.lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def async_config(nats_port: int, **overrides: Any) -> AsyncConfig:
    """Settings for tests: short waits, the given broker."""
    return dataclasses.replace(
        AsyncConfig(nats_url=f"nats://127.0.0.1:{nats_port}", ack_wait=2.0, publish_timeout=2.0),
        **overrides,
    )


@contextlib.asynccontextmanager
async def connected_broker(config: AsyncConfig) -> AsyncIterator[Broker]:
    """A `Broker` on `config`, connected (within 10 s, asserted), closed on leaving."""
    broker = Broker(config, name="test")
    await broker.start()
    try:
        assert await broker.wait_ready(10)
        yield broker
    finally:
        await broker.close()


def queued_calls(config: AsyncConfig) -> int:
    """How many calls the calls stream holds now, asked over a connection of its own."""

    async def count() -> int:
        async with connected_broker(config) as broker:
            return sum((await broker.queue.pending()).values())

    return asyncio.run(count())


class ConsumerThread:
    """The queue consumer (`run_consumer`) on its own event loop in a background thread."""

    def __init__(self, config: GatewayConfig, functions: Sequence[Function]) -> None:
        self.config = dataclasses.replace(
            config,
            provider="static",
            static_functions=tuple(functions),
            async_calls=dataclasses.replace(config.async_calls, consumer_port=free_port()),
        )
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._started.set()
            await run_consumer(self.config, self._stop)

        self._loop.run_until_complete(main())

    def __enter__(self) -> ConsumerThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)

    @property
    def metrics_url(self) -> str:
        """Where this consumer serves /metrics."""
        return f"http://127.0.0.1:{self.config.async_calls.consumer_port}/metrics"


def worker_process(
    nats_port: int, functions: Mapping[str, int], env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m gateway.async_calls` as a child process over static functions."""
    static = ",".join(f"{name}=127.0.0.1:{port}" for name, port in functions.items())
    settings = {
        **os.environ,
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": static,
        "GATEWAY_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "GATEWAY_ASYNC_ACK_WAIT": "2",
        "GATEWAY_ASYNC_WORKER_PORT": str(free_port()),
        "GATEWAY_LOG_LEVEL": "warning",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.async_calls"],
        env=settings,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def json_of(response: Any) -> Any:
    """A response's JSON body (httpx)."""
    return json.loads(response.content)


def function(name: str, port: int, labels: Mapping[str, str] | None = None) -> Function:
    """A one-replica static function on 127.0.0.1:`port`."""
    return Function(name, f"{name}:test", 1, "127.0.0.1", port, labels=dict(labels or {}))
