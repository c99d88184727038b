"""`python -m bench.cold_start`: where a wake from zero spends its time (issue 17).

Makes a copy of a function image labelled `com.faas.scale.zero=true` at 0 replicas, then
wakes it several times: once with one call, once with a burst of concurrent calls. Each
wake's timeline, relative to the call, comes from the engine's events and logs and the
caller's own clock (one machine, one clock):

    scale request       the service update event (the gateway's scale to `min`)
    task created        the new task's CreatedAt
    container created   the container's create event
    container started   its start event
    watchdog listening  the watchdog's "listening on port" log line
    healthy (DNS)       its health_status: healthy event (`tasks.<service>` lists it from then)
    first answer        the caller got its 200 (for a burst: the last of them)

Needs root (or the docker group), an active swarm, and the stack deployed (`make up`):

    python -m bench.cold_start [--wakes 5] [--burst 100] [--image IMAGE]

The medians go to docs/scaling.md ("Measured") by hand. Not part of `python -m bench`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import docker.types

from bench.swarm_stack import SwarmConfig

PHASES = (
    "scale request",
    "task created",
    "container created",
    "container started",
    "watchdog listening",
    "healthy (DNS)",
    "first answer",
)
ZERO_LABELS = {"com.faas.scale.zero": "true", "com.faas.scale.zero_after": "1h"}
SERVICE_LABEL = "com.docker.swarm.service.name"


@dataclass
class Wake:
    """One wake's moments (unix seconds); None where the engine told nothing."""

    called: float
    answered: float
    statuses: list[int] = field(default_factory=list)
    moments: dict[str, float] = field(default_factory=dict)

    def timeline(self) -> dict[str, float | None]:
        """Seconds from the call to each phase."""
        moments = {**self.moments, "first answer": self.answered}
        return {
            phase: (moments[phase] - self.called if phase in moments else None) for phase in PHASES
        }


