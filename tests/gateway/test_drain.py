"""The gateway's drain on SIGTERM (`gateway.drain`): its clock and marker in-process, then
`python -m gateway` itself, alone and as a supervisor with two workers.

Outcomes only: what each call got and how the process ended, never how long it took.
The first phase is made long (and ended by a second SIGTERM) where a test acts inside it.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fwatchdog.values import parse_duration
from starlette.requests import Request

from gateway.config import load_config
from gateway.drain import DrainDelay, DrainMarker
from gateway.platform import Health
from gateway.providers.static import StaticProvider
from tests.gateway.gateway_upstreams import HeldUpstream
from tests.gateway.harness import BackgroundProcess
from tests.support import ROOT, free_port, wait_for

# Long enough that a test acting inside the first phase never sees it end by itself: the
# test ends it with a second SIGTERM.
LONG = "300"
FRESH_CONNECTIONS = 8


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_marker_is_seen_by_every_process_sharing_the_folder(tmp_path: Path) -> None:
    writer, reader = DrainMarker(tmp_path / "draining"), DrainMarker(tmp_path / "draining")
    assert not reader.is_set()
    writer.mark()
    assert writer.is_set()
    assert reader.is_set()
    (tmp_path / "draining").unlink()
    assert reader.is_set(), "once draining, always draining"


def test_marking_a_removed_folder_is_harmless(tmp_path: Path) -> None:
    marker = DrainMarker(tmp_path / "gone" / "draining")
    marker.mark()  # a late signal while the gateway removes its folder on the way out
    assert marker.is_set()


def test_the_delay_runs_from_the_first_sigterm(tmp_path: Path) -> None:
    clock = FakeClock()
    delay = DrainDelay(1.5, DrainMarker(tmp_path / "draining"), clock)
    assert not delay.over()
    with pytest.raises(RuntimeError):
        delay.remaining()
    delay.begin()
    assert delay.marker.is_set()
    assert (delay.remaining(), delay.over()) == (1.5, False)
    clock.now += 1.0
    assert (delay.remaining(), delay.over()) == (0.5, False)
    clock.now += 0.5
    assert (delay.remaining(), delay.over()) == (0.0, True)


def test_a_second_sigterm_ends_the_delay(tmp_path: Path) -> None:
    clock = FakeClock()
    delay = DrainDelay(60.0, DrainMarker(tmp_path / "draining"), clock)
    delay.begin()
    clock.now += 1.0
    delay.begin()
    assert (delay.remaining(), delay.over()) == (0.0, True)


def test_no_delay_ends_as_it_begins(tmp_path: Path) -> None:
    delay = DrainDelay(0.0, DrainMarker(tmp_path / "draining"), FakeClock())
    delay.begin()
    assert delay.over()
    assert delay.marker.is_set()


def healthz_answer(health: Health) -> tuple[int, object]:
    request = Request({"type": "http", "method": "GET", "path": "/healthz", "headers": []})
    response = asyncio.run(health.respond(request))
    return response.status_code, json.loads(bytes(response.body))


def test_healthz_is_503_draining_once_marked(tmp_path: Path) -> None:
    health = Health(StaticProvider(), DrainMarker(tmp_path / "draining"))
    assert healthz_answer(health) == (200, {"status": "ok"})
    DrainMarker(tmp_path / "draining").mark()  # by another process: the supervisor
    assert healthz_answer(health) == (503, {"status": "draining"})


def test_the_stack_leaves_the_drain_its_time_before_sigkill() -> None:
    gateway = yaml.safe_load((ROOT / "stack.yml").read_text())["services"]["gateway"]
    grace = parse_duration(gateway["stop_grace_period"])
    drain = {
        name: str(value)
        for name, value in gateway["environment"].items()
        if name.startswith("GATEWAY_DRAIN_")
    }
    config = load_config(drain)
    assert grace is not None
    assert grace > config.drain_peer_wait + config.drain_delay + config.drain_timeout


# --- python -m gateway ---------------------------------------------------------------


@pytest.fixture
def held() -> Iterator[HeldUpstream]:
    """An upstream that holds each call until the test releases it."""
    with HeldUpstream() as upstream:
        yield upstream


def start_gateway(
    tmp_path: Path,
    workers: str,
    cat_port: int,
    held_port: int,
    delay: str,
    timeout: str,
    **more: str,
) -> BackgroundProcess:
    """`python -m gateway` over `cat` (a watchdog) and `slow` (held), its shared folder and
    log under tmp_path; once every fresh connection gets a healthy answer. `more`: other
    settings (GATEWAY_PORT among them: a free port otherwise)."""
    port = int(more.pop("GATEWAY_PORT", "0")) or free_port()
    env = {
        "GATEWAY_WORKERS": workers,
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": f"cat=127.0.0.1:{cat_port},slow=127.0.0.1:{held_port}",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_UPSTREAM_TIMEOUT": "300",
        "GATEWAY_DRAIN_DELAY": delay,
        "GATEWAY_DRAIN_TIMEOUT": timeout,
        "GATEWAY_LOG_LEVEL": "info",
        "TMPDIR": str(tmp_path),
        **more,
    }
    process = BackgroundProcess(
        [sys.executable, "-m", "gateway"], port, env, log_file=tmp_path / "gateway.log"
    )
    process.wait_ready()
    wait_for(lambda: healthz(process.url) == [200] * FRESH_CONNECTIONS, "every worker", 30)
    return process


def healthz(url: str) -> list[int]:
    """`GET /healthz` on fresh connections, each landing on any worker."""
    return [httpx.get(f"{url}/healthz", timeout=30).status_code for _ in range(FRESH_CONNECTIONS)]


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


class SlowCall:
    """A call to `slow` from a thread, on its own connection."""

    def __init__(self, url: str, held: HeldUpstream) -> None:
        self.reply: httpx.Response | None = None
        self.error: httpx.HTTPError | None = None
        self._thread = threading.Thread(target=self._call, args=(url,), daemon=True)
        self._thread.start()
        assert held.arrived.acquire(timeout=60), "the slow call reached its upstream"

    def _call(self, url: str) -> None:
        try:
            self.reply = httpx.post(f"{url}/function/slow", content=b"slow", timeout=300)
        except httpx.HTTPError as error:
            self.error = error

    def result(self) -> httpx.Response | httpx.HTTPError | None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the slow call ended"
        return self.reply if self.reply is not None else self.error


def post_on(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", "/function/cat", body=body)
    reply = connection.getresponse()
    return reply.status, reply.read()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_then_stops_once_the_last_call_ends(
    tmp_path: Path, cat_watchdog: BackgroundProcess, held: HeldUpstream, workers: str
) -> None:
    gateway = start_gateway(tmp_path, workers, cat_watchdog.port, held.port, LONG, "300")
    with gateway:
        slow = SlowCall(gateway.url, held)
        # Opened before the signal, used again at once after it: well within the
        # gateway's keep-alive timeout, which would close it otherwise.
        kept = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        assert post_on(kept, b"before") == (200, b"before")
        kept_socket = kept.sock

        gateway.process.send_signal(signal.SIGTERM)
        # The first phase: /healthz says draining in every worker, every call is served.
        wait_for(lambda: 503 in healthz(gateway.url), "/healthz to say draining")
        assert post_on(kept, b"kept") == (200, b"kept")
        assert kept.sock is kept_socket, "served on the keep-alive connection opened before"
        fresh = httpx.post(f"{gateway.url}/function/cat", content=b"fresh", timeout=60)
        assert (fresh.status_code, fresh.text) == (200, "fresh")
        assert healthz(gateway.url) == [503] * FRESH_CONNECTIONS
        assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "draining"}

        # A second SIGTERM ends the first phase: no new connections, idle ones closed,
        # the call in flight still running (and the process with it).
        gateway.process.send_signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(gateway.port), "new connections refused", 60,
                 ignore=())  # fmt: skip
        assert kept_socket is not None
        kept_socket.settimeout(60)
        assert kept_socket.recv(1) == b"", "the idle keep-alive connection is closed"
        assert gateway.process.poll() is None, "the slow call keeps the gateway running"

        held.released.set()
        reply = slow.result()
        assert isinstance(reply, httpx.Response)
        assert (reply.status_code, reply.text) == (200, "done")
        assert reply.headers["connection"] == "close"
        assert gateway.process.wait(timeout=60) == 0
    assert not list(tmp_path.glob("faas-gateway-*")), "the shared folder was removed"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_call_past_the_drain_timeout_is_cut_and_the_gateway_exits(
    tmp_path: Path, cat_watchdog: BackgroundProcess, held: HeldUpstream, workers: str
) -> None:
    gateway = start_gateway(tmp_path, workers, cat_watchdog.port, held.port, "0.5", "1")
    with gateway:
        slow = SlowCall(gateway.url, held)
        gateway.process.send_signal(signal.SIGTERM)  # once: the delay ends by itself
        assert gateway.process.wait(timeout=60) == 0
        outcome = slow.result()
    assert not (isinstance(outcome, httpx.Response) and outcome.status_code == 200), outcome
    assert not list(tmp_path.glob("faas-gateway-*")), "the shared folder was removed"


def test_sigint_skips_the_first_phase(
    tmp_path: Path, cat_watchdog: BackgroundProcess, held: HeldUpstream
) -> None:
    gateway = start_gateway(tmp_path, "1", cat_watchdog.port, held.port, LONG, "300")
    with gateway:
        slow = SlowCall(gateway.url, held)
        gateway.process.send_signal(signal.SIGINT)
        # No delay phase: new connections are refused at once, while the call finishes.
        wait_for(lambda: refuses_connections(gateway.port), "new connections refused", 60,
                 ignore=())  # fmt: skip
        held.released.set()
        reply = slow.result()
        assert isinstance(reply, httpx.Response)
        assert reply.status_code == 200
        # uvicorn raises SIGINT again once stopped, as it always did.
        assert gateway.process.wait(timeout=60) != 0


class PeerHealth:
    """A stand-in for another gateway replica: `/healthz` on 127.0.0.2 at `port`, 503
    until `ready` is set."""

    def __init__(self, port: int) -> None:
        self.ready = threading.Event()
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if peer.ready.is_set() else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.2", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_drain_serves_on_until_another_replica_answers_ready(
    tmp_path: Path, cat_watchdog: BackgroundProcess, held: HeldUpstream, workers: str
) -> None:
    port = free_port()
    peer = PeerHealth(port)  # the gateway's own port, on another loopback address
    gateway = start_gateway(tmp_path, workers, cat_watchdog.port, held.port, "0.2", "300",
                            GATEWAY_PORT=str(port), GATEWAY_DRAIN_PEERS="127.0.0.2",
                            GATEWAY_DRAIN_PEER_WAIT=LONG)  # fmt: skip
    try:
        with gateway:
            gateway.process.send_signal(signal.SIGTERM)
            wait_for(lambda: 503 in healthz(gateway.url), "/healthz to say draining")
            # Many times the 0.2 s delay later, no peer is ready: still served.
            for _ in range(20):
                reply = httpx.post(f"{gateway.url}/function/cat", content=b"on", timeout=60)
                assert (reply.status_code, reply.text) == (200, "on")
            assert gateway.process.poll() is None
            peer.ready.set()
            wait_for(lambda: refuses_connections(port), "new connections refused", 60, ignore=())
            assert gateway.process.wait(timeout=60) == 0
    finally:
        peer.close()


def test_a_second_sigterm_ends_the_wait_for_a_peer(
    tmp_path: Path, cat_watchdog: BackgroundProcess, held: HeldUpstream
) -> None:
    gateway = start_gateway(tmp_path, "2", cat_watchdog.port, held.port, "0.2", "300",
                            GATEWAY_DRAIN_PEERS="127.0.0.2",
                            GATEWAY_DRAIN_PEER_WAIT=LONG)  # fmt: skip
    with gateway:
        gateway.process.send_signal(signal.SIGTERM)
        wait_for(lambda: 503 in healthz(gateway.url), "/healthz to say draining")
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(timeout=60) == 0
