"""Why a wait for a replica failed, and the memory of a replica that failed to start.

A replica's failure one worker saw is remembered for `FAILURE_MEMORY_SECONDS`, in this
worker and (with `failures`, a `SharedTable`) for every worker, so none of them waits out
a crash loop's restart to learn it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.errors import GatewayError, NoReplicas
from gateway.providers.base import ReplicaTask
from gateway.shared import SharedTable

log = logging.getLogger("gateway.scaling")

# After a replica failed to start, how long a hold that finds no running replica answers
# with that failure at once (a crash loop: the next task is waiting out its restart delay).
FAILURE_MEMORY_SECONDS = 10.0


class ColdStartFailed(NoReplicas):
    """A function at 0 replicas could not be woken in time (503, like `NoReplicas`)."""

    def __init__(self, name: str, message: str) -> None:
        GatewayError.__init__(self, message)
        self.name = name


class ReplicaFailed(ColdStartFailed):
    """A replica of a function with none ready failed or was refused while calls waited
    (503 at once, naming the orchestrator's reason)."""


def failure_message(name: str, task: ReplicaTask) -> str:
    """What a call is told when `task`, a replica of `name`, could not start."""
    reason = task.error or "no reason given"
    return (
        f"function {name!r} has no running replicas: "
        f"a replica could not start ({task.state}: {reason})"
    )


class FailureMemory:
    """The last replica failure seen per function, and when (shared with every worker
    through `shared`, when given)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, shared: SharedTable | None = None
    ) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[str, float]] = {}
        self._shared = shared

    def remember(self, name: str, message: str) -> None:
        """A replica of `name` failed to start, as `message` says."""
        self._failures[name] = (message, self._clock())
        if self._shared is not None:
            try:
                self._shared.put(name, message, FAILURE_MEMORY_SECONDS)
            except OSError as error:  # this worker still knows; the others learn alone
                log.warning("function %s: cannot share its failure: %s", name, error)

    def recent(self, name: str) -> str | None:
        """The message of a failure seen within FAILURE_MEMORY_SECONDS (by any worker)."""
        failure = self._failures.get(name)
        if failure is not None and self._clock() - failure[1] < FAILURE_MEMORY_SECONDS:
            return failure[0]
        if self._shared is not None:
            entry = self._shared.get(name)
            if entry is not None:
                return entry.value
        return None
