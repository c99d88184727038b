"""Differential fuzzing of the chain: generated request streams (tests/watchdog/fuzz_streams.py)
sent through a real gateway to a real watchdog. The watchdog must run the function exactly
as many times as the gateway forwarded a call: no input makes it see a request the gateway
did not send (smuggling) or lose one. docs/security.md, "Fuzzing the HTTP chain"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings

from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.harness import GatewayThread, start_watchdog
from tests.support import wait_for
from tests.watchdog.fuzz_parsers import httptools_outcome
from tests.watchdog.fuzz_streams import CHAIN_EXAMPLES, FUZZ_SETTINGS, request_stream

MARKER = b"called-by-the-chain-fuzzer"
PREFIX = b"/function/count"
LAST = b"GET /function/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
# Safety limit for a read that must end (the gateway closes the connection); not a timing
# assertion.
READ_LIMIT = 30.0
# How long the counts may take to settle (calls still running when the gateway closes the
# connection, after an error answer to a later request); a failure waits this long.
SETTLE = 10.0


class Chain:
    """A gateway in front of a watchdog whose function appends a line to `calls` per call."""

    def __init__(self, gateway: GatewayThread, calls: Path) -> None:
        self.gateway = gateway
        self.calls = calls

    def send(self, stream: bytes) -> bytes:
        """Send `stream` on one connection and read until the gateway closes it."""
        port = self.gateway.config.port
        with socket.create_connection(("127.0.0.1", port), timeout=READ_LIMIT) as sock:
            sock.sendall(stream)
            received = []
            while data := sock.recv(65536):
                received.append(data)
        return b"".join(received)

    def forwarded(self) -> int:
        """How many calls the gateway routed to the function so far."""
        metrics = self.gateway.app_state().metrics
        return int(metrics.invocation_counts().get("count", 0))

    def function_calls(self) -> int:
        """How many times the watchdog ran the function so far."""
        return self.calls.read_bytes().count(b"\n") if self.calls.exists() else 0


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    folder = tmp_path_factory.mktemp("chain")
    calls = folder / "calls"
    fprocess = f"sh -c 'echo >> {calls}; printf {MARKER.decode()}'"
    with start_watchdog(fprocess, folder) as watchdog:
        provider = StaticProvider(
            [Function("count", "count:latest", 1, "127.0.0.1", watchdog.port)]
        )
        with GatewayThread(provider) as gateway:
            yield Chain(gateway, calls)


@settings(FUZZ_SETTINGS, max_examples=CHAIN_EXAMPLES)
@given(stream=request_stream(PREFIX))
def test_the_watchdog_runs_what_the_gateway_forwards(chain: Chain, stream: bytes) -> None:
    front = httptools_outcome(stream)
    # Only streams the gateway accepts whole: one cut inside a message leaves it waiting
    # for its head deadline, and an error answer closes the connection with the calls
    # before it still in flight (counted as routed, cancelled before they reach the
    # watchdog).
    assume(front.end in ("eof", "closed"))
    if front.end == "eof":
        stream += LAST
    ran, forwarded = chain.function_calls(), chain.forwarded()
    answers = chain.send(stream)
    wait_for(
        lambda: chain.function_calls() - ran == chain.forwarded() - forwarded,
        f"as many runs as calls forwarded ({answers!r})",
        timeout=SETTLE,
    )
