"""`SharedDir`: the folder the worker processes of one gateway share, and its files.

The supervisor makes it (`gateway.workers`); `create_app` hands its files to the metrics,
the proxy and the scaling parts as paths, `SharedTable`s or `FileLock`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SharedDir:
    """The folder the workers of one gateway share, and the files in it."""

    path: Path

    @property
    def metrics(self) -> str:
        """prometheus-client's multiprocess files (the folder itself)."""
        return str(self.path)

    @property
    def leader_lock(self) -> Path:
        """Held (flock) by the worker that runs the autoscaler."""
        return self.path / "autoscaler.lock"

    @property
    def parked(self) -> Path:
        """The functions the autoscaler is scaling to zero (`SharedTable`)."""
        return self.path / "parked"

    @property
    def alerts(self) -> Path:
        """The floors Alertmanager's webhooks set, per function (`SharedTable`)."""
        return self.path / "alerts"

    @property
    def unreachable(self) -> Path:
        """The replica addresses that refused a connection lately (`SharedTable`)."""
        return self.path / "unreachable"

    @property
    def failures(self) -> Path:
        """The functions whose new replica failed to start lately (`SharedTable`)."""
        return self.path / "failures"

    @property
    def draining(self) -> Path:
        """Present once the gateway got SIGTERM: every worker's `/healthz` answers 503
        (`gateway.drain`)."""
        return self.path / "draining"

    def wake_lock(self, function_name: str) -> Path:
        """Held (flock) by the worker that wakes `function_name` from zero."""
        return self.path / f"wake-{function_name}.lock"
