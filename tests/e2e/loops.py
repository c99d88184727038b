"""A request loop for the swarm tests: callers posting to a function back to back while
something happens to it (an update, a drain, a killed node), every failure kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Self

import httpx

from tests.e2e.conftest import GATEWAY_URL

BODY = b"ping"
# A call under way on a killed node fails when the gateway gives up on the silent host
# (about 11 s); a hung one at the 60 s upstream timeout: a caller may take that long to
# see `stop`.
JOIN_TIMEOUT = 120

Check = Callable[[bytes], bool]


def echoed(answer: bytes) -> bool:
    """The answer is the body sent (catservice)."""
    return answer == BODY


def non_empty(answer: bytes) -> bool:
    """Any answer at all (a function that prints its host name)."""
    return bool(answer)


class Callers:
    """`connections` threads each running `call_until_stopped(caller)` (its index) from
    `with` until the block ends; `_lock` guards what they record."""

    def __init__(self, name: str, connections: int) -> None:
        self.name = name
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self.call_until_stopped, args=(caller,), daemon=True)
            for caller in range(connections)
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT)

    def call_until_stopped(self, caller: int) -> None:
        """One caller's calls to the function, until `stop` is set."""
        raise NotImplementedError


class RequestLoop(Callers):
    """Callers posting `BODY` to a function back to back until stopped.

    A call fails unless it gets a 200 whose body passes `check`. Each failure is kept
    with the moment its call started (`time.monotonic()`), not when it failed: a call
    under way on a node that dies fails only when the gateway gives up on the silent host
    (about 11 s later). Its reason says how long it took.
    """

    def __init__(self, name: str, connections: int, check: Check) -> None:
        super().__init__(name, connections)
        self.check = check
        self.calls = 0
        self.failures: list[tuple[float, str]] = []
        self.slowest = 0.0

    @property
    def reasons(self) -> list[str]:
        """What each failed call got, in order."""
        return [reason for _, reason in self.failures]

    def call_until_stopped(self, caller: int) -> None:
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    reply = http.post(f"/function/{self.name}", content=BODY)
                    failure = None
                    if reply.status_code != 200 or not self.check(reply.content):
                        failure = f"{reply.status_code} {reply.text[:200]!r}"
                except httpx.HTTPError as error:
                    failure = f"{type(error).__name__}: {error}"
                if failure is not None:
                    failure += f" after {time.monotonic() - started:.1f}s"
                with self._lock:
                    self.calls += 1
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    if failure is not None:
                        self.failures.append((started, failure))
