"""The drain's wait for another gateway replica (`gateway.drain_peers`), with fakes for
DNS, the probes and the clock; `python -m gateway` with it is in test_drain.py."""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.drain import DrainDelay, DrainMarker
from gateway.drain_peers import PeerWait, answers_ready, resolve_ipv4, start_drain
from tests.support import free_port


class Steps:
    """A clock that moves one second at each reading, so a wait always ends."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_the_first_address_that_answers_ready_ends_the_wait() -> None:
    probed: list[str] = []

    def ready(address: str, port: int, timeout: float) -> bool:
        probed.append(address)
        return address == "10.0.0.3" and port == 8080

    wait = PeerWait("tasks.gateway", 8080, 30, resolve=lambda name: ["10.0.0.2", "10.0.0.3"],
                    ready=ready, clock=Steps())  # fmt: skip
    assert wait.wait(threading.Event()) == "10.0.0.3"
    assert probed == ["10.0.0.2", "10.0.0.3"]


def test_a_successor_that_appears_later_ends_the_wait() -> None:
    answers = iter([[], ["10.0.0.2"], ["10.0.0.2", "10.0.0.9"]])
    wait = PeerWait("tasks.gateway", 8080, 30, resolve=lambda name: next(answers),
                    ready=lambda address, port, timeout: address == "10.0.0.9",
                    clock=Steps())  # fmt: skip
    assert wait.wait(threading.Event()) == "10.0.0.9"


def test_no_peer_within_the_timeout_gives_up() -> None:
    wait = PeerWait("tasks.gateway", 8080, 3, resolve=lambda name: ["10.0.0.2"],
                    ready=lambda address, port, timeout: False, clock=Steps())  # fmt: skip
    assert wait.wait(threading.Event()) is None


def test_a_cut_short_wait_returns_at_once() -> None:
    cut = threading.Event()
    cut.set()
    wait = PeerWait("tasks.gateway", 8080, 30, resolve=lambda name: ["10.0.0.2"],
                    ready=lambda address, port, timeout: True)  # fmt: skip
    assert wait.wait(cut) is None


def test_names_that_do_not_resolve_give_no_address() -> None:
    assert resolve_ipv4("no-such-gateway.invalid") == []
    assert resolve_ipv4("127.0.0.1") == ["127.0.0.1"]


def test_nothing_listening_is_not_ready() -> None:
    assert answers_ready("127.0.0.1", free_port(), 0.5) is False


def test_a_found_peer_extends_the_delay_and_then_stops(tmp_path: Path) -> None:
    delay = DrainDelay(0.01, DrainMarker(tmp_path / "draining"))
    delay.begin()
    stopped = threading.Event()
    peers = PeerWait("gw", 8080, 30, resolve=lambda name: ["10.0.0.2"],
                     ready=lambda address, port, timeout: True)  # fmt: skip
    start_drain(delay, peers, stopped.set).join(timeout=30)
    assert stopped.is_set()
    assert delay.over()
    assert not delay.waiting_for_peer


def test_while_waiting_for_a_peer_the_delay_is_not_over(tmp_path: Path) -> None:
    delay = DrainDelay(0.0, DrainMarker(tmp_path / "draining"))
    delay.begin()
    release = threading.Event()

    def ready(address: str, port: int, timeout: float) -> bool:
        return release.is_set()

    stopped = threading.Event()
    thread = start_drain(delay, PeerWait("gw", 8080, 300, resolve=lambda name: ["10.0.0.2"],
                                         ready=ready), stopped.set)  # fmt: skip
    assert not stopped.wait(0.5)
    assert not delay.over()
    release.set()
    thread.join(timeout=30)
    assert stopped.is_set()


def test_a_second_sigterm_cuts_the_wait_short(tmp_path: Path) -> None:
    delay = DrainDelay(300, DrainMarker(tmp_path / "draining"))
    delay.begin()
    stopped = threading.Event()
    thread = start_drain(delay, PeerWait("gw", 8080, 300, resolve=lambda name: [],
                                         ready=lambda address, port, timeout: False),
                         stopped.set)  # fmt: skip
    delay.begin()  # the second SIGTERM
    thread.join(timeout=30)
    assert stopped.is_set()
