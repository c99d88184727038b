"""Parks: calls to a function being scaled to zero are held instead of sent.

While the autoscaler's scale-to-0 is in flight (`Parking.parking`), and until the
provider's view shows 0 (or a wake-up ends it), `must_hold` tells the forwarder to hold
new calls in the cold-start path instead of sending them to a replica that is going away.
With several worker processes, parks are published in the shared folder's file
(`gateway.scaling.parked_file`) and every worker mirrors the others' as parks of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gateway.scaling.parked_file import PARKED_POLL_SECONDS, ParkedFile, SharedParking

log = logging.getLogger("gateway.scaling")

# How long a finished park keeps holding calls while the provider's view still shows
# replicas (its re-read lags the engine by a moment); after that the view is trusted.
PARK_CONFIRM_SECONDS = 15.0


@dataclass
class Park:
    """One park of a function: `done` once its scale to 0 ended (`failed`: it raised)."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None
    failed: bool = False


class Parking:
    """The parks of this worker, and (with `shared`) the ones other workers published."""

    def __init__(self, clock: Callable[[], float], shared: SharedParking | None = None) -> None:
        self._clock = clock
        self.shared = shared
        self._parks: dict[str, Park] = {}
        self._file = ParkedFile(shared.parked) if shared is not None else None
        self._published: set[str] = set()  # parks of this worker, in the shared file
        self._mirrored: dict[str, Park] = {}  # other workers' parks, as seen in it
        self._watcher: asyncio.Task[None] | None = None

    def must_hold(self, name: str) -> bool:
        """Whether calls to `name` must wait although the view shows replicas (hot path)."""
        if not self._parks:
            return False
        park = self._parks.get(name)
        if park is None:
            return False
        if park.ended_at is not None and self._clock() - park.ended_at > PARK_CONFIRM_SECONDS:
            del self._parks[name]
            return False
        return True

    def __contains__(self, name: str) -> bool:
        return name in self._parks

    def get(self, name: str) -> Park | None:
        """The park of `name` under way or recently ended, if any."""
        return self._parks.get(name)

    def end(self, name: str, park: Park) -> None:
        """A wake-up after `park` ended it: calls to `name` are no longer held."""
        if self._parks.get(name) is park:
            del self._parks[name]

    @contextlib.contextmanager
    def parking(self, name: str) -> Iterator[None]:
        """Hold calls to `name` while the body scales it to 0 (enter without awaiting
        anything after checking that no call is in flight)."""
        park = self._parks[name] = Park()
        self._publish(add=name)
        try:
            yield
        except BaseException:
            park.failed = True
            self.end(name, park)
            raise
        finally:
            park.ended_at = self._clock()
            park.done.set()
            self._publish(remove=name)

    def start(self) -> None:
        """With `shared`: follow the other workers' parks in the background."""
        if self._file is not None and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="parked-functions")

    async def close(self) -> None:
        """Stop following the other workers' parks."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher

    def _publish(self, add: str | None = None, remove: str | None = None) -> None:
        if self._file is None:
            return
        if add is not None:
            self._published.add(add)
        if remove is not None:
            self._published.discard(remove)
        self._file.publish(self._published)

    async def _watch(self) -> None:
        while True:
            try:
                self.follow()
            except OSError as error:
                log.warning("cannot read the parked functions: %s", error)
            await asyncio.sleep(PARKED_POLL_SECONDS)

    def follow(self) -> None:
        """Mirror the parks another worker published (and end those it ended)."""
        assert self._file is not None
        names = self._file.read_if_changed()
        if names is None:
            return
        names -= self._published
        for name in names - self._mirrored.keys():
            if name not in self._parks:
                self._parks[name] = self._mirrored[name] = Park()
        for name in self._mirrored.keys() - names:
            park = self._mirrored.pop(name)
            park.ended_at = self._clock()
            park.done.set()
