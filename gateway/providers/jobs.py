"""What the queue worker needs of an orchestrator to run job functions' calls
(docs/jobs.md): the `JobEngine` protocol and the objects it speaks in. Swarm's is
`gateway.providers.swarm.jobs.SwarmJobs`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JobSpec:
    """One job to start: of `function`, for `call_id`, with these extra variables."""

    function: str
    call_id: str
    worker_id: str
    env: dict[str, str]


@dataclass(frozen=True)
class JobTask:
    """A job service's task as the engine shows it."""

    state: str  # new, pending, ..., running, complete, failed, rejected, shutdown
    exit_code: int | None = None
    error: str = ""

    @property
    def ended(self) -> bool:
        """Whether it stopped without completing (its container failed or never ran)."""
        return self.state in ("failed", "rejected", "orphaned", "shutdown")


@dataclass(frozen=True)
class JobService:
    """A job service some queue worker started (for orphan cleanup)."""

    service_id: str
    call_id: str
    worker_id: str


class JobEngine(Protocol):
    """What the runner needs of the orchestrator."""

    async def create(self, spec: JobSpec) -> str:
        """Start the job service; its id."""

    async def task(self, service_id: str) -> JobTask | None:
        """Its task (None: not scheduled yet)."""

    async def remove(self, service_id: str) -> None:
        """Remove the service (its container is killed); no error if it is gone."""

    async def jobs(self) -> Sequence[JobService]:
        """Every job service a queue worker started."""
