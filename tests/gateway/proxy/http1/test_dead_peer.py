"""A replica whose host dies under a call: the client's TCP keepalive ends the call.

Real sockets and a real silent peer: a listener in a network namespace this test makes,
reached over a veth pair; mid-call the namespace's address is removed, so the client's
packets are dropped without a reset, as on a node that died. Needs root and `ip`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from multidict import CIMultiDict

from gateway.proxy.http1 import Http1Client
from gateway.proxy.http1 import connection as http1_connection
from gateway.proxy.upstream import PeerUnresponsive

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)

# Link-local, so no route of the machine's own can clash with it.
GATEWAY_SIDE, REPLICA_SIDE = "169.254.77.1", "169.254.77.2"
LISTENER = """
import socket, time
server = socket.socket()
server.bind(({address!r}, 8080))
server.listen()
print("listening", flush=True)
connection, _ = server.accept()
connection.recv(65536)
time.sleep(600)
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def replica_namespace() -> Iterator[tuple[str, str]]:
    """A namespace with a listener at `REPLICA_SIDE`:8080 that reads a request and never
    answers (its name and its interface's); removed afterwards with everything in it."""
    tag = f"fdp{os.getpid() % 100000}"
    namespace, outside, inside = f"{tag}-ns", f"{tag}a", f"{tag}b"
    ip("netns", "add", namespace)
    listener = None
    try:
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)
        ip("addr", "add", f"{GATEWAY_SIDE}/30", "dev", outside)
        ip("link", "set", outside, "up")
        ip("netns", "exec", namespace, "ip", "addr", "add", f"{REPLICA_SIDE}/30", "dev", inside)
        ip("netns", "exec", namespace, "ip", "link", "set", inside, "up")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c",
             LISTENER.format(address=REPLICA_SIDE)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening"
        yield namespace, inside
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def test_a_call_to_a_host_gone_silent_fails_by_keepalive(
    replica_namespace: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quicker probes than the gateway's own (5 s idle, 2 s x 3) to keep the test short.
    monkeypatch.setattr(http1_connection, "KEEPALIVE_IDLE", 1)
    monkeypatch.setattr(http1_connection, "KEEPALIVE_INTERVAL", 1)
    monkeypatch.setattr(http1_connection, "KEEPALIVE_PROBES", 2)

    async def scenario() -> BaseException | None:
        # The call's own timeout is far longer: only keepalive can end it first.
        http = Http1Client(max_connections=2, keepalive=5.0, connect_timeout=5.0, timeout=120.0)
        await http.start()
        headers = CIMultiDict([("Host", f"{REPLICA_SIDE}:8080")])
        call = asyncio.ensure_future(
            http.request("POST", REPLICA_SIDE, 8080, "/", headers, b"hi", None)
        )
        await asyncio.sleep(0.5)  # sent, and read by the listener
        assert not call.done()
        # The host goes silent: its address gone, packets to it are dropped, no reset.
        namespace, interface = replica_namespace
        ip("netns", "exec", namespace, "ip", "addr", "flush", "dev", interface)
        try:
            await call
        except BaseException as error:
            return error
        finally:
            await http.close()
        return None

    error = asyncio.run(scenario())
    assert isinstance(error, PeerUnresponsive), repr(error)
    assert "keepalive" in error.reason
