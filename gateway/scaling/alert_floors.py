"""`AlertFloors`: the floors Alertmanager's webhooks set, known to every worker and gateway.

`POST /system/alert` is answered by whichever worker of whichever gateway container the
webhook reaches; the elected autoscaler runs in one worker of one container. So the
floor is a fact of the container, kept in a `SharedTable` of the workers' shared folder
(`alerts`), and every container reports its table in its load report
(`GET /system/load`, `gateway.scaling.peers`), which the elected autoscaler reads.

Each entry is the last webhook the container received for a function: the replicas a
firing alert holds as a floor, or 0 for a resolved one, and when (wall clock). A
resolved alert is kept as such rather than removed, so that across containers the
latest webhook wins (`latest_floors`): a resolved alert received by one container ends
the floor a firing one left in another. An entry expires after `ALERT_FLOOR_SECONDS`
(a safety net for a resolved webhook that never came); Alertmanager repeats a firing
alert every `repeat_interval`, which refreshes it, so keep that below the expiry.
Times compare the nodes' clocks, as the lease's do: keep them in sync (NTP).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping

from gateway.api_types.answers import MAX_REPORTED_REPLICAS, AlertFloor
from gateway.shared import SharedTable

ALERT_FLOOR_SECONDS = 3600.0
"""How long a webhook's floor (or its resolution) is remembered without a new webhook."""
MAX_ALERT_FLOORS = 1024
"""The most functions whose last webhook a container keeps (those learnt last stay)."""


class AlertFloors:
    """The alert floors of this gateway container: in `table` (shared by its workers), or
    in this process's memory when it serves alone without a shared folder (tests)."""

    def __init__(
        self, table: SharedTable | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._clock = clock
        self._memory: dict[str, tuple[AlertFloor, float]] = {}  # name → (floor, until)

    def firing(self, name: str, replicas: int) -> None:
        """A firing alert holds `name` at `replicas` or more."""
        self._record(name, max(0, min(replicas, MAX_REPORTED_REPLICAS)))

    def resolved(self, name: str) -> None:
        """The alert on `name` resolved: its floor ends, here and in every container."""
        self._record(name, 0)

    def known(self) -> dict[str, AlertFloor]:
        """The last webhook per function (resolved ones included), unexpired."""
        if self._table is None:
            now = self._clock()
            self._memory = {k: v for k, v in self._memory.items() if v[1] > now}
            return {name: floor for name, (floor, _) in self._memory.items()}
        known = {}
        for name, entry in self._table.entries().items():
            floor = _parse(entry.value)
            if floor is not None:
                known[name] = floor
        return known

    def _record(self, name: str, replicas: int) -> None:
        now = self._clock()
        floor = AlertFloor(replicas=replicas, at=now)
        if self._table is None:
            self._memory[name] = (floor, now + ALERT_FLOOR_SECONDS)
            return
        # The time is in the value, so a repeated webhook always rewrites the entry: its
        # time is what the latest-wins rule between containers compares.
        self._table.put(name, f"{replicas} {now!r}", ALERT_FLOOR_SECONDS)


def latest_floors(reports: Iterable[Mapping[str, AlertFloor]]) -> dict[str, int]:
    """The floor per function over several containers' reports: the latest webhook wins,
    and a resolved one (0) means no floor."""
    latest: dict[str, AlertFloor] = {}
    for floors in reports:
        for name, floor in floors.items():
            held = latest.get(name)
            if held is None or floor.at > held.at:
                latest[name] = floor
    return {name: floor.replicas for name, floor in latest.items() if floor.replicas > 0}


def _parse(value: str) -> AlertFloor | None:
    """An entry's value as `_record` writes it; None if garbled."""
    replicas, _, at = value.partition(" ")
    if not replicas.isascii() or not replicas.isdigit():
        return None
    try:
        seconds = float(at)
    except ValueError:
        return None
    count = int(replicas)
    if not math.isfinite(seconds) or seconds < 0 or count > MAX_REPORTED_REPLICAS:
        return None
    return AlertFloor(replicas=count, at=seconds)
