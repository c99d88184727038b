"""The parked functions' file: how one worker's park reaches every worker.

With several worker processes, the worker that parks a function (scales it to zero)
publishes its name in a file of the shared folder; every worker re-reads it every
`PARKED_POLL_SECONDS` when it changed (`gateway.scaling.parking.Parking` mirrors what it
reads as parks of its own). The autoscaler waits `SharedParking.publish_wait` before it
scales to 0, so every worker holds new calls by then.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# How often each worker re-reads the functions other workers are parking.
PARKED_POLL_SECONDS = 0.1


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
    """The parked names, one a line: written whole by the worker that parks, read by all."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None

    def publish(self, names: Iterable[str]) -> None:
        """Replace the file's names with `names`."""
        # Written whole and renamed into place: readers never see half a file. A worker
        # that parks at most one function at a time owns the file alone (the autoscaler's
        # single worker); others only read it.
        temporary = self._path.with_name(f".parked-{os.getpid()}")
        temporary.write_text("".join(f"{name}\n" for name in sorted(names)))
        temporary.replace(self._path)

    def read_if_changed(self) -> set[str] | None:
        """The names in the file; None if it has not changed since the last read (no
        file: no names). `OSError` if it cannot be read."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return set()
        seen = (stat.st_mtime_ns, stat.st_ino)
        if seen == self._seen:
            return None
        self._seen = seen
        return set(self._path.read_text().split())
