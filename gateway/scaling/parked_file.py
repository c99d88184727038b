"""The parked functions' file: how one worker's park reaches every worker.

With several worker processes, the worker that parks a function (scales it to zero)
publishes its name in a `SharedTable` of the shared folder; every worker re-reads it every
`PARKED_POLL_SECONDS` when it changed (`gateway.scaling.parking.Parking` mirrors what it
reads as parks of its own). The autoscaler waits `SharedParking.publish_wait` before it
scales to 0, so every worker holds new calls by then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.shared import SharedTable

# How often each worker re-reads the functions other workers are parking.
PARKED_POLL_SECONDS = 0.1
# How long a published park stays in the shared table: a park lasts one scale call, and
# one left there by a worker that died while parking ends by itself.
PARKED_ENTRY_SECONDS = 300.0


@dataclass(frozen=True)
class SharedParking:
    """Files in the workers' shared folder: the parked names, and per-function wake locks."""

    parked: Path
    wake_lock: Callable[[str], Path]

    @property
    def publish_wait(self) -> float:
        """How long a park waits after publishing, so every worker has seen it."""
        return PARKED_POLL_SECONDS * 3


class ParkedFile:
    """The parked names: put and removed by the worker that parks, read by all."""

    def __init__(self, path: Path) -> None:
        self._table = SharedTable(path, recheck=0.0)
        self._mine: set[str] = set()
        self._seen: frozenset[str] | None = None

    def publish(self, names: Iterable[str]) -> None:
        """Make this worker's published parks `names`."""
        wanted = set(names)
        for name in wanted - self._mine:
            self._table.put(name, "", PARKED_ENTRY_SECONDS)
        for name in self._mine - wanted:
            self._table.remove(name)
        self._mine = wanted

    def read_if_changed(self) -> set[str] | None:
        """The parked names (every worker's); None if they have not changed since the
        last read. `OSError` if the table cannot be read."""
        names = frozenset(self._table.entries())
        if names == self._seen:
            return None
        self._seen = names
        return set(names)