def parse_engine_time(text: str) -> float:
    """Unix seconds of an RFC 3339 time with nanoseconds, as the engine writes it."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).timestamp()


def moments_from_events(
    events: Iterable[Mapping[str, Any]], service: str, after: float
) -> dict[str, float]:
    """The first scale request, container create/start and healthy event of `service`
    at or after `after`."""
    found: dict[str, float] = {}
    for event in events:
        when = int(event.get("timeNano", 0)) / 1e9
        if when < after:
            continue
        actor = event.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        kind, action = event.get("Type"), str(event.get("Action", ""))
        phase = None
        if kind == "service" and action == "update" and attributes.get("name") == service:
            phase = "scale request"
        elif kind == "container" and attributes.get(SERVICE_LABEL) == service:
            phase = {
                "create": "container created",
                "start": "container started",
                "health_status: healthy": "healthy (DNS)",
            }.get(action)
        if phase is not None and phase not in found:
            found[phase] = when
    return found


def listening_moment(log_lines: Iterable[str]) -> float | None:
    """When the watchdog logged that it listens (`docker logs --timestamps` lines)."""
    for line in log_lines:
        stamp, _, text = line.partition(" ")
        if "listening on port" in text:
            return parse_engine_time(stamp)
    return None


def summary(wakes: Sequence[Wake]) -> list[tuple[str, float | None]]:
    """The median of each phase over `wakes` (None where no wake saw it)."""
    rows: list[tuple[str, float | None]] = []
    for phase in PHASES:
        values = [t for wake in wakes if (t := wake.timeline()[phase]) is not None]
        rows.append((phase, statistics.median(values) if values else None))
    return rows


def call(url: str, body: bytes) -> int:
    """POST `body`; the status (0 when no answer came)."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class ColdStartBench:
    """A zero-labelled copy of `image` on the functions network, woken again and again."""

    def __init__(self, client: docker.DockerClient, config: SwarmConfig, image: str) -> None:
        self.client = client
        self.config = config
        self.image = image
        self.name = f"bench-cold-{uuid.uuid4().hex[:8]}"
        self.url = f"{config.host_url}/function/{self.name}"

    def __enter__(self) -> ColdStartBench:
        self.client.services.create(  # type: ignore[no-untyped-call]
            self.image,
            name=self.name,
            networks=[self.config.network],
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
            mode=docker.types.ServiceMode("replicated", 0),
            labels=ZERO_LABELS,
        )
        deadline = time.monotonic() + 60
        while call(self.url, b"x") == 404:  # the gateway has not seen it yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway never found {self.name}")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        for service in self.client.services.list(filters={"name": self.name}):
            service.remove()  # type: ignore[no-untyped-call]

    def to_zero(self) -> None:
        """Scale to 0 and wait until no container of it is left (and the gateway saw it)."""
        [service] = self.client.services.list(filters={"name": self.name})
        service.scale(0)
        deadline = time.monotonic() + 90
        while self._containers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not reach 0")
            time.sleep(0.3)
        time.sleep(2.0)  # the gateway's view follows the engine's events

    def wake(self, calls: int) -> Wake:
        """Send `calls` concurrent calls to the sleeping function; its timeline."""
        called = time.time()
        with ThreadPoolExecutor(max_workers=calls) as pool:
            statuses = list(pool.map(lambda i: call(self.url, b"wake"), range(calls)))
        answered = time.time()
        wake = Wake(called, answered, statuses)
        time.sleep(1.0)  # the healthy event may come after the answer: that is the point
        events = self.client.events(since=int(called) - 1, until=int(time.time()) + 1, decode=True)
        wake.moments = moments_from_events(events, self.name, called)
        tasks = self.client.api.tasks(filters={"service": self.name})  # type: ignore[no-untyped-call]
        created = [parse_engine_time(t["CreatedAt"]) for t in tasks if t.get("CreatedAt")]
        created = [moment for moment in created if moment >= called]
        if created:
            wake.moments["task created"] = min(created)
        for container in self._containers():
            raw = container.logs(timestamps=True).decode(errors="replace")
            listening = listening_moment(raw.splitlines())
            if listening is not None and listening >= called:
                wake.moments["watchdog listening"] = listening
        return wake

    def _containers(self) -> list[Any]:
        return list(self.client.containers.list(filters={"label": f"{SERVICE_LABEL}={self.name}"}))


def print_table(title: str, wakes: Sequence[Wake]) -> None:
    """The medians, and every wake's first answer."""
    print(f"\n{title} ({len(wakes)} wakes, median seconds from the call)")
    for phase, seconds in summary(wakes):
        shown = "-" if seconds is None else f"{seconds:6.2f}"
        print(f"  {phase:<20} {shown}")
    answers = " ".join(f"{wake.answered - wake.called:.2f}" for wake in wakes)
    failed = sum(1 for wake in wakes for status in wake.statuses if status != 200)
    print(f"  answers: {answers} s; calls not answered 200: {failed}")


def print_moments(wake: Wake) -> None:
    """One wake's moments as unix seconds, to set beside the gateway's own log."""
    moments = {"called": wake.called, **wake.moments, "first answer": wake.answered}
    ordered = sorted(moments.items(), key=lambda item: item[1])
    print("  ".join(f"{phase}={moment:.3f}" for phase, moment in ordered))


def main(argv: list[str] | None = None) -> int:
    """Run the wakes and print both tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--wakes", type=int, default=5)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--image", default="localhost/faas/catservice:latest")
    parser.add_argument(
        "--each", action="store_true", help="also print every wake's moments (unix seconds)"
    )
    args = parser.parse_args(argv)
    config = SwarmConfig.from_env()
    client = docker.from_env(timeout=120)
    with ColdStartBench(client, config, args.image) as bench:
        singles, bursts = [], []
        for _ in range(args.wakes):
            bench.to_zero()
            singles.append(bench.wake(1))
            if args.each:
                print_moments(singles[-1])
        for _ in range(args.wakes):
            bench.to_zero()
            bursts.append(bench.wake(args.burst))
            if args.each:
                print_moments(bursts[-1])
    print_table("one call to a function at zero", singles)
    print_table(f"{args.burst} concurrent calls to a function at zero", bursts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
