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
from dataclasses import dataclass

import pytest
from multidict import CIMultiDict

from gateway.proxy.http1 import Http1Client
from gateway.proxy.http1 import sockets as http1_sockets
from gateway.proxy.upstream import PeerUnresponsive

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)

# Link-local, so no route of the machine's own can clash with it.
GATEWAY_SIDE, REPLICA_SIDE = "169.254.77.1", "169.254.77.2"
# Answers each request with 200, except one whose body is "hang": read, never answered.
LISTENER = """
import socket, time
server = socket.socket()
server.bind(({address!r}, 8080))
server.listen()
print("listening", flush=True)
connection, _ = server.accept()
while True:
    request = connection.recv(65536)
    if request.endswith(b"hang"):
        print("hanging", flush=True)
        time.sleep(600)
    connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Replica:
    """The namespace with the listener: its name, its interface's, the listener."""

    namespace: str
    interface: str
    listener: subprocess.Popen[str]

    def goes_silent(self) -> None:
        """Its address removed: packets to it are dropped, and no reset ever comes."""
        ip("netns", "exec", self.namespace, "ip", "addr", "flush", "dev", self.interface)


@pytest.fixture
def replica(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replica]:
    """A namespace with a listener at `REPLICA_SIDE`:8080 (`LISTENER`), removed afterwards
    with everything in it; the client's dead-peer limit shortened to 3 s."""
    # Quicker than the gateway's own (5 s idle, 2 s x 3) to keep the tests short.
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_IDLE", 1)
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_INTERVAL", 1)
    monkeypatch.setattr(http1_sockets, "KEEPALIVE_PROBES", 2)
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
        yield Replica(namespace, inside, listener)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


async def call(http: Http1Client, body: bytes) -> bytes:
    headers = CIMultiDict([("Host", f"{REPLICA_SIDE}:8080")])
    response = await http.request("POST", REPLICA_SIDE, 8080, "/", headers, body, None)
    try:
        return await response.read()
    finally:
        response.release()


def client() -> Http1Client:
    # The call's own timeout is far longer: only the dead-peer limit can end it first.
    return Http1Client(max_connections=2, keepalive=30.0, connect_timeout=5.0, timeout=120.0)


def test_a_call_under_way_when_its_host_goes_silent_fails_by_keepalive(
    replica: Replica,
) -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        hanging = asyncio.ensure_future(call(http, b"hang"))
        try:
            assert replica.listener.stdout is not None
            await asyncio.to_thread(replica.listener.stdout.readline)  # read by the replica
            replica.goes_silent()
            await hanging
        finally:
            await http.close()

    with pytest.raises(PeerUnresponsive, match="went silent"):
        asyncio.run(scenario())


def test_a_call_sent_on_a_pooled_connection_to_a_silent_host_fails_too(
    replica: Replica,
) -> None:
    async def scenario() -> None:
        http = client()
        await http.start()
        try:
            assert await call(http, b"first") == b"ok"
            assert http.idle_connections == 1
            replica.goes_silent()  # while the connection waits in the pool
            await call(http, b"second")  # unacknowledged: keepalive never probes it
        finally:
            await http.close()

    with pytest.raises(PeerUnresponsive):
        asyncio.run(scenario())
